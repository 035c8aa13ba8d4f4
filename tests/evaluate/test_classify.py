"""label_scores (left padding, a shared prompt cache) against naive one-row-at-a-time scoring."""

from __future__ import annotations

import pytest
import torch

from tunesmith.config import Config
from tunesmith.data.encode import prompt_ids
from tunesmith.data.templates import classification_prompt, label_target
from tunesmith.evaluate.classify import label_scores
from tunesmith.methods import lora

CPU = torch.device("cpu")
# 1, 2 and 4 words (+ EOS): labels of different token lengths share one continuation batch.
LABELS = ["good", "very bad", "the movie was great"]
TEXTS = [
    "good",
    "the film was very poor",
    "bad plot",
    "the actor was not fine at all really",
    "very good bad a",
]


@torch.no_grad()
def naive_scores(model, tok, prompts: list[str], labels: list[str], budget: int) -> torch.Tensor:
    """Sum of log-softmax at the label positions of prompt + label, one unpadded row at a time."""
    rows = []
    for prompt in prompts:
        p = prompt_ids(prompt, tok, budget)
        row = []
        for label in labels:
            y = tok(label_target(label, tok), add_special_tokens=False)["input_ids"]
            logits = model(input_ids=torch.tensor([p + y])).logits[0].float()
            logp = torch.log_softmax(logits[len(p) - 1 : -1], dim=-1)
            row.append(logp[torch.arange(len(y)), torch.tensor(y)].sum())
        rows.append(torch.stack(row))
    return torch.stack(rows)


def scores(model, tok, prompts, batch_size: int, max_length: int = 64) -> torch.Tensor:
    return label_scores(
        model,
        tok,
        prompts,
        LABELS,
        batch_size=batch_size,
        max_length=max_length,
        device=CPU,
        dtype=torch.float32,
    )


def test_labels_have_different_token_lengths(tiny_tokenizer):
    lengths = [len(tiny_tokenizer(label_target(y, tiny_tokenizer))["input_ids"]) for y in LABELS]
    assert lengths == [2, 3, 5]
    prompt_lengths = {len(prompt_ids(classification_prompt(t), tiny_tokenizer, 99)) for t in TEXTS}
    assert len(prompt_lengths) == len(TEXTS)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_matches_naive_scoring(tiny_model, tiny_tokenizer, batch_size):
    prompts = [classification_prompt(t) for t in TEXTS]
    got = scores(tiny_model, tiny_tokenizer, prompts, batch_size)
    want = naive_scores(tiny_model, tiny_tokenizer, prompts, LABELS, 64)
    assert got.shape == (len(TEXTS), len(LABELS))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)
    assert (got < 0).all()


def test_long_prompts_are_cut_to_fit_the_longest_label(tiny_model, tiny_tokenizer):
    prompts = [classification_prompt(" ".join(["good", "bad", "plot"] * 10)), "Text: a\nLabel:"]
    got = scores(tiny_model, tiny_tokenizer, prompts, batch_size=2, max_length=16)
    want = naive_scores(tiny_model, tiny_tokenizer, prompts, LABELS, 16 - 5)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)


def test_matches_naive_scoring_on_a_lora_model(tiny_model, tiny_tokenizer):
    model = lora.prepare(tiny_model, Config())
    torch.manual_seed(1)
    with torch.no_grad():  # fresh adapters add nothing (B = 0); make them count
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    model.eval()
    prompts = [classification_prompt(t) for t in TEXTS]
    got = scores(model, tiny_tokenizer, prompts, batch_size=3)
    want = naive_scores(model, tiny_tokenizer, prompts, LABELS, 64)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)
    with model.disable_adapter():
        base = naive_scores(model, tiny_tokenizer, prompts, LABELS, 64)
    assert (got - base).abs().max() > 1e-2  # the adapters were really in the scores


def test_restores_training_mode_and_handles_no_prompts(tiny_model, tiny_tokenizer):
    tiny_model.train()
    assert scores(tiny_model, tiny_tokenizer, [], batch_size=2).shape == (0, len(LABELS))
    scores(tiny_model, tiny_tokenizer, ["Text: good\nLabel:"], batch_size=2)
    assert tiny_model.training
