"""Every default tunesmith uses, in one place.

The dataclasses below are the single source of truth: YAML files and ``--set`` overrides are
validated against them (``tunesmith.config_io``), the README's config reference is generated from
them (``tunesmith.config_io.reference_markdown``), and no other module keeps a default of its own.
Each field's ``help`` metadata is its documentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Task = Literal["classification", "instruction", "chat", "text"]
MethodName = Literal["lora", "full"]
Precision = Literal["auto", "bf16", "fp32"]
Schedule = Literal["cosine", "linear", "constant"]
SearchName = Literal["grid", "random", "bayes"]
PrunerName = Literal["none", "median", "hyperband"]
Direction = Literal["maximize", "minimize"]

#: Learning rate used when ``train.learning_rate`` is left empty: adapters tolerate (and need)
#: a much larger step than updating every weight of the model.
DEFAULT_LEARNING_RATE: dict[str, float] = {"lora": 2e-4, "full": 2e-5}


def _f(default, help: str):  # noqa: A002 - "help" reads best at the call sites
    """A dataclass field with its documentation attached."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DataConfig:
    """Where the examples come from and how to read them."""

    train: str | None = _f(None, "Training file: .csv, .tsv, .json, .jsonl or .txt.")
    validation: str | None = _f(None, "Validation file; split from `train` when empty.")
    test: str | None = _f(None, "Held-out test file; split from `train` when empty.")
    task: Task | None = _f(None, "classification, instruction, chat or text; detected when empty.")
    text_field: str | None = _f(None, "Column holding the input text; detected when empty.")
    label_field: str | None = _f(None, "Column holding the label (classification); detected.")
    labels: list[str] | None = _f(None, "Allowed labels, in order; taken from the training data.")
    validation_fraction: float = _f(0.1, "Share of `train` held out for validation.")
    test_fraction: float = _f(0.2, "Share of `train` held out for testing when no `test` file.")
    max_examples: int | None = _f(None, "Use at most this many training examples (after split).")


@dataclass
class LoraConfig:
    """Low-rank adapters (peft)."""

    r: int = _f(16, "Rank of the adapter matrices.")
    alpha: int = _f(32, "Scaling numerator: the update is scaled by alpha / r.")
    dropout: float = _f(0.05, "Dropout on the adapter input.")
    target_modules: str | list[str] = _f(
        "all-linear", "Modules to adapt: 'all-linear' or a list of module names."
    )


@dataclass
class TrainConfig:
    """The optimisation loop."""

    epochs: float = _f(2.0, "Passes over the training set (fractions allowed).")
    max_steps: int | None = _f(None, "Stop after this many optimizer steps (overrides epochs).")
    batch_size: int = _f(16, "Examples per optimizer step (before gradient accumulation).")
    grad_accum: int = _f(1, "Micro-batches per optimizer step; each holds batch_size/grad_accum.")
    learning_rate: float | None = _f(
        None, "Peak learning rate; empty = the method's default (lora 2e-4, full 2e-5)."
    )
    lr_schedule: Schedule = _f("cosine", "Decay after warmup: cosine, linear or constant.")
    warmup_ratio: float = _f(0.06, "Share of steps spent warming the learning rate up from 0.")
    weight_decay: float = _f(0.0, "AdamW decoupled weight decay.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; 0 disables clipping.")
    max_length: int = _f(256, "Longest tokenized example; longer prompts are cut in the middle.")
    seed: int = _f(0, "Seed for splits, shuffling, dropout and initialisation.")
    precision: Precision = _f("auto", "auto (bf16 where the CPU/GPU supports it), bf16 or fp32.")
    log_every: int = _f(5, "Write a training-log line every N optimizer steps.")
    eval_every: int | None = _f(
        None, "Validate every N optimizer steps; empty = at the end of each epoch."
    )
    loss_chunk: int = _f(512, "Label positions per chunk of the output-layer loss (memory bound).")
    checkpoint_every: int = _f(
        50, "Write a resumable checkpoint every N optimizer steps into RUN/checkpoints; 0 = never."
    )
    keep_checkpoints: int = _f(2, "Complete step checkpoints kept on disk; older ones are deleted.")
    max_nan_steps: int = _f(
        5, "Stop (diverged) after this many consecutive non-finite losses; each one is skipped."
    )
    spike_factor: float | None = _f(
        10.0, "Stop (diverged) when a loss exceeds this x the median of the last 20; empty = off."
    )
    early_stopping_patience: int | None = _f(
        None, "Stop after this many validations without improvement; empty = never stop early."
    )
    early_stopping_min_delta: float = _f(
        0.0, "How much the validation loss must fall to count as an improvement (nats / token)."
    )
    restore_best: bool = _f(
        True, "At the end, load the weights of the best validation step (when validation ran)."
    )


