"""Read, override, validate and write configs against the dataclasses in ``tunesmith.config``.

Nothing here holds a default: an omitted key keeps the dataclass default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from tunesmith.config import Config, ObjectiveConfig, TuneConfig
from tunesmith.errors import TunesmithError

#: Top-level sections only ``tunesmith tune`` reads (``tunesmith.tune.spec``). A run leaves them
#: out, so a study file also trains as it stands: the untuned base config of the study.
STUDY_SECTIONS = ("search", "objective", "tune")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Build a Config from a YAML file (optional) and ``key.sub=value`` overrides."""
    raw, source = read_raw(path, overrides)
    return build_config(raw, source)


def read_raw(path: str | Path | None, overrides: list[str] | None = None) -> tuple[dict, str]:
    """(the YAML file's mapping with ``overrides`` applied, its source name); not validated."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        raw = _read_yaml(Path(path))
        source = str(path)
    for item in overrides or []:
        key, value = _parse_override(item)
        set_dotted(raw, key, value)
    return raw, source


def build_config(raw: dict[str, Any], source: str) -> Config:
    """Validate a raw mapping (study sections left out) into a Config."""
    run = {key: value for key, value in raw.items() if key not in STUDY_SECTIONS}
    cfg = from_dict(Config, run, source)
    _check_relations(cfg, source)
    return cfg


def from_dict(cls: type, raw: dict[str, Any], source: str, prefix: str = "") -> Any:
    """Turn a nested dict into dataclass ``cls``, naming the bad key and the allowed ones."""
    if not isinstance(raw, dict):
        raise TunesmithError(
            f"{source}: '{prefix.rstrip('.') or 'top level'}' must be a mapping of keys, "
            f"got {type(raw).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            allowed = ", ".join(prefix + name for name in fields)
            raise TunesmithError(
                f"{source}: unknown key '{prefix}{key}'; allowed keys here: {allowed}"
            )
        kwargs[key] = _coerce(hints[key], value, source, prefix + key)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain data, ready for YAML or JSON."""
    return dataclasses.asdict(cfg)


def dump_config(cfg: Config, path: Path) -> None:
    """Write the resolved config so the run can be reproduced."""
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


def reference_markdown() -> str:
    """The config reference for the README, generated from the dataclasses."""
    return _reference(_walk(Config, ""))


def study_reference_markdown() -> str:
    """The reference of the sections only ``tunesmith tune`` reads (``objective``, ``tune``)."""
    rows = [*_walk(ObjectiveConfig, "objective."), *_walk(TuneConfig, "tune.")]
    return _reference(iter(rows))


def _reference(rows) -> str:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, help_text in rows:
        lines.append(f"| `{key}` | `{default}` | {help_text} |")
    return "\n".join(lines)


