"""target_loss_sum against cross-entropy over the model's own full logits, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunesmith.config import Config
from tunesmith.data.encode import IGNORE, encode_examples
from tunesmith.data.examples import Example, Message
from tunesmith.methods import lora
from tunesmith.train.batches import collate
from tunesmith.train.loss import target_loss_sum

CPU = torch.device("cpu")


@pytest.fixture
def batch(tiny_tokenizer):
    """Right-padded rows of different lengths and tasks, so padding and spans both matter."""
    examples = [
        Example("classification", text="the movie was good", label="positive"),
        Example("classification", text="bad", label="negative"),
        Example("text", text="the film was very poor and the actor was awful"),
        Example(
            "chat",
            messages=(
                Message("user", "good movie"),
                Message("assistant", "great film"),
                Message("user", "bad plot"),
                Message("assistant", "awful actor"),
            ),
        ),
    ]
    encoded = encode_examples(examples, tiny_tokenizer, 64)
    return collate(encoded, tiny_tokenizer.pad_token_id, CPU)


def reference_loss(model, batch) -> torch.Tensor:
    """Summed next-token cross-entropy from the full HF logits."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(),
        batch["labels"][:, 1:].flatten(),
        ignore_index=IGNORE,
        reduction="sum",
    )


def grads(model, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def randomise_lora_b(model) -> None:
    """Fresh adapters add nothing (B = 0); make them count so the check means something."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)


def autograd_target_loss(model, batch) -> torch.Tensor:
    """The loss through our own (soft-capped) logits with plain autograd: HF's GPT-2 has no cap."""
    from tunesmith.train.loss import _chunked_loss, hidden_states

    hidden = hidden_states(model, batch["input_ids"], batch["attention_mask"])
    keep = batch["labels"][:, 1:] != IGNORE
    return _chunked_loss(model, hidden[:, :-1][keep], batch["labels"][:, 1:][keep], 512)


def test_padding_is_present_in_the_batch(batch):
    mask = batch["attention_mask"]
    assert (mask.sum(dim=1) < mask.shape[1]).any()
    assert ((batch["labels"] != IGNORE) <= mask.bool()).all()  # no target on padding


@pytest.mark.parametrize("chunk", [1, 3, 512])
def test_loss_and_gradients_match_full_logits(tiny_model, batch, chunk):
    tiny_model.train()
    ours, count = target_loss_sum(tiny_model, chunk=chunk, **batch)
    assert count == int((batch["labels"][:, 1:] != IGNORE).sum())
    assert count > 10
    ref = reference_loss(tiny_model, batch)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    ours_grads, ref_grads = grads(tiny_model, ours), grads(tiny_model, ref)
    assert ours_grads.keys() == ref_grads.keys()
    for name, g in ref_grads.items():
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(ours_grads[name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_chunking_does_not_change_the_value(tiny_model, batch):
    with torch.no_grad():  # the path evaluation takes: no checkpointing
        values = [float(target_loss_sum(tiny_model, chunk=c, **batch)[0]) for c in (1, 3, 512)]
        ref = float(reference_loss(tiny_model, batch))
    assert values == pytest.approx([ref] * 3, rel=1e-5)


def lora_grads_against_full_logits(model, batch, **lora_options) -> dict[str, torch.Tensor]:
    """Adapt ``model`` (no dropout, non-zero B); check loss and grads against HF's logits."""
    cfg = Config()
    cfg.lora.dropout = 0.0  # dropout would make the two forward passes differ
    for key, value in lora_options.items():
        setattr(cfg.lora, key, value)
    model = lora.prepare(model, cfg)
    randomise_lora_b(model)
    model.train()
    ours, _ = target_loss_sum(model, chunk=3, **batch)
    ref = reference_loss(model, batch)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    ours_grads, ref_grads = grads(model, ours), grads(model, ref)
    assert ours_grads.keys() == ref_grads.keys()
    for name, g in ref_grads.items():
        torch.testing.assert_close(ours_grads[name], g, rtol=1e-4, atol=1e-6, msg=name)
    return ours_grads


def test_matches_full_logits_on_a_lora_model(tiny_model, batch):
    trained = lora_grads_against_full_logits(tiny_model, batch)
    assert trained and all("lora_" in name for name in trained)


def test_no_targets_gives_zero(tiny_model, batch):
    labels = torch.full_like(batch["labels"], IGNORE)
    total, count = target_loss_sum(tiny_model, chunk=4, **{**batch, "labels": labels})
    assert count == 0 and float(total) == 0.0


def test_fused_gradients_follow_logit_softcapping(tiny_model, batch, monkeypatch):
    """With soft-capping the fused gradient carries tanh's derivative; autograd is the judge."""
    # A small cap, so that capping changes the tiny model's logits a lot.
    monkeypatch.setattr(tiny_model.config, "final_logit_softcapping", 0.3, raising=False)
    tiny_model.train()
    fused, _ = target_loss_sum(tiny_model, chunk=3, **batch)
    fused_grads = grads(tiny_model, fused)

    plain = autograd_target_loss(tiny_model, batch)
    assert fused.item() == pytest.approx(plain.item(), rel=1e-5)
    assert fused.item() != pytest.approx(reference_loss(tiny_model, batch).item(), rel=1e-2)
    for name, g in grads(tiny_model, plain).items():
        torch.testing.assert_close(fused_grads[name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_adapter_on_the_output_layer_takes_the_general_path(tiny_model, batch):
    """peft wraps an adapted lm_head in its own module: the fused path must not skip its grads."""
    trained = lora_grads_against_full_logits(
        tiny_model, batch, target_modules=["c_attn", "lm_head"]
    )
    assert any("lm_head" in name for name in trained)


def test_online_softmax_over_vocabulary_blocks_matches_full_logits(tiny_model, batch, monkeypatch):
    """A frozen output layer takes the blockwise path: blocks of 5 rows, the last one partial,
    over chunks of 4 positions."""
    from tunesmith.train import loss as loss_module

    monkeypatch.setattr(loss_module, "VOCAB_BLOCK", 5)
    monkeypatch.setattr(loss_module, "ONLINE_CHUNK", 4)
    assert tiny_model.config.vocab_size % 5
    lora_grads_against_full_logits(tiny_model, batch)


def test_online_softmax_follows_logit_softcapping(tiny_model, batch, monkeypatch):
    """HF's GPT-2 ignores a cap, so autograd through our own capped logits is the judge."""
    from tunesmith.train import loss as loss_module

    monkeypatch.setattr(loss_module, "VOCAB_BLOCK", 5)
    monkeypatch.setattr(tiny_model.config, "final_logit_softcapping", 0.3, raising=False)
    cfg = Config()
    cfg.lora.dropout = 0.0
    model = lora.prepare(tiny_model, cfg)
    randomise_lora_b(model)
    fused, _ = target_loss_sum(model, chunk=5, **batch)
    fused_grads = grads(model, fused)
    plain = autograd_target_loss(model, batch)
    assert fused.item() == pytest.approx(plain.item(), rel=1e-5)
    for name, g in grads(model, plain).items():
        torch.testing.assert_close(fused_grads[name], g, rtol=1e-4, atol=1e-6, msg=name)


def fused_hidden_grad(hidden, weight, targets, grad_filter):
    """(loss, d loss / d hidden) of the fused output layer with a frozen weight."""
    from tunesmith.train.loss import _FusedLinearCrossEntropy

    hidden = hidden.clone().requires_grad_(True)
    loss = _FusedLinearCrossEntropy.apply(hidden, weight, targets, 16, None, grad_filter)
    loss.backward()
    return loss.detach(), hidden.grad


def test_gradient_filter_keeps_the_loss_and_bounds_the_gradient_change(monkeypatch):
    """Filtering only drops rows whose probability is below the filter everywhere in the chunk:
    the loss is unchanged and each hidden gradient moves by at most (dropped mass) x max |row|."""
    from tunesmith.train import loss as loss_module

    monkeypatch.setattr(loss_module, "VOCAB_BLOCK", 64)
    torch.manual_seed(0)
    vocab, width, n = 1000, 32, 40
    weight = torch.randn(vocab, width) * 0.5
    hidden, targets = torch.randn(n, width), torch.randint(0, vocab, (n,))
    exact_loss, exact = fused_hidden_grad(hidden, weight, targets, 0.0)
    autograd_hidden = hidden.clone().requires_grad_(True)
    ref = F.cross_entropy(autograd_hidden @ weight.t(), targets, reduction="sum")
    ref.backward()
    assert exact_loss.item() == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(exact, autograd_hidden.grad, rtol=1e-4, atol=1e-6)

    probs = (hidden @ weight.t()).softmax(-1)
    eps = 1e-3
    filtered_loss, filtered = fused_hidden_grad(hidden, weight, targets, eps)
    assert filtered_loss.item() == exact_loss.item()
    change = (filtered - exact).norm(dim=1)
    dropped_mass = (probs * (probs < eps)).sum(dim=1)  # at most what a row can lose
    assert change.max() > 0  # the filter did drop something
    assert (change <= dropped_mass * weight.norm(dim=1).max() + 1e-5).all()
    assert (change / exact.norm(dim=1)).mean() < 0.05
