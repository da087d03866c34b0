"""The fast featurize (issue 7) gives the same Features as plain reference code.

Two references. Tokeniser, names, language and every payload field but the shingle count are
the implementation featurize had before issue 7, verbatim in behaviour (the per-word
tokeniser, the look-behind-first name regex): stored payloads stay meaningful only if they do
not drift. The signature and the shingle count follow the "xxw32" scheme of FEATURE_VERSION 4
(a shingle's hash built from its words' hashes, see ``aggregator/cluster/fingerprint.py``),
written here plainly — one shingle at a time in Python integers — with datasketch's
``update_batch`` for the MinHash. Inputs: texts written for these tests (no third-party
text), edge cases, and arbitrary Unicode from hypothesis.
"""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

# Importable under plain `pytest` as well as `python -m pytest` (repo root on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pytest
import xxhash
from datasketch import LeanMinHash, MinHash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cluster_texts import BRIDGE_A, BRIDGE_B, CHESS, FILLER, MULTILINGUAL, words_text

from aggregator.cluster import ClusterParams, featurize, fingerprint, text
from aggregator.cluster.facts import weekdays
from aggregator.cluster.params import FEATURE_VERSION

# ---------------------------------------------------------------------------------------------
# The reference: featurize as it was before issue 7 (aggregator/cluster/{features,fingerprint,
# text}.py at commit eaceadc), trimmed to what featurize uses, with the shingle hashes and
# signature of FEATURE_VERSION 4 ("xxw32") written plainly.

_WORD = re.compile(r"\w+", re.UNICODE)
_NOSPACE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_SCRIPTS = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
)
_NUMBER = re.compile(r"^\d[\d.,]*$")
_UPPER = "".join(re.escape(chr(c)) for c in range(0x10000) if chr(c).isupper() and chr(c).isalpha())
_NAME = re.compile(r'(?<![.!?:"“\n])(?<![.!?:"“\n]\s)\b[' + _UPPER + r"][^\W_]+")


def ref_normalize(s: str) -> str:
    if not s:
        return ""
    s = s.encode("utf-8", "ignore").decode("utf-8")
    return unicodedata.normalize("NFKC", s).casefold()


def ref_words(s: str) -> list[str]:
    s = ref_normalize(s)
    found = _WORD.findall(s)
    if not _NOSPACE.search(s):
        return found
    out: list[str] = []
    for w in found:
        if _NOSPACE.search(w):
            for part in re.findall(r"[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f]+|.", w):
                out.append(part)
        else:
            out.append(w)
    return out


def ref_guess_language(tokens: list[str]) -> str:
    if not tokens:
        return ""
    sample = tokens[:400]
    hits = dict.fromkeys(text.STOPWORDS, 0)
    for t in sample:
        for lang, stop in text.STOPWORDS.items():
            if t in stop:
                hits[lang] += 1
    best, best_hits = "", 0
    for lang in text.STOPWORDS:
        if hits[lang] > best_hits:
            best, best_hits = lang, hits[lang]
    if best_hits >= 3 and best_hits >= 0.08 * len(sample):
        return best
    joined = " ".join(sample[:50])
    for lang, pattern in _SCRIPTS:
        if pattern.search(joined):
            return lang
    return ""


def ref_content_terms(tokens: list[str]) -> list[str]:
    out = []
    for tok in tokens:
        if tok in text.ALL_STOPWORDS or (len(tok) < 2 and not _NOSPACE.match(tok)):
            continue
        if len(tok) > 4 and tok.endswith("s") and not tok.endswith("ss") and tok.isalpha():
            tok = tok[:-1]
        out.append(tok)
    return out


def ref_first_sentences(s: str, max_words: int) -> str:
    if not s:
        return ""
    out: list[str] = []
    n = 0
    for sent in _SENTENCE_END.split(s.strip()):
        out.append(sent)
        n += len(sent.split())
        if n >= max_words:
            break
    return " ".join(out)


