"""Config loading: defaults, YAML and --set overrides, coercion, one-line errors, shipped YAML."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tunesmith.config import (
    AugmentConfig,
    ClsHeadConfig,
    Config,
    DataConfig,
    EvalConfig,
    FeaturesConfig,
    LayersConfig,
    LoraConfig,
    MonitorConfig,
    PreprocessConfig,
    PromptConfig,
    TrainConfig,
)
from tunesmith.config_io import dump_config, load_config, reference_markdown
from tunesmith.errors import TunesmithError

QUICKSTART_YAML = Path(__file__).parents[1] / "src" / "tunesmith" / "quickstart" / "quickstart.yaml"
SECTIONS = {
    "data": DataConfig,
    "data.preprocess": PreprocessConfig,
    "data.augment": AugmentConfig,
    "lora": LoraConfig,
    "layers": LayersConfig,
    "prompt": PromptConfig,
    "cls_head": ClsHeadConfig,
    "features": FeaturesConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "monitor": MonitorConfig,
}


def all_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted config key, walked from the dataclasses independently of config_io."""
    keys = []
    for f in dataclasses.fields(cls):
        section = SECTIONS.get(prefix + f.name)
        if section is None:
            keys.append(prefix + f.name)
        else:
            keys.extend(all_keys(section, f"{prefix}{f.name}."))
    return keys


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path | None, overrides: list[str] | None = None) -> str:
    """The message of the TunesmithError load_config raises; it must be one line."""
    with pytest.raises(TunesmithError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_load_without_a_file():
    cfg = load_config(None)
    assert cfg == Config()
    assert cfg.method == "lora"
    assert cfg.learning_rate() == 2e-4
    assert load_config(None, ["method=full"]).learning_rate() == 2e-5


def test_empty_yaml_gives_the_defaults(tmp_path):
    assert load_config(write_yaml(tmp_path, "")) == Config()


def test_yaml_then_overrides(tmp_path):
    path = write_yaml(
        tmp_path,
        "model: some/dir\nmethod: full\ntrain:\n  batch_size: 8\n  learning_rate: 2e-4\n"
        "data:\n  labels: [a, b]\n",
    )
    cfg = load_config(path, ["train.batch_size=4", "train.epochs=3", "lora.target_modules=[q, v]"])
    assert cfg.model == "some/dir"
    assert cfg.method == "full"
    assert cfg.train.batch_size == 4  # --set wins over the file
    assert cfg.train.epochs == 3.0
    assert cfg.data.labels == ["a", "b"]
    assert cfg.lora.target_modules == ["q", "v"]
    assert cfg.train.max_length == TrainConfig().max_length  # untouched keys keep defaults


def test_types_are_coerced(tmp_path):
    # YAML reads 2e-4 (no dot) as a string; an int where a float is expected is widened.
    cfg = load_config(
        write_yaml(tmp_path, "train:\n  learning_rate: 2e-4\n"),
        ["train.epochs=3", "train.weight_decay=1", "data.validation_fraction=0"],
    )
    assert cfg.train.learning_rate == 2e-4
    assert type(cfg.train.learning_rate) is float
    assert type(cfg.train.epochs) is float
    assert type(cfg.train.weight_decay) is float
    assert type(cfg.data.validation_fraction) is float
    assert load_config(None, ["train.learning_rate=2e-4"]).train.learning_rate == 2e-4
    assert load_config(None, ["model=123"]).model == "123"  # a str field accepts a number


def test_empty_override_means_none():
    cfg = load_config(None, ["train.learning_rate=0.1", "train.learning_rate="])
    assert cfg.train.learning_rate is None


def test_dump_then_load_round_trips(tmp_path):
    cfg = load_config(None, ["method=full", "train.learning_rate=3e-3", "data.labels=[x, y]"])
    dump_config(cfg, tmp_path / "out.yaml")
    assert load_config(tmp_path / "out.yaml") == cfg


@pytest.mark.parametrize(
    ("override", "bad", "listed"),
    [
        ("modle=default", "'modle'", ["model", "method", "output", "data", "train", "eval"]),
        ("train.lr=1e-3", "'train.lr'", ["train.learning_rate", "train.epochs"]),
        ("lora.rank=8", "'lora.rank'", ["lora.r", "lora.alpha"]),
    ],
)
def test_unknown_key_names_it_and_lists_the_allowed_ones(override, bad, listed):
    message = error_of(None, [override])
    assert "unknown key" in message
    assert bad in message
    for key in listed:
        assert key in message


def test_unknown_key_in_yaml_names_the_file(tmp_path):
    path = write_yaml(tmp_path, "train:\n  epochs: 1\n  warmup: 3\n")
    message = error_of(path)
    assert str(path) in message
    assert "'train.warmup'" in message
    assert "train.warmup_ratio" in message


@pytest.mark.parametrize(
    ("override", "key", "choices"),
    [
        ("method=adapters", "method", ["lora", "full", "qlora", "cls_head"]),
        ("cls_head.train=frozen", "cls_head.train", ["lora", "full"]),
        ("train.lr_schedule=step", "train.lr_schedule", ["cosine", "linear", "constant"]),
        ("train.precision=fp16", "train.precision", ["auto", "bf16", "fp32"]),
        ("data.task=regression", "data.task", ["classification", "instruction", "chat", "text"]),
    ],
)
def test_bad_choice_names_the_allowed_values(override, key, choices):
    message = error_of(None, [override])
    assert key in message
    assert override.split("=")[1] in message
    for choice in choices:
        assert choice in message


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.batch_size=big", "train.batch_size"),
        ("train.batch_size=2.5", "train.batch_size"),
        ("train.batch_size=true", "train.batch_size"),
        ("train.learning_rate=fast", "train.learning_rate"),
        ("eval.base=maybe", "eval.base"),
        ("data.labels=a", "data.labels"),
        ("train.max_steps=abc", "train.max_steps"),
    ],
)
def test_wrong_type_names_the_key_and_value(override, key):
    message = error_of(None, [override])
    assert key in message
    assert override.split("=")[1] in message.lower()  # YAML's true is shown as True


