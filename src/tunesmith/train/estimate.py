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
from tunesmith.train.loop import accumulate_gradients, apply_update, build_optimizer
from tunesmith.train.monitor import peak_rss_bytes

#: Steps timed after one untimed warm-up step (allocator and kernel caches).
TIMED_STEPS = 4


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

    def describe(self) -> str:
        """One line for the terminal: steps, tokens, time and memory."""
        minutes = self.predicted_train_runtime_s / 60
        return (
            f"{self.train_steps} steps over {self.train_tokens:,} training tokens: about "
            f"{minutes:.1f} min of training, peak memory about "
            f"{self.predicted_peak_rss_bytes / 2**30:.1f} GiB"
        )


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
    optimizer, scheduler = build_optimizer(params, cfg, len(plan))
    model.train()
    timed: list[tuple[float, float]] = []  # (GFLOP, seconds) of each timed step
    updates: list[float] = []  # seconds of each optimizer update, the first one included
    for i, index in enumerate(probe):
        items = [train_set[j] for j in plan[index].indices]
        started = time.perf_counter()
        accumulate_gradients(model, items, cfg, pad_id, device, dtype)
        computed = time.perf_counter()
        apply_update(params, optimizer, scheduler, cfg.train.max_grad_norm)
        optimizer.zero_grad(set_to_none=True)
        updates.append(time.perf_counter() - computed)
        if i > 0:  # the first one warms up
            timed.append((costs[index], computed - started))
    load_weights(params, saved)
    model.eval()
    rate, overhead = fit_step_time(timed)
    update = sum(updates[1:]) / max(len(updates) - 1, 1)
    # The first update also allocates the optimizer's state (2 x the trained weights): once a run.
    first_update = max(updates[0] - update, 0.0) if updates else 0.0
    per_step = overhead + update
    return Estimate(
        train_steps=len(plan),
        train_tokens=sum(s.tokens for s in plan),
        predicted_train_runtime_s=round(rate * sum(costs) + per_step * len(plan) + first_update, 1),
        predicted_peak_rss_bytes=peak_rss_bytes(),
        seconds_per_gflop=rate,
    )


def fit_step_time(timed: list[tuple[float, float]]) -> tuple[float, float]:
    """(seconds per GFLOP, fixed seconds per step) fitted to timed (GFLOP, seconds) steps.

    A step costs its FLOPs plus a fixed part (Python, small kernels, the loss's bookkeeping)
    that FLOPs don't show; small steps make that part weigh. Least squares on the probes; when
    they are too alike to tell the two apart (or the fit goes negative), all time is per FLOP.
    """
    n = len(timed)
    gflop = sum(g for g, _ in timed)
    seconds = sum(t for _, t in timed)
    if n < 2 or gflop <= 0:
        return (seconds / gflop if gflop else 0.0), 0.0
    mean_g, mean_t = gflop / n, seconds / n
    spread = sum((g - mean_g) ** 2 for g, _ in timed)
    if spread <= (0.05 * mean_g) ** 2 * n:
        return seconds / gflop, 0.0
    rate = sum((g - mean_g) * (t - mean_t) for g, t in timed) / spread
    overhead = mean_t - rate * mean_g
    if rate <= 0 or overhead < 0:
        return seconds / gflop, 0.0
    return rate, overhead


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
    """A warm-up step, then the biggest step (memory peak), the smallest (it pins the fixed
    part of a step's time) and ordinary ones spread over the run."""
    order = sorted(range(len(plan)), key=lambda i: plan[i].padded)
    spread = [order[round(q * (len(order) - 1) / 3)] for q in (1, 2)]
    return [0, order[-1], order[0], *spread][: TIMED_STEPS + 1]
