"""detect_task, resolve_fields and to_examples over synthetic records and the shared datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.config import DataConfig
from tunesmith.data.examples import Message
from tunesmith.data.load import Record, read_records
from tunesmith.data.tasks import detect_task, resolve_fields, to_examples
from tunesmith.errors import TunesmithError

DATASETS = (Path(__file__).parents[2] / ".." / "shared" / "datasets").resolve()
needs_datasets = pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not present")


def recs(*rows: dict, file: str = "data/train.jsonl") -> list[Record]:
    """Records as read_records would return them, one per line of ``file``."""
    return [Record(row, i, f"{file}:{i}") for i, row in enumerate(rows, start=1)]


def error_of(records: list[Record], task: str, cfg: DataConfig | None = None) -> str:
    """The one-line message to_examples raises for ``records``."""
    with pytest.raises(TunesmithError) as info:
        to_examples(records, task, cfg or DataConfig())
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("row", "cfg", "task"),
    [
        ({"messages": []}, DataConfig(), "chat"),
        ({"conversations": [], "id": 1}, DataConfig(), "chat"),
        ({"instruction": "a", "input": "", "output": "b"}, DataConfig(), "instruction"),
        ({"Instruction": "a", "Output": "b"}, DataConfig(), "instruction"),
        ({"prompt": "a", "response": "b"}, DataConfig(), "instruction"),
        ({"prompt": "a", "completion": "b"}, DataConfig(), "instruction"),
        ({"sentence": "a", "label": "1"}, DataConfig(), "classification"),
        ({"Label": "ham", "SMS": "hi"}, DataConfig(), "classification"),
        ({"review": "a", "sentiment": "pos"}, DataConfig(), "classification"),
        ({"body": "a", "y": "1"}, DataConfig(text_field="body", label_field="y"), "classification"),
        ({"text": "a"}, DataConfig(), "text"),
        ({"label": "a"}, DataConfig(), "text"),  # a label with nothing to classify
        ({"text": "a", "label": "1"}, DataConfig(task="text"), "text"),
        ({"messages": []}, DataConfig(task="classification"), "classification"),
    ],
)
def test_detect_task(row, cfg, task):
    assert detect_task(recs(row), cfg) == task


def test_detect_task_sees_fields_missing_from_the_first_record():
    records = recs({"text": "a"}, {"text": "b", "label": "x"})
    assert detect_task(records, DataConfig()) == "classification"


# -- classification ----------------------------------------------------------------------------


def test_classification_detects_fields_and_normalises_labels():
    records = recs(
        {"id": 1, "sentence": "  good film ", "label": 1},
        {"id": 2, "sentence": "bad film", "label": " 1 "},
        {"id": 3, "sentence": "meh", "label": 0.0},
    )
    examples = to_examples(records, "classification", DataConfig())
    assert [(e.text, e.label) for e in examples] == [
        ("good film", "1"),
        ("bad film", "1"),
        ("meh", "0"),
    ]
    assert [e.source for e in examples] == [f"data/train.jsonl:{i}" for i in (1, 2, 3)]
    assert {e.task for e in examples} == {"classification"}


def test_classification_text_candidates_in_order_and_case_insensitive():
    cfg = resolve_fields(
        recs({"SMS": "x", "Text": "y", "Label": "ham"}), "classification", DataConfig()
    )
    assert (cfg.text_field, cfg.label_field, cfg.task) == ("Text", "Label", "classification")


def test_configured_fields_win_over_detection():
    records = recs({"text": "ignored", "body": "used", "label": "a", "y": "b"})
    cfg = DataConfig(text_field="body", label_field="y")
    [example] = to_examples(records, "classification", cfg)
    assert (example.text, example.label) == ("used", "b")


@pytest.mark.parametrize(
    ("rows", "cfg", "expected"),
    [
        pytest.param(
            [{"body": "a", "label": "x"}],
            DataConfig(),
            ["data/train.jsonl:", "no text field", "body, label", "data.text_field"],
            id="no-text-field",
        ),
        pytest.param(
            [{"text": "a", "mood": "x"}],
            DataConfig(task="classification"),
            ["no label field", "text, mood", "data.label_field"],
            id="no-label-field",
        ),
        pytest.param(
            [{"text": "a", "label": "x"}],
            DataConfig(text_field="body"),
            ["no field 'body'", "data.text_field", "text, label"],
            id="configured-field-missing",
        ),
        pytest.param(
            [{"text": "a", "label": "x"}],
            DataConfig(text_field="text", label_field="text"),
            ["both name 'text'"],
            id="same-field-twice",
        ),
        pytest.param(
            [{"text": "a", "label": "x"}, {"text": " ", "label": "y"}, {"text": "c"}],
            DataConfig(),
            ["data/train.jsonl line 2", "field 'text' is empty", "(and 1 more bad record);"],
            id="empty-text-and-missing-label",
        ),
        pytest.param(
            [{"sentence": "a", "label": ["x", "y"]}],
            DataConfig(),
            ["line 1", "field 'label' is a list"],
            id="multi-label",
        ),
    ],
)
def test_classification_errors(rows, cfg, expected):
    message = error_of(recs(*rows), "classification", cfg)
    for part in expected:
        assert part in message


@needs_datasets
@pytest.mark.parametrize(
    ("relative", "text", "labels"),
    [
        ("sst2/dev.tsv", "it 's a charming and often affecting journey .", {"0", "1"}),
        ("sms_spam/SMSSpamCollection.tsv", "Go until jurong point, crazy..", {"ham", "spam"}),
        ("banking77/train.csv", "I am still waiting on my card?", None),
    ],
)
def test_classification_on_real_files(relative, text, labels):
    records = read_records(DATASETS / relative)
    assert detect_task(records, DataConfig()) == "classification"
    examples = to_examples(records, "classification", DataConfig())
    assert len(examples) == len(records)
    assert examples[0].text.startswith(text)
    found = {e.label for e in examples}
    assert found == labels if labels else len(found) == 77


# -- instruction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"instruction": "Add", "input": "2, 3", "output": 5}, ("Add", "2, 3", "5")),
        ({"instruction": "Hi", "output": "Hello"}, ("Hi", "", "Hello")),
        ({"instruction": "Hi", "input": None, "output": "Hello"}, ("Hi", "", "Hello")),
        ({"prompt": "Q", "response": "A"}, ("Q", "", "A")),
        ({"prompt": "Q", "completion": "A"}, ("Q", "", "A")),
    ],
)
def test_instruction_formats(row, expected):
    [example] = to_examples(recs(row), "instruction", DataConfig())
    assert (example.instruction, example.input, example.output) == expected
    assert example.task == "instruction"


def test_instruction_errors():
    message = error_of(recs({"instruction": "a", "output": ""}), "instruction")
    assert "line 1" in message and "field 'output' is empty" in message
    message = error_of(recs({"question": "a", "answer": "b"}), "instruction")
    assert "no instruction fields" in message and "question, answer" in message


@needs_datasets
def test_alpaca_subset_reports_its_two_empty_outputs_then_converts():
    records = read_records(DATASETS / "alpaca_subset5000/alpaca_5000.json")
    assert detect_task(records, DataConfig()) == "instruction"
    message = error_of(records, "instruction")
    assert "alpaca_5000.json item 2336: field 'output' is empty (and 1 more bad record)" in message
    usable = [r for r in records if r.data["output"].strip()]
    examples = to_examples(usable, "instruction", DataConfig())
    assert len(examples) == 4998
    assert sum(1 for e in examples if e.input) == 1943
    assert examples[1].instruction == "Arrange the following musical notes"
    assert examples[1].input == "G, B, E" and examples[1].output == "E, G, B"


# -- chat --------------------------------------------------------------------------------------


def test_chat_messages_with_parts_and_system_field():
    row = {
        "system": "Be brief.",
        "messages": [
            {
                "role": "User",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "value": "b"}],
            },
            {"role": "model", "content": "c"},
        ],
    }
    [example] = to_examples(recs(row), "chat", DataConfig())
    assert example.messages == (
        Message("system", "Be brief."),
        Message("user", "a\nb"),
        Message("assistant", "c"),
    )


def test_sharegpt_roles_are_mapped():
    row = {
        "conversations": [
            {"from": "system", "value": "s"},
            {"from": "human", "value": "q"},
            {"from": "gpt", "value": "a"},
        ]
    }
    [example] = to_examples(recs(row), "chat", DataConfig())
    assert [m.role for m in example.messages] == ["system", "user", "assistant"]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"messages": [{"role": "user", "content": "q"}]}, "no assistant turn"),
        ({"messages": [{"role": "robot", "content": "q"}]}, "message 1 has unknown role 'robot'"),
        (
            {"conversations": [{"from": "human", "value": "q"}, {"from": "tool", "value": "x"}]},
            "message 2",
        ),
        ({"messages": []}, "non-empty list"),
        ({"messages": "hello"}, "non-empty list"),
        ({"messages": ["hello"]}, "message 1 is not an object"),
        ({"messages": [{"role": "assistant", "content": None}]}, "message 1 has no text content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
            "non-text part ('image_url')",
        ),
    ],
)
def test_chat_errors_name_the_line(row, expected):
    records = recs(
        {"messages": [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "ok"}]},
        row,
    )
    message = error_of(records, "chat")
    assert message.startswith("data/train.jsonl line 2: ")
    assert expected in message


@needs_datasets
def test_llamafactory_parts_file():
    records = read_records(DATASETS / "llamafactory_chat_demo/v1_sft_demo.jsonl")
    assert detect_task(records, DataConfig()) == "chat"
    examples = to_examples(records, "chat", DataConfig())
    assert len(examples) == 500
    assert examples[0].messages[0] == Message("user", "hi")
    assert examples[0].messages[1].role == "assistant"
    assert examples[0].messages[1].content.startswith("Hello! I am {{name}}")


@needs_datasets
def test_sharegpt_file_matches_its_role_content_conversion():
    folder = DATASETS / "fastchat_dummy_conversation"
    sharegpt = to_examples(read_records(folder / "dummy_conversation.json"), "chat", DataConfig())
    converted = read_records(folder / "dummy_conversation.messages.jsonl")
    assert [e.messages for e in sharegpt] == [
        e.messages for e in to_examples(converted, "chat", DataConfig())
    ]
    assert sorted({len(e.messages) for e in sharegpt}) == [2, 4, 6]


# -- text --------------------------------------------------------------------------------------


def test_text_task_fields():
    [a] = to_examples(recs({"text": "  keep spaces "}), "text", DataConfig())
    assert a.text == "  keep spaces "
    [b] = to_examples(recs({"url": 3, "body": "only string"}), "text", DataConfig())
    assert b.text == "only string"
    message = error_of(recs({"url": "u", "body": "b"}), "text")
    assert "no text field" in message and "url, body" in message


@needs_datasets
def test_text_files():
    records = read_records(DATASETS / "tiny_shakespeare/input.txt")
    examples = to_examples(records, detect_task(records, DataConfig()), DataConfig())
    assert examples[0].text == "First Citizen:" and examples[0].task == "text"
    c4 = read_records(DATASETS / "llamafactory_text_demo/c4_demo.jsonl")
    assert len(to_examples(c4, detect_task(c4, DataConfig()), DataConfig())) == 300


def test_unknown_task():
    assert "unknown task 'regression'" in error_of(recs({"text": "a"}), "regression")
