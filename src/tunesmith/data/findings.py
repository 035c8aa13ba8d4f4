"""Turn the numbers of a data inspection into findings a person can act on.

A finding is {level, check, message, fix}. "error" blocks training (the data is wrong in a way
that makes the run's numbers meaningless); "warning" is worth a look but can be trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tunesmith.config import InspectConfig
from tunesmith.data.load import position

Check = Callable[[str, dict, InspectConfig], list[dict]]


def finding(level: str, check: str, message: str, fix: str) -> dict:
    """One finding, JSON-ready."""
    return {"level": level, "check": check, "message": message, "fix": fix}


def _where(sources: list[str]) -> str:
    """A few "file:line" sources in words, for messages."""
    return "; ".join(position(s) for s in sources)


def _pairs(examples: list[dict]) -> str:
    return "; ".join(" = ".join(position(s) for s in pair.values()) for pair in examples)


def _identical(name: str, report: dict, limits: InspectConfig) -> list[dict]:
    if report["examples"] > 1 and report["distinct_examples"] == 1:
        return [
            finding(
                "error",
                "identical_rows",
                f"{name}: all {report['examples']} rows are the same example",
                "the export probably repeated one row; re-export the data set",
            )
        ]
    return []


def _missing(name: str, report: dict, limits: InspectConfig) -> list[dict]:
    out = []
    rows = report["rows"]
    for field, counts in report["missing"].items():
        bad = counts["missing"] + counts["empty"]
        if not bad:
            continue
        is_label = field == report.get("label_field")
        blocking = is_label and bad > limits.missing_label_error * rows
        out.append(
            finding(
                "error" if blocking else "warning",
                "missing_values",
                f"{name}: field '{field}' is missing in {counts['missing']} and empty in "
                f"{counts['empty']} of {rows} rows",
                "fill in the values or remove those rows",
            )
        )
    return out


def _unusable(name: str, report: dict, limits: InspectConfig) -> list[dict]:
    unusable = report.get("unusable") or {"count": 0}
    if not unusable["count"]:
        return []
    first = unusable["examples"][0]
    return [
        finding(
            "error",
            "unusable_rows",
            f"{name}: {unusable['count']} of {report['rows']} rows can't be used; the first: "
            f"{position(first['source'])}: {first['reason']}",
            "fix or remove those rows (train stops on them; `tunesmith train --force` skips them)",
        )
    ]


def _duplicates(name: str, report: dict, limits: InspectConfig) -> list[dict]:
    out = []
    exact, near = report["exact_duplicates"], report["near_duplicates"]
    if exact["count"]:
        out.append(
            finding(
                "warning",
                "exact_duplicates",
                f"{name}: {exact['count']} rows repeat an earlier row "
                f"({_pairs(exact['examples'])})",
                "remove the repeats: they weigh those examples more and inflate scores",
            )
        )
    if near["count"]:
        out.append(
            finding(
                "warning",
                "near_duplicates",
                f"{name}: {near['count']} rows nearly repeat an earlier row "
                f"({_pairs(near['examples'])})",
                "check them: keep one of each group unless the small differences matter",
            )
        )
    return out


def _labels(name: str, report: dict, limits: InspectConfig) -> list[dict]:
    labels = report.get("labels")
    if not labels:
        return []
    out = []
    for variant in labels["variants"]:
        out.append(
            finding(
                "warning",
                "label_variants",
                f"{name}: label {variant['variant']!r} looks like {variant['of']!r} "
                f"({variant['why']})",
                f"if they mean the same, rewrite {variant['variant']!r} as {variant['of']!r}",
            )
        )
    out += _label_kinds(name, labels.get("kinds"))
    if labels["rare"]:
        shown = ", ".join(repr(label) for label in labels["rare"][:10])
        out.append(
            finding(
                "warning",
                "rare_labels",
                f"{name}: {len(labels['rare'])} labels have very few rows: {shown}",
                f"add examples (at least {limits.rare_label_rows} each) or merge/remove them",
            )
        )
    return out


def _label_kinds(name: str, kinds: dict | None) -> list[dict]:
    """Labels mixing numbers and words, and "NaN"-like placeholders used as labels."""
    if not kinds:
        return []
    out = []
    numbers, words = kinds["numbers"], kinds["words"]
    if numbers["count"] and words["count"]:
        shown = "; ".join(
            f"{position(e['source'])} = {e['value']!r}"
            for e in (numbers["examples"][:2] + words["examples"][:2])
        )
        out.append(
            finding(
                "warning",
                "mixed_label_types",
                f"{name}: the label is a number in {numbers['count']} rows and a word in "
                f"{words['count']} ({shown})",
                "write each class one way: map the numbers to their names (or the names to "
                "numbers); else '1' and 'positive' are trained as different classes",
            )
        )
    holders = kinds["placeholders"]
    if holders["count"]:
        shown = "; ".join(f"{position(e['source'])} = {e['value']!r}" for e in holders["examples"])
        out.append(
            finding(
                "warning",
                "label_placeholders",
                f"{name}: {holders['count']} labels look like a missing value ({shown})",
                "fill in the real labels or remove those rows; else they are trained as a class",
            )
        )
    return out


_ENCODING_FIX = {
    "mojibake": "the text was decoded with the wrong codec (e.g. 'Ã©' for 'é'); re-export it as "
    "UTF-8 or repair it with ftfy",
    "control_characters": "remove the invisible control characters",
    "byte_order_mark": "remove the stray U+FEFF characters (often left by joining files)",
}


def _encoding(name: str, report: dict, limits: InspectConfig) -> list[dict]:
    out = []
    enc = report["encoding"]
    for check, fix in _ENCODING_FIX.items():
        if enc[check]["count"]:
            what = check.replace("_", " ")
            message = (
                f"{name}: {what} in {enc[check]['count']} rows ({_where(enc[check]['examples'])})"
            )
            out.append(finding("warning", check, message, fix))
    endings = enc["mixed_line_endings"]
    if endings["mixed"]:
        out.append(
            finding(
                "warning",
                "mixed_line_endings",
                f"{name}: {endings['crlf']} lines end in CRLF and {endings['lf']} in LF",
                "save the file with one kind of line ending",
            )
        )
    return out


def _shape(name: str, report: dict, limits: InspectConfig) -> list[dict]:
    out = []
    lengths = report["lengths"]
    if lengths["truncated"]:
        out.append(
            finding(
                "warning",
                "truncated",
                f"{name}: {lengths['truncated']} examples are longer than max_length "
                f"{lengths['max_length']} {lengths['unit']} (p99 {lengths['p99']})",
                "raise train.max_length or shorten those examples; the excess is cut",
            )
        )
    for kind, group in report["outliers"].items():
        if group["count"]:
            out.append(
                finding(
                    "warning",
                    kind,
                    f"{name}: {group['count']} {kind.replace('_', ' ')} rows "
                    f"({_where(group['examples'])})",
                    "check them; remove the ones that are not real examples",
                )
            )
    if report["examples"] > 20 and report["distinct_2"] < limits.low_diversity:
        out.append(
            finding(
                "warning",
                "low_diversity",
                f"{name}: only {report['distinct_2']:.0%} of word pairs are distinct",
                "the texts are very repetitive; add more varied examples",
            )
        )
    return out


FILE_CHECKS: list[Check] = [
    _identical, _unusable, _missing, _duplicates, _labels, _encoding, _shape,
]  # fmt: skip


def leakage_findings(report: dict, train_file: str) -> list[dict]:
    """Rows of a later split that also appear in an earlier one: exact = error, near = warning."""
    name, leak = Path(report["file"]).name, report["leakage"]
    out = []
    if leak["exact"]["count"]:
        out.append(
            finding(
                "error",
                "leakage",
                f"{name}: {leak['exact']['count']} rows also appear in an earlier split "
                f"({_pairs(leak['exact']['examples'])})",
                f"remove them from {name}: scores on seen examples overstate the model",
            )
        )
    if leak["near"]["count"]:
        out.append(
            finding(
                "warning",
                "near_leakage",
                f"{name}: {leak['near']['count']} rows nearly repeat a row of an earlier split "
                f"({_pairs(leak['near']['examples'])})",
                f"check them and remove the ones that are the same example as in {train_file}",
            )
        )
    return out
