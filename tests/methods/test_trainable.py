"""Exactly the expected parameters train, for every method and option (table-driven)."""

from __future__ import annotations

import re

import pytest
import torch

from tunesmith.config_io import load_config
from tunesmith.methods import get_method
from tunesmith.methods.layers import find_layers
from tunesmith.models.load import load_model, load_tokenizer

CPU = torch.device("cpu")
BLOCK1, NORM = r"transformer\.h\.1\..*", r"transformer\.ln_f\..*"
ADAPTERS = r".*\.lora_[AB]\.default\.weight"

# (method, overrides, regex every trainable name matches and every other name doesn't)
CASES = [
    ("full", [], r".*"),
    ("freeze", ["layers.train_top=1"], f"{BLOCK1}|{NORM}"),
    ("freeze", ["layers.train_top=1", "layers.train_norm=false"], BLOCK1),
    ("freeze", ["layers.train_top=2"], rf"transformer\.h\..*|{NORM}"),
    # embeddings sit below the lowest block: they train only once every block does
    ("freeze", ["layers.train_top=1", "layers.train_embeddings=true"], f"{BLOCK1}|{NORM}"),
    ("freeze", ["layers.train_top=9", "layers.train_embeddings=true"], r".*"),
    # GPT-2 ties the output layer to the token embeddings: training the head trains both
    ("freeze", ["layers.train_top=1", "layers.train_head=true"], rf"{BLOCK1}|{NORM}|.*wte.*"),
    ("gradual_unfreeze", [], rf"transformer\.h\..*|{NORM}"),  # all that will ever train
    ("lora", [], ADAPTERS),
    ("dora", [], rf"{ADAPTERS}|.*\.lora_magnitude_vector\.default\.weight"),
    ("prompt_tuning", [], r"prompt_encoder\.default\.embedding\.weight"),
    ("prefix_tuning", [], r"prompt_encoder\.default\.embedding\.weight"),
    ("prefix_tuning", ["prompt.prefix_projection=true"], r"prompt_encoder\.default\..*"),
    ("cls_head", [], rf"{ADAPTERS}|.*score\.modules_to_save\.default\.weight"),
    ("cls_head", ["cls_head.train=full"], r".*"),
]


def prepared(model_dir, method_name: str, overrides: list[str]):
    cfg = load_config(None, [f"method={method_name}", "prompt.num_virtual_tokens=4", *overrides])
    method = get_method(method_name)
    if hasattr(method, "load_base"):
        base = method.load_base(
            model_dir, torch.float32, CPU, load_tokenizer(model_dir), ["negative", "positive"]
        )
    else:
        base = load_model(model_dir, torch.float32, CPU)
    return method.prepare(base, cfg)


@pytest.mark.parametrize(("method", "overrides", "pattern"), CASES)
def test_exactly_the_expected_parameters_train(method, overrides, pattern, tiny_model_dir):
    model = prepared(tiny_model_dir, method, overrides)
    names = [n for n, _ in model.named_parameters()]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {n for n in names if re.fullmatch(pattern, n)}
    assert trainable, "nothing trains"
    assert trainable == expected
    assert len(trainable) < len(names) or pattern == r".*"


def test_layers_are_found_in_a_llama_style_model(tiny_llama_dir):
    model = load_model(tiny_llama_dir, torch.float32, CPU)
    layers = find_layers(model)
    assert [sorted({n.split(".")[2] for n in block}) for block in layers.blocks] == [
        ["0"],
        ["1"],
        ["2"],
    ]
    assert list(layers.embeddings) == ["model.embed_tokens.weight"]
    assert list(layers.norm) == ["model.norm.weight"]
    assert list(layers.head) == ["lm_head.weight"]  # untied here: a head of its own


def test_freeze_on_a_llama_style_model_trains_the_top_block_and_head(tiny_llama_dir):
    model = prepared(tiny_llama_dir, "freeze", ["layers.train_top=1", "layers.train_head=true"])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {
        n
        for n, _ in model.named_parameters()
        if n.startswith(("model.layers.2.", "model.norm.", "lm_head."))
    }
    assert trainable == expected
