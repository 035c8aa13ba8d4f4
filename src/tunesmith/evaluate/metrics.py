"""Scores for one evaluated model and the base-vs-tuned comparison built from them.

Everything returned here is plain Python data (float, int, str, list, dict) so it goes
straight into ``metrics.json``.
"""

from __future__ import annotations

import math

#: Headline numbers compared between base and tuned, per kind of task.
CLASSIFICATION_HEADLINE = ("accuracy", "precision_macro", "recall_macro", "f1_macro")
LM_HEADLINE = ("loss", "perplexity")

#: Metrics where a smaller value means a better model; every other metric is higher-is-better.
LOWER_IS_BETTER = frozenset({"loss", "perplexity"})

# exp(709.78) is the largest double; stop a little short so exp never raises OverflowError.
_MAX_EXP_ARG = 700.0


def classification_metrics(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict:
    """Accuracy, macro and per-class precision/recall/F1 and the confusion matrix.

    ``labels`` fixes the order of ``per_class`` and of the matrix (rows = true label,
    columns = predicted label). Macro averages run over ``labels`` only; a prediction that is
    not one of ``labels`` still counts as wrong in ``accuracy`` but has no matrix column.
    A label that is never predicted gets precision 0 (no warning).
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("no examples to score")
    # Imported here: scikit-learn takes a second to import, and `runs list` never needs it.
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "accuracy": sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true),
        "precision_macro": _mean(precision),
        "recall_macro": _mean(recall),
        "f1_macro": _mean(f1),
        "per_class": per_class,
        "confusion_matrix": [[int(n) for n in row] for row in matrix],
        "labels": list(labels),
    }


def perplexity(mean_loss: float) -> float:
    """exp(mean token loss in nats); ``inf`` once the loss is too large to exponentiate."""
    if mean_loss > _MAX_EXP_ARG:
        return float("inf")
    return float(math.exp(mean_loss))


def comparison_rows(
    metrics: dict,
) -> list[tuple[str, float | None, float | None, float | None]]:
    """(metric key, base, tuned, tuned - base) for the task's headline numbers.

    ``base`` and ``delta`` are None when the base model was not evaluated (or a value is missing).
    """
    base = metrics.get("base") or {}
    tuned = metrics.get("tuned") or {}
    rows = []
    for name in headline_metrics(metrics.get("task")):
        before, after = _number(base.get(name)), _number(tuned.get(name))
        rows.append((name, before, after, _delta(before, after)))
    return rows


def headline_metrics(task: str | None) -> tuple[str, ...]:
    """The metric keys that summarise a run of ``task``."""
    return CLASSIFICATION_HEADLINE if task == "classification" else LM_HEADLINE


def is_improvement(name: str, delta: float | None) -> bool | None:
    """Whether a change of ``delta`` (tuned - base) in metric ``name`` is for the better.

    None when there is no change to judge (no base, or equal values).
    """
    if delta is None or delta == 0:
        return None
    return delta < 0 if name in LOWER_IS_BETTER else delta > 0


def _mean(values) -> float:
    return float(sum(values) / len(values)) if len(values) else 0.0


def _number(value) -> float | None:
    return None if value is None else float(value)


def _delta(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    delta = after - before
    # inf - inf (both perplexities overflowed) says nothing about the change.
    return None if math.isnan(delta) else delta
