"""Normalisation and tokenisation, language-agnostic.

Words are Unicode ``\\w`` runs, casefolded after NFKC; scripts written without spaces (CJK,
Thai, ...) are split into single characters so they still shingle and match. Stopword lists
are small and only serve two purposes: a cheap language guess and dropping function words
from the story vector. Nothing here is English-only; unknown languages just keep all words.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)
# Characters of scripts that do not separate words with spaces: split them one by one.
_NOSPACE_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f"
_NOSPACE = re.compile(f"[{_NOSPACE_CHARS}]")
# Runs of other word characters, or one space-less-script word character (``(?=\w)``: the
# punctuation in those blocks, e.g. "・", is not a word).
_WORD_OR_CHAR = re.compile(f"[^\\W{_NOSPACE_CHARS}]+|(?=\\w)[{_NOSPACE_CHARS}]")
# ASCII characters that are not \w, mapped to a space (str.translate with a 1:1 ASCII table is
# a C loop over a small cache).
_ASCII_NON_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")})
# The same for bytes, with upper-case letters lower-cased as well: one bytes.translate pass
# does what lower() then translate() did (bytes >= 128 never reach it).
_PLAIN_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if c < 128 and (chr(c).isalnum() or c == 95) else 32 for c in range(256)
)
# Non-ASCII characters that tokenising treats as a space whatever surrounds them: not
# alphanumeric, unchanged by casefold, combining class 0, in no canonical decomposition into
# two characters (NFKC never composes them with a neighbour; nor an ASCII character, which is
# never the second of such a pair), and NFKC maps each to itself or to ASCII non-word
# characters ("…" to "...", no-break spaces to " "). These are the quotes, dashes and symbols of
# most English pages: 130 of the 250 pages of ../shared/data/pages have no other non-ASCII
# character (62 more are ASCII). tests/test_cluster_featurize_fast.py checks every condition.
PLAIN_CHARS = frozenset(
    "\u2018\u2019\u201a\u201c\u201d\u201e\u2039\u203a\u00ab\u00bb"  # quotes
    "\u2010\u2012\u2013\u2014\u2015"  # hyphen, dashes
    "\u2026\u2020\u2021\u2022\u2032\u25cf\u00b7\u00a1\u00bf\u00a7\u00b6"  # ellipsis, marks, bullets
    "\u00a2\u00a3\u00a5\u20ac\u00a9\u00ae\u00b0\u00b1\u00d7\ufffd"  # currency, symbols
    "\u00a0\u2009\u202f\u00ad\u200b\u200c\u200d\u200e\u200f\ufeff"  # spaces, invisible
)
_NON_ASCII_WORD = re.compile(r"[^\W\x00-\x7f]")
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")
# A run of whitespace right after sentence punctuation. Written whitespace-first, the look-behind
# checking the punctuation and the first space together: the regex engine then skips ahead to
# the next space, where a look-behind first is tried at every position. Same matches.
_SENTENCE_END = re.compile(r"\s(?<=[.!?。！？]\s)\s*")

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "a about after again against all also am an and any are as at be because been before being"
        " between both but by can could did do does doing down during each few for from further had"
        " has have having he her here hers herself him himself his how i if in into is it its itself"
        " just me more most my myself no nor not now of off on once only or other our ours out over"
        " own same she should so some such than that the their theirs them then there these they"
        " this those through to too under until up very was we were what when where which while who"
        " whom why will with would you your yours said says say told according one two new also"
        " mr mrs ms last first year years time week day people like get got make made may might"
        " since still us".split()
    ),
    "de": frozenset(
        "aber alle als also am an auch auf aus bei bin bis da damit dann das dass dem den denen der"
        " des die dies diese dieser doch dort du durch ein eine einem einen einer eines er es für hat"
        " hatte ich ihr im in ist ja jetzt kann kein mit nach nicht noch nur oder sich sie sind so"
        " über um und uns von vor war waren was weil wenn werden wie wir wird wurde zu zum zur".split()
    ),
    "fr": frozenset(
        "au aux avec ce ces cette dans de des du elle en est et il ils je la le les leur lui mais"
        " me même mes ne nous on ou par pas pour qu que qui sa se ses son sont sur ta te tes toi ton"
        " tu un une vos votre vous été être avoir fait plus été aussi".split()
    ),
    "es": frozenset(
        "al como con de del el ella ellos en era es esta este fue ha han hay la las le les lo los más"
        " me mi muy no nos o para pero por que se ser si sin sobre su sus también un una uno y ya".split()
    ),
    "it": frozenset(
        "al alla anche che chi come con da dal dei del della di e è gli ha hanno il in la le lo ma"
        " nel nella non per più quando se si sono su tra un una uno".split()
    ),
    "pt": frozenset(
        "ao aos as com como da das de do dos e é ela ele em era foi há isso já mais mas na nas não"
        " no nos o os ou para pela pelo por que se sem seu sua são também um uma".split()
    ),
    "nl": frozenset(
        "aan al als bij dat de den der die dit door een en er had heb hebben het hij hun ik in is"
        " je kan maar met na naar niet nog of om onder ook op over te tot uit van voor was wat we"
        " werd wij worden zal ze zich zijn zo".split()
    ),
    "ru": frozenset(
        "а без был была были было в вы где да для до его её если есть же за и из или им их к как"
        " когда который ли мы на над не нет но о об от по под при с со так также то только ты у уже"
        " чем что это эти я".split()
    ),
}
# Scripts that name their language well enough when no stopword list decides (first match wins).
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),  # kana: Japanese, even among kanji
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
)
ALL_STOPWORDS: frozenset[str] = frozenset().union(*STOPWORDS.values())


def normalize(text: str) -> str:
    """NFKC + casefold; tolerant of any input (lone surrogates are dropped)."""
    if not text:
        return ""
    if text.isascii():  # O(1) in CPython; NFKC leaves ASCII alone and casefolds it to lower()
        return text.lower()
    text = text.encode("utf-8", "ignore").decode("utf-8")
    return unicodedata.normalize("NFKC", text).casefold()


def _has_non_ascii_word_char(text: str) -> bool:
    """Whether a non-ASCII character of ``text`` is a \\w character (isalnum: \\w is isalnum()
    or "_"). The distinct non-ASCII characters are few (quotes, dashes, a few accented letters),
    so they are tested one by one after one cheap regex drops the ASCII runs: 40 % less CPU
    than one search for [^\\W\\x00-\\x7f], which classifies every character of the text."""
    # A text in another script has one at once: the search of a short prefix finds it first.
    if _NON_ASCII_WORD.search(text, 0, 200):
        return True
    return any(map(str.isalnum, set(_ASCII_RUNS.sub("", text))))


def _plain(text: str) -> bytes | None:
    """``text`` as ASCII bytes (each non-ASCII character a "?") when it has no non-ASCII
    characters but ``PLAIN_CHARS``, else None. Such a text needs neither NFKC, nor casefold,
    nor the surrogate clean-up: its words are its ASCII words, lower-cased."""
    if text.isascii():  # O(1) in CPython
        return text.encode("ascii")
    # A text in another script has a non-ASCII word character at once: the search of a short
    # prefix finds it before the whole text is copied by the regex that drops the ASCII runs.
    if _NON_ASCII_WORD.search(text, 0, 200) or not PLAIN_CHARS.issuperset(_ASCII_RUNS.sub("", text)):
        return None
    return text.encode("ascii", "replace")


def word_bytes(text: str) -> list[bytes]:
    """``words(text)``, each word UTF-8 encoded: what the shingle hashes and the language guess
    take. A plain text (see ``_plain``) is split as bytes, never decoded: 1,000 words are then
    not encoded one by one for hashing (60 µs per page of ../shared/data/pages)."""
    plain = _plain(text)
    if plain is not None:
        return plain.translate(_PLAIN_TABLE).split()
    return list(map(str.encode, _normalized_words(text)))


def words(text: str) -> list[str]:
    """Casefolded words (\\w+ runs); characters of space-less scripts become one word each.

    The regex scan is the slow way to find them (a Unicode category test per character, an
    object per match), so exact shortcuts come first. In ASCII, \\w is [a-z0-9_] and every other
    character can become a space for split(); so can the ``PLAIN_CHARS`` of a text that has no
    other non-ASCII characters (most English pages)."""
    plain = _plain(text)
    if plain is not None:
        return plain.translate(_PLAIN_TABLE).decode("ascii").split()
    return _normalized_words(text)


def _normalized_words(text: str) -> list[str]:
    """``words`` of a text that is not plain: NFKC + casefold first. Text whose only non-ASCII
    characters are still not word characters is the same after each of those becomes a "?".
    Otherwise a whitespace-separated piece that is all alphanumeric is one \\w run (\\w is
    isalnum() or "_", whitespace never is), and only the other pieces (with punctuation) go
    through the regex."""
    text = normalize(text)
    if text.isascii():
        return text.translate(_ASCII_NON_WORD).split()
    if not _has_non_ascii_word_char(text):
        return text.encode("ascii", "replace").decode("ascii").translate(_ASCII_NON_WORD).split()
    if _NOSPACE.search(text):
        # The same as splitting each \w+ run into other runs and single characters, in one scan.
        return _WORD_OR_CHAR.findall(text)
    out: list[str] = []
    append, extend, findall = out.append, out.extend, _WORD.findall
    for piece in text.split():
        if piece.isalnum():
            append(piece)
        else:
            extend(findall(piece))
    return out


# Stopwords UTF-8 encoded, with their languages: the language guess reads word_bytes().
_LANGS_OF: dict[bytes, tuple[str, ...]] = {}
for _lang, _stop in STOPWORDS.items():
    for _w in map(str.encode, _stop):
        _LANGS_OF[_w] = (*_LANGS_OF.get(_w, ()), _lang)
_IS_STOPWORD = frozenset(_LANGS_OF).__contains__


def guess_language(tokens: list[bytes]) -> str:
    """The language whose stopwords cover most tokens (UTF-8 words), or "" when the evidence is
    thin."""
    if not tokens:
        return ""
    sample = tokens[:400]
    # Only the stopwords of the sample are counted (the membership test runs in C, inside
    # filter); then the distinct ones (a few dozen) are visited, not every token.
    counts = Counter(filter(_IS_STOPWORD, sample))
    hits = dict.fromkeys(STOPWORDS, 0)
    for w, n in counts.items():
        for lang in _LANGS_OF[w]:
            hits[lang] += n
    best, best_hits = "", 0
    for lang in STOPWORDS:  # dict order: ties go to the first language, as before
        if hits[lang] > best_hits:
            best, best_hits = lang, hits[lang]
    # at least 3 hits and 8 % of the sample: headlines alone are often too short to tell
    if best_hits >= 3 and best_hits >= 0.08 * len(sample):
        return best
    return script_language(b" ".join(sample[:50]).decode())


def script_language(text: str) -> str:
    """A language named by its script (kana → "ja", hangul → "ko", ...), or ""."""
    for lang, pattern in _SCRIPTS:
        if pattern.search(text):
            return lang
    return ""


def is_content(tok: str) -> bool:
    """A word that can say what a story is about: not a stopword, not a single letter."""
    if tok in ALL_STOPWORDS:
        return False
    if len(tok) < 2 and not _NOSPACE.match(tok):
        return False
    return True


def fold(tok: str) -> str:
    """Very light suffix folding (plural "s") so "earthquakes" meets "earthquake".

    Deliberately crude and script-neutral: only strips a final "s" from long latin-ish words."""
    if len(tok) > 4 and tok.endswith("s") and not tok.endswith("ss") and tok.isalpha():
        return tok[:-1]
    return tok


def content_terms(tokens: list[str]) -> list[str]:
    """``fold`` of each token that ``is_content``; the two inlined (it runs on every title and lead)."""
    out: list[str] = []
    stop, nospace = ALL_STOPWORDS, _NOSPACE.match
    for t in tokens:
        if t in stop or (len(t) < 2 and not nospace(t)):
            continue
        if len(t) > 4 and t[-1] == "s" and t[-2] != "s" and t.isalpha():
            t = t[:-1]
        out.append(t)
    return out


def first_sentences(text: str, max_words: int) -> str:
    """Whole sentences from the start of ``text`` up to about ``max_words`` words."""
    if not text:
        return ""
    out: list[str] = []
    n = 0
    for sent in _SENTENCE_END.split(text.strip()):
        out.append(sent)
        n += len(sent.split())
        if n >= max_words:
            break
    return " ".join(out)
