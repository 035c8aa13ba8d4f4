"""The task-neutral form every loader produces and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class Example:
    """One example of any task.

    classification: ``text`` and ``label``; instruction: ``instruction``, ``input``, ``output``;
    chat: ``messages``; text: ``text``. ``source`` is "file:line" for error messages.
    """

    task: str
    text: str | None = None
    label: str | None = None
    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    messages: tuple[Message, ...] | None = None
    source: str = ""

    def key(self) -> str:
        """A string identifying the content, used for de-duplication and leakage checks."""
        if self.messages is not None:
            return "\x1e".join(f"{m.role}\x1f{m.content}" for m in self.messages)
        parts = (self.text, self.instruction, self.input, self.output)
        return "\x1e".join(p or "" for p in parts)


@dataclass
class Splits:
    """Train, validation and held-out test examples of one task, with the label set."""

    task: str
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    labels: list[str] | None  # classification only, in a stable order
    #: What each preparation step did: {"step", "split", "before", "after", ...} per step.
    steps: list[dict] = field(default_factory=list)
