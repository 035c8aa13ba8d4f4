"""Prompt and prefix tuning through the backbone-only paths: loss, label scoring, generation.

Each is checked against peft's own ``PeftModel.forward``, which adds the virtual tokens itself.
"""

from __future__ import annotations

import pytest
import torch

from tunesmith.config_io import load_config
from tunesmith.data.encode import encode_examples, prompt_ids
from tunesmith.data.templates import classification_prompt, label_target
from tunesmith.evaluate.classify import label_scores
from tunesmith.methods import get_method
from tunesmith.models.backbone import generate
from tunesmith.models.load import load_model
from tunesmith.train.batches import collate
from tunesmith.train.loss import hidden_states, output_logits, target_loss_sum

CPU = torch.device("cpu")
CASES = [
    ("prompt_tuning", "tiny_model_dir"),
    ("prefix_tuning", "tiny_model_dir"),
    ("prefix_tuning", "tiny_llama_dir"),  # grouped KV heads, rotary positions
    ("prompt_tuning", "tiny_gemma_dir"),  # scaled embeddings, sliding-window layers
    ("prefix_tuning", "tiny_gemma_dir"),  # peft builds Gemma's prefix cache its own way
]
TEXTS = ["good movie", "the plot was very bad and awful", "fine"]
LABELS = ["positive", "negative", "very good film"]  # one, one and three words (+ EOS)


@pytest.fixture
def virtual(request, perturb):
    """(prompt-learning model with non-trivial virtual tokens, its base model)."""
    name, model_fixture = request.param
    model_dir = request.getfixturevalue(model_fixture)
    cfg = load_config(None, [f"method={name}", "prompt.num_virtual_tokens=3"])
    model = get_method(name).prepare(load_model(model_dir, torch.float32, CPU), cfg).eval()
    perturb(model, scale=1.0)
    return model, load_model(model_dir, torch.float32, CPU)


def peft_logits(model, ids: list[int]) -> torch.Tensor:
    """Logits [seq, vocab] of the real tokens from peft's own forward."""
    tensor = torch.tensor([ids])
    logits = model(input_ids=tensor, attention_mask=torch.ones_like(tensor)).logits[0]
    return logits[-len(ids) :]  # prompt tuning returns the virtual positions too


@pytest.mark.parametrize("virtual", CASES, indirect=True)
@torch.no_grad()
def test_backbone_hidden_states_give_peft_forward_logits(virtual):
    model, base = virtual
    rows = [[4, 5, 6, 7, 8], [9, 10, 11]]
    ids = torch.zeros(2, 5, dtype=torch.long)
    mask = torch.zeros(2, 5, dtype=torch.long)
    for r, row in enumerate(rows):  # right padding, as training batches have
        ids[r, : len(row)], mask[r, : len(row)] = torch.tensor(row), 1
    logits = output_logits(model, hidden_states(model, ids, mask))
    for r, row in enumerate(rows):
        torch.testing.assert_close(logits[r, : len(row)], peft_logits(model, row))
    plain = output_logits(base, hidden_states(base, ids, mask))
    assert not torch.allclose(plain[0], logits[0], atol=1e-3)  # the virtual tokens matter


@pytest.mark.parametrize("virtual", CASES, indirect=True)
@torch.no_grad()
def test_cached_label_scores_equal_scoring_each_full_sequence(virtual, tiny_tokenizer):
    model, _ = virtual
    prompts = [classification_prompt(t) for t in TEXTS]
    scores = label_scores(model, tiny_tokenizer, prompts, LABELS, batch_size=2, max_length=64,
                          device=CPU, dtype=torch.float32)  # fmt: skip
    for i, prompt in enumerate(prompts):
        start = prompt_ids(prompt, tiny_tokenizer, 64)
        for j, label in enumerate(LABELS):
            target = tiny_tokenizer(label_target(label, tiny_tokenizer), add_special_tokens=False)
            tokens = target["input_ids"]
            logits = peft_logits(model, start + tokens)
            log_probs = torch.log_softmax(logits[len(start) - 1 : -1], dim=-1)
            expected = log_probs.gather(1, torch.tensor(tokens).unsqueeze(1)).sum()
            assert scores[i, j] == pytest.approx(float(expected), abs=1e-4), (prompt, label)


@pytest.mark.parametrize("virtual", CASES, indirect=True)
@torch.no_grad()
def test_generation_follows_greedy_peft_forward(virtual):
    model, _ = virtual
    ids = [4, 5, 6, 7]
    tensor = torch.tensor([ids])
    new = generate(model, tensor, torch.ones_like(tensor), max_new_tokens=4, do_sample=False,
                   pad_token_id=0, eos_token_id=None)  # fmt: skip
    greedy = list(ids)
    for _ in range(4):
        greedy.append(int(peft_logits(model, greedy)[-1].argmax()))
    assert new[0].tolist() == greedy[len(ids) :]


@pytest.mark.parametrize("virtual", CASES, indirect=True)
def test_a_training_step_lowers_the_loss_of_its_batch(virtual, tiny_tokenizer, sentiment_examples):
    model, _ = virtual
    items = encode_examples(sentiment_examples(8), tiny_tokenizer, 48)
    batch = collate(items, tiny_tokenizer.pad_token_id, CPU)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=1e-2)
    before = [p.detach().clone() for p in trainable]
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        total, n = target_loss_sum(model, chunk=4, **batch)  # chunked: the checkpointed path
        (total / n).backward()
        optimizer.step()
        losses.append(float(total / n))
    assert losses[1] < losses[0]
    assert all(not torch.equal(a, p) for a, p in zip(before, trainable, strict=True))
