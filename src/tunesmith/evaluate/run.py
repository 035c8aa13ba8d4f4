"""Evaluate one model on held-out examples, the same way for the base and the tuned model."""

from __future__ import annotations

import time

import torch

from tunesmith.config import Config
from tunesmith.data.encode import encode_examples
from tunesmith.data.examples import Example
from tunesmith.data.templates import classification_prompt
from tunesmith.evaluate.classify import label_scores
from tunesmith.evaluate.lm import mean_target_loss
from tunesmith.evaluate.metrics import classification_metrics, perplexity
from tunesmith.methods import hook
from tunesmith.train.monitor import progress_bar


def evaluate(
    model,
    tokenizer,
    examples: list[Example],
    labels: list[str] | None,
    cfg: Config,
    *,
    device: torch.device,
    dtype: torch.dtype,
    name: str,
) -> dict:
    """A metrics section: classification figures, or loss and perplexity for other tasks."""
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"eval {name}", total=len(examples), info="")

        def advance(n: int) -> None:
            bar.update(task, advance=n)

        if labels is not None:
            section = _classification(
                model, tokenizer, examples, labels, cfg, device, dtype, advance
            )
        else:
            section = _language_model(model, tokenizer, examples, cfg, device, dtype, advance)
    section["runtime_s"] = round(time.perf_counter() - started, 3)
    section["examples"] = len(examples)
    return section


def predict_labels(
    model, tokenizer, texts: list[str], labels: list[str], cfg: Config, device, dtype, on_batch=None
) -> tuple[list[str], torch.Tensor]:
    """The most likely label of each text, and the [texts, labels] log-likelihood matrix.

    The method may score labels its own way (``label_scores`` hook, e.g. a classification
    head); feature_extraction's loaded model scores them itself; by default the LM scores each
    label's tokens after the classification prompt.
    """
    if hasattr(model, "score_labels"):
        scores = model.score_labels(tokenizer, texts, cfg, device, dtype, on_batch)
        return [labels[i] for i in scores.argmax(dim=1).tolist()], scores
    settings = {
        "batch_size": cfg.eval.batch_size,
        "max_length": cfg.train.max_length,
        "device": device,
        "dtype": dtype,
        "on_batch": on_batch,
    }
    scorer = hook(cfg.method, "label_scores")
    if scorer is not None:
        scores = scorer(model, tokenizer, texts, labels, **settings)
    else:
        prompts = [classification_prompt(text) for text in texts]
        scores = label_scores(model, tokenizer, prompts, labels, **settings)
    return [labels[i] for i in scores.argmax(dim=1).tolist()], scores


def _classification(model, tokenizer, examples, labels, cfg, device, dtype, advance) -> dict:
    texts = [e.text or "" for e in examples]
    predicted, _ = predict_labels(model, tokenizer, texts, labels, cfg, device, dtype, advance)
    return classification_metrics([e.label or "" for e in examples], predicted, labels)


def _language_model(model, tokenizer, examples, cfg, device, dtype, advance) -> dict:
    items = encode_examples(examples, tokenizer, cfg.train.max_length)
    loss, tokens = mean_target_loss(
        model,
        items,
        pad_id=tokenizer.pad_token_id,
        batch_size=cfg.eval.batch_size,
        chunk=cfg.train.loss_chunk,
        device=device,
        dtype=dtype,
    )
    advance(len(examples))
    return {"loss": loss, "perplexity": perplexity(loss), "tokens": tokens}
