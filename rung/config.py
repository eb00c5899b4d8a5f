"""Config dataclasses: documented fields, typed `KEY=VALUE` overrides, range checks.

Every algorithm's config is a plain `@dataclass` whose fields are declared with `param(...)`; the help
text of `rung train --help` and the checks on user input both come from those declarations.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

from rung.errors import RungError


def param(default: Any, help: str, low: float | None = None, high: float | None = None,
          low_inclusive: bool = True, high_inclusive: bool = True, choices: tuple = ()) -> Any:
    """A config field with its one-line help and the range of values it accepts."""
    meta = {"help": help, "low": low, "high": high, "low_inclusive": low_inclusive,
            "high_inclusive": high_inclusive, "choices": choices}
    return dataclasses.field(default=default, metadata=meta)


def field_range(f: dataclasses.Field) -> str:
    """The accepted range of a field as text, e.g. '[0, 1]' or '(0, inf)'; '' when unbounded."""
    m = f.metadata
    if m.get("choices"):
        return "{" + ", ".join(map(str, m["choices"])) + "}"
    if m.get("low") is None and m.get("high") is None:
        return ""
    low = "-inf" if m["low"] is None else f"{m['low']:g}"
    high = "inf" if m["high"] is None else f"{m['high']:g}"
    left = "[" if m["low"] is not None and m["low_inclusive"] else "("
    right = "]" if m["high"] is not None and m["high_inclusive"] else ")"
    return f"{left}{low}, {high}{right}"


def fields_help(config_cls: type) -> list[str]:
    """One line per field: name, type, default, range and help."""
    hints = typing.get_type_hints(config_cls)
    lines = []
    for f in dataclasses.fields(config_cls):
        rng = field_range(f)
        kind = getattr(hints[f.name], "__name__", str(hints[f.name]))
        extra = f" in {rng}" if rng else ""
        lines.append(f"{f.name} ({kind}, default {f.default!r}{extra}): {f.metadata.get('help', '')}")
    return lines


def parse_scalar(text: str) -> Any:
    """Turn a command-line string into None, bool, int, float or leave it a string."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_assignments(items: list[str] | None, what: str) -> dict[str, Any]:
    """['a=1', 'b=x'] -> {'a': 1, 'b': 'x'}; `what` names the option in errors."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RungError(f"{what} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_scalar(value)
    return out


def coerce(config_cls: type, name: str, value: Any) -> Any:
    """Convert `value` to the declared type of field `name` (so `1e-3` from YAML becomes a float)."""
    hint = typing.get_type_hints(config_cls)[name]
    optional = type(None) in typing.get_args(hint)
    base = next((t for t in typing.get_args(hint) if t is not type(None)), hint) if optional else hint
    if value is None:
        if optional:
            return None
        raise RungError(f"{name} cannot be None")
    try:
        if typing.get_origin(base) is tuple:  # "256,256" on the command line, a list in YAML
            items = value.split(",") if isinstance(value, str) else value
            items = [items] if isinstance(items, (int, float)) else items
            return tuple(int(v) for v in items)
        if base is bool:
            if isinstance(value, str):
                value = parse_scalar(value)
            if not isinstance(value, bool):
                raise ValueError
            return value
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if base is float:
            return float(value)
        if base is str:
            return str(value)
    except (TypeError, ValueError):
        kind = getattr(base, "__name__", str(base))
        raise RungError(f"{name} must be a {kind}, got {value!r}") from None
    return value


def build(config_cls: type, overrides: dict[str, Any]):
    """A config from defaults plus overrides, every value type-converted and range-checked."""
    names = [f.name for f in dataclasses.fields(config_cls)]
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise RungError(f"unknown config key {unknown[0]!r}; valid keys: {', '.join(names)}")
    config = config_cls(**{k: coerce(config_cls, k, v) for k, v in overrides.items()})
    validate(config)
    return config


def validate(config) -> None:
    """Raise RungError naming the first field whose value is outside its declared range."""
    for f in dataclasses.fields(config):
        value, m = getattr(config, f.name), f.metadata
        if value is None:
            continue
        if m.get("choices") and value not in m["choices"]:
            raise RungError(f"{f.name}={value!r} is not one of {field_range(f)} ({m['help']})")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        low, high = m.get("low"), m.get("high")
        too_low = low is not None and (value < low if m["low_inclusive"] else value <= low)
        too_high = high is not None and (value > high if m["high_inclusive"] else value >= high)
        if math.isnan(value) or too_low or too_high:
            raise RungError(f"{f.name}={value!r} is outside {field_range(f)} ({m['help']})")
