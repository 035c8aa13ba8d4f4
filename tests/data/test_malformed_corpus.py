"""The malformed-input corpus (tests/data/malformed/): every file read right or refused in one line.

One table gives each file's expected outcome; one test takes each file through the library
(read_file + the task's conversion), ``tunesmith data inspect`` and ``tunesmith train`` (the data
check; the model loader is replaced by a stub that only says it was reached):

- read: the records are read; the repair notes name what was repaired, nothing else is noted.
- blocked: read, but rows can't be used: inspect's verdict is "errors", train stops before the
  model loads (and writes no run directory) unless --force.
- error: one line naming the file (and line or field where there is one), exit status 2.

Never a traceback, and the input file's bytes and mode are the same afterwards.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunesmith.cli import app
from tunesmith.config import DataConfig
from tunesmith.data.load import read_file
from tunesmith.data.tasks import convert_records, detect_task, to_examples
from tunesmith.errors import TunesmithError

CORPUS = Path(__file__).parent / "malformed"
REACHED = "stub: the model loader was reached"
CSV = "text,label\ngood film,positive\nbad film,negative\n"
JSONL = '{"text": "good film", "label": "positive"}\n{"text": "bad film", "label": "negative"}\n'


@dataclass(frozen=True)
class Case:
    file: str
    outcome: str  # "read", "blocked" or "error"
    says: tuple[str, ...] = ()  # repair notes (read), the first bad row (blocked), the message
    rows: int = 0
    task: str | None = None
    warns: str | None = None  # a warning inspect must give about a file that is read


def read(file: str, rows: int, *notes: str, warns: str | None = None, task=None) -> Case:
    return Case(file, "read", notes, rows, task, warns)


def blocked(file: str, rows: int, *says: str) -> Case:
    return Case(file, "blocked", says, rows)


def error(file: str, *says: str, task: str | None = None) -> Case:
    return Case(file, "error", says, task=task)


CASES = [
    # read, with the repair stated
    read("utf8_bom.csv", 2, "stripped a UTF-8 byte order mark"),
    read("utf8_bom.jsonl", 2, "stripped a UTF-8 byte order mark"),
    read("utf16_le_bom.csv", 2, "decoded as UTF-16-LE (byte order mark)"),
    read("utf16_be_bom.jsonl", 2, "decoded as UTF-16-BE (byte order mark)"),
    read("utf16_le_no_bom.tsv", 2, "decoded as UTF-16-LE (no byte order mark"),
    read("utf32_bom.txt", 2, "decoded as UTF-32-LE (byte order mark)"),
    read("crlf.csv", 2),  # CRLF is CSV's own line end (RFC 4180): read, no repair claimed
    read("cr_only.csv", 2, "3 lone CR (old Mac) line endings read as LF"),
    read(
        "mixed_line_endings.jsonl",
        3,
        "2 Windows (CRLF)",
        "mixed line endings: 1 line already",
        warns="mixed_line_endings",
    ),  # fmt: skip
    read("data_wrapper.json", 3, "records read from the 'data' list"),
    read("tab_separated.csv", 2, "tab-separated despite its .csv name"),
    read("semicolon_separated.csv", 2, "semicolon-separated despite its .csv name"),
    read("comma_separated.tsv", 2, "comma-separated despite its .tsv name"),
    read("padded_header.csv", 2, "stripped spaces around 2 column names"),
    read("nul_padding.jsonl", 2, "removed 64 NUL padding bytes at the end"),
    read("joined_files_boms.jsonl", 2, "stripped a UTF-8", "stripped 1 byte order mark at line"),
    read("gzip_without_gz_name.jsonl", 2, "gzip-compressed despite its name; decompressed it"),
    read("bzip2.csv.bz2", 2, "decompressed (bzip2)"),
    read("xz.jsonl.xz", 2, "decompressed (xz)"),
    # read as written (nothing to repair); inspect says what looks wrong
    read("mojibake.csv", 2, warns="mojibake"),
    read("mixed_label_types.jsonl", 4, warns="mixed_label_types"),
    read("placeholder_labels.csv", 4, warns="label_placeholders"),
    read("chat_content_parts.jsonl", 2),
    read("quoted_multiline.csv", 2),
    read("blank_lines.jsonl", 2),
    # read, but some rows can't be used
    blocked(
        "changing_columns.jsonl", 6, "changing_columns.jsonl line 5", "field 'text' is missing"
    ),
    blocked("null_labels.jsonl", 6, "null_labels.jsonl line 3", "field 'label' is missing"),
    blocked("nan_labels.jsonl", 3, "nan_labels.jsonl line 3", "field 'label' is missing"),
    blocked("empty_labels.csv", 4, "empty_labels.csv line 4", "field 'label' is empty"),
    blocked("empty_text.csv", 3, "empty_text.csv line 4", "field 'text' is empty"),
    blocked("nested_text.jsonl", 3, "nested_text.jsonl line 3", "'text' is a dict"),
    blocked("chat_unknown_role.jsonl", 3, "line 2", "message 2 has unknown role 'bot'"),
    blocked("chat_no_assistant.jsonl", 2, "line 2", "no assistant turn"),
    blocked("chat_image_part.jsonl", 2, "line 2", "non-text part ('image_url')"),
    blocked("chat_messages_not_list.jsonl", 2, "line 2", "expected a non-empty list"),
    blocked("instruction_some_missing_output.jsonl", 3, "line 2", "field 'output' is missing"),
    # refused in one line
    error("invalid_json_lines.jsonl", "line 3", "invalid JSON", "also bad: line 5"),
    error("pretty_printed.jsonl", "line 1", "put each object on one line"),
    error("array_in_jsonl.jsonl", "line 1", "found a list", "rename it to .json"),
    error("trailing_comma.json", "line 4", "invalid JSON"),
    error("jsonl_named_json.json", "line 2", "rename it to .jsonl"),
    error("json_scalar.json", "expected a list of objects, found a number"),
    error("json_two_lists.json", "more than one list", "keys: train, test"),
    error("json_single_object.json", "no list", "keys: text, label"),
    error("json_list_of_strings.json", "item 1", "found a string"),
    error("json_empty_list.json", "no records found"),
    error("duplicate_keys.jsonl", "line 2", "key 'label' appears twice"),
    error("duplicate_keys.json", "key 'text' appears twice"),
    error("latin1.csv", "line 3", "not valid UTF-8 (byte 0xe9", "iconv -f cp1252 -t utf-8"),
    error("cp1252_quotes.csv", "line 2", "not valid UTF-8 (byte 0x93"),
    error("empty.csv", "the file is empty"),
    error("whitespace_only.jsonl", "the file is empty (or only whitespace)"),
    error("header_only.csv", "has a header row but no data rows"),
    error("header_only.tsv", "has a header row but no data rows"),
    error(
        "missing_label_column.csv",
        "no label field found",
        "data.label_field",
        task="classification",
    ),
    error("missing_text_column.csv", "no text field found", "fields: label, score"),
    error("ragged_too_many.csv", "line 3", "3 fields but the header has 2", "double quotes"),
    error("ragged_too_few.csv", "line 3", "1 fields but the header has 2", "1 more such rows"),
    error("unbalanced_quote.csv", "line 3", "unclosed or stray quote"),
    error("duplicate_columns.csv", "line 1", "column 'text' twice"),
    error("blank_column_name.csv", "line 1", "column 2 of the header row has no name"),
    error("instruction_without_output.jsonl", "field 'instruction' but no field 'output'"),
    error("png_named.csv", "a PNG image, not text"),
    error("sqlite_named.jsonl", "an SQLite database"),
    error("nul_in_middle.csv", "line 2", "NUL byte"),
    error("workbook.xlsx", "unsupported file type ('.xlsx')"),
    error("table.parquet", "unsupported file type ('.parquet')"),
    error("archive.zip", "archives are not read"),
    error("no_extension", "unsupported file type (no extension)"),
    error("not_gzip.jsonl.gz", "not a valid gzip file", "drop the .gz extension"),
    error("gzip_no_inner_extension.gz", "no extension inside '.gz'"),
]


# -- files made at test time: too big to commit, or not plain files ------------------------------


def _big_line(tmp: Path, _) -> Path:
    """A 10 MB one-line JSON array saved as .jsonl."""
    row = {"text": "word " * 100, "label": "positive"}
    path = tmp / "big_line.jsonl"
    path.write_text(json.dumps([row] * 20_000), encoding="utf-8")
    assert path.stat().st_size > 10_000_000
    return path


def _big_field(tmp: Path, _) -> Path:
    """A CSV whose first text field is one 10 MB line, far past csv's default field limit."""
    path = tmp / "big_field.csv"
    path.write_text(f"text,label\n{'0123456789' * 1_000_000},positive\nbad film,negative\n")
    return path


