"""Read a user's data file into records: one dict per row, line or JSON object.

Formats are chosen by extension (.csv, .tsv, .json, .jsonl/.ndjson, .txt). Every problem a user
can cause (a wrong path, a file that is not UTF-8, a broken line) becomes a one-line
``TunesmithError`` naming the file and line; no parser exception escapes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError


@dataclass(frozen=True)
class Record:
    """One raw row of a data file, before it is interpreted as an example of a task.

    ``line`` is the 1-based line in the file, or the 1-based item index for a JSON array;
    ``source`` is "file:line", the form later stages put in their messages.
    """

    data: dict[str, Any]
    line: int
    source: str

    @property
    def file(self) -> str:
        """The file name as the user gave it."""
        return self.source.rsplit(":", 1)[0]

    @property
    def where(self) -> str:
        """Position for messages: "train.csv line 17", or "data.json item 17" for JSON arrays."""
        return position(self.source)


def position(source: str) -> str:
    """A "file:line" source in words: "train.csv line 17", or "data.json item 17"."""
    file, _, line = source.rpartition(":")
    unit = "item" if file.lower().endswith(".json") else "line"
    return f"{file} {unit} {line}"


def read_records(path: str | Path) -> list[Record]:
    """Read every record of a .csv, .tsv, .json, .jsonl/.ndjson or .txt file (UTF-8, BOM ok)."""
    path = Path(path)
    name = str(path)
    _check_path(path)
    parser = _parser_for(path)
    text = _decode(name, _read_bytes(path))
    records = parser(name, text.replace("\r\n", "\n"))
    if not records:
        raise TunesmithError(f"{name}: no records found; add data rows to the file")
    return records


def _parser_for(path: Path) -> Callable[[str, str], list[Record]]:
    """The parser for the file's extension, or a clear error naming the supported ones."""
    suffix = path.suffix.lower()
    if suffix in PARSERS:
        return PARSERS[suffix]
    if suffix in (".gz", ".zip", ".bz2", ".xz", ".zst"):
        raise TunesmithError(f"{path}: compressed files are not read; decompress it first")
    supported = ", ".join(PARSERS)
    shown = f"'{suffix}'" if suffix else "no extension"
    raise TunesmithError(f"{path}: unsupported file type ({shown}); use one of {supported}")


def _check_path(path: Path) -> None:
    """A missing path or a directory is explained before anything else."""
    if not path.exists():
        raise TunesmithError(f"{path}: file not found; check the path (relative to {Path.cwd()})")
    if path.is_dir():
        raise TunesmithError(f"{path}: is a directory; give the path of a data file inside it")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; permission and other OS problems are explained."""
    try:
        data = path.read_bytes()
    except PermissionError:
        raise TunesmithError(f"{path}: permission denied; make the file readable") from None
    except OSError as err:
        raise TunesmithError(f"{path}: cannot be read ({err.strerror}); check the file") from None
    if not data.strip():
        raise TunesmithError(f"{path}: the file is empty; add data to it")
    return data


# Signatures of files people export by mistake: a clearer hint than "not UTF-8".
_MAGIC = {
    b"\x1f\x8b": "gzip-compressed; decompress it first (gunzip)",
    b"PK\x03\x04": "a zip archive (or an Excel workbook); unzip it or export it as CSV",
    b"\xff\xfe": "UTF-16 encoded; re-save it as UTF-8",
    b"\xfe\xff": "UTF-16 encoded; re-save it as UTF-8",
}


def _decode(name: str, data: bytes) -> str:
    """Text of a UTF-8 file (a BOM is dropped); binary or other encodings are explained."""
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise TunesmithError(f"{name}: the file is {what}")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise TunesmithError(
            f"{name} line {line}: binary content (NUL byte at offset {nul}); "
            "give a UTF-8 text file (.csv, .tsv, .json, .jsonl or .txt)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        byte = data[err.start]
        raise TunesmithError(
            f"{name} line {line}: not valid UTF-8 (byte 0x{byte:02x} at offset {err.start}); "
            "re-save the file as UTF-8"
        ) from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) for each non-blank line.

    Splits on "\\n" only: ``str.splitlines`` also breaks on characters such as U+2028 that may
    legally sit inside a JSON string, and would shift the line numbers an editor shows.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line


def _parse_txt(name: str, text: str) -> list[Record]:
    """Each non-blank line of a plain-text file is one record {"text": line}."""
    return [Record({"text": line}, n, f"{name}:{n}") for n, line in _lines(text)]


def _parse_jsonl(name: str, text: str) -> list[Record]:
    """One JSON object per line; blank lines are skipped."""
    records = []
    for n, line in _lines(text):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            hint = "fix the line or remove it"
            if n == 1 and line.lstrip().startswith("["):
                hint = "the file looks like one JSON array: rename it to .json"
            raise TunesmithError(
                f"{name} line {n}: invalid JSON ({err.msg} at column {err.colno}); {hint}"
            ) from None
        if not isinstance(obj, dict):
            raise TunesmithError(
                f"{name} line {n}: expected a JSON object {{...}}, found {_kind(obj)}; "
                "put one object per line"
            )
        records.append(Record(obj, n, f"{name}:{n}"))
    return records


def _parse_json(name: str, text: str) -> list[Record]:
    """A JSON array of objects, or an object holding exactly one such array ({"data": [...]})."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        hint = "fix the JSON syntax"
        if err.msg.startswith("Extra data"):
            hint = "if the file holds one object per line, rename it to .jsonl"
        raise TunesmithError(
            f"{name} line {err.lineno}: invalid JSON ({err.msg} at column {err.colno}); {hint}"
        ) from None
    items = _json_items(name, doc)
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise TunesmithError(
                f"{name} item {i}: expected a JSON object {{...}}, found {_kind(item)}; "
                "make every item of the list an object"
            )
    return [Record(item, i, f"{name}:{i}") for i, item in enumerate(items, start=1)]


