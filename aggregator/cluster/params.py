"""Every tunable of the clustering stage, in one frozen object.

Defaults were chosen on the labeled sets in ``../shared/data/clustering`` with
leave-one-dataset-out checks (see ``benchmarks/clustering.py``); change them there, not in
code. Fields that change what ``featurize`` produces are part of ``scheme`` (see
``ClusterParams.scheme``): a store holding features of another scheme must re-featurize.
"""

from __future__ import annotations

from dataclasses import dataclass

# bump when featurize's payload, tokenisation or hashing changes meaning (4: shingle hashes built
# from word hashes, "xxw32" in the scheme, see fingerprint.py; 5: payload field "b", the body
# terms after the lead, see body_words)
FEATURE_VERSION = 5


@dataclass(frozen=True)
class ClusterParams:
    # --- fingerprint (part of the scheme) ---
    num_perm: int = 128  # MinHash permutations; 128 → Jaccard std error ≈ 0.044 at J=0.5
    seed: int = 1
    shingle: int = 3  # words per shingle
    lead_words: int = 100  # words of text after the title for the story vector (60: -0.014, 200: -0.01)
    # words of text after the lead whose content terms join the story vector at body_weight
    # (payload "b"; 0: none, the payload has no "b")
    body_words: int = 200
    max_text_words: int = 5000  # cap on the text that is shingled (bounds featurize cost)

    # --- copies (near-duplicate text) ---
    lsh_bands: int = 32  # 32 bands x 4 rows: candidate threshold ≈ (1/32)^(1/4) ≈ 0.42
    min_copy_shingles: int = 40  # below this an article is too short to call a copy (stubs)
    copy_containment: float = 0.5  # share of the new article's shingles found in the earlier one
    # ... and a copy must read alike too: title + lead cosine at least this (about what a story
    # join needs at any distance, story_threshold_far). Page chrome kept by extraction (a newsletter
    # box of ~26 shingles) is most of a short article's shingles: ECB+ through the loopback
    # newsroom (benchmarks.e2e) called 29 of 94 pairs copies across events, containment 0.50-0.85,
    # cosine 0.06-0.31; the true copies there have 0.16-1.0, on the five sets 0.31-1.0.
    # e2e ecbplus copy precision 0.69 -> 0.99, B3 F1 0.827 -> 0.865; the five sets unchanged.
    copy_min_cosine: float = 0.25
    wire_jaccard: float = 0.8  # near-verbatim: role "wire"
    wire_containment: float = 0.9  # a trimmed verbatim copy is still "wire"

    # --- stories (independent reports of the same event) ---
    # Raised from 0.16 / 0.25 with name_weight (names raise the cosines of reports that share
    # them): see name_weight for the figures.
    story_threshold: float = 0.17  # cosine (title+lead TF-IDF) needed to join a story, same day
    # ... needed when the articles are ``ramp_days`` or more apart. 0.27 -> 0.32 with body terms
    # (body_weight): they raise the cosines of twin events of one topic days apart
    # (benchmarks.dated_twins precision at 3 days 0.908 -> 0.857 at 0.27, 0.916 at 0.32).
    story_threshold_far: float = 0.32
    ramp_days: float = 7.0  # the threshold rises linearly from same-day to this gap (3: -0.017 giveme5w1h)
    link_max: float = 0.5  # story score = link_max * best member + (1 - link_max) * mean member
    story_members: int = 8  # members of a candidate story compared exactly (first + newest)
    # A young story (first member < ramp_days away) is compared with its first story_members
    # members only, not its newest: stops twin events chaining in (Clusterer._compared).
    # ecbplus 0.879 -> 0.893, others unchanged; LODO held-out 0.9274 -> 0.931. Founders
    # 6 / 10 / 12: ecbplus 0.888 / 0.887 / 0.874 (more founders let the twin's first reports in).
    founders_only: bool = True
    title_weight: float = 3.0  # title terms count this many times in the story vector
    # A term that is a name (capitalised in title or lead, not at a sentence start: the payload's
    # ``names``) weighs this many times its tf weight: reports of one event share its people and
    # places, reports of one topic its common words. 1.3 with thresholds 0.17/0.27: macro
    # 0.9427 -> 0.9462 (giveme5w1h 0.893 -> 0.889, ecbplus 0.894 -> 0.902, pac 0.939 -> 0.945,
    # basil 0.988 -> 0.994, newswcl50 1.0), headlines 0.7365 -> 0.7376, orders 0.9209 both;
    # LODO held-out 0.9321 -> 0.9318 (grid 0.14/0.16/0.18), -> 0.9328 with the grid centred on
    # 0.17: flat. Best thresholds for 1.2 / 1.4: macro 0.943 / 0.945. Names of the lead only,
    # salient names, or name bigrams ("north_korea") as extra terms: worse.
    name_weight: float = 1.3
    # Body terms (payload "b": content terms of the body_words words after the lead that are not
    # title or lead terms) weigh this times their own tf weight 1 + log(body count). A term of
    # title or lead keeps its title/lead weight only (adding the body part to it instead, with
    # thresholds up to x1.25: macro <= 0.943, newswcl50/basil merge). Must be > 0 (0 disables).
    # 200 words at 0.3 with story_threshold_far 0.32: macro 0.9462 -> 0.9512 (giveme5w1h 0.893,
    # ecbplus 0.909, pac 0.957, basil 0.997, newswcl50 1.0), LODO held-out 0.9328 -> 0.9508,
    # headlines 0.7376 unchanged. Weight 0.2 / 0.4: 0.9492 / 0.9508; 100 words: 0.948-0.949;
    # 300 words: 0.922-0.939 (newswcl50 merges). Vector terms per article ~53 -> ~104.
    body_weight: float = 0.3
    posting_cap: int = 64  # newest ids kept per term in the candidate index (bounded cost)
    rescore: int = 12  # articles scored exactly after the cheap accumulation pass
    max_df_ratio: float = 0.5  # terms in more than this share of the window offer no candidates
    # both items headline-only (title + feed summary): threshold - this. google news +0.036
    # B3 F1, uci +0.029; ecbplus -0.008 (its texts under 40 words count as headline-only)
    headline_discount: float = 0.04
    window_days: float = 30.0  # articles further apart than this never share a story
    # ECB+ twin events: similarity -= fact_weight * max(0, fact_center - agreement of salient
    # names) — see facts.py. 0.4/0.2: ecbplus 0.846 -> 0.882, macro 0.919 -> 0.926 (a bonus for
    # agreeing names, or a higher centre, cost giveme5w1h/pac more recall than it bought).
    fact_weight: float = 0.4
    fact_center: float = 0.2
    # Reports published less than ``day_span`` days apart that name weekdays, none in common
    # (facts.days_disagree): similarity -= day_weight. 0.1: macro 0.9277 -> 0.9392 (ecbplus
    # +0.005, newswcl50 +0.053, the dated sets unchanged), LODO held-out 0.9147 -> 0.9274.
    # Not across days: a follow-up names the day of its news (basil -0.023 without the span).
    day_weight: float = 0.1
    day_span: float = 1.0
    # A page listing more salient names than this is a menu or tag cloud (a 68-name list of an
    # exam-portal page on giveme5w1h): its names are no evidence for or against a fact match.
    # 40: giveme5w1h 0.8899 -> 0.8911, the other sets unchanged (25: no change).
    fact_list_max: int = 40
    # Two reports whose titles share at least ``title_min_shared`` terms, with a Jaccard of their
    # title terms above ``title_center``: similarity += title_bonus * (Jaccard - title_center).
    # The same headline re-run days later (giveme5w1h's "Astronauts Identify Unknown Microbes"
    # 11 days apart, cosine 0.17 against 0.25 needed). 0.3/0.4/3: giveme5w1h +0.002, ecbplus
    # +0.0005, the others unchanged; 0.5/0.3 or 2 shared terms: pac -0.003.
    title_bonus: float = 0.3
    title_center: float = 0.4
    title_min_shared: int = 3
    clock_arrivals: int = 5  # expiry clock: high-water mark of the median time of this many arrivals
    future_days: float = 365.0  # a publication time further ahead of the stream clock is misdated

    @property
    def scheme(self) -> str:
        body = f":b{self.body_words}" if self.body_words else ""
        return f"mh{FEATURE_VERSION}:xxw32:k{self.shingle}:p{self.num_perm}:s{self.seed}:l{self.lead_words}{body}"
