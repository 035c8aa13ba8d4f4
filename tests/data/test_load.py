"""read_records: every supported format, the real shared datasets, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.data.load import Record, read_records
from tunesmith.errors import TunesmithError

DATASETS = (Path(__file__).parents[2] / ".." / "shared" / "datasets").resolve()
needs_datasets = pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not present")


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    """A file under tmp_path holding ``content`` (str is written as UTF-8, bytes verbatim)."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def rows(records: list[Record]) -> list[tuple[dict, int]]:
    return [(r.data, r.line) for r in records]


FORMATS = [
    pytest.param(
        "a.csv",
        "text,label\nhello,pos\nbye,neg\n",
        [({"text": "hello", "label": "pos"}, 2), ({"text": "bye", "label": "neg"}, 3)],
        id="csv",
    ),
    pytest.param(
        "a.csv",
        b"\xef\xbb\xbftext,label\r\nh\xc3\xa9llo,pos\r\n\r\nbye,neg\r\n",
        [({"text": "héllo", "label": "pos"}, 2), ({"text": "bye", "label": "neg"}, 4)],
        id="csv-bom-crlf-blank-line",
    ),
    pytest.param(
        "a.csv",
        'text , label\n"one, two ""quoted""\nand a second line",x\nafter,y\n',
        [
            ({"text": 'one, two "quoted"\nand a second line', "label": "x"}, 2),
            ({"text": "after", "label": "y"}, 4),
        ],
        id="csv-quoted-multiline-keeps-line-numbers",
    ),
    pytest.param(
        "a.tsv",
        'sentence\tlabel\n"the cave" he said \t1\nit \'s "odd\t0\n',
        [
            ({"sentence": '"the cave" he said ', "label": "1"}, 2),
            ({"sentence": "it 's \"odd", "label": "0"}, 3),
        ],
        id="tsv-quotes-are-text",
    ),
    pytest.param(
        "a.tsv",
        'text\tlabel\n"has\ta tab"\t1\nplain\t0\n',
        [({"text": "has\ta tab", "label": "1"}, 2), ({"text": "plain", "label": "0"}, 3)],
        id="tsv-really-quoted-falls-back",
    ),
    pytest.param(
        "a.json",
        b'\xef\xbb\xbf[{"text": "x", "label": 1},\r\n {"text": "y", "label": 0}]',
        [({"text": "x", "label": 1}, 1), ({"text": "y", "label": 0}, 2)],
        id="json-list-bom-crlf",
    ),
    pytest.param(
        "a.json",
        '{"version": 2, "data": [{"text": "x"}]}',
        [({"text": "x"}, 1)],
        id="json-wrapped-list",
    ),
    pytest.param(
        "a.jsonl",
        b'\xef\xbb\xbf{"text": "x"}\r\n\r\n{"text": "y\\u2028z"}\r\n',
        [({"text": "x"}, 1), ({"text": "y\u2028z"}, 3)],
        id="jsonl-bom-crlf-blank",
    ),
    pytest.param("a.ndjson", '{"a": 1}\n{"a": 2}', [({"a": 1}, 1), ({"a": 2}, 2)], id="ndjson"),
    pytest.param(
        "a.TXT",
        "first line\n\n  \nsecond line\r\n",
        [({"text": "first line"}, 1), ({"text": "second line"}, 4)],
        id="txt-upper-case-extension",
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), FORMATS)
def test_formats(tmp_path, name, content, expected):
    records = read_records(write(tmp_path, name, content))
    assert rows(records) == expected
    assert records[0].source == f"{tmp_path / name}:{expected[0][1]}"


def test_record_where_says_item_for_json_and_line_otherwise():
    assert Record({}, 7, "data/a.json:7").where == "data/a.json item 7"
    assert Record({}, 7, "data/a.jsonl:7").where == "data/a.jsonl line 7"
    assert Record({}, 7, "C:/x/a.csv:7").file == "C:/x/a.csv"


@needs_datasets
@pytest.mark.parametrize(
    ("relative", "count", "columns"),
    [
        ("sst2/dev.tsv", 872, ["sentence", "label"]),
        ("sst2/test_labeled.tsv", 1821, ["sentence", "label"]),  # CRLF line endings
        ("sms_spam/SMSSpamCollection.tsv", 5574, ["Label", "SMS"]),
        ("banking77/test.csv", 3080, ["text", "category"]),
        ("alpaca_subset5000/alpaca_5000.json", 5000, ["instruction", "input", "output"]),
        ("llamafactory_chat_demo/v1_sft_demo.jsonl", 500, ["messages"]),
    ],
)
def test_real_files(relative, count, columns):
    records = read_records(DATASETS / relative)
    assert len(records) == count
    assert list(records[0].data) == columns
    assert all("\r" not in str(r.data) for r in records[:50])


