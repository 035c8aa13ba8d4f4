"""The study file: the search space checked against the Config dataclasses, objective, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tunesmith.config import ObjectiveConfig
from tunesmith.config_io import load_config, study_reference_markdown
from tunesmith.errors import TunesmithError
from tunesmith.tune.spec import load_study, parse_duration, resolve_objective

SPACE = {
    "train.learning_rate": {"type": "loguniform", "low": 1.0e-5, "high": 1.0e-3},
    "train.batch_size": {"type": "choice", "values": [8, 16]},
    "train.epochs": {"type": "int", "low": 1, "high": 3},
    "train.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
    "lora.dropout": {"type": "uniform", "low": 0.0, "high": 0.1, "values": [0.0, 0.1]},
    "lora.r": {"type": "int", "low": 4, "high": 16, "step": 4},
    "method": {"type": "categorical", "values": ["lora", "full"]},
}


def write(tmp_path: Path, search=None, **sections) -> Path:
    study = {"output": str(tmp_path / "study"), "search": search or SPACE, **sections}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


def error(path: Path, overrides=None) -> str:
    with pytest.raises(TunesmithError) as info:
        load_study(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_kind_of_range_is_read(tmp_path):
    spec = load_study(write(tmp_path))
    params = {p.key: p for p in spec.params}
    assert params["train.learning_rate"].log and params["train.learning_rate"].kind == "float"
    assert params["train.batch_size"].values == (8, 16)
    assert params["method"].kind == "choice"
    grids = {key: p.grid(spec.source) for key, p in params.items() if key != "train.learning_rate"}
    assert grids["train.epochs"] == [1, 2, 3]
    assert grids["train.warmup_ratio"] == [0.0, 0.1, 0.2]
    assert grids["lora.dropout"] == [0.0, 0.1]  # values: a grid's points inside the range
    assert grids["lora.r"] == [4, 8, 12, 16]
    assert spec.study_name == "study" and spec.storage_url.endswith("study/study.sqlite")
    assert spec.trials == 20 and spec.startup_trials == 5 and spec.tune.search == "bayes"


def test_the_study_sections_do_not_break_training_on_the_file(tmp_path):
    path = write(tmp_path, objective={"metric": "accuracy"}, tune={"trials": 3})
    cfg = load_config(path, ["train.batch_size=4"])
    assert cfg.train.batch_size == 4 and cfg.output == str(tmp_path / "study")


def test_yaml_strings_such_as_1e_minus_5_are_numbers(tmp_path):
    space = {"train.learning_rate": {"type": "loguniform", "low": "1e-5", "high": "1e-3"}}
    assert load_study(write(tmp_path, space)).params[0].low == pytest.approx(1e-5)


@pytest.mark.parametrize(
    "space, fragments",
    [
        ({"train.lr": {"type": "uniform", "low": 0, "high": 1}}, ["search.train.lr", "not a"]),
        ({"output": {"type": "choice", "values": ["a"]}}, ["search.output"]),
        ({"train.epochs": {"type": "normal", "low": 1, "high": 2}}, ["'normal'", "loguniform"]),
        ({"train.epochs": {"type": "int", "low": 3, "high": 1}}, ["train.epochs", "below"]),
        ({"train.learning_rate": {"type": "loguniform", "low": 0, "high": 1}}, ["above 0"]),
        ({"train.batch_size": {"type": "uniform", "low": 4, "high": 8}}, ["type: int"]),
        ({"method": {"type": "int", "low": 1, "high": 2}}, ["search.method", "choice"]),
        ({"method": {"type": "choice", "values": ["lora", "adapterz"]}}, ["method", "adapterz"]),
        ({"train.batch_size": {"type": "choice", "values": [8, "x"]}}, ["batch_size", "'x'"]),
        ({"train.epochs": {"type": "choice"}}, ["train.epochs", "values"]),
        ({"train.epochs": [1, 2]}, ["train.epochs", "mapping"]),
        ({"train.epochs": {"type": "int", "low": 1, "high": 3, "max": 4}}, ["'max'"]),
        ({"lora.dropout": {"type": "uniform", "low": 0, "high": 0.1, "values": [0.5]}}, ["[0"]),
    ],
)
def test_a_bad_search_block_is_one_line_naming_the_key(tmp_path, space, fragments):
    message = error(write(tmp_path, space))
    assert "study.yaml" in message
    for fragment in fragments:
        assert fragment in message


def test_a_grid_needs_points_for_a_continuous_range(tmp_path):
    space = {"train.learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}
    message = error(write(tmp_path, space, tune={"search": "grid"}))
    assert "search.train.learning_rate" in message and "values" in message


def test_a_grid_runs_each_point_once_at_most(tmp_path):
    space = {"train.epochs": {"type": "int", "low": 1, "high": 3}, "lora.r": SPACE["lora.r"]}
    assert load_study(write(tmp_path, space, tune={"search": "grid"})).trials == 12
    capped = load_study(write(tmp_path, space), ["tune.search=grid", "tune.trials=50"])
    assert capped.trials == 12
    assert load_study(write(tmp_path, space), ["tune.search=grid", "tune.trials=5"]).trials == 5


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["tune.workers=0"], "tune.workers"),
        (["tune.search=annealing"], "tune.search"),
        (["tune.pruner=sometimes"], "tune.pruner"),
        (["tune.timeout=soon"], "tune.timeout"),
        (["objective.direction=up"], "objective.direction"),
        (["data.validation_fraction=0"], "validation"),
    ],
)
def test_bad_study_settings_are_one_line(tmp_path, overrides, fragment):
    assert fragment in error(write(tmp_path), overrides)


def test_the_objective_defaults_to_the_task(tmp_path):
    assert resolve_objective(ObjectiveConfig(), "classification", "s") == ("f1_macro", "maximize")
    assert resolve_objective(ObjectiveConfig(), "chat", "s") == ("loss", "minimize")
    assert resolve_objective(ObjectiveConfig("accuracy"), "classification", "s")[1] == "maximize"
    assert resolve_objective(ObjectiveConfig("loss", "maximize"), "text", "s")[1] == "maximize"
    with pytest.raises(TunesmithError, match="objective.metric 'f1_macro'.*loss, perplexity"):
        resolve_objective(ObjectiveConfig("f1_macro"), "instruction", "s")


@pytest.mark.parametrize(
    "text, seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400)]
)
def test_durations(text, seconds):
    assert parse_duration(text, "s") == seconds


def test_readme_documents_the_study_sections():
    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert study_reference_markdown() in readme.read_text(encoding="utf-8")