def _no_permission(tmp: Path, monkeypatch) -> Path:
    path = tmp / "no_permission.csv"
    path.write_text(CSV, encoding="utf-8")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make the OS refuse this file anyway
        for method in ("read_bytes", "open"):
            real = getattr(Path, method)

            def refuse(self, *args, _real=real, **kwargs):
                if self == path:
                    raise PermissionError(13, "Permission denied", str(self))
                return _real(self, *args, **kwargs)

            monkeypatch.setattr(Path, method, refuse)
    return path


def _directory(tmp: Path, _) -> Path:
    (tmp / "folder.csv").mkdir()
    return tmp / "folder.csv"


def _compressed(name: str, compress: Callable[[bytes], bytes], text: str):
    def make(tmp: Path, _) -> Path:
        (tmp / name).write_bytes(compress(text.encode()))
        return tmp / name

    return make


GENERATED = {
    "big_line.jsonl": _big_line,
    "big_field.csv": _big_field,
    "no_permission.csv": _no_permission,
    "folder.csv": _directory,
    "missing.jsonl": lambda tmp, _: tmp / "missing.jsonl",
    "gen.jsonl.gz": _compressed("gen.jsonl.gz", gzip.compress, JSONL),
    "gen.csv.gz": _compressed("gen.csv.gz", gzip.compress, CSV),
    "gen.tsv.bz2": _compressed("gen.tsv.bz2", bz2.compress, CSV.replace(",", "\t")),
    "truncated.jsonl.gz": _compressed("truncated.jsonl.gz", lambda b: gzip.compress(b)[:20], JSONL),
}
CASES += [
    error("big_line.jsonl", "line 1", "found a list", "rename it to .json"),
    read("big_field.csv", 2),
    error("no_permission.csv", "permission denied", "chmod u+r"),
    error("folder.csv", "is a directory"),
    error("missing.jsonl", "file not found"),
    read("gen.jsonl.gz", 2, "decompressed (gzip)"),
    read("gen.csv.gz", 2, "decompressed (gzip)"),
    read("gen.tsv.bz2", 2, "decompressed (bzip2)"),
    error("truncated.jsonl.gz", "not a valid gzip file"),
]


