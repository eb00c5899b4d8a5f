import pytest

from rung.algos.qlearning import Config
from rung.config import build, parse_assignments
from rung.errors import RungError


def test_values_are_converted_to_the_declared_type():
    config = build(Config, {"lr": "1e-3", "gamma": 1, "q_init": "2"})
    assert config.lr == 0.001 and isinstance(config.gamma, float) and config.q_init == 2.0


@pytest.mark.parametrize("key, value, words", [
    ("gamma", 1.5, "gamma=1.5 is outside [0, 1]"),
    ("gamma", -0.1, "outside [0, 1]"),
    ("lr", 0.0, "lr=0.0 is outside (0, 1]"),
    ("epsilon", 2, "epsilon=2.0 is outside [0, 1]"),
    ("gamma", "abc", "gamma must be a float"),
])
def test_out_of_range_values_are_refused(key, value, words):
    with pytest.raises(RungError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        build(Config, {key: value})


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(RungError, match="unknown config key 'gama'.*gamma"):
        build(Config, {"gama": 0.9})


def test_parse_assignments():
    assert parse_assignments(["a=1", "b=False", "c=x", "d=0.5"], "--set") == {"a": 1, "b": False, "c": "x", "d": 0.5}
    with pytest.raises(RungError, match="KEY=VALUE"):
        parse_assignments(["novalue"], "--set")


def test_every_shipped_preset_resolves_to_a_valid_configuration():
    """A preset is read only when someone trains with it: a misspelt key or a value out of range would
    surface as that user's error. resolve() builds and range-checks each one without training."""
    from rung.algos import ALGOS
    from rung.api import resolve
    from rung.presets import all_presets

    checked = 0
    for algo in ALGOS:
        for env_id, presets in all_presets(algo).items():
            for name in presets:
                settings = resolve(algo, env_id, preset=name)
                assert settings.steps > 0
                checked += 1
    assert checked > 40
