"""Per-article features: computed once (in extraction workers), persisted, never recomputed.

``featurize`` is pure: the same inputs and params give byte-identical Features in any process.
The store treats Features as opaque (scheme, signature bytes, payload JSON text).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .fingerprint import shingles, signature
from .params import FEATURE_VERSION, ClusterParams
from .text import content_terms, first_sentences, guess_language, words

DEFAULT_PARAMS = ClusterParams()
_SHORT_TEXT_WORDS = 40  # below this the page text is treated as missing (headline-only fallback)
_CHARS_PER_WORD = 12  # generous: text beyond max words x this many characters is never needed
_NAME_SCAN_CHARS = 10000  # salient names are looked for in the first ~1,500 words
_NUMBER = re.compile(r"^\d[\d.,]*$")
_UPPER = "".join(re.escape(chr(c)) for c in range(0x10000) if chr(c).isupper() and chr(c).isalpha())
_NAME = re.compile(r'(?<![.!?:"“\n])(?<![.!?:"“\n]\s)\b[' + _UPPER + r"][^\W_]+")


@dataclass(frozen=True)
class Features:
    scheme: str  # e.g. "mh1:xxh32:k3:p128:s1:l60" — see ClusterParams.scheme
    signature: bytes  # MinHash values, numpy uint32 .tobytes()
    payload: str  # JSON: what the story stage needs without the article text
    language: str  # "en", "de", ... or "" when unknown

    def dumps(self) -> tuple[str, bytes, str]:
        return self.scheme, self.signature, self.payload

    @classmethod
    def load(cls, scheme: str, signature: bytes, payload: str) -> "Features":
        lang = json.loads(payload).get("lang", "") if payload else ""
        return cls(scheme=scheme, signature=bytes(signature), payload=payload, language=lang)

    def hashvalues(self) -> np.ndarray:
        return np.frombuffer(self.signature, dtype=np.uint32)

    def data(self) -> dict:
        return json.loads(self.payload) if self.payload else {}


def _names(text: str) -> list[str]:
    """Capitalised words that do not start a sentence: a cheap, language-neutral name guess.

    One regex scan: an upper-case letter (any script) at a word start, not right after
    sentence punctuation, a quote or a line break."""
    return [m.group(0).casefold() for m in _NAME.finditer(text) if m.start()]


def featurize(title: str, text: str, summary: str = "", params: ClusterParams | None = None) -> Features:
    p = params or DEFAULT_PARAMS
    title = title or ""
    text = text or ""
    summary = summary or ""
    text = text[: p.max_text_words * _CHARS_PER_WORD]  # bounds the cost of a huge page
    body_words = words(text)
    fallback = len(body_words) < _SHORT_TEXT_WORDS
    if fallback:
        # Page text missing or a stub: cluster on headline + feed summary instead.
        text = " ".join(x for x in (text, summary) if x)
        body_words = words(text)
    body_words = body_words[: p.max_text_words]

    sh = shingles(body_words, p.shingle)
    sig = signature(sh, p.num_perm, p.seed)

    # Story vector: title terms (weighted by the clusterer) + lead counts. Titles that merely
    # repeat as the first line of the text are not counted twice.
    lead_src = text
    if title and lead_src.lstrip().startswith(title.strip()):
        lead_src = lead_src.lstrip()[len(title.strip()) :]
    lead = first_sentences(lead_src[: p.lead_words * _CHARS_PER_WORD], p.lead_words)
    title_terms = content_terms(words(title))
    lead_terms = content_terms(words(lead))
    nums = sorted({t for t in words(title + " " + lead) if _NUMBER.match(t)})
    names = sorted(set(_names(title + ". " + lead)))
    body_names = Counter(_names(text[:_NAME_SCAN_CHARS]))
    title_names = set(_names(". " + title)) if title else set()
    salient = sorted(n for n, k in body_names.items() if k >= 2 or n in title_names)
    lang = guess_language(body_words or words(title))
    payload = {
        "v": FEATURE_VERSION,
        "t": sorted(set(title_terms)),
        "l": dict(sorted(Counter(lead_terms).items())),
        "n": len(sh),  # shingle-set size: turns Jaccard into containment
        "w": len(body_words),
        "nums": nums,
        "names": names,
        "sal": salient,
        "lang": lang,
        "fb": fallback,
    }
    return Features(
        scheme=p.scheme,
        signature=sig.tobytes(),
        payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
        language=lang,
    )