def test_the_table_covers_the_whole_corpus():
    committed = {p.name for p in CORPUS.iterdir() if not p.name.startswith(".")}
    named = [case.file for case in CASES]
    assert len(named) == len(set(named))
    assert set(named) == committed | set(GENERATED)
    assert len(CASES) >= 40


# -- the three ways in ---------------------------------------------------------------------------


def flat(text: str) -> str:
    """Output with terminal wrapping undone, so a message can be found whole."""
    return " ".join(text.split())


def shows_repairs(output: str, path: Path, notes: tuple[str, ...]) -> bool:
    """Each note is on a "repaired FILE: ..." line of ``output``."""
    lines = [line for line in output.splitlines() if line.startswith(f"repaired {path}: ")]
    return all(any(note in line for line in lines) for note in notes)


def fingerprint(path: Path):
    """(sha256, mode) of a file, read even without read permission; whether other paths exist."""
    if not path.is_file():
        return path.exists(), path.is_dir()
    mode = path.stat().st_mode
    os.chmod(path, mode | stat.S_IRUSR)
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - Path.open may be stubbed by the case
            return hashlib.sha256(handle.read()).hexdigest(), mode
    finally:
        os.chmod(path, mode)


def check_library(case: Case, path: Path) -> None:
    cfg = DataConfig(task=case.task)  # type: ignore[arg-type]
    if case.outcome == "error":
        with pytest.raises(TunesmithError) as info:
            loaded = read_file(path)
            convert_records(loaded.records, detect_task(loaded.records, cfg), cfg)
        message = str(info.value)
        assert "\n" not in message and str(path) in message
        assert all(part in message for part in case.says), message
        return
    loaded = read_file(path)
    assert len(loaded.records) == case.rows
    task = detect_task(loaded.records, cfg)
    examples, bad = convert_records(loaded.records, task, cfg)
    if case.outcome == "read":
        assert not bad and len(examples) == case.rows
        assert len(loaded.repairs) >= len(case.says)
        for note in case.says:
            assert any(note in repair for repair in loaded.repairs), loaded.repairs
        if not case.says:
            assert loaded.repairs == []  # nothing was repaired, so nothing is claimed
    else:
        assert bad
        with pytest.raises(TunesmithError) as info:
            to_examples(loaded.records, task, cfg)
        assert all(part in str(info.value) for part in case.says), str(info.value)
        assert len(to_examples(loaded.records, task, cfg, skip_bad=True)) == case.rows - len(bad)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def check_inspect(case: Case, path: Path, out: Path) -> None:
    result = invoke(
        "data", "inspect", path, "--out", out, *(["--task", case.task] * bool(case.task))
    )
    assert "Traceback" not in result.output
    if case.outcome == "error":
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {path}") and all(p in line for p in case.says), line
        assert not out.exists()
        return
    report = json.loads((out / "inspect.json").read_text(encoding="utf-8"))
    checks = {f["check"] for f in report["findings"]}
    if case.outcome == "read":
        assert result.exit_code == 0 and report["verdict"] != "errors", report["findings"]
        assert all(any(n in r for r in report["files"][0]["repairs"]) for n in case.says)
        assert shows_repairs(result.stdout, path, case.says), result.stdout
        assert case.warns is None or case.warns in checks, checks
    else:
        assert result.exit_code == 1 and "unusable_rows" in checks
        message = next(f["message"] for f in report["findings"] if f["check"] == "unusable_rows")
        assert all(part in message for part in case.says), message


