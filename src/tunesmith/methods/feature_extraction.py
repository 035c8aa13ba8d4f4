"""Feature extraction: the model stays frozen; a small head learns from its pooled hidden states.

Classification only. Each text (as the classification prompt the other methods score) is run
through the backbone once to get one vector (``features.pooling`` over ``features.layer``);
a logistic-regression or MLP head is fitted on the training vectors. ``final/`` holds the head
(``head.safetensors`` + ``head.json``) and the tokenizer; the base model is loaded from its
original location, like a LoRA run's.

Besides the usual method functions (frozen_dtype, prepare, save, load) this module has ``fit``,
which the pipeline runs in place of the training loop, and the loaded model scores labels
itself (``FeatureClassifier.score_labels``), which evaluation and prediction use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tunesmith.config import Config
from tunesmith.data.examples import Example, Splits
from tunesmith.data.templates import classification_prompt
from tunesmith.errors import TunesmithError
from tunesmith.methods.features import (
    Features,
    FeatureSpec,
    cached_features,
    default_cache_dir,
    model_fingerprint,
)
from tunesmith.methods.heads import Head, fit_head, head_loss, load_head, save_head
from tunesmith.models.load import load_model
from tunesmith.train.monitor import peak_rss_bytes, progress_bar


def frozen_dtype(compute: torch.dtype) -> torch.dtype:
    """The model never trains, so its weights can live in the fast compute dtype."""
    return compute


def prepare(model, cfg: Config):
    """Freeze every weight of the model: only the head (fitted later) learns."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def check_task(task: str) -> None:
    """A one-line error for data that is not classification, before any model loads."""
    if task != "classification":
        raise TunesmithError(
            f"method feature_extraction: classifies only, but the data's task is {task}; "
            "use method lora or full for it"
        )


class FeatureClassifier(nn.Module):
    """A frozen causal LM and a head on its pooled features: a classifier over ``labels``."""

    def __init__(self, lm, head: Head | None, spec: FeatureSpec, model_key: str):
        super().__init__()
        self.lm = lm
        self.head = head
        self.spec = spec
        self.model_key = model_key

    def features(self, tokenizer, texts: list[str], cfg: Config, device, dtype, on_batch=None):
        """Pooled vectors of ``texts`` (via the cache when ``features.cache`` is on)."""
        f = cfg.features
        cache_dir = (Path(f.cache_dir) if f.cache_dir else default_cache_dir()) if f.cache else None
        return cached_features(
            self.lm, tokenizer, [classification_prompt(t) for t in texts], self.spec,
            cache_dir=cache_dir, model_key=self.model_key, batch_size=f.batch_size,
            device=device, dtype=dtype, on_batch=on_batch,
        )  # fmt: skip

    def score_labels(self, tokenizer, texts, cfg: Config, device, dtype, on_batch=None):
        """Log-probability of each label for each text: float tensor [texts, labels]."""
        assert self.head is not None, "fit or load the head first"
        vectors = self.features(tokenizer, texts, cfg, device, dtype, on_batch).vectors
        with torch.no_grad():
            return torch.log_softmax(self.head(vectors), dim=-1)


@dataclass
class Fitted:
    """The classifier after ``fit`` and the training figures for metrics.json."""

    classifier: FeatureClassifier
    figures: dict


def fit(env, splits: Splits, cfg: Config) -> Fitted:
    """Extract training and validation features, fit the head; ``env`` is the pipeline's."""
    spec = FeatureSpec(cfg.features.pooling, cfg.features.layer, cfg.train.max_length)
    classifier = FeatureClassifier(env.model, None, spec, model_fingerprint(env.location))
    labels = splits.labels or []
    started = time.perf_counter()
    train = _extract(classifier, env, splits.train, cfg, "train")
    validation = _extract(classifier, env, splits.validation, cfg, "validation")
    extracted = time.perf_counter()
    y_train, y_val = _label_ids(splits.train, labels), _label_ids(splits.validation, labels)
    head = fit_head(
        train.vectors, y_train, len(labels), cfg.features,
        batch_size=cfg.train.batch_size, seed=cfg.train.seed,
    )  # fmt: skip
    classifier.head = head
    runtime = time.perf_counter() - started
    figures = {
        "train_examples": len(splits.train),
        "train_tokens": train.tokens,
        "train_runtime_s": round(runtime, 3),
        "train_tokens_per_s": round(train.tokens / runtime, 2) if runtime else None,
        "final_train_loss": head_loss(head, train.vectors, y_train),
        "final_val_loss": head_loss(head, validation.vectors, y_val) if splits.validation else None,
        "peak_rss_bytes": peak_rss_bytes(),
        "features": {
            "pooling": spec.pooling,
            "layer": spec.layer,
            "head": cfg.features.head,
            "dim": int(train.vectors.shape[1]),
            "extract_s": round(extracted - started, 3),
            "fit_s": round(runtime - (extracted - started), 3),
            "cached": {"train": train.cached, "validation": validation.cached},
        },
    }
    return Fitted(classifier, figures)


def _extract(classifier, env, examples: list[Example], cfg: Config, name: str) -> Features:
    texts = [e.text or "" for e in examples]
    with progress_bar() as bar:
        task = bar.add_task(f"features {name}", total=len(texts), info="")
        return classifier.features(
            env.tokenizer, texts, cfg, env.device, env.dtype,
            on_batch=lambda n: bar.update(task, advance=n),
        )  # fmt: skip


def _label_ids(examples: list[Example], labels: list[str]) -> torch.Tensor:
    index = {label: i for i, label in enumerate(labels)}
    return torch.tensor([index[e.label or ""] for e in examples], dtype=torch.long)


def save(model: FeatureClassifier, tokenizer, directory: Path) -> None:
    """Write the head (safetensors + JSON, with its pooling and layer) and the tokenizer."""
    assert model.head is not None
    spec = model.spec
    description = {"pooling": spec.pooling, "layer": spec.layer, "max_length": spec.max_length}
    save_head(model.head, directory, {"method": "feature_extraction", **description})
    tokenizer.save_pretrained(directory)


def load(location, directory: Path, dtype: torch.dtype, device: torch.device):
    """The frozen base model from ``location`` with the saved head: a ``FeatureClassifier``."""
    head, description = load_head(directory)
    spec = FeatureSpec(description["pooling"], description["layer"], description["max_length"])
    lm = prepare(load_model(location, dtype, device), Config())
    # The head stays on the CPU, where the features land: it is a few matrix rows.
    return FeatureClassifier(lm, head, spec, model_fingerprint(location)).eval()
