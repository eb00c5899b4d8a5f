"""Tuned hyper-parameters per (algorithm, env), one YAML file per algorithm:

    ENV_ID:
      PRESET_NAME:          # `default` is used when no --preset is given
        steps: 1000000      # the step budget the preset was tuned for (optional)
        threads: 1          # torch threads, when fewer than the cores is faster (optional)
        gamma: 0.99         # any other key is a field of the algorithm's Config
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from rung.errors import RungError


def all_presets(algo: str) -> dict[str, dict[str, dict]]:
    """{env_id: {preset_name: values}} for one algorithm ({} when it has no preset file)."""
    path = resources.files(__package__) / f"{algo}.yaml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def get_preset(algo: str, env_id: str, name: str | None) -> dict:
    """The named preset's values; with name None, the env's `default` preset or {} if it has none. A
    name ending in .yaml or .yml is a preset file: one flat mapping of the same keys (`rung sweep`
    exports its best configuration as one)."""
    if name is not None and name.endswith((".yaml", ".yml")):
        return preset_file(name)
    by_name = all_presets(algo).get(env_id, {})
    if name is None:
        return dict(by_name.get("default", {}))
    if name not in by_name:
        known = ", ".join(by_name) or "none"
        raise RungError(f"no preset {name!r} for {algo} on {env_id} (presets there: {known})")
    return dict(by_name[name])


def preset_file(path: str) -> dict:
    """A preset file's values (`rung train --preset FILE.yaml`)."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise RungError(f"cannot read preset file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RungError(f"preset file {path} is not valid YAML ({type(exc).__name__})") from None
    if not isinstance(values, dict):
        raise RungError(f"preset file {path} must hold one mapping of config keys to values")
    return values
