"""One raw row of a data file, and how a row's position is written in messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A JSON document's records are items of a list, not lines, also when it is compressed.
_JSON_NAMES = (".json", ".json.gz", ".json.bz2", ".json.xz")


@dataclass(frozen=True)
class Record:
    """One raw row of a data file, before it is interpreted as an example of a task.

    ``line`` is the 1-based line in the file, or the 1-based item index for a JSON array;
    ``source`` is "file:line", the form later stages put in their messages.
    """

    data: dict[str, Any]
    line: int
    source: str

    @property
    def file(self) -> str:
        """The file name as the user gave it."""
        return self.source.rsplit(":", 1)[0]

    @property
    def where(self) -> str:
        """Position for messages: "train.csv line 17", or "data.json item 17" for JSON arrays."""
        return position(self.source)


def position(source: str) -> str:
    """A "file:line" source in words: "train.csv line 17", or "data.json item 17"."""
    file, _, line = source.rpartition(":")
    unit = "item" if file.lower().endswith(_JSON_NAMES) else "line"
    return f"{file} {unit} {line}"
