"""The token cache: a second encoding of the same split does not call the tokenizer."""

from __future__ import annotations

import dataclasses

import pytest

from tunesmith.data import cache
from tunesmith.data.cache import cache_key, content_hash, encode_cached, jsonl_bytes
from tunesmith.data.encode import encode_examples
from tunesmith.data.examples import Example, Message


class CountingTokenizer:
    """The tiny tokenizer, counting how often it is asked to tokenize."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self._tokenizer(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


@pytest.fixture
def tok(tiny_tokenizer) -> CountingTokenizer:
    return CountingTokenizer(tiny_tokenizer)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty cache for each test."""
    monkeypatch.setattr(cache, "token_cache_dir", lambda: tmp_path / "tokens")
    return tmp_path / "tokens"


def examples(n: int = 6) -> list[Example]:
    return [
        Example("classification", text=f"the movie was good {i}", label="ab"[i % 2])
        for i in range(n)
    ] + [Example("text", text="good " * 30)]  # windowed into several sequences


def test_second_encoding_reads_the_cache(tok, cache_dir):
    first = encode_cached(examples(), tok, 16)
    assert tok.calls > 0 and len(list(cache_dir.glob("*.safetensors"))) == 1
    tok.calls = 0
    second = encode_cached(examples(), tok, 16)
    assert tok.calls == 0
    assert second == first == encode_examples(examples(), tok, 16)
    assert any(item.truncated for item in second) or len(second) > len(examples())


def test_key_changes_with_content_length_and_tokenizer(tok, cache_dir, tiny_tokenizer):
    key = cache_key(examples(), tok, 16)
    assert cache_key(examples(), tok, 16) == key
    assert cache_key(examples(), tok, 32) != key
    assert cache_key(examples(5), tok, 16) != key
    edited = [dataclasses.replace(examples()[0], label="b"), *examples()[1:]]
    assert cache_key(edited, tok, 16) != key
    other = CountingTokenizer(tiny_tokenizer)
    other.chat_template = "{{ messages }}"  # a template changes the rendered text
    assert cache_key(examples(), other, 16) != key
    encode_cached(examples(), tok, 16)
    tok.calls = 0
    encode_cached(examples(), tok, 32)
    assert tok.calls > 0  # another max_length is tokenized afresh


def test_a_damaged_entry_is_rebuilt(tok, cache_dir):
    first = encode_cached(examples(), tok, 16)
    (entry,) = cache_dir.glob("*.safetensors")
    entry.write_bytes(b"not a safetensors file")
    tok.calls = 0
    assert encode_cached(examples(), tok, 16) == first
    assert tok.calls > 0


def test_disabled_cache_writes_nothing(tok, cache_dir):
    encode_cached(examples(), tok, 16, enabled=False)
    assert not cache_dir.exists()


def test_the_cache_lives_under_tunesmith_home(tunesmith_home, monkeypatch):
    from tunesmith.models import resolve

    monkeypatch.setattr(cache, "tunesmith_home", resolve.tunesmith_home)  # undo conftest's patch
    assert cache.token_cache_dir() == tunesmith_home / "token_cache"


def test_content_hash_is_the_hash_of_the_jsonl_form():
    chat = Example("chat", messages=(Message("user", "hé"), Message("assistant", "ok")))
    instruction = Example("instruction", instruction="do", input=None, output="done")
    data = jsonl_bytes([chat, instruction])
    assert data.decode() == (
        '{"messages": [{"role": "user", "content": "hé"}, '
        '{"role": "assistant", "content": "ok"}]}\n'
        '{"instruction": "do", "input": "", "output": "done"}\n'
    )
    import hashlib

    assert content_hash([chat, instruction]) == hashlib.sha256(data).hexdigest()
