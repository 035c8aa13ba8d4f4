"""Decide which task a file holds and turn its records into ``Example``s.

Four tasks: classification (text -> label), instruction (alpaca instruction/input/output, or
prompt/response), chat (role/content messages or ShareGPT from/value turns) and text (plain
text for continued pre-training). Column names are detected from common spellings unless
``data.text_field`` / ``data.label_field`` name them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any, cast

from tunesmith.config import DataConfig, Task
from tunesmith.data.examples import Example, Message
from tunesmith.data.load import Record
from tunesmith.errors import TunesmithError

TASKS = ("classification", "instruction", "chat", "text")
TEXT_FIELDS = ("text", "sentence", "content", "review", "document", "question", "sms", "input")
LABEL_FIELDS = ("label", "labels", "category", "class", "intent", "sentiment", "target")
CHAT_FIELDS = ("messages", "conversations")
# (instruction, input or None, output) column names, in order of preference.
INSTRUCTION_FORMATS = (
    ("instruction", "input", "output"),
    ("prompt", None, "response"),
    ("prompt", None, "completion"),
)
# Role spellings of the OpenAI/HF "messages" format and of ShareGPT "conversations".
ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "system": "system",
}


class _BadRecord(Exception):
    """A record that cannot become an example; collected, then reported as one TunesmithError."""


def detect_task(records: list[Record], cfg: DataConfig) -> str:
    """The task of a file: ``cfg.task`` if set, else guessed from the records' field names."""
    if cfg.task:
        return cfg.task
    keys = _keys(records)
    if any(_find(keys, name) for name in CHAT_FIELDS):
        return "chat"
    if _instruction_format(keys):
        return "instruction"
    _check_instruction_without_answer(records[0].file if records else "", keys)
    if cfg.label_field or (_label_field(keys, cfg) and _text_field(keys, cfg)):
        return "classification"
    return "text"


def _check_instruction_without_answer(file: str, keys: list[str]) -> None:
    """An "instruction" or "prompt" field with no answer field is a broken instruction file.

    Guessing another task would train on the wrong thing: without this check a file of
    instruction/input rows would silently become plain text read from "input".
    """
    for instruction, _, output in INSTRUCTION_FORMATS:
        found = _find(keys, instruction)
        if found:
            answers = sorted({fmt[2] for fmt in INSTRUCTION_FORMATS if fmt[0] == instruction})
            raise TunesmithError(
                f"{file}: the records have the field '{found}' but no field "
                f"{' or '.join(repr(a) for a in answers)} "
                f"(fields: {', '.join(keys[:12])}); add the '{output}' field with the expected "
                "answer, or set data.task if this is not an instruction file"
            )


def resolve_fields(records: list[Record], task: str, cfg: DataConfig) -> DataConfig:
    """A copy of ``cfg`` with ``task`` and the detected text/label columns filled in.

    Validation and test files are then read with exactly the columns found in the training file.
    """
    if task not in TASKS:
        raise TunesmithError(f"data.task: unknown task '{task}'; use one of {', '.join(TASKS)}")
    task = cast(Task, task)
    if not records or task in ("instruction", "chat"):
        return dataclasses.replace(cfg, task=task)
    keys = _keys(records)
    file = records[0].file
    if task == "text":
        text = _text_field(keys, cfg)
        if not text and not cfg.text_field:
            text = _single_string_field(records[0].data)
        text = _require(text, "text", cfg, file, keys)
        return dataclasses.replace(cfg, task=task, text_field=text)
    label = _require(_label_field(keys, cfg), "label", cfg, file, keys)
    text = _require(_text_field(keys, cfg, exclude=label), "text", cfg, file, keys)
    if text == label:
        raise TunesmithError(
            f"{file}: data.text_field and data.label_field both name '{text}'; "
            "point them at different columns"
        )
    return dataclasses.replace(cfg, task=task, text_field=text, label_field=label)


def required_fields(records: list[Record], task: str, cfg: DataConfig) -> list[str]:
    """The columns every record of ``task`` must fill (``cfg`` as ``resolve_fields`` made it)."""
    keys = _keys(records)
    if task == "classification":
        return [f for f in (cfg.text_field, cfg.label_field) if f]
    if task == "text":
        return [cfg.text_field] if cfg.text_field else []
    if task == "instruction":
        columns = _instruction_format(keys)
        return [columns[0], columns[2]] if columns else []
    chat = _first_of(keys, CHAT_FIELDS)
    return [chat] if chat else []


