"""The classification-head method: encoding, its cross-entropy, its scores, its task check."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunesmith.config_io import load_config
from tunesmith.data.encode import IGNORE
from tunesmith.data.templates import classification_prompt
from tunesmith.errors import TunesmithError
from tunesmith.methods import check_method, cls_head
from tunesmith.train.batches import collate

CPU = torch.device("cpu")
LABELS = ["negative", "positive"]


@pytest.fixture
def head_model(tiny_model_dir, tiny_tokenizer):
    return cls_head.load_base(tiny_model_dir, torch.float32, CPU, tiny_tokenizer, LABELS)


def test_examples_encode_as_the_prompt_with_the_class_on_the_last_token(
    tiny_tokenizer, sentiment_examples
):
    examples = sentiment_examples(4)
    items = cls_head.encode(examples, tiny_tokenizer, 64, LABELS)
    for example, item in zip(examples, items, strict=True):
        prompt = tiny_tokenizer(classification_prompt(example.text), add_special_tokens=False)
        assert item.input_ids[-len(prompt["input_ids"]) :] == prompt["input_ids"]  # no label
        assert item.labels[:-1] == [IGNORE] * (len(item.labels) - 1)
        assert item.labels[-1] == LABELS.index(example.label)


def test_loss_is_the_heads_summed_cross_entropy(head_model, tiny_tokenizer, sentiment_examples):
    items = cls_head.encode(sentiment_examples(6), tiny_tokenizer, 64, LABELS)
    batch = collate(items, tiny_tokenizer.pad_token_id, CPU)
    total, n = cls_head.loss(head_model, chunk=512, **batch)
    assert n == 6
    logits = torch.stack([
        head_model(input_ids=torch.tensor([item.input_ids])).logits[0] for item in items
    ])  # fmt: skip
    targets = torch.tensor([item.labels[-1] for item in items])
    expected = F.cross_entropy(logits, targets, reduction="sum")
    assert float(total) == pytest.approx(float(expected), rel=1e-5)  # padding changes nothing


def test_label_scores_are_the_heads_log_probabilities(head_model, tiny_tokenizer):
    texts = ["good movie", "the plot was awful and bad"]
    scores = cls_head.label_scores(head_model, tiny_tokenizer, texts, LABELS, batch_size=2,
                                   max_length=64, device=CPU, dtype=torch.float32)  # fmt: skip
    assert scores.shape == (2, 2)
    torch.testing.assert_close(scores.exp().sum(dim=1), torch.ones(2))
    for row, text in enumerate(texts):
        ids = tiny_tokenizer(classification_prompt(text), add_special_tokens=False)["input_ids"]
        logits = head_model(input_ids=torch.tensor([ids])).logits[0]
        torch.testing.assert_close(scores[row], torch.log_softmax(logits, dim=-1))


def test_label_scores_refuse_another_label_set(head_model, tiny_tokenizer):
    with pytest.raises(TunesmithError, match="head has 2 outputs but 3 labels"):
        cls_head.label_scores(
            head_model, tiny_tokenizer, ["good"], ["a", "b", "c"],
            batch_size=2, max_length=64, device=CPU, dtype=torch.float32,
        )  # fmt: skip


@pytest.mark.parametrize("task", ["text", "instruction", "chat"])
def test_cls_head_on_another_task_is_a_one_line_error(task):
    cfg = load_config(None, ["method=cls_head"])
    with pytest.raises(TunesmithError) as error:
        check_method(cfg, task)
    message = str(error.value)
    assert "cls_head works only for the classification task" in message and task in message
    assert "\n" not in message
    check_method(cfg, "classification")  # fits
