"""Texts for the clustering tests, written for these tests (no third-party text).

Not a test module itself: named test_cluster_* only so it sits with the tests it serves.

``words_text`` makes long deterministic pseudo-articles from a small made-up vocabulary, for
copy detection; the hand-written reports below share an event but not their wording."""

from __future__ import annotations

import random

_VOCAB = (
    "harbour council budget tram river festival bakery tunnel ferry mayor orchard library "
    "stadium quarry beacon lantern meadow granary workshop foundry canal viaduct pier market "
    "clinic school museum theatre garden bridge airport station depot warehouse chapel tower "
    "mill dam reservoir vineyard brewery observatory archive gallery pavilion arena harbourmaster "
    "engineer nurse teacher farmer pilot sailor miner baker carpenter inspector auditor"
).split()
_VERBS = "opened closed repaired inspected funded delayed approved rejected visited praised".split()


def words_text(seed: int, sentences: int = 20) -> list[str]:
    """Sentences of 10–16 made-up words; the same seed gives the same sentences."""
    rnd = random.Random(seed)
    out = []
    for _ in range(sentences):
        n = rnd.randint(10, 16)
        ws = [rnd.choice(_VOCAB) if i % 3 else rnd.choice(_VERBS) for i in range(n)]
        out.append(" ".join(ws).capitalize() + ".")
    return out


BRIDGE_A = (
    "Footbridge collapses over the Velder river in Marnholt, injuring four",
    "A pedestrian footbridge over the Velder river in Marnholt collapsed on Tuesday evening, "
    "injuring four people, the town's fire brigade said. \"We heard a crack like thunder and "
    'then the whole span dropped into the water," said Ilse Varga, who runs a kiosk nearby. '
    "Engineers had closed the bridge for inspection twice last year. The mayor, Tomas Reinholt, "
    "ordered an inquiry into the collapse and said the footbridge had passed its last check. "
    "Divers searched the river until midnight. Traffic on the embankment road was diverted.",
)
BRIDGE_B = (
    "Marnholt mayor orders inquiry after Velder footbridge collapse",
    "Four people were hurt when a footbridge in Marnholt fell into the Velder river late on "
    "Tuesday. Mayor Tomas Reinholt announced an independent inquiry on Wednesday morning. "
    '"We heard a crack like thunder and then the whole span dropped into the water," a kiosk '
    "owner, Ilse Varga, told reporters. Residents had complained for months about rust on the "
    "footbridge railings, according to letters seen by this newspaper. The injured were taken "
    "to the regional hospital; two were released the same night.",
)
CHESS = (
    "Teenager wins the Osterfjord open chess tournament",
    "A sixteen-year-old from Lindqvist won the Osterfjord open chess tournament on Sunday, "
    "beating three grandmasters on the way. Her final game lasted six hours and ended in a "
    "knight endgame that commentators called flawless. Organisers said a record number of "
    "players entered this year, and the prize fund will be doubled next season. She plans to "
    "study mathematics before turning professional.",
)
FILLER = [
    (
        "Regional orchestra announces winter programme",
        "The Halvern regional orchestra will play twelve concerts this winter, its director said, "
        "including two premieres by local composers and a family matinee on each Sunday of December.",
    ),
    (
        "Ferry timetable changes for the spring season",
        "Ferries between Grauwick and the outer islands will run every forty minutes from April, "
        "the operator announced, after passenger numbers rose by a fifth over the last season.",
    ),
    (
        "New cycle lanes planned along the harbour front",
        "The city plans three kilometres of protected cycle lanes along the harbour front. Work "
        "starts in May and shops along the quay were consulted on delivery times.",
    ),
]
