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
MethodName = Literal[
    "lora",
    "dora",
    "qlora",
    "full",
    "freeze",
    "gradual_unfreeze",
    "prompt_tuning",
    "prefix_tuning",
    "cls_head",
    "feature_extraction",
]
HeadTraining = Literal["lora", "full"]
Pooling = Literal["mean", "last"]
HeadKind = Literal["logistic", "mlp"]
Precision = Literal["auto", "bf16", "fp32"]
Schedule = Literal["cosine", "linear", "constant"]
MissingPolicy = Literal["fail", "drop", "fill"]
SearchName = Literal["grid", "random", "bayes"]
PrunerName = Literal["none", "median", "hyperband"]
Direction = Literal["maximize", "minimize"]

#: Learning rate used when ``train.learning_rate`` is left empty: adapters tolerate (and need)
#: a much larger step than updating every weight of the model.
#: Soft prompts start far from anything useful and are tiny, so they take the largest step.
DEFAULT_LEARNING_RATE: dict[str, float] = {
    "lora": 2e-4,
    "dora": 2e-4,
    "qlora": 2e-4,
    "full": 2e-5,
    "freeze": 2e-5,
    "gradual_unfreeze": 2e-5,
    "prompt_tuning": 3e-2,
    "prefix_tuning": 1e-2,
}


def _f(default, help: str):  # noqa: A002 - "help" reads best at the call sites
    """A dataclass field with its documentation attached."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class PreprocessConfig:
    """Clean-up of every split before it is split and trained on (``tunesmith data prepare``)."""

    unicode_nfkc: bool = _f(True, "Unicode NFKC normalization (full-width letters, ligatures).")
    whitespace: bool = _f(
        True, "Collapse runs of spaces, strip line ends and invisible characters."
    )
    lowercase: bool = _f(False, "Lower-case every text (labels are renamed by label_map only).")
    strip_html: bool = _f(False, "Remove HTML tags and decode entities such as `&amp;`.")
    strip_urls: bool = _f(False, "Remove http(s):// and www. addresses.")
    missing: MissingPolicy = _f(
        "fail", "A row lacking a needed field: fail (one-line error), drop the row, or fill it."
    )
    missing_fields: dict[str, MissingPolicy] = _f(
        {}, "Per-field policy overriding `missing`, e.g. {label: drop, input: fill}."
    )
    fill_values: dict[str, str] = _f({}, "Value for each field whose policy is fill.")
    label_map: dict[str, str] = _f(
        {}, "Rename labels before the label set is taken, e.g. {pos: positive, neg: negative}."
    )
    exact_dedupe: bool = _f(True, "Drop repeated examples (same content after clean-up).")
    near_dedupe: bool = _f(False, "Also drop near-duplicates within each file (MinHash LSH).")
    near_threshold: float = _f(
        0.8, "Jaccard similarity of word 3-shingles (normalized text) that counts as near."
    )
    remove_leakage: bool = _f(
        True, "Drop from train what (nearly) repeats a validation/test example; val vs test too."
    )


@dataclass
class AugmentConfig:
    """New examples made from the training split only (never validation or test)."""

    copies: int = _f(0, "New examples per training example by word operations; 0 = off.")
    delete_rate: float = _f(0.1, "Share of words each word-operation copy deletes.")
    swap_rate: float = _f(0.1, "Word swaps per word in each copy (at least one when above 0).")
    insert_rate: float = _f(0.1, "Words inserted per word (repeats of the text's own words).")
    paraphrases: int = _f(
        0, "New examples per training example paraphrased by the model itself; 0 = off."
    )
    paraphrase_max_new_tokens: int = _f(64, "Longest paraphrase, in tokens.")
    paraphrase_temperature: float = _f(0.8, "Sampling temperature of the paraphrases.")


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
    cache_tokens: bool = _f(
        True, "Keep tokenized splits under TUNESMITH_HOME/token_cache; reruns skip tokenizing."
    )
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class LoraConfig:
    """Low-rank adapters (peft): lora, dora, qlora, and cls_head with `train: lora`."""

    r: int = _f(16, "Rank of the adapter matrices.")
    alpha: int = _f(32, "Scaling numerator: the update is scaled by alpha / r.")
    dropout: float = _f(0.05, "Dropout on the adapter input.")
    target_modules: str | list[str] = _f(
        "all-linear", "Modules to adapt: 'all-linear' or a list of module names."
    )


@dataclass
class LayersConfig:
    """Which transformer blocks train (freeze, gradual_unfreeze) and at what learning rate."""

    train_top: int = _f(2, "freeze: transformer blocks trained, counted from the top.")
    train_embeddings: bool = _f(
        False, "freeze/gradual_unfreeze: also train the token (and position) embeddings."
    )
    train_norm: bool = _f(True, "freeze/gradual_unfreeze: also train the final norm.")
    train_head: bool = _f(
        False, "freeze/gradual_unfreeze: also train the output layer (tied = the embeddings)."
    )
    unfreeze_every: int | None = _f(
        None, "gradual_unfreeze: optimizer steps between unfreezing blocks; empty = each epoch."
    )
    lr_decay: float | None = _f(
        None,
        "Layer-wise lr decay (full, freeze, gradual_unfreeze): each block down gets lr x this; "
        "embeddings the lowest; empty = off.",
    )


@dataclass
class PromptConfig:
    """Soft prompts (prompt_tuning) and trained key/value prefixes (prefix_tuning), via peft."""

    num_virtual_tokens: int = _f(20, "Virtual tokens put in front of every input.")
    init_text: str | None = _f(
        None, "prompt_tuning: start the soft prompt from this text's embeddings; empty = random."
    )
    prefix_projection: bool = _f(
        False, "prefix_tuning: produce the prefix through a 2-layer MLP (more stable, bigger)."
    )
    encoder_hidden_size: int = _f(256, "prefix_tuning: hidden size of that MLP.")


@dataclass
class ClsHeadConfig:
    """A sequence-classification head on the backbone (classification task only)."""

    train: HeadTraining = _f("lora", "lora (adapters + the head) or full (every weight + head).")


@dataclass
class FeaturesConfig:
    """Feature extraction: a frozen model's pooled hidden states feed a small classifier head."""

    pooling: Pooling = _f("mean", "One vector per text: mean over its tokens, or the last token.")
    layer: int = _f(-1, "Hidden layer pooled: -1 = last (after the final norm), 0 = embeddings.")
    batch_size: int = _f(32, "Texts per forward pass while extracting features.")
    head: HeadKind = _f("logistic", "Head trained on the features: logistic (scikit-learn) or mlp.")
    c: float = _f(1.0, "Inverse regularisation strength C of the logistic head.")
    mlp_hidden: int = _f(256, "Hidden units of the mlp head.")
    mlp_epochs: int = _f(30, "Passes of the mlp head over the features, train.batch_size a step.")
    mlp_learning_rate: float = _f(1e-3, "AdamW learning rate of the mlp head.")
    cache: bool = _f(True, "Reuse features saved for the same model, texts and settings.")
    cache_dir: str | None = _f(None, "Where features are cached; empty = TUNESMITH_HOME/features.")


