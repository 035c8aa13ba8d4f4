"""A data file's bytes as text: repair only what is unambiguous, say what was repaired.

Repaired, each with a note the loader returns: gzip/bzip2/xz compression, a byte order mark,
UTF-16 (with a BOM, or without one when every other byte is zero), NUL padding at the end of
the file, CRLF and lone CR line endings. Anything else that is not UTF-8 text is a one-line
``TunesmithError``: in particular 8-bit codecs (Latin-1, Windows-1252, Windows-1251, ...) cannot
be told apart from the bytes alone, and a wrong guess would silently change the text.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path

from tunesmith.errors import TunesmithError

#: extension -> (name, decompress); the inner extension (".csv" of ".csv.gz") picks the parser.
COMPRESSED: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    ".gz": ("gzip", gzip.decompress),
    ".bz2": ("bzip2", bz2.decompress),
    ".xz": ("xz", lzma.decompress),
}
_COMPRESSION_MAGIC = {b"\x1f\x8b": ".gz", b"BZh9": ".bz2", b"\xfd7zXZ\x00": ".xz"}

# Signatures of files people export by mistake: a clearer message than "not UTF-8".
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image, not text",
    b"\xff\xd8\xff": "a JPEG image, not text",
    b"GIF8": "a GIF image, not text",
    b"%PDF": "a PDF document; export the table inside it as CSV",
    b"PK\x03\x04": "a zip archive (or an Excel workbook); unzip it or export it as CSV",
    b"\xd0\xcf\x11\xe0": "an old-style Excel/Office file; export it as CSV",
    b"SQLite format 3\x00": "an SQLite database; export the table as CSV",
    b"PAR1": "a Parquet file; convert it to .jsonl (pandas: read_parquet, to_json lines=True)",
}

# BOM -> codec; UTF-32 first: its little-endian BOM starts with UTF-16's.
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32-LE"),
    (b"\x00\x00\xfe\xff", "UTF-32-BE"),
    (b"\xef\xbb\xbf", "UTF-8"),
    (b"\xff\xfe", "UTF-16-LE"),
    (b"\xfe\xff", "UTF-16-BE"),
)


def format_suffix(path: Path) -> str:
    """The extension that picks the parser: ".csv" for "train.csv" and for "train.csv.gz"."""
    suffix = path.suffix.lower()
    return Path(path.stem).suffix.lower() if suffix in COMPRESSED else suffix


def decompress(path: Path, data: bytes) -> tuple[bytes, list[str]]:
    """(bytes, notes): a compressed file is opened, whether or not its name says so."""
    suffix = path.suffix.lower()
    if suffix in COMPRESSED:
        return _inflate(path, data, suffix), [f"decompressed ({COMPRESSED[suffix][0]})"]
    for magic, kind in _COMPRESSION_MAGIC.items():
        if data.startswith(magic):
            note = f"the file is {COMPRESSED[kind][0]}-compressed despite its name; decompressed it"
            return _inflate(path, data, kind), [note]
    return data, []


def _inflate(path: Path, data: bytes, kind: str) -> bytes:
    """Decompressed ``data``; a broken or mislabelled archive is a one-line error."""
    name, inflate = COMPRESSED[kind]
    try:
        return inflate(data)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as err:
        raise TunesmithError(
            f"{path}: not a valid {name} file ({err}); re-download or re-compress it, "
            f"or drop the {kind} extension if it is not compressed"
        ) from None


def decode(
    name: str, data: bytes, crlf_standard: bool = False
) -> tuple[str, list[str], dict[str, int]]:
    """(text with "\\n" line ends, repair notes, counts of crlf/cr/lf line ends) of a file.

    ``crlf_standard``: CRLF throughout is the format's own line end (CSV, RFC 4180, and what
    Python's csv module writes), so reading it is no repair worth a note.
    """
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise TunesmithError(f"{name}: the file is {what}")
    text, notes = _unicode(name, data)
    crlf = text.count("\r\n")
    endings = {"crlf": crlf, "cr": text.count("\r") - crlf, "lf": text.count("\n") - crlf}
    if endings["crlf"] or endings["cr"]:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if crlf_standard and not endings["cr"] and not endings["lf"]:
        return text, notes, endings
    return text, notes + _ending_notes(endings), endings


def _unicode(name: str, data: bytes) -> tuple[str, list[str]]:
    """The file's text: a BOM names the codec, else UTF-16 by its zero bytes, else UTF-8."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = _strict(name, data[len(bom) :], codec)
            if codec == "UTF-8":
                return text, ["stripped a UTF-8 byte order mark"]
            return text, [f"decoded as {codec} (byte order mark)"]
    utf16 = _bomless_utf16(data)
    if utf16:
        note = f"decoded as {utf16} (no byte order mark; every other byte is zero)"
        return _strict(name, data, utf16), [note]
    notes = []
    padded = data.rstrip(b"\x00")
    if len(padded) < len(data):
        # A crashed writer or a pre-allocated file leaves zeros after the text: nothing is lost.
        notes.append(f"removed {len(data) - len(padded)} NUL padding bytes at the end")
        data = padded
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise TunesmithError(
            f"{name} line {line}: binary content (NUL byte at offset {nul}); give a UTF-8 text "
            "file, or remove the NUL bytes if the rest is text (tr -d '\\000' < FILE > NEW)"
        )
    return _strict(name, data, "UTF-8"), notes


def _bomless_utf16(data: bytes) -> str | None:
    """ "UTF-16-LE"/"UTF-16-BE" when the zero bytes say so: mostly-ASCII UTF-16 text has a zero
    in every other byte and none in the rest; no UTF-8 text file has any."""
    if len(data) < 4 or len(data) % 2 or b"\x00" not in data[:1024]:
        return None  # the usual UTF-8 file costs one look at its first KiB, not two copies
    even, odd = data[0::2], data[1::2]
    for codec, zeros, other in (("UTF-16-LE", odd, even), ("UTF-16-BE", even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and other.count(0) == 0:
            return codec
    return None


def _strict(name: str, data: bytes, codec: str) -> str:
    """``data`` decoded as ``codec``; an undecodable byte names its line and how to convert."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        if codec != "UTF-8":
            raise TunesmithError(
                f"{name}: not valid {codec} (offset {err.start}); re-save the file as UTF-8"
            ) from None
        line = data.count(b"\n", 0, err.start) + 1
        raise TunesmithError(
            f"{name} line {line}: not valid UTF-8 (byte 0x{data[err.start]:02x} at offset "
            f"{err.start}); re-save it as UTF-8, e.g. for Latin-1/Windows-1252: "
            f"iconv -f cp1252 -t utf-8 {name} > {Path(name).stem}.utf8{Path(name).suffix}"
        ) from None


def _ending_notes(endings: dict[str, int]) -> list[str]:
    """A note for each kind of line end that was turned into LF."""
    notes = []
    if endings["crlf"]:
        notes.append(f"{endings['crlf']} Windows (CRLF) line endings read as LF")
    if endings["cr"]:
        notes.append(f"{endings['cr']} lone CR (old Mac) line endings read as LF")
    if endings["lf"] and (endings["crlf"] or endings["cr"]):
        lines = f"{endings['lf']} line{'' if endings['lf'] == 1 else 's'}"
        notes.append(f"mixed line endings: {lines} already ended in LF")
    return notes