_M64 = (1 << 64) - 1


def ref_position_key(j: int) -> int:
    """splitmix64's j-th output, made odd: the multiplier of a shingle's j-th word."""
    z = (j + 1) * 0x9E3779B97F4A7C15 & _M64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _M64
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _M64
    return z ^ (z >> 31) | 1


def ref_shingle_hash(shingle: list[str]) -> int:
    """xor of xxh32(word) * key(position) mod 2^64, murmur3's fmix64, low 32 bits."""
    acc = 0
    for j, word in enumerate(shingle):
        acc ^= xxhash.xxh32_intdigest(word.encode("utf-8")) * ref_position_key(j) & _M64
    acc ^= acc >> 33
    acc = acc * 0xFF51AFD7ED558CCD & _M64
    acc ^= acc >> 33
    acc = acc * 0xC4CEB9FE1A85EC53 & _M64
    acc ^= acc >> 33
    return acc & 0xFFFFFFFF


def ref_shingles(tokens: list[str], k: int) -> set[int]:
    """Hashes of the distinct k-word shingles; a text shorter than k words is one shingle."""
    if not tokens:
        return set()
    if len(tokens) < k:
        return {ref_shingle_hash(tokens)}
    return {ref_shingle_hash(tokens[i : i + k]) for i in range(len(tokens) - k + 1)}