@dataclass
class TrainConfig:
    """The optimisation loop."""

    epochs: float = _f(2.0, "Passes over the training set (fractions allowed).")
    max_steps: int | None = _f(None, "Stop after this many optimizer steps (overrides epochs).")
    batch_size: int = _f(16, "Examples per optimizer step (before gradient accumulation).")
    grad_accum: int = _f(1, "Micro-batches per optimizer step; each holds batch_size/grad_accum.")
    learning_rate: float | None = _f(
        None,
        "Peak learning rate; empty = the method's default (lora/dora/qlora 2e-4, full/freeze/"
        "gradual_unfreeze 2e-5, prompt_tuning 3e-2, prefix_tuning 1e-2; cls_head that of "
        "cls_head.train).",
    )
    lr_schedule: Schedule = _f("cosine", "Decay after warmup: cosine, linear or constant.")
    warmup_ratio: float = _f(0.06, "Share of steps spent warming the learning rate up from 0.")
    weight_decay: float = _f(0.0, "AdamW decoupled weight decay.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; 0 disables clipping.")
    max_length: int = _f(256, "Longest tokenized example; longer prompts are cut in the middle.")
    seed: int = _f(0, "Seed for splits, shuffling, dropout and initialisation.")
    precision: Precision = _f("auto", "auto (bf16 where the CPU/GPU supports it), bf16 or fp32.")
    estimate_first: bool = _f(
        True, "Time a few steps before training; print and keep the predicted time and memory."
    )
    log_every: int = _f(5, "Write a training-log line every N optimizer steps.")
    eval_every: int | None = _f(
        None, "Validate every N optimizer steps; empty = at the end of each epoch."
    )
    release_memory: bool = _f(
        False,
        "Hand freed activation memory straight back to the system (glibc): a lower peak "
        "(-0.9 GB on the default model's LoRA text job) for ~35% slower steps.",
    )
    loss_chunk: int = _f(
        256,
        "Label positions per chunk where full-vocabulary logits are formed (evaluation, a trained "
        "or adapted output layer): memory bound.",
    )
    loss_grad_filter: float = _f(
        2.0**-16,
        "Frozen output layer: skip vocabulary entries below this probability at every position of "
        "a loss chunk in the gradient matmul (~0.3% gradient change, ~1.3x faster text steps); "
        "0 = exact.",
    )
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
    method: MethodName = _f(
        "lora",
        "lora, dora, qlora (adapters), full (every weight), freeze / gradual_unfreeze (top "
        "blocks), prompt_tuning / prefix_tuning (virtual tokens), cls_head (a label head), "
        "feature_extraction (a head on frozen features).",
    )
    output: str = _f("runs/latest", "Run directory; created, never silently overwritten.")
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    layers: LayersConfig = field(default_factory=LayersConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    cls_head: ClsHeadConfig = field(default_factory=ClsHeadConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def learning_rate(self) -> float:
        """The peak learning rate in force: the configured one or the method's default."""
        if self.train.learning_rate is not None:
            return self.train.learning_rate
        method = self.cls_head.train if self.method == "cls_head" else self.method
        return DEFAULT_LEARNING_RATE[method]


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