def to_examples(
    records: list[Record], task: str, cfg: DataConfig, skip_bad: bool = False
) -> list[Example]:
    """Convert every record to an ``Example`` of ``task``; bad records raise one TunesmithError.

    The error names the first bad record's file and line and how many are bad in all. With
    ``skip_bad`` (``tunesmith train --force``) they are left out instead.
    """
    examples, bad = convert_records(records, task, cfg)
    if bad and not skip_bad:
        first, reason = bad[0]
        others = len(bad) - 1
        more = f" (and {others} more bad record{'s' if others > 1 else ''})" if others else ""
        fix = "fix them or remove them" if more else "fix it or remove it"
        raise TunesmithError(f"{first.where}: {reason}{more}; {fix}")
    return examples


def convert_records(
    records: list[Record], task: str, cfg: DataConfig
) -> tuple[list[Example], list[tuple[Record, str]]]:
    """(examples, [(record, why it can't be used)]): every record of ``task``, good or bad.

    A problem of the whole file (a missing column) is still a TunesmithError.
    """
    cfg = resolve_fields(records, task, cfg)
    if task == "classification":
        convert = _classification(cfg)
    elif task == "instruction":
        convert = _instruction(records)
    elif task == "chat":
        convert = _chat
    else:
        convert = _text(cfg)
    examples, bad = [], []
    for record in records:
        try:
            examples.append(convert(record))
        except _BadRecord as err:
            bad.append((record, str(err)))
    return examples, bad


# -- field names -------------------------------------------------------------------------------


def _keys(records: Iterable[Record]) -> list[str]:
    """Every field name used by any record, in first-seen order."""
    return list(dict.fromkeys(key for record in records for key in record.data))


def _find(keys: list[str], name: str) -> str | None:
    """The key spelled ``name``, matched exactly first, then ignoring case ("Label" = "label")."""
    if name in keys:
        return name
    return next((key for key in keys if key.lower() == name.lower()), None)


def _first_of(keys: list[str], names: Iterable[str], exclude: str | None = None) -> str | None:
    """The first of ``names`` present in ``keys`` (other than ``exclude``)."""
    for name in names:
        key = _find(keys, name)
        if key and key != exclude:
            return key
    return None


def _text_field(keys: list[str], cfg: DataConfig, exclude: str | None = None) -> str | None:
    """The configured text column if present, else the first common text column name."""
    if cfg.text_field:
        return _find(keys, cfg.text_field)
    return _first_of(keys, TEXT_FIELDS, exclude)


def _label_field(keys: list[str], cfg: DataConfig) -> str | None:
    """The configured label column if present, else the first common label column name."""
    if cfg.label_field:
        return _find(keys, cfg.label_field)
    return _first_of(keys, LABEL_FIELDS)


def _single_string_field(data: dict[str, Any]) -> str | None:
    """The only field holding a string, if exactly one does."""
    strings = [key for key, value in data.items() if isinstance(value, str)]
    return strings[0] if len(strings) == 1 else None


def _require(field: str | None, what: str, cfg: DataConfig, file: str, keys: list[str]) -> str:
    """``field``, or an error listing the fields that exist and the config key to set."""
    if field:
        return field
    shown = ", ".join(keys[:12]) + (f", ... ({len(keys)} in all)" if len(keys) > 12 else "")
    configured = getattr(cfg, f"{what}_field")
    if configured:
        raise TunesmithError(
            f"{file}: no field '{configured}' (set by data.{what}_field); the fields are: "
            f"{shown}; correct data.{what}_field"
        )
    raise TunesmithError(
        f"{file}: no {what} field found (fields: {shown}); set data.{what}_field to the column "
        f"holding the {what}, or add a header row naming the columns"
    )


# -- values ------------------------------------------------------------------------------------


def _value(data: dict[str, Any], key: str, what: str, required: bool = True) -> str:
    """The text in ``data[key]``: numbers become strings; missing, empty or nested is bad."""
    value = data.get(key)
    if isinstance(value, float) and math.isnan(value):
        value = None  # JSON's NaN (pandas' missing value) is no text and no label
    if value is None or (isinstance(value, str) and not value.strip()):
        if not required:
            return ""
        raise _BadRecord(f"{_field(key, what)} is {'missing' if value is None else 'empty'}")
    if isinstance(value, (dict, list)):
        raise _BadRecord(f"{_field(key, what)} is a {type(value).__name__}, expected text")
    if isinstance(value, float) and value.is_integer():
        # Labels exported through pandas/JSON often arrive as 1.0 where the file meant 1.
        value = int(value)
    return str(value)