def ref_signature(items: set[int], num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine32", hashfunc=int)
    if items:
        m.update_batch(sorted(items))
    return np.asarray(LeanMinHash(m).hashvalues, dtype=np.uint32)


def ref_names(s: str) -> list[str]:
    return [m.group(0).casefold() for m in _NAME.finditer(s) if m.start()]


def ref_featurize(title: str, body: str, summary: str = "", p: ClusterParams | None = None) -> tuple:
    p = p or ClusterParams()
    title, body, summary = title or "", body or "", summary or ""
    body = body[: p.max_text_words * 12]
    body_words = ref_words(body)
    fallback = len(body_words) < 40
    if fallback:
        body = " ".join(x for x in (body, summary) if x)
        body_words = ref_words(body)
    body_words = body_words[: p.max_text_words]
    sh = ref_shingles(body_words, p.shingle)
    sig = ref_signature(sh, p.num_perm, p.seed)
    lead_src = body
    if title and lead_src.lstrip().startswith(title.strip()):
        lead_src = lead_src.lstrip()[len(title.strip()) :]
    lead = ref_first_sentences(lead_src[: p.lead_words * 12], p.lead_words)
    title_terms = ref_content_terms(ref_words(title))
    lead_terms = ref_content_terms(ref_words(lead))
    nums = sorted({t for t in ref_words(title + " " + lead) if _NUMBER.match(t)})
    names = sorted(set(ref_names(title + ". " + lead)))
    body_names = Counter(ref_names(body[:10000]))
    title_names = set(ref_names(". " + title)) if title else set()
    salient = sorted(n for n, k in body_names.items() if k >= 2 or n in title_names)
    lang = ref_guess_language(body_words or ref_words(title))
    days = weekdays(ref_words(title + " " + body[:1000]))  # since FEATURE_VERSION 3
    # since FEATURE_VERSION 5: content terms of the body_words words after the lead's words,
    # leaving out title and lead terms
    after = ref_words(lead_src[: (p.lead_words + p.body_words) * 12])[len(ref_words(lead)) :][: p.body_words]
    seen = set(title_terms) | set(lead_terms)
    body_terms = Counter(t for t in ref_content_terms(after) if t not in seen) if p.body_words > 0 else {}
    payload = {
        "v": FEATURE_VERSION,
        "t": sorted(set(title_terms)),
        "l": dict(sorted(Counter(lead_terms).items())),
        "n": len(sh),
        "w": len(body_words),
        "nums": nums,
        "names": names,
        "sal": salient,
        "lang": lang,
        "fb": fallback,
        "wd": days,
    }
    if body_terms:
        payload["b"] = dict(sorted(body_terms.items()))
    dumped = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return p.scheme, sig.tobytes(), dumped, lang


# ---------------------------------------------------------------------------------------------


def same(title: str, body: str, summary: str = "", p: ClusterParams | None = None) -> None:
    f = featurize(title, body, summary, p)
    assert (f.scheme, f.signature, f.payload, f.language) == ref_featurize(title, body, summary, p)


def _long_text(seed: int, sentences: int) -> str:
    return " ".join(words_text(seed, sentences))


CASES = {
    "empty": ("", "", ""),
    "title only": ("Harbour council approves the tram budget", "", ""),
    "headline + summary": ("Ferry delayed", "", "The 9:40 ferry to Grauwick was delayed by fog, the operator said."),
    "one word": ("X", "word", ""),
    "two words": ("", "two words", ""),
    "whitespace": ("  ", " \n\t ", " "),
    "stub with summary": ("Stub", "Read more.", "A longer feed summary with a Name or two, like Ilse Varga."),
    "bridge a": (*BRIDGE_A, ""),
    "bridge b": (*BRIDGE_B, ""),
    "chess": (*CHESS, ""),
    "title repeated as first line": (BRIDGE_A[0], "  \n" + BRIDGE_A[0] + "\n" + BRIDGE_A[1], ""),
    "whitespace title repeated": ("   ", "   " + CHESS[1], ""),
    "long": ("Quarry vote", _long_text(1, 60), ""),
    # >5,000 words and >60,000 characters: both caps, and more shingles than one numpy block
    "huge": ("Huge", _long_text(2, 900), ""),
    "huge, one line per sentence": ("Huge", "\n".join(words_text(3, 700)), ""),
    "numbers": ("1,200 jobs cut, 3.5% fall", "Shares fell 3.5% to 12,40 after 1.200 jobs; 2024 was worse. " * 5, ""),
    "emoji": ("🚀 Launch 🎉", "The rocket 🚀 lifted off at 09:14 👍🏽 and Mission Control cheered 🎉. " * 6, ""),
    "compatibility forms": ("ﬁnance Ⅻ", "Ｆｕｌｌ ｗｉｄｔｈ ﬁnal ２０２４ ① ㎏ Straße İstanbul ǅemal ΣΑΣ. " * 8, ""),
    "combining marks": ("Cafe\u0301", "Cafe\u0301 re\u0301sume\u0301 \u0301lead, na\u0308ive Zoe\u0308. " * 8, ""),
    "lone surrogates": ("Ti\ud800tle", "Text with a lone \udc00 surrogate and Words that Matter here. " * 8, ""),
    "control characters": ("a\x1cb", "one\x1ctwo\x1dthree\x1efour\x1f five\x00six\x0bseven\x0ceight " * 10, ""),
    "underscores and apostrophes": ("snake_case", "it's a_b __init__ O'Neill don't _x_ rock'n'roll " * 10, ""),
    "quotes before names": ("", '"Maria said" “Jonas left” :Peter. Anna! Berta? Carl\nDora Emil\n Fritz ' * 10, ""),
    "nbsp and odd spaces": ("A\u00a0B", "Ilse\u00a0Varga met\u2003Tomas\u2009Reinholt\u3000at\u200bnoon. " * 10, ""),
    "mixed latin and cjk": ("Tokyo 東京", "The 東京都 office (Tokyo), ソウル·Seoul 서울시, ABC株式会社. " * 8, ""),
    "cjk punctuation": ("・見出し・", "カタカナ・ひらがな「引用」、句読点。ー〜 ゠ ヽヾ " * 12, ""),
    "right to left": ("", "שלום עולם 123 مرحبا بالعالم ٣٤٥ " * 20, ""),
    "shorter than a shingle": ("T", "ab", "cd"),
    # words(): the non-ASCII word character test (a prefix search, then the distinct non-ASCII
    # characters one by one) on each side of its 200-character prefix
    "accent after the prefix": ("Quarry", "The council met “today” — again. " * 12 + "Then Zoë spoke.", ""),
    "accent in the prefix": ("", "Zoë said “no” — twice. " * 20, ""),
    "only punctuation outside ascii": ("“Q”", "“Quoted” — dash… ellipsis · middle dot ‘single’ " * 15, ""),
    "superscripts and fractions late": ("", "plain words here, " * 20 + "x² ½ ③ Ⅻ end", ""),
}


@pytest.mark.parametrize("name", list(CASES))
def test_identical_on_written_cases(name):
    same(*CASES[name])


@pytest.mark.parametrize("lang", [m[0] for m in MULTILINGUAL])
def test_identical_on_other_languages(lang):
    _, title, body = next(m for m in MULTILINGUAL if m[0] == lang)
    same(title, body)
    same(title, (body + " ") * 6)  # long enough to shingle (a short text falls back)
    same(title, "", body)
    assert featurize(title, body).language == lang  # by stopwords, or by script


def test_identical_with_other_params():
    for p in (
        ClusterParams(num_perm=64, seed=7),
        ClusterParams(shingle=1),
        ClusterParams(shingle=5, lead_words=20),
        ClusterParams(max_text_words=50),
    ):
        same(*BRIDGE_A, "", p)
        same("Huge", _long_text(4, 300), "", p)
        same(*CASES["shorter than a shingle"], p)


def test_identical_on_filler_and_generated():
    for title, body in FILLER:
        same(title, body)
    rnd = random.Random(7)
    for seed in range(40):
        body = _long_text(seed, rnd.randint(1, 60))
        same(rnd.choice(["", "Quarry", body[:60]]), body, rnd.choice(["", "summary words"]))


def test_minhash_matches_datasketch_bit_for_bit():
    rnd = random.Random(11)
    for n in (0, 1, 2, 3, 50, 600, fingerprint._BLOCK - 1, fingerprint._BLOCK, fingerprint._BLOCK + 1, 9000):
        items = {rnd.getrandbits(32) for _ in range(n)} | ({0, 0xFFFFFFFF} if n > 2 else set())
        hv = np.array(sorted(items), dtype=np.uint32)
        for num_perm, seed in ((128, 1), (64, 7), (1, 3), (200, 0)):
            got = fingerprint.minhash(hv, num_perm, seed)
            assert got.dtype == np.uint32
            assert got.tobytes() == ref_signature(items, num_perm, seed).tobytes()


def _fast_shingles(tokens: list[str], k: int) -> list[int]:
    got = fingerprint.shingle_hashes([t.encode() for t in tokens], k)
    assert got.dtype == np.uint32
    return got.tolist()


def test_shingles_match_reference():
    toks = text.words(_long_text(5, 30))
    for k in (1, 2, 3, 4, 7):
        for n in (0, 1, k - 1, k, k + 1, len(toks)):
            assert _fast_shingles(toks[:n], k) == sorted(ref_shingles(toks[:n], k))
    # tokens not from words(): spaces, empty strings, non-ASCII (the split shortcut must not apply)
    odd = ["a b", "", "ü", "c", "", "日本", "d e f"]
    for k in (1, 2, 3):
        assert _fast_shingles(odd, k) == sorted(ref_shingles(odd, k))


def test_position_keys_are_distinct_and_odd():
    keys = [fingerprint.position_key(j) for j in range(64)]
    assert keys[:8] == [ref_position_key(j) for j in range(8)]
    assert len(set(keys)) == 64 and all(key % 2 == 1 and key < 2**64 for key in keys)


def test_word_order_matters():
    # The same words in another order are other shingles: a b c != c b a != b a c.
    orders = (["a", "b", "c"], ["c", "b", "a"], ["b", "a", "c"], ["a", "c", "b"])
    assert len({tuple(_fast_shingles(o, 3)) for o in orders}) == 4
    assert _fast_shingles(["x", "x", "y"], 3) != _fast_shingles(["y", "x", "x"], 3)
    # a whole text reversed shares no shingle with itself (its words are all distinct)
    toks = list(dict.fromkeys(text.words(_long_text(6, 20))))
    assert not set(_fast_shingles(toks, 3)) & set(_fast_shingles(toks[::-1], 3))


def test_repeated_shingles_count_once():
    one = ["harbour", "council", "votes"]
    assert len(_fast_shingles(one * 1, 3)) == 1
    # "h c v h c v h c v": shingles hcv, cvh, vhc, hcv, cvh, vhc, hcv -> 3 distinct
    assert _fast_shingles(one * 3, 3) == sorted(ref_shingles(one * 3, 3))
    assert len(_fast_shingles(one * 3, 3)) == 3
    assert len(_fast_shingles(["same"] * 500, 3)) == 1
    body = " ".join(words_text(7, 20))
    once, twice = featurize("", body), featurize("", body + " " + body)
    # the repeat adds only the shingles that span the seam (2 for k=3, at most)
    assert 0 < twice.data()["n"] - once.data()["n"] <= 2
    assert fingerprint.jaccard(once.hashvalues(), twice.hashvalues()) > 0.9


def test_empty_and_short_texts():
    assert _fast_shingles([], 3) == []
    assert featurize("", "").hashvalues().tolist() == [0xFFFFFFFF] * 128  # datasketch's empty sketch
    assert featurize("", "").data()["n"] == 0
    for toks in (["one"], ["one", "two"]):
        got = _fast_shingles(toks, 3)
        assert got == [ref_shingle_hash(toks)]  # a text shorter than a shingle is one shingle
    # the short shingle is not a prefix of a longer one's hash, nor order-blind
    assert _fast_shingles(["one", "two"], 3) != _fast_shingles(["two", "one"], 3)
    assert _fast_shingles(["one", "two"], 3)[0] not in _fast_shingles(["one", "two", "three"], 3)
    assert featurize("", "ab", "cd").data()["n"] == 1


def test_non_ascii_words():
    toks = ["straße", "東", "京", "서울", "ภาษา", "é", "e\u0301", "🚀", "ß", "это"]
    for k in (1, 2, 3):
        assert _fast_shingles(toks, k) == sorted(ref_shingles(toks, k))
    # the bytes hashed are the UTF-8 of each word: "é" (one code point) is not "e" + accent
    assert _fast_shingles(["é"], 1) != _fast_shingles(["e\u0301"], 1)
    assert len(_fast_shingles(toks, 1)) == len(set(toks))


_TOKENS = st.lists(st.sampled_from(["a", "b", "a b", "", "ü", "東", "🚀", "x" * 40]) | st.text(max_size=8), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    tokens=_TOKENS,
    k=st.integers(1, 6),
)
def test_shingle_hashes_match_reference_on_arbitrary_tokens(tokens, k):
    tokens = [t.encode("utf-8", "ignore").decode("utf-8") for t in tokens]  # words() never holds surrogates
    assert _fast_shingles(tokens, k) == sorted(ref_shingles(tokens, k))


_TEXT = st.text(st.characters(codec="utf-8") | st.characters(), max_size=400)
_WORDY = st.lists(
    st.sampled_from(
        [
            "Anna",
            "the",
            "und",
            "le",
            "это",
            "東京",
            "ソウル",
            "서울",
            "ภาษา",
            "3.5",
            "1,200",
            "İ",
            "ß",
            "ﬁ",
            "🚀",
            "\n",
            ". ",
            '"',
            "“",
            ":",
            "  ",
            "_",
            "é",
            "e\u0301",
            "\u00a0",
            "\x1c",
            "\ud800",
            "Σ",
        ]
    ),
    max_size=300,
).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_TEXT | _WORDY, body=_TEXT | _WORDY, summary=_TEXT)
def test_identical_on_arbitrary_unicode(title, body, summary):
    same(title, body, summary)
    same(title, (title + " ") + body, summary)  # the title-repeated-as-first-line path


