"""Layer-wise learning-rate decay: every optimizer group carries exactly the right rate."""

from __future__ import annotations

import pytest
import torch

from tunesmith.config_io import load_config
from tunesmith.errors import TunesmithError
from tunesmith.methods import get_method
from tunesmith.models.load import load_model
from tunesmith.train.loop import build_optimizer, learning_rate_scales

CPU = torch.device("cpu")
LR = 1e-3


def optimizer_rates(model_dir, method: str, *overrides: str) -> dict[str, float]:
    """Learning rate of every parameter the optimizer holds, by name."""
    cfg = load_config(None, [f"method={method}", f"train.learning_rate={LR}", *overrides])
    model = get_method(method).prepare(load_model(model_dir, torch.float32, CPU), cfg)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optimizer, _ = build_optimizer(params, cfg, 10, learning_rate_scales(model, cfg))
    names = {id(p): n for n, p in params.items()}
    rates = {names[id(p)]: g["initial_lr"] for g in optimizer.param_groups for p in g["params"]}
    assert len(rates) == len(params)  # each parameter in exactly one group
    return rates


def expected_llama(name: str, decay: float) -> float:
    """Top block (2), norm and head: LR; each block down x decay; embeddings below block 0."""
    if name.startswith("model.layers."):
        return LR * decay ** (2 - int(name.split(".")[2]))
    if name.startswith("model.embed_tokens."):
        return LR * decay**3
    return LR


@pytest.mark.parametrize("decay", [0.5, 0.8])
def test_full_fine_tuning_groups_carry_the_decayed_rates(decay, tiny_llama_dir):
    rates = optimizer_rates(tiny_llama_dir, "full", f"layers.lr_decay={decay}")
    assert rates == {name: pytest.approx(expected_llama(name, decay)) for name in rates}
    assert len({round(r, 12) for r in rates.values()}) == 4  # top+norm+head, 2 blocks, embeddings


def test_gpt2_position_and_token_embeddings_get_the_lowest_rate(tiny_model_dir):
    rates = optimizer_rates(tiny_model_dir, "full", "layers.lr_decay=0.5")
    assert rates["transformer.wte.weight"] == rates["transformer.wpe.weight"] == LR / 4
    assert rates["transformer.h.0.attn.c_attn.weight"] == LR / 2
    assert rates["transformer.h.1.attn.c_attn.weight"] == LR
    assert rates["transformer.ln_f.weight"] == LR


def test_freeze_keeps_only_trained_parameters_with_their_rates(tiny_llama_dir):
    rates = optimizer_rates(
        tiny_llama_dir, "freeze", "layers.lr_decay=0.5", "layers.train_top=2",
        "layers.train_norm=false",
    )  # fmt: skip
    blocks = {name.split(".")[2] for name in rates}
    assert blocks == {"1", "2"}
    assert rates == {name: pytest.approx(expected_llama(name, 0.5)) for name in rates}


def test_gradual_unfreeze_holds_every_block_from_the_start(tiny_llama_dir):
    rates = optimizer_rates(tiny_llama_dir, "gradual_unfreeze", "layers.lr_decay=0.5")
    assert {name.split(".")[2] for name in rates if "layers" in name} == {"0", "1", "2"}
    assert rates == {name: pytest.approx(expected_llama(name, 0.5)) for name in rates}


def test_without_decay_one_group_at_the_learning_rate(tiny_llama_dir):
    cfg = load_config(None, ["method=full", f"train.learning_rate={LR}"])
    model = load_model(tiny_llama_dir, torch.float32, CPU)
    params = dict(model.named_parameters())
    optimizer, scheduler = build_optimizer(params, cfg, 10, learning_rate_scales(model, cfg))
    assert [g["initial_lr"] for g in optimizer.param_groups] == [LR]


def test_the_logged_rate_is_the_top_groups(tiny_llama_dir):
    cfg = load_config(
        None, ["method=full", f"train.learning_rate={LR}", "layers.lr_decay=0.5",
               "train.warmup_ratio=0", "train.lr_schedule=constant"],
    )  # fmt: skip
    model = load_model(tiny_llama_dir, torch.float32, CPU)
    params = dict(model.named_parameters())
    _, scheduler = build_optimizer(params, cfg, 10, learning_rate_scales(model, cfg))
    assert scheduler.get_last_lr()[0] == LR


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["method=lora", "layers.lr_decay=0.9"], "works with method full, freeze, gradual"),
        (["method=full", "layers.lr_decay=1.5"], "layers.lr_decay must be in (0, 1]"),
        (["method=full", "layers.lr_decay=0"], "layers.lr_decay must be in (0, 1]"),
    ],
)
def test_bad_decay_settings_are_one_line_errors(overrides, fragment):
    with pytest.raises(TunesmithError) as error:
        load_config(None, overrides)
    assert fragment in str(error.value) and "\n" not in str(error.value)
