"""encode_examples: which tokens carry a loss, truncation, text windows and chat target spans."""

from __future__ import annotations

import pytest

from tunesmith.data.encode import IGNORE, encode_examples, prompt_ids
from tunesmith.data.examples import Example, Message
from tunesmith.models.load import load_tokenizer


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def target_spans(labels: list[int]) -> list[tuple[int, int]]:
    """[start, end) of every run of positions whose label is not IGNORE."""
    spans, start = [], None
    for i, y in enumerate([*labels, IGNORE]):
        if y != IGNORE and start is None:
            start = i
        elif y == IGNORE and start is not None:
            spans.append((start, i))
            start = None
    return spans


def classify(text: str, label: str = "positive") -> Example:
    return Example("classification", text=text, label=label)


def test_classification_labels_only_the_target(tok):
    (enc,) = encode_examples([classify("the movie was good")], tok, 64)
    target = [*ids(tok, "positive"), tok.eos_token_id]
    assert enc.input_ids[-len(target) :] == target
    assert enc.input_ids[-1] == tok.eos_token_id  # EOS ends the target
    n_prompt = len(enc.input_ids) - len(target)
    assert enc.labels[:n_prompt] == [IGNORE] * n_prompt
    assert enc.labels[n_prompt:] == enc.input_ids[n_prompt:]
    assert len(enc.labels) == len(enc.input_ids)
    assert not enc.truncated
    prompt = tok.convert_ids_to_tokens(enc.input_ids[:n_prompt])
    assert prompt[:2] == ["Text", ":"] and prompt[-2:] == ["Label", ":"]
    assert ids(tok, "the movie was good") == enc.input_ids[2 : n_prompt - 2]


def test_batched_encoding_equals_one_by_one(tok):
    examples = [classify("good"), classify("the film was very bad plot", "negative")]
    together = encode_examples(examples, tok, 64)
    alone = [encode_examples([e], tok, 64)[0] for e in examples]
    assert together == alone


def test_middle_truncation_keeps_targets_head_and_tail(tok):
    text = " ".join(["good", "movie", "film", "bad", "plot"] * 10)
    (full,) = encode_examples([classify(text, "negative")], tok, 1000)
    (cut,) = encode_examples([classify(text, "negative")], tok, 20)
    assert cut.truncated
    assert len(cut.input_ids) == 20 < len(full.input_ids)
    n_target = sum(y != IGNORE for y in full.labels)
    assert n_target == 2  # label word + EOS
    assert cut.input_ids[-n_target:] == full.input_ids[-n_target:]
    assert cut.labels[-n_target:] == full.labels[-n_target:]
    assert cut.labels[:-n_target] == [IGNORE] * (20 - n_target)
    budget = 20 - n_target
    head, tail = budget // 2, budget - budget // 2
    assert cut.input_ids[:head] == full.input_ids[:head]  # "Text :" and the text's start
    full_prompt = full.input_ids[:-n_target]
    assert cut.input_ids[head:budget] == full_prompt[-tail:]  # the text's end and "Label :"
    assert tok.convert_ids_to_tokens(cut.input_ids[budget - 2 : budget]) == ["Label", ":"]


def test_exact_fit_is_not_truncated(tok):
    (full,) = encode_examples([classify("good movie")], tok, 1000)
    (same,) = encode_examples([classify("good movie")], tok, len(full.input_ids))
    assert same == full and not same.truncated


def test_prompt_ids_cut_in_the_middle(tok):
    prompt = "Text: " + " ".join(["good", "bad"] * 20) + "\nLabel:"
    whole = ids(tok, prompt)
    cut = prompt_ids(prompt, tok, 9)
    assert cut == whole[:4] + whole[-5:]
    assert prompt_ids("Text: good\nLabel:", tok, 100) == ids(tok, "Text: good\nLabel:")


def test_long_text_is_split_into_windows(tok):
    words = ["good", "movie", "was", "very", "bad", "plot", "the", "actor"]
    text = " ".join(words * 3)  # 24 words + EOS = 25 tokens
    windows = encode_examples([Example("text", text=text)], tok, 8)
    every = [*ids(tok, text), tok.eos_token_id]
    assert [len(w.input_ids) for w in windows] == [8, 8, 8]  # a 1-token tail has nothing to predict
    assert [t for w in windows for t in w.input_ids] == every[:24]
    for window in windows:
        assert window.labels == window.input_ids  # plain text: every token is a target
        assert not window.truncated
    (short,) = encode_examples([Example("text", text="good movie")], tok, 8)
    assert short.input_ids == [*ids(tok, "good movie"), tok.eos_token_id]


def test_chat_with_two_assistant_turns_has_two_target_spans(tok):
    assert not getattr(tok, "chat_template", None)  # the plain "### User:" layout is in use
    messages = (
        Message("user", "good movie"),
        Message("assistant", "great film"),
        Message("user", "bad plot"),
        Message("assistant", "awful actor"),
    )
    (enc,) = encode_examples([Example("chat", messages=messages)], tok, 128)
    spans = target_spans(enc.labels)
    assert len(spans) == 2
    for (start, end), reply in zip(spans, ["great film", "awful actor"], strict=True):
        assert enc.input_ids[start:end] == [*ids(tok, reply), tok.eos_token_id]
        assert enc.labels[start:end] == enc.input_ids[start:end]
    between = tok.convert_ids_to_tokens(enc.input_ids[spans[0][1] : spans[1][0]])
    assert between[:3] == ["###", "User", ":"] and between[-3:] == ["###", "Assistant", ":"]


def test_instruction_targets_only_the_output(tok):
    example = Example("instruction", instruction="good movie", input="the plot", output="great")
    (enc,) = encode_examples([example], tok, 128)
    ((start, end),) = target_spans(enc.labels)
    assert end == len(enc.input_ids)
    assert enc.input_ids[start:] == [*ids(tok, "great"), tok.eos_token_id]


def test_multi_turn_chat_is_cut_from_the_right(tok):
    messages = (
        Message("user", "good movie"),
        Message("assistant", "great film"),
        Message("user", "bad plot"),
        Message("assistant", "awful actor"),
    )
    (full,) = encode_examples([Example("chat", messages=messages)], tok, 128)
    (cut,) = encode_examples([Example("chat", messages=messages)], tok, 12)
    assert cut.truncated
    assert cut.input_ids == full.input_ids[:12]
    assert cut.labels == full.labels[:12]


def test_bos_is_added_when_the_tokenizer_uses_one(tiny_model_dir):
    from tokenizers.processors import TemplateProcessing

    tok = load_tokenizer(tiny_model_dir)
    bos = tok.bos_token_id
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", bos)]
    )
    assert tok("a")["input_ids"][0] == bos
    (enc,) = encode_examples([classify("good movie")], tok, 64)
    assert enc.input_ids[0] == bos and enc.input_ids.count(bos) == 1
    assert enc.labels[0] == IGNORE
    assert prompt_ids("Text: good\nLabel:", tok, 100)[0] == bos
    (text,) = encode_examples([Example("text", text="good movie")], tok, 64)
    assert text.input_ids[0] == bos and text.labels[0] == IGNORE  # BOS is never a target
