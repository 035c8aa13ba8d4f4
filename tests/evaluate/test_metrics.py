"""Classification metrics against hand-computed values, perplexity and base-vs-tuned rows."""

import json
import math
import warnings

import pytest

from tunesmith.evaluate.metrics import (
    classification_metrics,
    comparison_rows,
    is_improvement,
    perplexity,
)

LABELS = ["a", "b", "c"]
# Per true label: a -> a, b; b -> b, b; c -> a, a. "c" is never predicted.
Y_TRUE = ["a", "a", "b", "b", "c", "c"]
Y_PRED = ["a", "b", "b", "b", "a", "a"]


@pytest.fixture
def scores():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a never-predicted label must not warn
        return classification_metrics(Y_TRUE, Y_PRED, LABELS)


def test_headline_numbers_match_hand_computation(scores):
    assert scores["accuracy"] == pytest.approx(3 / 6)
    assert scores["precision_macro"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert scores["recall_macro"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert scores["f1_macro"] == pytest.approx((0.4 + 0.8 + 0) / 3)


def test_per_class_values_and_never_predicted_label(scores):
    a, b, c = (scores["per_class"][label] for label in LABELS)
    assert a == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "support": 2})
    assert b == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert c == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}


def test_confusion_matrix_rows_are_true_labels(scores):
    assert scores["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [2, 0, 0]]
    assert scores["labels"] == LABELS


def test_result_is_plain_json_data(scores):
    assert json.loads(json.dumps(scores)) == scores
    assert type(scores["accuracy"]) is float
    assert type(scores["per_class"]["a"]["support"]) is int
    assert all(type(n) is int for row in scores["confusion_matrix"] for n in row)


def test_prediction_outside_labels_counts_as_wrong():
    scores = classification_metrics(["a", "b"], ["a", "maybe"], ["a", "b"])
    assert scores["accuracy"] == 0.5
    assert scores["per_class"]["b"]["recall"] == 0.0
    assert scores["confusion_matrix"] == [[1, 0], [0, 0]]


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="predictions"):
        classification_metrics(["a"], [], ["a"])


def test_perplexity_is_exp_and_caps_to_inf():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(12.5)) == pytest.approx(12.5)
    assert perplexity(750.0) == float("inf")
    assert math.isfinite(perplexity(699.0))


def test_comparison_rows_classification_deltas():
    metrics = {
        "task": "classification",
        "base": {"accuracy": 0.5, "precision_macro": 0.4, "recall_macro": 0.3, "f1_macro": 0.441},
        "tuned": {"accuracy": 0.9, "precision_macro": 0.8, "recall_macro": 0.9, "f1_macro": 0.912},
    }
    rows = comparison_rows(metrics)
    assert [r[0] for r in rows] == ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
    assert rows[3][1:3] == (0.441, 0.912)
    assert rows[3][3] == pytest.approx(0.471)


def test_comparison_rows_language_model_and_missing_base():
    metrics = {"task": "text", "base": None, "tuned": {"loss": 2.0, "perplexity": 7.389}}
    assert comparison_rows(metrics) == [
        ("loss", None, 2.0, None),
        ("perplexity", None, 7.389, None),
    ]


def test_overflowed_perplexities_give_no_delta():
    metrics = {"task": "chat", "base": {"perplexity": math.inf}, "tuned": {"perplexity": math.inf}}
    assert comparison_rows(metrics)[1] == ("perplexity", math.inf, math.inf, None)


@pytest.mark.parametrize(
    ("name", "delta", "expected"),
    [
        ("f1_macro", 0.2, True),
        ("f1_macro", -0.2, False),
        ("loss", -0.5, True),
        ("perplexity", 3.0, False),
        ("accuracy", 0.0, None),
        ("loss", None, None),
    ],
)
def test_improvement_direction(name, delta, expected):
    assert is_improvement(name, delta) is expected
