"""Fixtures for the method tests: a Llama-style tiny model beside the GPT-2 one, and helpers."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_model_dir):
    """A 3-layer Llama (``model.layers``, RMSNorm, grouped KV heads) on the tiny tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunesmith.models.load import load_tokenizer

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = load_tokenizer(tiny_model_dir)
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def perturb():
    """Set every trainable tensor to seeded noise, so a fresh adapter (zero B, unit magnitude,
    ...) visibly changes the model and a save/load or merge that dropped it would show."""

    def apply(model, seed: int = 0, scale: float = 0.3) -> None:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:
                    noise = torch.randn(p.shape, generator=generator) * scale
                    p.add_(noise.to(p.dtype))

    return apply


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory, tiny_model_dir):
    """A 3-layer Gemma 3 (the default model's architecture): one KV head, sliding-window layers
    and a scaled embedding.

    The window (24) holds virtual tokens + the longest padded prompt + a label of the tests.
    A window counts cache slots, padding included, so a shorter one would push the virtual
    tokens (in front of the left padding) out of view of padded rows only; the default model's
    window, 512, is longer than ``train.max_length``'s 256 plus the virtual tokens.
    """
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from tunesmith.models.load import load_tokenizer

    path = tmp_path_factory.mktemp("tiny-gemma")
    tokenizer = load_tokenizer(tiny_model_dir)
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=128,
        sliding_window=24,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    Gemma3ForCausalLM(config).save_pretrained(path)
    return path
