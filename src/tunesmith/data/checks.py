"""The individual checks of ``tunesmith data inspect``, each a pure function over one split.

Each returns JSON-ready values (counts, a few examples with their "file:line" sources); turning
them into findings and a verdict is ``tunesmith.data.inspect``'s job.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from difflib import SequenceMatcher

from tunesmith.config import InspectConfig

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")
# "é" read as Latin-1 becomes "Ã©", "’" becomes "â€™": UTF-8 decoded with the wrong codec.
_MOJIBAKE = re.compile("[\u00c3\u00c2][\u0080-\u00bf]|\u00e2\u20ac")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BOM = "\ufeff"


def normalize(text: str) -> str:
    """Text as near-duplicate search sees it: NFKC, lower-case, no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def shingles(normalized: str) -> set[str]:
    """Word 3-shingles; a text of fewer than three words is one shingle (itself)."""
    words = normalized.split()
    if len(words) < 3:
        return {" ".join(words)}
    return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}


def exact_duplicates(keys: Sequence[str], sources: Sequence[str], shown: int) -> dict:
    """Rows whose content repeats an earlier row: count and (first, repeat) source pairs."""
    first: dict[str, str] = {}
    count, examples = 0, list[dict]()
    for key, source in zip(keys, sources, strict=True):
        if key in first:
            count += 1
            if len(examples) < shown:
                examples.append({"first": first[key], "repeat": source})
        else:
            first[key] = source
    return {"count": count, "examples": examples}


def sketches(texts: list[str], cfg: InspectConfig) -> list:
    """MinHashes of normalized ``texts``, built in one vectorised call."""
    from datasketch import MinHash  # import cost only when the check runs

    sets = [[s.encode() for s in shingles(t)] for t in texts]
    return MinHash.bulk(sets, num_perm=cfg.minhash_permutations)


#: Finding near duplicates must not miss: MinHashLSH's default bands (false positives and false
#: negatives weighted equally) propose only ~60% of the pairs at Jaccard 0.85 when the threshold
#: is 0.8. Weighted towards recall, the same 64 permutations propose 99% (95% at the threshold
#: itself); every candidate is confirmed by its exact shingle Jaccard, so extras cost little.
LSH_WEIGHTS = (0.05, 0.95)


class NearIndex:
    """MinHash LSH over normalized texts: each query costs about O(1), never a scan of all rows."""

    def __init__(self, cfg: InspectConfig):
        from datasketch import MinHashLSH

        self.cfg = cfg
        self.lsh = MinHashLSH(
            threshold=cfg.near_duplicate_threshold,
            num_perm=cfg.minhash_permutations,
            weights=LSH_WEIGHTS,
        )
        self.shingles: dict[str, set[str]] = {}

    def add(self, key: str, normalized: str, sketch) -> None:
        """Index one text under ``key`` (a source such as "train.csv:17")."""
        self.lsh.insert(key, sketch, check_duplication=False)
        self.shingles[key] = shingles(normalized)

    def match(self, normalized: str, sketch) -> str | None:
        """The key of an indexed text whose true shingle Jaccard passes the threshold, if any."""
        mine = shingles(normalized)
        for key in self.lsh.query(sketch):
            other = self.shingles[key]
            if len(mine & other) / len(mine | other) >= self.cfg.near_duplicate_threshold:
                return key
        return None


def near_duplicates(
    texts: Sequence[str], sources: Sequence[str], cfg: InspectConfig
) -> tuple[dict, NearIndex]:
    """Rows nearly repeating an earlier row (not exactly): count and (first, repeat) pairs.

    Also returns the index of the split's distinct texts, which later splits are checked against.

    Rows equal after normalization pair up by dictionary lookup; only distinct normalized texts
    go through MinHash LSH, so 67k rows take seconds rather than 67k x 67k comparisons.
    """
    seen: dict[str, tuple[str, str]] = {}  # normalized -> (raw text, source) of first row
    index = NearIndex(cfg)
    pending: list[tuple[str, str, str]] = []
    count, examples = 0, []
    for text, source in zip(texts, sources, strict=True):
        norm = normalize(text)
        if norm in seen:
            if seen[norm][0] != text:  # equal raw texts are exact duplicates, counted there
                count += 1
                examples.append({"first": seen[norm][1], "repeat": source})
            continue
        seen[norm] = (text, source)
        pending.append((norm, source, text))
    for (norm, source, _), sketch in zip(
        pending, sketches([p[0] for p in pending], cfg), strict=True
    ):
        match = index.match(norm, sketch)
        if match is not None:
            count += 1
            examples.append({"first": match, "repeat": source})
        index.add(source, norm, sketch)
    return {"count": count, "examples": examples[: cfg.examples_shown]}, index


