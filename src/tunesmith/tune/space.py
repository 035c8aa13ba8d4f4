"""The search space: the YAML's ``search:`` block, checked against the Config dataclasses.

    search:
      train.learning_rate: {type: loguniform, low: 1.0e-5, high: 1.0e-3}
      train.batch_size: {type: choice, values: [8, 16]}
      train.epochs: {type: int, low: 1, high: 3}

Types: ``loguniform``, ``uniform`` and ``float`` (optional ``step``), ``int`` (optional ``step``,
``log``) and ``choice`` / ``categorical`` (``values``). A range may also list ``values``: a grid
search tries exactly those, the other searches draw from the range. Each key is any config key;
the trial's value replaces it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from tunesmith.config import Config
from tunesmith.config_io import from_dict, set_dotted
from tunesmith.errors import TunesmithError

CHOICE_TYPES = ("choice", "categorical")
FLOAT_TYPES = ("loguniform", "uniform", "float")
TYPES = (*FLOAT_TYPES, "int", *CHOICE_TYPES)
_KEYS = {"type", "low", "high", "step", "log", "values"}
#: Keys a trial must not change: each trial has its own run directory.
_FIXED = ("output",)


@dataclass(frozen=True)
class Param:
    """One searched config key and the values it may take."""

    key: str  # a dotted config key, also the Optuna parameter name
    kind: str  # "float", "int" or "choice"
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    values: tuple[Any, ...] | None = None  # choices, or the grid points of a range

    def suggest(self, trial) -> Any:
        """Draw this parameter's value for an Optuna ``trial``."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values or ()))
        assert self.low is not None and self.high is not None  # a range has both ends
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(
            self.key, float(self.low), float(self.high), step=self.step, log=self.log
        )

    def grid(self, source: str) -> list[Any]:
        """The values a grid search tries; a range without ``values`` or ``step`` can't be one."""
        if self.values is not None:
            return list(self.values)
        low, high = self.low, self.high
        assert low is not None and high is not None
        if self.kind == "int":
            return list(range(int(low), int(high) + 1, int(self.step or 1)))
        if self.step is None:
            raise TunesmithError(
                f"{source}: search.{self.key} is a continuous range; a grid search needs its "
                f"points: add `values: [...]` or a `step`"
            )
        count = int(math.floor((high - low) / self.step + 1e-9)) + 1
        return [round(low + i * self.step, 12) for i in range(count)]


def parse_space(block: Any, base: dict[str, Any], source: str) -> list[Param]:
    """Validate the ``search:`` mapping against Config (and the base config ``base``)."""
    if not isinstance(block, dict) or not block:
        raise TunesmithError(
            f"{source}: 'search' must map config keys to ranges, e.g. "
            "train.learning_rate: {type: loguniform, low: 1.0e-5, high: 1.0e-3}"
        )
    hints = leaf_hints()
    params = []
    for key, spec in block.items():
        if key not in hints or key in _FIXED:
            raise TunesmithError(
                f"{source}: search.{key}: not a config key that can be searched; use a dotted "
                "key such as train.learning_rate, lora.r or method"
            )
        param = _parse_param(str(key), spec, hints[key], source)
        _check_values(param, base, source)
        params.append(param)
    return params


def leaf_hints() -> dict[str, Any]:
    """Every dotted config key (``train.learning_rate``) and its type hint."""
    found: dict[str, Any] = {}

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            if isinstance(hint, type) and dataclasses.is_dataclass(hint):
                walk(hint, f"{prefix}{f.name}.")
            else:
                found[prefix + f.name] = hint

    walk(Config, "")
    return found


def apply_params(raw: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the raw config mapping ``raw`` with each dotted key set to its value."""
    import copy

    result = copy.deepcopy(raw)
    for key, value in values.items():
        set_dotted(result, key, value)
    return result


def _parse_param(key: str, spec: Any, hint: Any, source: str) -> Param:
    where = f"{source}: search.{key}"
    if not isinstance(spec, dict) or "type" not in spec:
        raise TunesmithError(
            f"{where}: give a mapping with a type, e.g. {{type: choice, values: [8, 16]}}"
        )
    unknown = sorted(set(spec) - _KEYS)
    kind = spec["type"]
    if unknown:
        raise TunesmithError(f"{where}: unknown field {unknown[0]!r}; allowed: {sorted(_KEYS)}")
    if kind not in TYPES:
        raise TunesmithError(f"{where}: type {kind!r} is not one of: {', '.join(TYPES)}")
    values = spec.get("values")
    if values is not None and (not isinstance(values, list) or not values):
        raise TunesmithError(f"{where}: values must be a non-empty list, e.g. [8, 16]")
    if values is not None and not all(_is_scalar(v) for v in values):
        raise TunesmithError(f"{where}: values must be numbers, strings, booleans or null")
    if kind in CHOICE_TYPES:
        if values is None:
            raise TunesmithError(f"{where}: a {kind} needs values: [...]")
        return Param(key, "choice", values=tuple(values))
    return _parse_range(key, spec, kind, hint, where)


def _parse_range(key: str, spec: dict, kind: str, hint: Any, where: str) -> Param:
    numeric = _numeric_kind(hint)
    if numeric is None:
        raise TunesmithError(f"{where}: {key} is not a number; search it with type: choice")
    if kind != "int" and numeric == "int":
        raise TunesmithError(f"{where}: {key} is a whole number; use type: int")
    low, high, step = (_number(spec.get(name)) for name in ("low", "high", "step"))
    for name, value in (("low", low), ("high", high)):
        if not _is_number(value):
            raise TunesmithError(f"{where}: {name} must be a number, got {value!r}")
    if kind == "int" and not all(isinstance(v, int) for v in (low, high, step or 1)):
        raise TunesmithError(f"{where}: an int range needs whole low, high and step")
    if not low < high:  # type: ignore[operator]
        raise TunesmithError(f"{where}: low ({low}) must be below high ({high})")
    if step is not None and (not _is_number(step) or step <= 0):
        raise TunesmithError(f"{where}: step must be a number above 0, got {step!r}")
    log = kind == "loguniform" or bool(spec.get("log", False))
    if log and low <= 0:  # type: ignore[operator]
        raise TunesmithError(f"{where}: a log scale needs low above 0, got {low}")
    if log and step is not None:
        raise TunesmithError(f"{where}: step and a log scale don't mix; drop one")
    values = spec.get("values")
    if values is not None:
        values = [_number(v) for v in values]
    if values is not None and not all(_is_number(v) and low <= v <= high for v in values):
        raise TunesmithError(f"{where}: every one of values must lie in [{low}, {high}]")
    return Param(
        key,
        "int" if kind == "int" else "float",
        low=low,
        high=high,
        step=step,
        log=log,
        values=tuple(values) if values is not None else None,
    )


def _check_values(param: Param, base: dict[str, Any], source: str) -> None:
    """Each choice (or both ends of a range) must make a valid config on its own."""
    ends = param.values if param.values is not None else (param.low, param.high)
    for value in ends:
        from_dict(Config, apply_params(base, {param.key: value}), f"{source}: search")


def _numeric_kind(hint: Any) -> str | None:
    options = get_options(hint)
    if int in options:
        return "int"
    if float in options:
        return "float"
    return None


def get_options(hint: Any) -> tuple[Any, ...]:
    """The types a hint allows (``float | None`` -> (float, NoneType))."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _number(value: Any) -> Any:
    """YAML reads 1e-5 (no dot) as a string: take it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))
