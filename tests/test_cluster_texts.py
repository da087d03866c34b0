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

# Short made-up reports in other languages and scripts (written for these tests), for the
# tokeniser, the language guess and the name finder: (language code, title, text).
MULTILINGUAL = [
    (
        "de",
        "Brücke über die Velder in Marnholt eingestürzt",
        "Eine Fußgängerbrücke über die Velder ist am Dienstagabend eingestürzt. Vier Menschen wurden "
        "verletzt, sagte die Feuerwehr. Bürgermeister Tomas Reinholt ordnete eine Untersuchung an, "
        "weil die Brücke erst im März geprüft worden war. Die Straße am Ufer bleibt gesperrt.",
    ),
    (
        "fr",
        "Un pont s'effondre à Marnholt",
        "Une passerelle au-dessus de la Velder s'est effondrée mardi soir. « Nous avons entendu un "
        "craquement », a déclaré Ilse Varga. Le maire, Tomas Reinholt, a ordonné une enquête et les "
        "plongeurs ont cherché dans la rivière jusqu'à minuit.",
    ),
    (
        "ru",
        "В Марнхольте обрушился пешеходный мост",
        "Пешеходный мост через реку Вельдер обрушился во вторник вечером, пострадали четыре "
        "человека. Мэр Томас Рейнхольт распорядился провести проверку. Водолазы искали людей в "
        "реке до полуночи, а движение по набережной было перекрыто.",
    ),
    (
        "el",
        "Κατέρρευσε πεζογέφυρα στο Μάρνχολτ",
        "Μια πεζογέφυρα πάνω από τον ποταμό Βέλντερ κατέρρευσε την Τρίτη το βράδυ. Τέσσερις "
        "άνθρωποι τραυματίστηκαν. Ο δήμαρχος Τόμας Ράινχολτ διέταξε έρευνα.",
    ),
    (
        "ja",
        "マルンホルトで歩道橋が崩落",
        "火曜日の夜、ヴェルダー川にかかる歩道橋が崩落し、4人がけがをした。市長のトマス・ラインホルト氏は"
        "調査を命じた。橋は昨年2回点検のため閉鎖されていた。",
    ),
    (
        "zh",
        "马恩霍尔特人行桥倒塌",
        "周二晚上，横跨费尔德河的一座人行桥倒塌，造成四人受伤。市长托马斯·莱因霍尔特下令展开调查。"
        "潜水员在河中搜索至午夜，河岸道路交通改道。",
    ),
    (
        "ko",
        "마른홀트에서 보행자 다리 붕괴",
        "화요일 저녁 벨더 강을 가로지르는 보행자 다리가 무너져 네 명이 다쳤다. 토마스 라인홀트 시장은 조사를 지시했다.",
    ),
    (
        "th",
        "สะพานคนเดินถล่มที่มาร์นโฮลต์",
        "สะพานคนเดินข้ามแม่น้ำเวลเดอร์ถล่มเมื่อคืนวันอังคาร มีผู้บาดเจ็บสี่คน นายกเทศมนตรีสั่งให้มีการสอบสวน",
    ),
    (
        "ar",
        "انهيار جسر للمشاة في مارنهولت",
        "انهار جسر للمشاة فوق نهر فيلدر مساء الثلاثاء وأصيب أربعة أشخاص. وأمر رئيس البلدية بإجراء تحقيق.",
    ),
    (
        "he",
        "גשר הולכי רגל קרס במרנהולט",
        "גשר להולכי רגל מעל נהר ולדר קרס ביום שלישי בערב. ארבעה בני אדם נפצעו וראש העיר הורה על חקירה.",
    ),
]