def leakage(
    keys: Sequence[str], texts: Sequence[str], sources: Sequence[str], earlier: dict, cfg
) -> dict:
    """Rows of a later split found (exactly or nearly) in the earlier ones.

    ``earlier`` holds ``keys`` (content -> first source) and ``indexes`` (NearIndex of each
    earlier split).
    """
    exact, near = [], []
    norms = [normalize(t) for t in texts]
    for key, norm, source, sketch in zip(keys, norms, sources, sketches(norms, cfg), strict=True):
        if key in earlier["keys"]:
            exact.append({"in": earlier["keys"][key], "also_in": source})
            continue
        matches = (index.match(norm, sketch) for index in earlier["indexes"])
        match = next((m for m in matches if m is not None), None)
        if match is not None:
            near.append({"in": match, "also_in": source})
    shown = cfg.examples_shown
    return {
        "exact": {"count": len(exact), "examples": exact[:shown]},
        "near": {"count": len(near), "examples": near[:shown]},
    }


def is_missing(value: object) -> bool:
    """Absent, null, NaN or blank text: no value a model can learn from."""
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is None or (isinstance(value, str) and not value.strip())


def missing_values(rows: Sequence[dict], fields: Sequence[str]) -> dict:
    """Per field: rows where it is absent (null or NaN) and rows where it is blank text."""
    out = {}
    for name in fields:
        missing = sum(
            1 for row in rows if is_missing(row.get(name)) and not isinstance(row.get(name), str)
        )
        empty = sum(1 for row in rows if isinstance(row.get(name), str) and not row[name].strip())
        out[name] = {"missing": missing, "empty": empty}
    return out


#: Spellings of "no value" that exports write into label cells (pandas reads them all as NaN).
PLACEHOLDERS = frozenset({"nan", "null", "none", "n/a", "na", "#n/a"})


def label_kinds(values: Sequence[object], sources: Sequence[str], shown: int) -> dict:
    """Labels written as numbers vs as words, and labels that are "no value" placeholders.

    A column mixing 1 / 0 with "positive" / "negative" trains separate classes for what is
    probably the same thing; "NaN" or "null" in a label cell is a missing label, not a class.
    """
    numbers, words, placeholders = [], [], []
    for value, source in zip(values, sources, strict=True):
        if is_missing(value):
            continue
        text = str(value).strip()
        if text.lower() in PLACEHOLDERS:
            placeholders.append({"source": source, "value": text})
        elif (isinstance(value, (int, float)) and not isinstance(value, bool)) or _is_number(text):
            numbers.append({"source": source, "value": text})
        else:
            words.append({"source": source, "value": text})
    mixed = bool(numbers and words)
    return {
        "numbers": {"count": len(numbers), "examples": numbers[:shown] if mixed else []},
        "words": {"count": len(words), "examples": words[:shown] if mixed else []},
        "placeholders": {"count": len(placeholders), "examples": placeholders[:shown]},
    }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def label_balance(labels: Sequence[str], cfg: InspectConfig) -> dict:
    """Label counts (raw spelling, most common first) and the labels too rare to learn."""
    counts = Counter(labels)
    total = len(labels)
    rare = [
        label
        for label, n in counts.items()
        if n < cfg.rare_label_rows or n < cfg.rare_label_share * total
    ]
    return {"counts": dict(counts.most_common()), "rare": rare}


