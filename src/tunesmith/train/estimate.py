"""How long will training take? Time a few real steps on this machine and scale by the plan.

The batch plan is a pure function of the data and the seed (``epoch_batches``), so the exact
padded size and target count of every future step is known before training. A step costs
roughly (padded tokens x backbone FLOPs + target tokens x output-layer FLOPs); timing a few real
steps, the biggest one included (it also sets the memory peak), gives seconds per FLOP here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from tunesmith.config import Config
from tunesmith.data.encode import IGNORE, Encoded
from tunesmith.train.batches import epoch_batches
from tunesmith.train.checkpoint import load_weights
from tunesmith.train.loop import accumulate_gradients, build_optimizer
from tunesmith.train.monitor import peak_rss_bytes

#: Steps timed after one untimed warm-up step (allocator and kernel caches).
TIMED_STEPS = 3


@dataclass
class Estimate:
    """A prediction of a training run, made before it starts."""

    train_steps: int
    train_tokens: int  # real (non-padding) tokens the run will see
    predicted_train_runtime_s: float
    predicted_peak_rss_bytes: int
    seconds_per_gflop: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def estimate_training(
    model, train_set: list[Encoded], cfg: Config, *, pad_id: int, device, dtype
) -> Estimate:
    """Predict the runtime and memory of ``train`` on ``train_set``; leaves weights unchanged."""
    plan = step_plan(train_set, cfg)
    costs = [step_cost(model, shape) for shape in plan]
    probe = _probe_steps(plan)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    saved = {n: p.detach().clone() for n, p in params.items()}
    # A throw-away optimizer: its update costs time in proportion to the trained weights (large
    # for full fine-tuning), which no FLOP count of the forward and backward pass shows.
    optimizer, _ = build_optimizer(params, cfg, len(plan))
    model.train()
    seconds, gflop, updating = 0.0, 0.0, 0.0
    for i, index in enumerate(probe):
        items = [train_set[j] for j in plan[index].indices]
        started = time.perf_counter()
        accumulate_gradients(model, items, cfg, pad_id, device, dtype)
        computed = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i > 0:  # the first one warms up
            seconds += computed - started
            updating += time.perf_counter() - computed
            gflop += costs[index]
    load_weights(params, saved)
    model.eval()
    rate = seconds / gflop if gflop else 0.0
    per_update = updating / max(len(probe) - 1, 1)
    return Estimate(
        train_steps=len(plan),
        train_tokens=sum(s.tokens for s in plan),
        predicted_train_runtime_s=round(rate * sum(costs) + per_update * len(plan), 1),
        predicted_peak_rss_bytes=peak_rss_bytes(),
        seconds_per_gflop=rate,
    )


@dataclass
class StepShape:
    """What one planned optimizer step will process."""

    indices: list[int]
    padded: int  # tokens including padding, summed over micro-batches
    tokens: int  # real tokens
    targets: int  # positions that carry a loss


def step_plan(train_set: list[Encoded], cfg: Config) -> list[StepShape]:
    """Every optimizer step of the run, in order, as the loop will take them."""
    t = cfg.train
    lengths = [len(e.input_ids) for e in train_set]
    steps_per_epoch = math.ceil(len(train_set) / t.batch_size)
    total = t.max_steps or max(1, math.ceil(t.epochs * steps_per_epoch))
    plan: list[StepShape] = []
    epoch = 0
    while len(plan) < total:
        for batch in epoch_batches(lengths, t.batch_size, t.seed, epoch):
            plan.append(_shape(batch, train_set, t.grad_accum))
            if len(plan) == total:
                break
        epoch += 1
    return plan


def step_cost(model, shape: StepShape) -> float:
    """GFLOP of one training step: forward + backward through the backbone and output layer."""
    embedding = model.get_input_embeddings().weight
    output = model.get_output_embeddings()  # None under a classification head
    tables = {embedding.data_ptr()} | ({output.weight.data_ptr()} if output is not None else set())
    inner = [p for p in model.parameters() if p.data_ptr() not in tables]
    backbone = sum(p.numel() for p in inner)
    trained = sum(p.numel() for p in inner if p.requires_grad)
    # Per token and weight: 2 FLOP forward, 2 for the input gradient, and 2 more for the weight
    # gradient only where the weight trains (LoRA skips it for the frozen backbone).
    head_flops = 0
    if output is not None:
        head_flops = (4 + 2 * output.weight.requires_grad) * output.weight.numel() * shape.targets
    return ((4 * backbone + 2 * trained) * shape.padded + head_flops) / 1e9


def _shape(batch: list[int], train_set: list[Encoded], grad_accum: int) -> StepShape:
    size = -(-len(batch) // grad_accum)
    padded = 0
    for start in range(0, len(batch), size):
        part = batch[start : start + size]
        padded += len(part) * max(len(train_set[i].input_ids) for i in part)
    items = [train_set[i] for i in batch]
    return StepShape(
        indices=batch,
        padded=padded,
        tokens=sum(len(e.input_ids) for e in items),
        targets=sum(sum(y != IGNORE for y in e.labels[1:]) for e in items),
    )


def _probe_steps(plan: list[StepShape]) -> list[int]:
    """A warm-up step, the biggest step (memory peak) and a spread of ordinary ones."""
    biggest = max(range(len(plan)), key=lambda i: plan[i].padded)
    spread = [round(i * (len(plan) - 1) / max(TIMED_STEPS - 1, 1)) for i in range(TIMED_STEPS)]
    return [0, biggest, *spread[: TIMED_STEPS - 1]]