@dataclass
class EvalConfig:
    """How base and tuned models are compared."""

    batch_size: int = _f(16, "Examples per forward pass while scoring.")
    max_examples: int | None = _f(None, "Score at most this many held-out examples.")
    base: bool = _f(True, "Also evaluate the untouched base model, the same way.")
    max_new_tokens: int = _f(64, "Tokens generated by `tunesmith generate` and predictions.")


@dataclass
class MonitorConfig:
    """Where training curves go besides ``train_log.jsonl`` (needs ``tunesmith[tracking]``)."""

    tensorboard: bool = _f(False, "Write TensorBoard event files to RUN/tensorboard.")
    mlflow: bool = _f(False, "Log params and metrics to an MLflow store.")
    mlflow_uri: str | None = _f(None, "MLflow tracking URI; empty = a local store in RUN/mlruns.")
    experiment: str = _f("tunesmith", "MLflow experiment the run is logged under.")


@dataclass(frozen=True)
class InspectConfig:
    """Thresholds of ``tunesmith data inspect``: past them a check becomes a finding."""

    near_duplicate_threshold: float = _f(0.8, "Jaccard similarity of word 3-shingles.")
    minhash_permutations: int = _f(64, "MinHash permutations: more = exacter, slower.")
    rare_label_share: float = _f(0.01, "A label is rare below this share of the rows ...")
    rare_label_rows: int = _f(5, "... or below this many rows.")
    label_typo_ratio: float = _f(0.8, "difflib similarity above which two labels look alike.")
    label_prefix_chars: int = _f(3, "A label this long that starts another looks like a typo.")
    short_chars: int = _f(3, "Texts shorter than this (stripped) are 'very short'.")
    long_factor: float = _f(3.0, "Texts longer than p99 x this are 'very long'.")
    missing_label_error: float = _f(0.5, "Share of missing labels that blocks training.")
    low_diversity: float = _f(0.2, "Distinct-2-gram ratio below which text looks repetitive.")
    examples_shown: int = _f(3, "Examples shown per finding.")


@dataclass
class Config:
    """A whole run: model, data, method, training, evaluation and monitoring."""

    model: str = _f(
        "default", "'default' (Gemma 3 270M), a local HF model dir, a hub id or a .gguf file."
    )
    method: MethodName = _f("lora", "lora (adapters) or full (every weight).")
    output: str = _f("runs/latest", "Run directory; created, never silently overwritten.")
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def learning_rate(self) -> float:
        """The peak learning rate in force: the configured one or the method's default."""
        if self.train.learning_rate is not None:
            return self.train.learning_rate
        return DEFAULT_LEARNING_RATE[self.method]


@dataclass
class ObjectiveConfig:
    """What ``tunesmith tune`` optimises (the YAML's ``objective:`` section)."""

    metric: str | None = _f(
        None,
        "Validation-split metric to optimise: accuracy, precision_macro, recall_macro, f1_macro "
        "(classification), loss, perplexity; empty = f1_macro for classification, else loss.",
    )
    direction: Direction | None = _f(
        None, "maximize or minimize; empty = minimize for loss and perplexity, else maximize."
    )


@dataclass
class TuneConfig:
    """How ``tunesmith tune`` searches (the YAML's ``tune:`` section; the CLI flags override)."""

    search: SearchName = _f(
        "bayes", "grid (every combination once), random, or bayes (Optuna's TPE sampler)."
    )
    trials: int | None = _f(
        None, "Trials in all, over every worker; empty = the whole grid for grid, 20 otherwise."
    )
    timeout: str | None = _f(
        None, "Start no trial after this long, e.g. 90s, 30m, 2h; empty = no limit."
    )
    workers: int = _f(1, "Local worker processes sharing the study (the CPU cores are split).")
    pruner: PrunerName = _f(
        "median", "Stop poor trials early from their validation losses: none, median, hyperband."
    )
    startup_trials: int | None = _f(
        None,
        "Trials sampled at random (bayes) and never pruned before comparisons start; "
        "empty = a quarter of the trials, 2 to 10.",
    )
    seed: int = _f(0, "Sampler seed: random and bayes repeat their picks, grid its order.")
    storage: str | None = _f(
        None, "Optuna storage URL, e.g. postgresql://user@host/db; empty = OUTPUT/study.sqlite."
    )
    study_name: str | None = _f(None, "Study name in the storage; empty = the output's name.")
    heartbeat_s: int = _f(
        30, "Seconds between a running trial's heartbeats; silent for 3x this = failed, retried."
    )
    max_retries: int = _f(2, "Times a trial whose worker died (or was stopped) is run again.")
