"""Render an Example as text segments, each marked as prompt (no loss) or target (loss).

Chat and instruction examples use the tokenizer's chat template when the model has one, and a
plain "### User / ### Assistant" layout otherwise. Classification uses a short plain prompt: the
label set is given to the scorer, not spelled out in every prompt, which would double the tokens
of a typical example (and, measured on Gemma 3 270M, made its zero-shot guesses worse).
"""

from __future__ import annotations

from tunesmith.data.examples import Example, Message

Segment = tuple[str, bool]  # (text, is_target)


def classification_prompt(text: str) -> str:
    """The prompt a label is scored after."""
    return f"Text: {text}\nLabel:"


def label_target(label: str, tokenizer) -> str:
    """The text the model is trained to produce (and scored on) after the prompt.

    It ends with EOS so that a label that is a prefix of another ("pin" / "pin_blocked")
    is still told apart.
    """
    return " " + label + _eos(tokenizer)


def render(example: Example, tokenizer) -> list[Segment]:
    """Segments of ``example``; only target segments count towards the loss."""
    if example.task == "classification":
        assert example.text is not None and example.label is not None
        prompt = classification_prompt(example.text)
        return [(prompt, False), (label_target(example.label, tokenizer), True)]
    if example.task == "instruction":
        return _chat_segments(instruction_messages(example), tokenizer)
    if example.task == "chat":
        assert example.messages is not None
        return _chat_segments(list(example.messages), tokenizer)
    assert example.text is not None
    return [(example.text + _eos(tokenizer), True)]


def instruction_messages(example: Example) -> list[Message]:
    """An alpaca-style example as a user turn and an assistant turn."""
    user = example.instruction or ""
    if example.input:
        user = f"{user}\n\n{example.input}"
    messages = [Message("user", user)]
    if example.output is not None:
        messages.append(Message("assistant", example.output))
    return messages


def generation_prompt(messages: list[Message], tokenizer) -> str:
    """The text that asks the model for the next assistant turn."""
    return _render_chat(messages, tokenizer, add_generation_prompt=True)


def _chat_segments(messages: list[Message], tokenizer) -> list[Segment]:
    """Split a conversation so that each assistant reply is a target segment."""
    segments: list[Segment] = []
    done = ""
    for i, message in enumerate(messages):
        if message.role != "assistant":
            continue
        prefix = _render_chat(messages[:i], tokenizer, add_generation_prompt=True)
        full = _render_chat(messages[: i + 1], tokenizer, add_generation_prompt=False)
        segments.append((prefix[len(done) :], False))
        segments.append((full[len(prefix) :], True))
        done = full
    return [(text, target) for text, target in segments if text]


def _render_chat(messages: list[Message], tokenizer, add_generation_prompt: bool) -> str:
    if getattr(tokenizer, "chat_template", None):
        dicts = [{"role": m.role, "content": m.content} for m in messages]
        return tokenizer.apply_chat_template(
            dicts, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    text = "".join(_plain_turn(m, tokenizer) for m in messages)
    return text + "### Assistant:\n" if add_generation_prompt else text


def _plain_turn(message: Message, tokenizer) -> str:
    title = {"system": "System", "user": "User", "assistant": "Assistant"}[message.role]
    end = _eos(tokenizer) if message.role == "assistant" else ""
    return f"### {title}:\n{message.content}{end}\n\n"


def _eos(tokenizer) -> str:
    return tokenizer.eos_token or ""
