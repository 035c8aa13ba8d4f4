"""Use a tuned run: label or complete every row of a file, or answer one prompt."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from tunesmith.data.examples import Example, Message
from tunesmith.data.load import Record, read_records
from tunesmith.data.preprocess import clean_text
from tunesmith.data.tasks import CHAT_FIELDS, TEXT_FIELDS, conversation
from tunesmith.data.templates import generation_prompt, instruction_messages
from tunesmith.errors import TunesmithError
from tunesmith.evaluate.run import predict_labels
from tunesmith.models.backbone import generate as generate_ids
from tunesmith.models.load import compute_context
from tunesmith.rundir import TunedRun
from tunesmith.train.monitor import progress_bar


def predict_file(run: TunedRun, source: str, output: str) -> int:
    """Write ``output`` (CSV): every input column plus ``prediction``; returns the row count."""
    records = read_records(source)
    rows = [dict(r.data) for r in records]
    inputs = model_inputs(run, records, source)
    with progress_bar() as bar:
        task = bar.add_task("predict", total=len(inputs), info="")
        if run.labels is not None:
            predicted, scores = predict_labels(
                run.model,
                run.tokenizer,
                inputs,
                run.labels,
                run.cfg,
                run.device,
                run.dtype,
                on_batch=lambda n: bar.update(task, advance=n),
            )
            confidence = torch.softmax(scores, dim=1).max(dim=1).values.tolist()
            for row, label, p in zip(rows, predicted, confidence, strict=True):
                row["prediction"], row["confidence"] = label, round(p, 4)
        else:
            for row, text in zip(rows, inputs, strict=True):
                row["prediction"] = _complete(run, text, run.cfg.eval.max_new_tokens)
                bar.update(task, advance=1)
    _write_csv(Path(output), rows)
    return len(rows)


def generate(run: TunedRun, prompt: str, max_new_tokens: int | None = None) -> str:
    """The tuned model's answer to ``prompt`` (the predicted label for classification runs)."""
    prompt = clean_text(prompt, run.cfg.data.preprocess)  # as training saw its inputs
    if run.labels is not None:
        predicted, _ = predict_labels(
            run.model, run.tokenizer, [prompt], run.labels, run.cfg, run.device, run.dtype
        )
        return predicted[0]
    text = prompt
    if run.task in ("instruction", "chat"):
        text = generation_prompt([Message("user", prompt)], run.tokenizer)
    return _complete(run, text, max_new_tokens or run.cfg.eval.max_new_tokens)


@torch.no_grad()
def _complete(run: TunedRun, text: str, max_new_tokens: int) -> str:
    tok = run.tokenizer
    add_bos = not (tok.bos_token and text.startswith(tok.bos_token))
    inputs = tok(text, return_tensors="pt", add_special_tokens=add_bos).to(run.device)
    with compute_context(run.device, run.dtype):
        new = generate_ids(
            run.model,
            inputs["input_ids"],
            inputs["attention_mask"],
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
        )
    return tok.decode(new[0], skip_special_tokens=True).strip()


def model_inputs(run: TunedRun, records: list[Record], source: str) -> list[str]:
    """What the model sees for each record: the text to classify or the prompt to complete.

    Instruction rows keep their instruction (and input); chat rows keep every turn up to the
    last assistant reply, which is what gets predicted. Texts are cleaned as training's were
    (``data.preprocess``): a model trained on lower-cased text is asked in lower case.
    """

    def clean(text: str) -> str:
        return clean_text(text, run.cfg.data.preprocess)

    keys = {k.lower(): k for k in (records[0].data if records else {})}
    if run.task == "chat" and any(name in keys for name in CHAT_FIELDS):
        return [
            generation_prompt(
                _until_reply([Message(m.role, clean(m.content)) for m in conversation(r)]),
                run.tokenizer,
            )
            for r in records
        ]
    if run.task == "instruction" and ("instruction" in keys or "prompt" in keys):
        ask, extra = keys.get("instruction") or keys["prompt"], keys.get("input")
        return [
            generation_prompt(
                instruction_messages(
                    Example(
                        "instruction",
                        instruction=clean(str(r.data.get(ask) or "")),
                        input=clean(str(r.data.get(extra) or "")) if extra else "",
                    )
                ),
                run.tokenizer,
            )
            for r in records
        ]
    field = _input_field(run, [r.data for r in records], source)
    texts = [clean(str(r.data.get(field) or "")) for r in records]
    if run.task in ("instruction", "chat"):
        return [generation_prompt([Message("user", t)], run.tokenizer) for t in texts]
    return texts


def _until_reply(messages: list[Message]) -> list[Message]:
    """The turns before the final assistant reply (all turns when there is none)."""
    if messages and messages[-1].role == "assistant":
        return messages[:-1]
    return messages


def _input_field(run: TunedRun, rows: list[dict], source: str) -> str:
    """The column holding the input: the run's text field, or the usual names."""
    keys = list(rows[0].keys()) if rows else []
    wanted = [run.cfg.data.text_field] if run.cfg.data.text_field else []
    wanted += list(TEXT_FIELDS) + ["prompt", "instruction"]
    lowered = {k.lower(): k for k in keys}
    for name in wanted:
        if name and name.lower() in lowered:
            return lowered[name.lower()]
    if len(keys) == 1:
        return keys[0]
    raise TunesmithError(
        f"{source}: no input column found (columns: {', '.join(keys)}); name it 'text' or set "
        "data.text_field in the run's config"
    )


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
