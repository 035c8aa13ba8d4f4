"""Methods under bf16 compute: what each keeps in which dtype, and that training moves it.

The CPU here has no native bf16, so bf16 runs emulated (slow) — fine on the tiny model, and it is
the path every AVX512-BF16/AMX CPU and every recent GPU takes.
"""

from __future__ import annotations

import pytest
import torch

from tunesmith.config_io import load_config
from tunesmith.data.encode import encode_examples
from tunesmith.methods import get_method
from tunesmith.models.load import load_model
from tunesmith.train.loop import train
from tunesmith.train.monitor import RunLog

CPU = torch.device("cpu")
BF16 = torch.bfloat16


def _trainable(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(
    ("name", "frozen", "trainable"),
    [("lora", BF16, torch.float32), ("full", torch.float32, torch.float32)],
)
def test_bf16_training_keeps_master_weights_in_fp32(
    name, frozen, trainable, tiny_model_dir, tiny_tokenizer, sentiment_examples, tmp_path
):
    cfg = load_config(None, [f"method={name}", "train.max_steps=3", "train.batch_size=4"])
    method = get_method(name)
    assert method.frozen_dtype(BF16) == frozen
    model = method.prepare(load_model(tiny_model_dir, method.frozen_dtype(BF16), CPU), cfg)
    before = _trainable(model)
    assert before and all(t.dtype == trainable for t in before.values())
    frozen_params = [p for p in model.parameters() if not p.requires_grad]
    assert all(p.dtype == frozen for p in frozen_params)

    items = encode_examples(sentiment_examples(8), tiny_tokenizer, 64)
    log = RunLog(tmp_path / "log.jsonl")
    result = train(model, items, [], cfg, pad_id=0, device=CPU, dtype=BF16, log=log)
    log.close()

    assert all(torch.isfinite(torch.tensor(result.losses)))
    after = _trainable(model)
    assert any(not torch.equal(before[n], after[n]) for n in before)  # training moved them
    assert all(t.dtype == trainable for t in after.values())  # and kept them in fp32


def test_merged_lora_gives_the_outputs_of_the_adapter(tiny_model_dir):
    cfg = load_config(None, ["lora.dropout=0"])
    lora = get_method("lora")
    model = lora.prepare(load_model(tiny_model_dir, torch.float32, CPU), cfg)
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.5)  # fresh adapters are zero: make the update visible
    ids = torch.tensor([[4, 5, 6, 7, 8, 9]])
    with torch.no_grad():
        base = load_model(tiny_model_dir, torch.float32, CPU)(ids).logits
        adapted = model(input_ids=ids).logits
        merged = lora.merge(model)(ids).logits
    assert not torch.allclose(adapted, base, atol=1e-3)
    torch.testing.assert_close(merged, adapted, atol=1e-5, rtol=1e-5)
