"""Read a user's data file into records: one dict per row, line or JSON object.

Formats are chosen by extension (.csv, .tsv, .json, .jsonl/.ndjson, .txt; also compressed with
.gz, .bz2 or .xz). What is unambiguous is repaired and reported (``LoadedFile.repairs``: a BOM,
UTF-16, CRLF line ends, ...; see ``tunesmith.data.decode``); every other problem a user can cause
(a wrong path, a file that is not UTF-8, a broken line) becomes a one-line ``TunesmithError``
naming the file and line; no parser exception escapes. Nothing is ever skipped silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.data.decode import decode, decompress, format_suffix
from tunesmith.data.delimited import Parsed, parse_csv, parse_tsv
from tunesmith.data.records import Record, position
from tunesmith.errors import TunesmithError

__all__ = ["LoadedFile", "Record", "position", "read_file", "read_records"]

Parser = Callable[[str, str], Parsed]


@dataclass(frozen=True)
class LoadedFile:
    """A data file as read: its records, what was repaired on the way, and its line endings.

    ``repairs`` are short notes ("stripped a UTF-8 byte order mark", "3 Windows (CRLF) line
    endings read as LF"); ``line_endings`` counts the file's "crlf", "cr" and "lf" line ends.
    """

    records: list[Record]
    repairs: list[str]
    line_endings: dict[str, int]


def read_file(path: str | Path) -> LoadedFile:
    """Read a .csv, .tsv, .json, .jsonl/.ndjson or .txt file (optionally .gz/.bz2/.xz).

    Only unambiguous problems are repaired, each with a note; anything else is a one-line
    ``TunesmithError`` naming the file and line. The file itself is never written.
    """
    path = Path(path)
    name = str(path)
    _check_path(path)
    suffix = format_suffix(path)
    parser = _parser_for(path, suffix)
    data, notes = decompress(path, _read_bytes(path))
    if not data.strip():
        raise TunesmithError(f"{name}: the file is empty (or only whitespace); add data to it")
    text, decode_notes, endings = decode(name, data, crlf_standard=suffix in (".csv", ".tsv"))
    records, parse_notes = parser(name, text)
    if not records:
        raise TunesmithError(f"{name}: no records found; add data rows to the file")
    return LoadedFile(records, notes + decode_notes + parse_notes, endings)


def read_records(path: str | Path) -> list[Record]:
    """The records of ``path`` (see ``read_file``), without the repair notes."""
    return read_file(path).records


def _parser_for(path: Path, suffix: str) -> Parser:
    """The parser for the file's extension, or a clear error naming the supported ones."""
    if suffix in PARSERS:
        return PARSERS[suffix]
    supported = ", ".join(PARSERS)
    if path.suffix.lower() in (".zip", ".zst", ".7z", ".rar", ".tar"):
        raise TunesmithError(f"{path}: archives are not read; extract the {supported} file")
    shown = f"'{suffix}'" if suffix else "no extension"
    inside = f" inside '{path.suffix}'" if suffix != path.suffix.lower() else ""
    raise TunesmithError(
        f"{path}: unsupported file type ({shown}{inside}); use one of {supported} "
        "(optionally compressed: .gz, .bz2, .xz)"
    )


def _check_path(path: Path) -> None:
    """A missing path or a directory is explained before anything else."""
    if not path.exists():
        raise TunesmithError(f"{path}: file not found; check the path (relative to {Path.cwd()})")
    if path.is_dir():
        raise TunesmithError(f"{path}: is a directory; give the path of a data file inside it")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; permission and other OS problems are explained."""
    try:
        return path.read_bytes()
    except PermissionError:
        raise TunesmithError(
            f"{path}: permission denied; make the file readable (chmod u+r {path})"
        ) from None
    except OSError as err:
        raise TunesmithError(f"{path}: cannot be read ({err.strerror}); check the file") from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) for each non-blank line.

    Splits on "\\n" only: ``str.splitlines`` also breaks on characters such as U+2028 that may
    legally sit inside a JSON string, and would shift the line numbers an editor shows.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line


def _parse_txt(name: str, text: str) -> Parsed:
    """Each non-blank line of a plain-text file is one record {"text": line}."""
    return [Record({"text": line}, n, f"{name}:{n}") for n, line in _lines(text)], []


class _DuplicateKey(ValueError):
    """An object names the same key twice: json keeps the last value, silently dropping one."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_unique_keys)


def _parse_jsonl(name: str, text: str) -> Parsed:
    """One JSON object per line; blank lines are skipped, every bad line is counted."""
    records: list[Record] = []
    bad: list[tuple[int, str]] = []
    boms = 0
    for n, line in _lines(text):
        if line.startswith("\ufeff"):
            # Files joined with cat keep each one's byte order mark at the start of a line.
            line, boms = line[1:], boms + 1
        try:
            obj = _loads(line)
        except (json.JSONDecodeError, _DuplicateKey) as err:
            bad.append((n, _jsonl_problem(line, err)))
            continue
        if not isinstance(obj, dict):
            hint = "put one object {...} per line"
            if isinstance(obj, list) and len(bad) + len(records) == 0:
                hint = "the file looks like one JSON array: rename it to .json"
            bad.append((n, f"expected a JSON object {{...}}, found {_kind(obj)}; {hint}"))
            continue
        records.append(Record(obj, n, f"{name}:{n}"))
    if bad:
        (n, problem), others = bad[0], [str(line) for line, _ in bad[1:]]
        more = f" (also bad: line {', '.join(others[:10])}{' ...' if len(others) > 10 else ''})"
        raise TunesmithError(f"{name} line {n}: {problem}{more if others else ''}")
    notes = [f"stripped {_count(boms, 'byte order mark')} at line starts (joined files?)"]
    return records, notes if boms else []


def _count(n: int, what: str) -> str:
    """ "1 line", "2 lines"."""
    return f"{n} {what}{'' if n == 1 else 's'}"


def _jsonl_problem(line: str, err: Exception) -> str:
    """What is wrong with one line of a .jsonl file, and what to do about it."""
    if isinstance(err, _DuplicateKey):
        return f"key '{err}' appears twice in one object; keep one of them"
    assert isinstance(err, json.JSONDecodeError)
    hint = "fix the line or remove it"
    stripped = line.strip()
    if stripped.startswith("["):
        hint = "the file looks like one JSON array: rename it to .json"
    elif stripped == "{" or not stripped.startswith("{"):
        hint = "put each object on one line (jq -c . FILE)"
    return f"invalid JSON ({err.msg} at column {err.colno}); {hint}"


def _parse_json(name: str, text: str) -> Parsed:
    """A JSON array of objects, or an object holding exactly one such array ({"data": [...]})."""
    try:
        doc = _loads(text)
    except _DuplicateKey as err:
        raise TunesmithError(
            f"{name}: key '{err}' appears twice in one object; keep one of them"
        ) from None
    except json.JSONDecodeError as err:
        hint = "fix the JSON syntax"
        if err.msg.startswith("Extra data"):
            hint = "if the file holds one object per line, rename it to .jsonl"
        raise TunesmithError(
            f"{name} line {err.lineno}: invalid JSON ({err.msg} at column {err.colno}); {hint}"
        ) from None
    items, notes = _json_items(name, doc)
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise TunesmithError(
                f"{name} item {i}: expected a JSON object {{...}}, found {_kind(item)}; "
                "make every item of the list an object"
            )
    return [Record(item, i, f"{name}:{i}") for i, item in enumerate(items, start=1)], notes


def _json_items(name: str, doc: Any) -> tuple[list[Any], list[str]]:
    """The list of items in a JSON document: the document itself or its single list value."""
    if isinstance(doc, list):
        return doc, []
    if isinstance(doc, dict):
        lists = [key for key, value in doc.items() if isinstance(value, list)]
        if len(lists) == 1:
            return doc[lists[0]], [f"records read from the '{lists[0]}' list of the object"]
        keys = ", ".join(list(doc)[:8]) or "none"
        why = "more than one list" if lists else "no list"
        raise TunesmithError(
            f"{name}: expected a list of objects (or an object holding one list), found an "
            f"object with {why} (keys: {keys}); put the records in one JSON list [...]"
        )
    raise TunesmithError(
        f"{name}: expected a list of objects, found {_kind(doc)}; put the records in a list [...]"
    )


def _kind(value: Any) -> str:
    """A JSON-flavoured name for a value's type, for messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


PARSERS: dict[str, Parser] = {
    ".csv": parse_csv,
    ".tsv": parse_tsv,
    ".json": _parse_json,
    ".jsonl": _parse_jsonl,
    ".ndjson": _parse_jsonl,
    ".txt": _parse_txt,
}