@needs_datasets
def test_sms_spam_quotes_stay_inside_the_text():
    # Line 284 starts with a quote and ends mid-text: standard CSV quoting would merge lines.
    records = {r.line: r.data for r in read_records(DATASETS / "sms_spam/SMSSpamCollection.tsv")}
    assert records[284]["SMS"].startswith('"Wen u miss someone')
    assert records[284]["Label"] == "ham"
    assert records[285]["Label"] in ("ham", "spam")


# (file name, content, substrings the message must contain)
MALFORMED = [
    pytest.param("empty.csv", b"", ["empty"], id="empty"),
    pytest.param("blank.jsonl", "\n  \n", ["empty"], id="whitespace-only"),
    pytest.param("bom.jsonl", b"\xef\xbb\xbf\n", ["no records"], id="bom-only"),
    pytest.param("h.csv", "text,label\n", ["header row but no data rows"], id="header-only"),
    pytest.param(
        "l1.csv", b"text,label\nok,1\ncaf\xe9,2\n", ["line 3", "UTF-8", "0xe9"], id="latin-1"
    ),
    pytest.param(
        "bad.json",
        '[{"a": 1},\n {"a": 2}\n {"a": 3}]',
        ["line 3", "invalid JSON"],
        id="json-syntax",
    ),
    pytest.param(
        "lines.json", '{"a": 1}\n{"a": 2}\n', ["line 2", "rename it to .jsonl"], id="json-is-jsonl"
    ),
    pytest.param(
        "str.json", '"hello"', ["expected a list of objects", "a string"], id="json-string"
    ),
    pytest.param("obj.json", '{"a": 1, "b": 2}', ["keys: a, b"], id="json-object-without-list"),
    pytest.param("item.json", '[{"a": 1}, 2]', ["item 2", "a number"], id="json-item-not-object"),
    pytest.param("none.json", "[]", ["no records"], id="json-empty-list"),
    pytest.param(
        "bad.jsonl", '{"a": 1}\n{"a": 2,}\n', ["line 2", "invalid JSON"], id="jsonl-syntax"
    ),
    pytest.param("arr.jsonl", '{"a": 1}\n\n[1, 2]\n', ["line 3", "a list"], id="jsonl-not-object"),
    pytest.param(
        "pretty.jsonl", '[\n  {"a": 1}\n]\n', ["line 1", "rename it to .json"], id="jsonl-is-array"
    ),
    pytest.param("bin.txt", b"abc\n\x00\x01\x02", ["line 2", "binary"], id="binary"),
    pytest.param("x.xlsx", b"PK\x03\x04", [".xlsx", ".csv, .tsv, .json, .jsonl"], id="unknown-ext"),
    pytest.param("x.csv.gz", b"\x1f\x8b", ["not a valid gzip file"], id="truncated-gzip"),
    pytest.param(
        "wide.csv", "text,label\na,1\nb, c,2\n", ["line 3", "3 fields", "quotes"], id="extra-comma"
    ),
    pytest.param("short.tsv", "text\tlabel\na\t1\nb\n", ["line 3", "1 fields"], id="missing-tab"),
    pytest.param(
        "quote.csv", 'text,label\na,1\n"unclosed,2\nc,3\n', ["line 3", "quote"], id="unclosed-quote"
    ),
    pytest.param("dup.csv", "text,text\na,b\n", ["line 1", "'text' twice"], id="duplicate-header"),
    pytest.param(
        "nohead.csv", "text,,label\na,b,c\n", ["line 1", "column 2"], id="empty-header-name"
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), MALFORMED)
def test_malformed_files_give_one_line_errors(tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    with pytest.raises(TunesmithError) as info:
        read_records(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda p: p / "missing.csv", "file not found", id="missing"),
        pytest.param(lambda p: p, "is a directory", id="directory"),
        pytest.param(
            lambda p: (p / "d.csv").mkdir() or p / "d.csv", "is a directory", id="dir.csv"
        ),
    ],
)
def test_path_problems(tmp_path, make, expected):
    path = make(tmp_path)
    with pytest.raises(TunesmithError, match=expected) as info:
        read_records(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_permission_denied(tmp_path, monkeypatch):
    # chmod cannot be relied on (tests may run as root), so simulate the OS refusing the read.
    path = write(tmp_path, "secret.csv", "text,label\na,1\n")

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(TunesmithError, match="permission denied") as info:
        read_records(path)
    assert str(path) in str(info.value)


def test_large_json_round_trip(tmp_path):
    items = [{"text": f"t{i}", "label": i % 3} for i in range(2000)]
    records = read_records(write(tmp_path, "big.json", json.dumps(items)))
    assert [r.data for r in records] == items
    assert records[-1].line == 2000 and records[-1].where.endswith("big.json item 2000")
