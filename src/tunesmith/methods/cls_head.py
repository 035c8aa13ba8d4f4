"""A sequence-classification head: the backbone's last real token -> one logit per label.

``AutoModelForSequenceClassification`` on the same backbone, trained with cross-entropy on the
head, either with LoRA adapters (the fresh head trains fully, as peft's ``modules_to_save``) or
fully (``cls_head.train``). Classification only. Examples are encoded as the classification
prompt without the label continuation; the class index rides in the item's last label position
(every other position is IGNORE), so batching and target counting work unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from tunesmith.config import Config
from tunesmith.data.encode import IGNORE, Encoded, prompts_ids
from tunesmith.data.templates import classification_prompt
from tunesmith.errors import TunesmithError
from tunesmith.methods import lora
from tunesmith.models.load import compute_context, load_model
from tunesmith.train.batches import collate

TASKS = ("classification",)
HEAD_FILE = "head.json"  # labels and pad id, to rebuild the head's shape on load


def frozen_dtype(compute: torch.dtype) -> torch.dtype:
    """fp32: the fresh head (and, with ``train: full``, every weight) is updated in place."""
    return torch.float32


def load_base(location, dtype: torch.dtype, device: torch.device, tokenizer, labels):
    """The backbone with a new, randomly initialised head of ``len(labels)`` outputs."""
    return _head_model(location, dtype, device, list(labels), tokenizer.pad_token_id)


def _head_model(location, dtype, device, labels: list[str], pad_token_id: int):
    from transformers import AutoModelForSequenceClassification

    return load_model(
        location,
        dtype,
        device,
        auto_class=AutoModelForSequenceClassification,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        pad_token_id=pad_token_id,  # the head reads the last token that is not padding
    )


def prepare(model, cfg: Config):
    """``train: full``: every weight trains; ``lora``: adapters plus the whole head."""
    if cfg.cls_head.train == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import get_peft_model

    head = _head_name(model)
    adapter = lora.adapter_config(cfg, task_type="SEQ_CLS", modules_to_save=[head])
    return get_peft_model(model, adapter)


def _head_name(model) -> str:
    """The attribute holding the head: the top-level linear layer with one output per label."""
    for name, module in model.named_children():
        if isinstance(module, torch.nn.Linear) and module.out_features == model.config.num_labels:
            return name
    raise TunesmithError(f"model: {type(model).__name__} has no classification head to train")


def encode(examples, tokenizer, max_length: int, labels: list[str]) -> list[Encoded]:
    """Prompt tokens, with the class index as the label of the last token."""
    index = {label: i for i, label in enumerate(labels)}
    prompts = [classification_prompt(e.text or "") for e in examples]
    items = []
    for example, ids in zip(examples, prompts_ids(prompts, tokenizer, max_length), strict=True):
        items.append(Encoded(ids, [IGNORE] * (len(ids) - 1) + [index[example.label]]))
    return items


def loss(model, input_ids, attention_mask, labels, chunk: int) -> tuple[torch.Tensor, int]:
    """(summed cross-entropy of the head over the batch, examples); ``chunk`` is unused."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    targets = labels[labels != IGNORE]  # one per row, in row order
    return F.cross_entropy(logits.float(), targets, reduction="sum"), int(targets.numel())


@torch.no_grad()
def label_scores(
    model, tokenizer, texts, labels, *, batch_size, max_length, device, dtype, on_batch=None
) -> torch.Tensor:
    """Log-probabilities [texts, labels] from the head (argmax = the prediction)."""
    if model.config.num_labels != len(labels):
        raise TunesmithError(
            f"cls_head: the head has {model.config.num_labels} outputs but {len(labels)} labels "
            "were given; use the labels the run was trained with"
        )
    was_training = model.training
    model.eval()
    ids = prompts_ids([classification_prompt(t) for t in texts], tokenizer, max_length)
    rows = []
    for start in range(0, len(ids), batch_size):
        part = [Encoded(x, [IGNORE] * len(x)) for x in ids[start : start + batch_size]]
        batch = collate(part, tokenizer.pad_token_id, device)
        with compute_context(device, dtype):
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                use_cache=False,
            ).logits  # fmt: skip
        rows.append(torch.log_softmax(logits.float(), dim=-1).cpu())
        if on_batch:
            on_batch(len(part))
    model.train(was_training)
    return torch.cat(rows) if rows else torch.empty(0, len(labels))


def save(model, tokenizer, directory: Path) -> None:
    """The adapters + head (lora) or the whole model (full), the tokenizer, and head.json."""
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    config = model.config if not hasattr(model, "get_base_model") else model.get_base_model().config
    labels = [config.id2label[i] for i in range(config.num_labels)]
    head = {"labels": labels, "pad_token_id": config.pad_token_id}
    (directory / HEAD_FILE).write_text(json.dumps(head, indent=1), encoding="utf-8")


def load(location, directory: Path, dtype: torch.dtype, device: torch.device):
    """The tuned classifier from ``final/``: base + saved adapters and head, or the whole model."""
    if not (directory / "adapter_config.json").is_file():
        from transformers import AutoModelForSequenceClassification

        return load_model(directory, dtype, device, auto_class=AutoModelForSequenceClassification)
    head = json.loads((directory / HEAD_FILE).read_text(encoding="utf-8"))
    base = _head_model(location, dtype, device, head["labels"], head["pad_token_id"])
    return lora.load_adapter(base, directory)


def merge(model):
    """A plain classifier with the adapters folded in (``train: lora`` only)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