def label_variants(counts: dict[str, int], cfg: InspectConfig) -> list[dict]:
    """Labels that look like misspellings of a more frequent one ("pos", "Positive " -> "positive").

    Pairs are compared after strip + lower-case: equal, similar (difflib ratio), or one a prefix of
    the other. Skipped above 1,000 distinct labels, where such a column is not a label set.
    """
    labels = sorted(counts, key=lambda label: -counts[label])
    if len(labels) > 1000:
        return []
    out = []
    for i, variant in enumerate(labels):
        for canonical in labels[:i]:
            why = _looks_alike(canonical, variant, cfg)
            if why:
                out.append({"variant": variant, "of": canonical, "why": why})
                break
    return out


def _looks_alike(a: str, b: str, cfg: InspectConfig) -> str | None:
    """Why label ``b`` looks like a spelling of ``a``, or None."""
    x, y = a.strip().lower(), b.strip().lower()
    if x == y:
        return "same after strip and lower-case"
    short, long_ = sorted((x, y), key=len)
    if len(short) >= cfg.label_prefix_chars and long_.startswith(short):
        return "prefix"
    if SequenceMatcher(None, x, y).ratio() >= cfg.label_typo_ratio:
        return "similar spelling"
    return None


def encoding_problems(
    texts: Sequence[str], sources: Sequence[str], endings: dict[str, int], shown: int
) -> dict:
    """Mojibake, control characters and BOMs inside the text, and mixed line endings.

    ``endings`` counts the file's "crlf", "cr" and "lf" line ends (``LoadedFile.line_endings``).
    """
    found: dict[str, dict] = {}
    checks: dict[str, Callable[[str], object]] = {
        "mojibake": _MOJIBAKE.search,
        "control_characters": _CONTROL.search,
        "byte_order_mark": lambda t: _BOM in t,
    }
    for name, test in checks.items():
        hits = [s for t, s in zip(texts, sources, strict=True) if test(t)]
        found[name] = {"count": len(hits), "examples": hits[:shown]}
    crlf, lf = endings["crlf"] + endings.get("cr", 0), endings["lf"]
    found["mixed_line_endings"] = {"crlf": crlf, "lf": lf, "mixed": bool(crlf and lf)}
    return found


def length_stats(lengths: Sequence[int], max_length: int, unit: str) -> dict:
    """min, p50, p90, p99, max of ``lengths`` and how many exceed ``max_length``."""
    ordered = sorted(lengths)
    stats: dict = {"unit": unit, "max_length": max_length, "histogram": histogram(ordered)}
    for name, q in (("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
        stats[name] = ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0
    stats["truncated"] = sum(1 for n in lengths if n > max_length)
    return stats


def histogram(ordered: Sequence[int], bins: int = 40) -> dict:
    """Counts of sorted ``ordered`` in equal-width bins from 0 to the maximum (for the plot)."""
    top = ordered[-1] if ordered else 0
    width = max(1, -(-(top + 1) // bins))
    counts = [0] * bins
    for n in ordered:
        counts[min(bins - 1, n // width)] += 1
    return {"bin_width": width, "counts": counts}


def outliers(texts: Sequence[str], sources, lengths: Sequence[int], p99: int, cfg) -> dict:
    """Empty, very short (< cfg.short_chars) and very long (> p99 x cfg.long_factor) rows."""
    limit = p99 * cfg.long_factor
    groups: dict[str, list[str]] = {"empty": [], "very_short": [], "very_long": []}
    for text, source, n in zip(texts, sources, lengths, strict=True):
        stripped = text.strip()
        if not stripped:
            groups["empty"].append(source)
        elif len(stripped) < cfg.short_chars:
            groups["very_short"].append(source)
        elif n > limit:
            groups["very_long"].append(source)
    shown = cfg.examples_shown
    return {k: {"count": len(v), "examples": v[:shown]} for k, v in groups.items()}


def distinct_2(texts: Sequence[str]) -> float:
    """Distinct word bigrams / all word bigrams: near 0 for repetitive text, near 1 for varied."""
    total, distinct = 0, set()
    for bigram in _bigrams(texts):
        total += 1
        distinct.add(bigram)
    return len(distinct) / total if total else 0.0


def _bigrams(texts: Sequence[str]) -> Iterator[tuple[str, str]]:
    for text in texts:
        words = text.lower().split()
        yield from zip(words, words[1:], strict=False)