def _field(key: str, what: str) -> str:
    """A field's name for messages, with its role when the name does not say it."""
    return f"field '{key}'" if key.lower() == what else f"field '{key}' (the {what})"


def _classification(cfg: DataConfig) -> Callable[[Record], Example]:
    """Converter to (text, label) examples; both are stripped, labels become strings."""
    text_key, label_key = cfg.text_field or "", cfg.label_field or ""

    def convert(record: Record) -> Example:
        text = _value(record.data, text_key, "text").strip()
        label = _value(record.data, label_key, "label").strip()
        return Example("classification", text=text, label=label, source=record.source)

    return convert


def _text(cfg: DataConfig) -> Callable[[Record], Example]:
    """Converter to plain-text examples (kept verbatim: whitespace can matter in text)."""
    key = cfg.text_field or ""

    def convert(record: Record) -> Example:
        return Example("text", text=_value(record.data, key, "text"), source=record.source)

    return convert


def _instruction(records: list[Record]) -> Callable[[Record], Example]:
    """Converter for the instruction format the file uses (alpaca or prompt/response)."""
    keys = _keys(records)
    columns = _instruction_format(keys)
    if columns is None:
        raise TunesmithError(
            f"{records[0].file}: no instruction fields found (fields: {', '.join(keys[:12])}); "
            "use instruction/input/output, prompt/response or prompt/completion fields"
        )
    instruction_key, input_key, output_key = columns

    def convert(record: Record) -> Example:
        data = record.data
        return Example(
            "instruction",
            instruction=_value(data, instruction_key, "instruction"),
            input=_value(data, input_key, "input", required=False) if input_key else "",
            output=_value(data, output_key, "output"),
            source=record.source,
        )

    return convert


def _instruction_format(keys: list[str]) -> tuple[str, str | None, str] | None:
    """The actual (instruction, input, output) keys of the first format present, if any."""
    for instruction, input_, output in INSTRUCTION_FORMATS:
        found_instruction, found_output = _find(keys, instruction), _find(keys, output)
        if found_instruction and found_output:
            found_input = _find(keys, input_) if input_ else None
            return found_instruction, found_input, found_output
    return None


# -- chat --------------------------------------------------------------------------------------


def conversation(record: Record) -> list[Message]:
    """The turns of a chat record (no assistant turn required), for prediction."""
    try:
        return _turns(record)
    except _BadRecord as exc:
        raise TunesmithError(f"{record.where}: {exc}; fix the record") from None


def _chat(record: Record) -> Example:
    """A conversation from "messages" (role/content) or ShareGPT "conversations" (from/value)."""
    messages = _turns(record)
    if not any(m.role == "assistant" for m in messages):
        raise _BadRecord("the conversation has no assistant turn to learn from")
    return Example("chat", messages=tuple(messages), source=record.source)


def _turns(record: Record) -> list[Message]:
    keys = list(record.data)
    field = _first_of(keys, CHAT_FIELDS)
    turns = record.data.get(field) if field else None
    if not isinstance(turns, list) or not turns:
        raise _BadRecord("expected a non-empty list in 'messages' or 'conversations'")
    messages = [_message(turn, i) for i, turn in enumerate(turns, start=1)]
    system = record.data.get("system")
    # ShareGPT files (e.g. LLaMA-Factory's) may keep the system prompt beside the turns.
    if isinstance(system, str) and system.strip() and messages[0].role != "system":
        messages.insert(0, Message("system", system))
    return messages


def _message(turn: Any, index: int) -> Message:
    """One turn: {role, content} or ShareGPT {from, value}; content may be a list of parts."""
    if not isinstance(turn, dict):
        raise _BadRecord(f"message {index} is not an object with role and content")
    role = turn.get("role", turn.get("from"))
    if not isinstance(role, str) or role.lower() not in ROLES:
        allowed = ", ".join(ROLES)
        raise _BadRecord(f"message {index} has unknown role {role!r} (allowed: {allowed})")
    content = turn.get("content", turn.get("value"))
    return Message(ROLES[role.lower()], _content(content, index))


def _content(content: Any, index: int) -> str:
    """Text of a message: a string, or the text parts of a list of typed parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _BadRecord(f"message {index} has no text content")
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = part.get("type", "text") if isinstance(part, dict) else None
        text = part.get("text", part.get("value")) if isinstance(part, dict) else None
        if kind != "text" or not isinstance(text, str):
            raise _BadRecord(f"message {index} has a non-text part ({kind!r}); only text is used")
        texts.append(text)
    # Separate parts are separate paragraphs; "\n" is how vLLM and most templates join them.
    return "\n".join(texts)