def check_train(case: Case, path: Path, tmp: Path, monkeypatch) -> None:
    calls = []

    def stub(*args):
        calls.append(args)
        raise TunesmithError(REACHED)

    monkeypatch.setattr("tunesmith.pipeline.load_environment", stub)
    output = tmp / "runs" / "run"
    data = {"train": str(path), "task": case.task, "validation_fraction": 0, "test_fraction": 0}
    config = tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump({"model": "never/loaded", "output": str(output), "data": data})
    )

    result = invoke("train", config)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not output.exists()
    if case.outcome == "read":
        assert calls and REACHED in result.stderr, result.output
        assert shows_repairs(result.stderr, path, case.says), result.stderr
        return
    assert not calls, result.output  # stopped before any model was loaded
    if case.outcome == "error":
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {path}") and all(p in line for p in case.says), line
        return
    assert all(part in flat(result.stderr) for part in case.says), result.stderr
    assert "--force" in result.stderr.strip().splitlines()[-1]
    forced = invoke("train", config, "--force")
    assert calls and REACHED in forced.stderr, forced.output  # --force goes on to the model


@pytest.mark.parametrize("case", CASES, ids=[case.file for case in CASES])
def test_corpus_file(case: Case, tmp_path, monkeypatch, tunesmith_home):
    make = GENERATED.get(case.file)
    path = make(tmp_path, monkeypatch) if make else CORPUS / case.file
    before = fingerprint(path)
    check_library(case, path)
    check_inspect(case, path, tmp_path / "out")
    check_train(case, path, tmp_path, monkeypatch)
    assert fingerprint(path) == before  # never modified, moved or re-permissioned


def test_chat_content_parts_are_joined_as_paragraphs():
    loaded = read_file(CORPUS / "chat_content_parts.jsonl")
    first = to_examples(loaded.records, "chat", DataConfig())[0]
    assert [(m.role, m.content) for m in first.messages or ()] == [
        ("user", "hi\nthere"),
        ("assistant", "hello"),
    ]


def test_a_latin1_file_reads_once_converted_as_the_error_says(tmp_path):
    converted = tmp_path / "latin1.utf8.csv"
    converted.write_text((CORPUS / "latin1.csv").read_bytes().decode("cp1252"), encoding="utf-8")
    records = read_file(converted).records
    assert records[1].data == {"text": "the café was bad", "label": "negative"}
