"""CSV and TSV files: a header row naming the columns, then one record per row.

A file whose header holds no sign of its extension's separator but plainly uses another (a
tab-separated ".csv", a semicolon ".csv" from a European Excel, a comma ".tsv") is read with
the separator it uses, and a note says so. Rows with the wrong number of fields, stray quotes
and unnamed or repeated columns are one-line errors: guessing there would shift text between
columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from tunesmith.data.records import Record
from tunesmith.errors import TunesmithError

Parsed = tuple[list[Record], list[str]]
_SEPARATOR_NAMES = {",": "comma", "\t": "tab", ";": "semicolon"}
# Far above csv's default of 128 KiB per field: one long document is data, not a broken quote.
_FIELD_LIMIT = 1 << 30


def parse_csv(name: str, text: str) -> Parsed:
    """Comma-separated values with a header row and standard double-quote quoting."""
    separator = _actual_separator(text, ",", ("\t", ";"))
    if separator == "\t":
        records, notes = parse_tsv(name, text, sniff=False)
        return records, [_separator_note(separator, ".csv"), *notes]
    records, notes = _parse_table(name, text, separator, quoted=True)
    if separator != ",":
        notes.insert(0, _separator_note(separator, ".csv"))
    return records, notes


def parse_tsv(name: str, text: str, sniff: bool = True) -> Parsed:
    """Tab-separated values with a header row.

    Quoting is off first: TSV files such as SST-2 and SMS Spam hold unbalanced quote characters
    inside the text. Only when that leaves rows with the wrong number of fields (a TSV whose
    fields really are quoted, e.g. because they contain tabs) is standard quoting tried.
    """
    if sniff and _actual_separator(text, "\t", (",",)) == ",":
        records, notes = _parse_table(name, text, ",", quoted=True)
        return records, [_separator_note(",", ".tsv"), *notes]
    try:
        return _parse_table(name, text, "\t", quoted=False)
    except TunesmithError as unquoted_error:
        try:
            return _parse_table(name, text, "\t", quoted=True)
        except TunesmithError:
            raise unquoted_error from None


def _actual_separator(text: str, expected: str, others: tuple[str, ...]) -> str:
    """``expected``, unless the header row lacks it and holds exactly one of ``others``."""
    header = next((line for line in text.split("\n") if line.strip()), "")
    if expected in header:
        return expected
    found = [other for other in others if other in header]
    return found[0] if len(found) == 1 else expected


def _separator_note(separator: str, suffix: str) -> str:
    name = _SEPARATOR_NAMES[separator]
    return f"the file is {name}-separated despite its {suffix} name; read it that way"


def _parse_table(name: str, text: str, delimiter: str, quoted: bool) -> Parsed:
    """Rows of a delimited file as dicts keyed by the header row, and the repair notes."""
    rows = _table_rows(name, text, delimiter, quoted)
    first = next(rows, None)
    if first is None:
        raise TunesmithError(f"{name}: the file is empty; add a header row and data rows")
    header, notes = _header(name, first[1])
    records, ragged = [], []
    for n, row in rows:
        if len(row) != len(header):
            ragged.append((n, len(row)))
            continue
        records.append(Record(dict(zip(header, row, strict=True)), n, f"{name}:{n}"))
    if ragged:
        raise TunesmithError(_field_count_message(name, ragged, header, delimiter))
    if not records:
        raise TunesmithError(f"{name}: has a header row but no data rows; add examples below it")
    return records, notes


def _table_rows(name: str, text: str, delimiter: str, quoted: bool) -> Iterator[tuple[int, list]]:
    """(starting line, fields) of each non-blank row; csv errors become one-line messages."""
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
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


def _header(name: str, row: list[str]) -> tuple[list[str], list[str]]:
    """Column names from the header row, which must be non-empty and distinct; and notes."""
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
    padded = sum(1 for raw, column in zip(row, header, strict=True) if raw != column)
    notes = [f"stripped spaces around {padded} column names"] if padded else []
    return header, notes


def _field_count_message(
    name: str, ragged: list[tuple[int, int]], header: list[str], sep: str
) -> str:
    """Why rows have the wrong number of fields (the first, and how many), and how to fix it."""
    line, count = ragged[0]
    what = "commas" if sep == "," else "tabs" if sep == "\t" else "semicolons"
    fix = "remove tab characters from the text" if sep == "\t" else "put double quotes around it"
    more = f" (and {len(ragged) - 1} more such rows)" if len(ragged) > 1 else ""
    return (
        f"{name} line {line}: {count} fields but the header has {len(header)} "
        f"({', '.join(header)}){more}; the row has extra or missing {what}: "
        f"where the text contains {what}, {fix}"
    )