def _walk(cls: type, prefix: str):
    instance = cls()
    for f in dataclasses.fields(cls):
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(value):
            yield from _walk(type(value), f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, value, f.metadata.get("help", "")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise TunesmithError(f"{path}: config file not found; check the path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise TunesmithError(
            f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax"
        ) from None
    except UnicodeDecodeError:
        raise TunesmithError(f"{path}: not UTF-8 text; save the config as UTF-8") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TunesmithError(f"{path}: the config must be a mapping of keys, like 'model: default'")
    return data


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise TunesmithError(f"--set {item}: expected KEY=VALUE, e.g. --set train.max_steps=20")
    key, text = item.split("=", 1)
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw[a][b] = value`` for ``key`` "a.b", creating sections on the way."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise TunesmithError(f"--set {key}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def _coerce(hint: Any, value: Any, source: str, key: str) -> Any:
    """Check ``value`` against a type hint, converting where it is unambiguous (int -> float)."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value if value is not None else {}, source, key + ".")
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(option, value, source, key)
            except TunesmithError as exc:
                errors.append(str(exc))
        raise TunesmithError(errors[0])
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            choices = ", ".join(str(a) for a in allowed)
            raise TunesmithError(
                f"{source}: {key} = {value!r} is not allowed; choose one of: {choices}"
            )
        return value
    if origin is dict:
        return _coerce_mapping(hint, value, source, key)
    if origin is list:
        if not isinstance(value, list):
            raise TunesmithError(f"{source}: {key} must be a list, e.g. [a, b]; got {value!r}")
        (item_type,) = get_args(hint)
        return [_coerce(item_type, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    return _coerce_scalar(hint, value, source, key)


def _coerce_mapping(hint: Any, value: Any, source: str, key: str) -> dict:
    if not isinstance(value, dict):
        raise TunesmithError(f"{source}: {key} must be a mapping, e.g. {{a: b}}; got {value!r}")
    key_type, value_type = get_args(hint)
    return {
        _coerce(key_type, k, source, f"{key} key {k!r}"): _coerce(
            value_type, v, source, f"{key}.{k}"
        )
        for k, v in value.items()
    }


def _coerce_scalar(hint: Any, value: Any, source: str, key: str) -> Any:
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads "2e-4" (no dot) as a string
        except ValueError:
            pass
    if hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise TunesmithError(f"{source}: {key} must be {hint.__name__}, got {value!r}; fix the value")


def _check_relations(cfg: Config, source: str) -> None:
    """Checks that span several keys."""
    t = cfg.train
    positive = {
        "train.batch_size": t.batch_size,
        "train.grad_accum": t.grad_accum,
        "train.max_length": t.max_length,
        "train.loss_chunk": t.loss_chunk,
        "eval.batch_size": cfg.eval.batch_size,
        "lora.r": cfg.lora.r,
        "layers.train_top": cfg.layers.train_top,
        "prompt.num_virtual_tokens": cfg.prompt.num_virtual_tokens,
        "prompt.encoder_hidden_size": cfg.prompt.encoder_hidden_size,
    }
    for key, value in positive.items():
        if value < 1:
            raise TunesmithError(f"{source}: {key} must be at least 1, got {value}")
    at_least: dict[str, tuple[int | None, int]] = {
        "train.checkpoint_every": (t.checkpoint_every, 0),
        "train.keep_checkpoints": (t.keep_checkpoints, 1),
        "train.max_nan_steps": (t.max_nan_steps, 1),
        "train.early_stopping_patience": (t.early_stopping_patience, 1),
        "train.eval_every": (t.eval_every, 1),
        "layers.unfreeze_every": (cfg.layers.unfreeze_every, 1),
    }
    for name, (setting, low) in at_least.items():
        if setting is not None and setting < low:
            raise TunesmithError(f"{source}: {name} must be at least {low}, got {setting}")
    if t.batch_size % t.grad_accum:
        raise TunesmithError(
            f"{source}: train.batch_size ({t.batch_size}) must be a multiple of "
            f"train.grad_accum ({t.grad_accum}); each micro-batch holds batch_size / grad_accum"
        )
    if t.max_steps is not None and t.max_steps < 1:
        raise TunesmithError(f"{source}: train.max_steps must be at least 1 or empty")
    if t.epochs <= 0:
        raise TunesmithError(f"{source}: train.epochs must be above 0, got {t.epochs}")
    if t.learning_rate is not None and t.learning_rate <= 0:
        raise TunesmithError(f"{source}: train.learning_rate must be above 0")
    if not 0 <= t.loss_grad_filter < 1:
        raise TunesmithError(
            f"{source}: train.loss_grad_filter must be in [0, 1) (0 = exact), "
            f"got {t.loss_grad_filter}"
        )
    _check_lr_decay(cfg, source)
    for key in ("validation_fraction", "test_fraction"):
        value = getattr(cfg.data, key)
        if not 0 <= value < 0.9:
            raise TunesmithError(f"{source}: data.{key} must be in [0, 0.9), got {value}")
    _check_data_steps(cfg, source)
    _check_features(cfg, source)


def _check_data_steps(cfg: Config, source: str) -> None:
    """Ranges of the preprocessing and augmentation keys."""
    pre, aug = cfg.data.preprocess, cfg.data.augment
    if not 0 < pre.near_threshold <= 1:
        raise TunesmithError(
            f"{source}: data.preprocess.near_threshold must be in (0, 1], got {pre.near_threshold}"
        )
    for name in ("delete_rate", "swap_rate", "insert_rate"):
        rate = getattr(aug, name)
        if not 0 <= rate <= 1:
            raise TunesmithError(f"{source}: data.augment.{name} must be in [0, 1], got {rate}")
    for name in ("copies", "paraphrases"):
        if getattr(aug, name) < 0:
            raise TunesmithError(f"{source}: data.augment.{name} must be 0 (off) or more")
    if aug.paraphrase_max_new_tokens < 1 or aug.paraphrase_temperature <= 0:
        raise TunesmithError(
            f"{source}: data.augment.paraphrase_max_new_tokens must be at least 1 and "
            "paraphrase_temperature above 0"
        )


#: Methods whose trained weights are whole layers, which layer-wise lr decay spreads over.
LAYERWISE_METHODS = ("full", "freeze", "gradual_unfreeze")


def _check_lr_decay(cfg: Config, source: str) -> None:
    decay = cfg.layers.lr_decay
    if decay is None:
        return
    if not 0 < decay <= 1:
        raise TunesmithError(f"{source}: layers.lr_decay must be in (0, 1], got {decay}")
    if cfg.method not in LAYERWISE_METHODS:
        raise TunesmithError(
            f"{source}: layers.lr_decay works with method {', '.join(LAYERWISE_METHODS)}, "
            f"not {cfg.method}; leave it empty or change the method"
        )


def _check_features(cfg: Config, source: str) -> None:
    """The feature-extraction head's settings (checked whatever the method, they are cheap)."""
    f = cfg.features
    for key in ("batch_size", "mlp_hidden", "mlp_epochs"):
        if getattr(f, key) < 1:
            raise TunesmithError(f"{source}: features.{key} must be at least 1")
    for key in ("c", "mlp_learning_rate"):
        if getattr(f, key) <= 0:
            raise TunesmithError(f"{source}: features.{key} must be above 0")