def test_words_non_ascii_word_character_anywhere():
    # one word character outside ASCII, at every distance from the start (the prefix search
    # covers the first 200 characters, the per-character test the rest)
    filler = "“a” — b, "
    for letter in ("é", "ß", "ǅ", "²", "½", "٣", "_", "\u0301", "東", "İ"):
        for at in (0, 150, 199, 200, 201, 400, 3000):
            s = (filler * (at // len(filler) + 1))[:at] + letter + " tail"
            assert text.words(s) == ref_words(s), (letter, at)


@settings(max_examples=300, deadline=None)
@given(s=_TEXT | _WORDY | st.tuples(_WORDY, _TEXT).map(lambda t: "x " * 120 + t[0] + t[1]))
def test_words_match_reference(s):
    assert text.words(s) == ref_words(s)
    toks = ref_words(s)
    assert text.word_bytes(s) == [t.encode() for t in toks]
    assert text.content_terms(toks) == ref_content_terms(toks)
    assert text.guess_language([t.encode() for t in toks]) == ref_guess_language(toks)


def test_plain_chars_are_spaces_whatever_surrounds_them():
    # What lets words() skip NFKC and casefold on a text whose only non-ASCII characters are
    # text.PLAIN_CHARS: each is unchanged by casefold, not a word character, never reordered
    # (combining class 0), and NFKC maps it to itself or to ASCII non-word characters ...
    for c in text.PLAIN_CHARS:
        nfkc = unicodedata.normalize("NFKC", c)
        assert not c.isascii() and c.casefold() == c and not c.isalnum(), hex(ord(c))
        assert unicodedata.combining(c) == 0, hex(ord(c))
        assert nfkc == c or (nfkc.isascii() and not re.search(r"\w", nfkc)), hex(ord(c))
    # ... and NFKC composes none of them, nor an ASCII character, with what precedes: neither
    # is part of any canonical decomposition into two characters.
    for cp in range(sys.maxunicode + 1):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<") and " " in d:
            second = chr(int(d.split()[1], 16))
            assert second not in text.PLAIN_CHARS and not second.isascii(), hex(cp)
            assert not text.PLAIN_CHARS.intersection(chr(int(x, 16)) for x in d.split()), hex(cp)


_PLAIN_TEXT = st.text(st.sampled_from(sorted(text.PLAIN_CHARS)) | st.characters(max_codepoint=127), max_size=300)


@settings(max_examples=500, deadline=None)
@given(s=_PLAIN_TEXT, other=st.sampled_from(["", "é", "e\u0301", "\u2122", "\u00b7", "\ud800", "東", "\u0301"]))
def test_plain_texts_match_reference(s, other):
    # Texts of ASCII and PLAIN_CHARS take the bytes shortcut; one other character anywhere
    # (a letter, a combining mark, "™" which NFKC makes "TM", a surrogate) must not.
    for t in (s, s + other, other + s, s[: len(s) // 2] + other + s[len(s) // 2 :]):
        toks = ref_words(t)
        assert text.words(t) == toks
        assert text.word_bytes(t) == [w.encode() for w in toks]


def test_benchmark_smoke(capsys, tmp_path):
    # benchmarks/featurize.py runs and keeps its JSON shape (no timing asserted)
    from benchmarks import featurize as bench

    assert bench.main(["--data", str(tmp_path / "absent")]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["skipped"] is True
    if not bench.load_texts(limit=1):
        pytest.skip("../shared/data absent")
    assert bench.main(["--limit", "2", "--repeat", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "versions" in lines[0]
    assert {r["stage"] for r in lines if "stage" in r} == {
        "tokenise",
        "shingles",
        "signature",
        "lead/terms",
        "names",
        "language",
        "weekdays",
        "json",
    }
    summary = lines[-1]
    for key in ("featurize_ms_per_article", "floor_ms_per_article", "ratio"):
        assert isinstance(summary[key], float), summary