def test_section_given_a_scalar_is_rejected(tmp_path):
    message = error_of(write_yaml(tmp_path, "train: 5\n"))
    assert "train" in message
    assert "mapping" in message


def test_batch_size_must_be_a_multiple_of_grad_accum():
    message = error_of(None, ["train.batch_size=10", "train.grad_accum=4"])
    assert "train.batch_size" in message and "train.grad_accum" in message
    assert "10" in message and "4" in message
    load_config(None, ["train.batch_size=12", "train.grad_accum=4"])  # a multiple is fine


@pytest.mark.parametrize(
    "override",
    [
        "train.batch_size=0",
        "train.grad_accum=0",
        "train.max_steps=0",
        "train.epochs=0",
        "train.learning_rate=-1e-3",
        "data.test_fraction=0.95",
        "lora.r=0",
    ],
)
def test_out_of_range_values_are_rejected(override):
    message = error_of(None, [override])
    assert override.split("=")[0] in message


def test_override_without_equals_sign():
    message = error_of(None, ["train.epochs"])
    assert "KEY=VALUE" in message


def test_missing_and_invalid_yaml_files(tmp_path):
    assert "not found" in error_of(tmp_path / "nope.yaml")
    bad = write_yaml(tmp_path, "train:\n  epochs: [1\n")
    message = error_of(bad)
    assert str(bad) in message and "YAML" in message
    assert "mapping" in error_of(write_yaml(tmp_path, "- a\n- b\n"))


def test_shipped_quickstart_yaml_loads():
    cfg = load_config(QUICKSTART_YAML)
    assert cfg.model == "default"
    assert cfg.method == "lora"
    assert cfg.data.task == "classification"
    assert cfg != Config()  # it sets something


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("layers.train_top=0", "layers.train_top must be at least 1"),
        ("layers.unfreeze_every=0", "layers.unfreeze_every must be at least 1"),
        ("prompt.num_virtual_tokens=0", "prompt.num_virtual_tokens must be at least 1"),
        ("train.loss_chunk=0", "train.loss_chunk must be at least 1"),
        ("train.loss_grad_filter=-0.1", "train.loss_grad_filter must be in [0, 1)"),
        ("train.loss_grad_filter=1", "train.loss_grad_filter must be in [0, 1)"),
    ],
)
def test_method_option_bounds(override, fragment):
    assert fragment in error_of(None, [override])


@pytest.mark.parametrize(
    ("overrides", "rate"),
    [
        (["method=dora"], 2e-4),
        (["method=freeze"], 2e-5),
        (["method=prompt_tuning"], 3e-2),
        (["method=cls_head"], 2e-4),
        (["method=cls_head", "cls_head.train=full"], 2e-5),
        (["method=prefix_tuning", "train.learning_rate=0.5"], 0.5),
    ],
)
def test_each_method_has_a_default_learning_rate(overrides, rate):
    assert load_config(None, overrides).learning_rate() == rate


def test_reference_markdown_lists_every_key_with_its_default():
    text = reference_markdown()
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines()[2:]}
    assert sorted(rows) == sorted(all_keys())
    assert "`16`" in rows["train.batch_size"]
    assert "`cosine`" in rows["train.lr_schedule"]
    for key, line in rows.items():
        assert line.split("|")[3].strip(), f"{key} has no help text"


def test_readme_config_reference_is_generated_from_the_dataclasses():
    from pathlib import Path

    from tunesmith.config_io import reference_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert reference_markdown() in readme, "regenerate README's config reference table"


def test_mapping_keys_are_checked_key_by_key(tmp_path):
    path = write_yaml(
        tmp_path,
        "data:\n  preprocess:\n    label_map: {1: positive, 0: negative}\n"
        "    missing_fields: {label: drop}\n",
    )
    cfg = load_config(path, ["data.preprocess.fill_values.input=none"])
    assert cfg.data.preprocess.label_map == {"1": "positive", "0": "negative"}
    assert cfg.data.preprocess.missing_fields == {"label": "drop"}
    assert cfg.data.preprocess.fill_values == {"input": "none"}
    with pytest.raises(TunesmithError) as info:
        load_config(path, ["data.preprocess.missing_fields.text=skip"])
    assert "data.preprocess.missing_fields.text = 'skip' is not allowed" in str(info.value)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("features.c=0", "features.c must be above 0"),
        ("features.mlp_epochs=0", "features.mlp_epochs must be at least 1"),
        ("features.pooling=max", "features.pooling = 'max' is not allowed"),
    ],
)
def test_bad_feature_settings_are_one_line_errors(override, fragment):
    assert fragment in error_of(None, [override])
