"""Every method saves to RUN/final/ as safetensors and loads back to the same predictions;
LoRA and DoRA adapters merge into plain weights without changing the outputs."""

from __future__ import annotations

import pytest
import torch

from tunesmith.config_io import load_config
from tunesmith.evaluate.run import predict_labels
from tunesmith.methods import get_method
from tunesmith.models.load import load_model

CPU = torch.device("cpu")
LABELS = ["negative", "positive"]
TEXTS = ["good great movie", "awful bad plot", "the film was fine", "poor"]
METHODS = [
    ("lora", []),
    ("dora", []),
    ("full", []),
    ("freeze", ["layers.train_top=1"]),
    ("gradual_unfreeze", []),
    ("prompt_tuning", ["prompt.num_virtual_tokens=3"]),
    ("prefix_tuning", ["prompt.num_virtual_tokens=3"]),
    ("cls_head", []),
    ("cls_head", ["cls_head.train=full"]),
]


def fresh(model_dir, tokenizer, name: str, overrides: list[str]):
    """(config, method, prepared model) on the tiny model."""
    cfg = load_config(None, [f"method={name}", "lora.dropout=0", *overrides])
    method = get_method(name)
    if hasattr(method, "load_base"):
        base = method.load_base(model_dir, torch.float32, CPU, tokenizer, LABELS)
    else:
        base = load_model(model_dir, torch.float32, CPU)
    return cfg, method, method.prepare(base, cfg).eval()


@pytest.mark.parametrize(("name", "overrides"), METHODS)
def test_save_then_load_gives_identical_predictions(
    name, overrides, tiny_model_dir, tiny_tokenizer, perturb, tmp_path
):
    cfg, method, model = fresh(tiny_model_dir, tiny_tokenizer, name, overrides)
    perturb(model)

    def predictions(m):
        return predict_labels(m, tiny_tokenizer, TEXTS, LABELS, cfg, CPU, torch.float32)

    labels, scores = predictions(model)
    final = tmp_path / "final"
    method.save(model, tiny_tokenizer, final)
    saved = {p.name for p in final.iterdir()}
    assert saved & {"model.safetensors", "adapter_model.safetensors"}
    assert not {p for p in saved if p.endswith((".bin", ".pt", ".pkl"))}

    loaded = method.load(tiny_model_dir, final, method.frozen_dtype(torch.float32), CPU)
    again_labels, again = predictions(loaded)
    assert again_labels == labels
    torch.testing.assert_close(again, scores, rtol=0, atol=1e-5)
    _, untuned = predictions(fresh(tiny_model_dir, tiny_tokenizer, name, overrides)[2])
    assert not torch.allclose(untuned, scores, atol=1e-3)  # the trained weights were saved


@pytest.mark.parametrize("name", ["lora", "dora"])
@pytest.mark.parametrize("model_fixture", ["tiny_model_dir", "tiny_llama_dir"])
@torch.no_grad()
def test_merged_adapters_give_the_unmerged_outputs(name, model_fixture, request, perturb):
    model_dir = request.getfixturevalue(model_fixture)
    cfg = load_config(None, [f"method={name}", "lora.dropout=0"])
    method = get_method(name)
    model = method.prepare(load_model(model_dir, torch.float32, CPU), cfg).eval()
    perturb(model)
    ids = torch.tensor([[4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4]])
    base = load_model(model_dir, torch.float32, CPU)(ids).logits
    adapted = model(input_ids=ids).logits
    merged_model = method.merge(model)
    assert not any("lora" in n for n, _ in merged_model.named_parameters())
    merged = merged_model(input_ids=ids).logits
    assert not torch.allclose(adapted, base, atol=1e-3)
    torch.testing.assert_close(merged, adapted, atol=1e-5, rtol=1e-5)
