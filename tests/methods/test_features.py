"""Feature extraction: batching and sorting don't change a text's vector; the pooling rules;
the cache returns the very vectors it stored."""

from __future__ import annotations

import pytest
import torch

from tunesmith.methods.features import (
    FeatureSpec,
    cached_features,
    extract_features,
    model_fingerprint,
)
from tunesmith.train.loss import unwrap

CPU = torch.device("cpu")
PROMPTS = ["Text: good\nLabel:", "Text: the movie was very bad and the plot poor\nLabel:", "a"]


def extract(model, tokenizer, prompts, spec, batch_size=8):
    return extract_features(
        model, tokenizer, prompts, spec, batch_size=batch_size, device=CPU, dtype=torch.float32
    )


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_a_vector_does_not_depend_on_its_batch(tiny_model, tiny_tokenizer, pooling):
    spec = FeatureSpec(pooling, -1, 64)
    together = extract(tiny_model, tiny_tokenizer, PROMPTS, spec).vectors
    for i, prompt in enumerate(PROMPTS):
        alone = extract(tiny_model, tiny_tokenizer, [prompt], spec).vectors[0]
        assert torch.allclose(together[i], alone, atol=1e-5)
    assert together.shape == (3, 64) and together.dtype == torch.float32


def test_pooling_rules(tiny_model, tiny_tokenizer):
    ids = tiny_tokenizer(PROMPTS[1], add_special_tokens=False)["input_ids"]
    if tiny_tokenizer("a")["input_ids"][0] == tiny_tokenizer.bos_token_id:
        ids = [tiny_tokenizer.bos_token_id, *ids]
    with torch.no_grad():
        states = unwrap(tiny_model).get_decoder()(
            input_ids=torch.tensor([ids]), output_hidden_states=True
        )
    last = extract(tiny_model, tiny_tokenizer, [PROMPTS[1]], FeatureSpec("last", -1, 64))
    assert torch.allclose(last.vectors[0], states.last_hidden_state[0, -1], atol=1e-5)
    first_layer = extract(tiny_model, tiny_tokenizer, [PROMPTS[1]], FeatureSpec("mean", 1, 64))
    skip = 1 if ids[0] == tiny_tokenizer.bos_token_id else 0  # BOS is left out of the mean
    expected = states.hidden_states[1][0, skip:].mean(dim=0)
    assert torch.allclose(first_layer.vectors[0], expected, atol=1e-5)
    assert last.tokens == len(ids)


def test_the_cache_returns_what_it_stored(tiny_model, tiny_tokenizer, tiny_model_dir, tmp_path):
    spec = FeatureSpec("mean", -1, 64)
    kwargs = dict(
        cache_dir=tmp_path, model_key=model_fingerprint(tiny_model_dir), batch_size=2,
        device=CPU, dtype=torch.float32,
    )  # fmt: skip
    fresh = cached_features(tiny_model, tiny_tokenizer, PROMPTS, spec, **kwargs)
    again = cached_features(tiny_model, tiny_tokenizer, PROMPTS, spec, **kwargs)
    assert not fresh.cached and again.cached
    assert torch.equal(fresh.vectors, again.vectors) and fresh.tokens == again.tokens
    assert [p.suffix for p in tmp_path.iterdir()] == [".safetensors"]
    other = cached_features(tiny_model, tiny_tokenizer, PROMPTS[:2], spec, **kwargs)
    assert not other.cached  # other texts, other key
