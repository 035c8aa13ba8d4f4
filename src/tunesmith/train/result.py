"""What a training run reports, and what a checkpoint keeps of it to resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class TrainResult:
    """The figures of a run so far; also the loop's bookkeeping, saved in every checkpoint."""

    steps: int
    train_tokens: int  # real (non-padding) tokens seen
    runtime_s: float
    losses: list[float] = field(default_factory=list)  # one per optimizer step, nan if skipped
    val_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    skipped_steps: int = 0  # steps whose loss was not finite: no update was applied
    best_step: int | None = None  # step of the lowest validation loss
    best_val_loss: float | None = None
    stopped_early: bool = False
    resumed_from: int | None = None  # step of the checkpoint this run continued from
    diagnosis: dict[str, Any] = field(default_factory=dict)  # see tunesmith.train.diagnose

    @property
    def tokens_per_s(self) -> float:
        return self.train_tokens / self.runtime_s if self.runtime_s else 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready values (the diagnosis is recomputed at the end, so it is left out)."""
        data = asdict(self)
        del data["diagnosis"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainResult:
        """Inverse of ``to_json``; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in fields(cls)}
        result = cls(**{k: v for k, v in data.items() if k in known})
        result.val_losses = [(int(step), float(loss)) for step, loss in result.val_losses]
        return result