def _json_items(name: str, doc: Any) -> list[Any]:
    """The list of items in a JSON document: the document itself or its single list value."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        lists = [key for key, value in doc.items() if isinstance(value, list)]
        if len(lists) == 1:
            return doc[lists[0]]
        keys = ", ".join(list(doc)[:8]) or "none"
        raise TunesmithError(
            f"{name}: expected a list of objects (or an object holding one list), "
            f"found an object with keys: {keys}; put the records in a JSON list [...]"
        )
    raise TunesmithError(f"{name}: expected a list of objects, found {_kind(doc)}")


def _kind(value: Any) -> str:
    """A JSON-flavoured name for a value's type, for messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _parse_csv(name: str, text: str) -> list[Record]:
    """Comma-separated values with a header row and standard double-quote quoting."""
    return _parse_table(name, text, ",", quoted=True)


def _parse_tsv(name: str, text: str) -> list[Record]:
    """Tab-separated values with a header row.

    Quoting is off first: TSV files such as SST-2 and SMS Spam hold unbalanced quote characters
    inside the text. Only when that leaves rows with the wrong number of fields (a TSV whose
    fields really are quoted, e.g. because they contain tabs) is standard quoting tried.
    """
    try:
        return _parse_table(name, text, "\t", quoted=False)
    except TunesmithError as unquoted_error:
        try:
            return _parse_table(name, text, "\t", quoted=True)
        except TunesmithError:
            raise unquoted_error from None


def _parse_table(name: str, text: str, delimiter: str, quoted: bool) -> list[Record]:
    """Rows of a delimited file as dicts keyed by the header row."""
    rows = _table_rows(name, text, delimiter, quoted)
    first = next(rows, None)
    if first is None:
        raise TunesmithError(f"{name}: the file is empty; add a header row and data rows")
    header = _header(name, first[1])
    records = []
    for n, row in rows:
        if len(row) != len(header):
            raise TunesmithError(_field_count_message(name, n, len(row), header, delimiter))
        records.append(Record(dict(zip(header, row, strict=True)), n, f"{name}:{n}"))
    if not records:
        raise TunesmithError(f"{name}: has a header row but no data rows; add examples below it")
    return records


def _table_rows(name: str, text: str, delimiter: str, quoted: bool) -> Iterator[tuple[int, list]]:
    """(starting line, fields) of each non-blank row; csv errors become one-line messages."""
    # strict: a stray or unclosed quote is an error rather than silently swallowing the rest
    # of the file into one field.
    stream = io.StringIO(text, newline="")
    reader = csv.reader(
        stream,
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
        strict=True,
    )
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise TunesmithError(
                f"{name} line {start}: cannot parse the row ({err}); "
                'check for an unclosed or stray quote (") near this line'
            ) from None
        if any(cell.strip() for cell in row):
            yield start, row
        start = reader.line_num + 1


def _header(name: str, row: list[str]) -> list[str]:
    """Column names from the header row, which must be non-empty and distinct."""
    header = [cell.strip() for cell in row]
    seen: set[str] = set()
    for i, column in enumerate(header, start=1):
        if not column:
            raise TunesmithError(
                f"{name} line 1: column {i} of the header row has no name; "
                "the first row must name every column (e.g. text,label)"
            )
        if column in seen:
            raise TunesmithError(
                f"{name} line 1: the header row names column '{column}' twice; "
                "give every column a distinct name"
            )
        seen.add(column)
    return header


def _field_count_message(name: str, line: int, count: int, header: list[str], sep: str) -> str:
    """Why a row has the wrong number of fields, and how to fix it."""
    what = "commas" if sep == "," else "tabs"
    fix = (
        "put double quotes around text that contains commas"
        if sep == ","
        else "remove tab characters from the text"
    )
    return (
        f"{name} line {line}: {count} fields but the header has {len(header)} "
        f"({', '.join(header)}); the row has extra or missing {what}: {fix}"
    )


PARSERS: dict[str, Callable[[str, str], list[Record]]] = {
    ".csv": _parse_csv,
    ".tsv": _parse_tsv,
    ".json": _parse_json,
    ".jsonl": _parse_jsonl,
    ".ndjson": _parse_jsonl,
    ".txt": _parse_txt,
}
