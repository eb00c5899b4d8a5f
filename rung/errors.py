"""The one exception type the CLI turns into a one-line message and exit code 2, and the guard that
stops a diverging run."""

import math


class RungError(Exception):
    """A problem with the user's input (env id, config value, run directory...) or with the run it
    asked for (a diverging learner, a failing env), not a bug in rung."""


class RungWarning(UserWarning):
    """A run that will work but probably not as the user meant (the CLI prints it as one line)."""


def require_finite(name: str, value, step: int) -> None:
    """Stop the run when a learner's number stops being a number: which one, and at which env step."""
    import torch

    finite = bool(torch.isfinite(value).all()) if isinstance(value, torch.Tensor) else math.isfinite(value)
    if not finite:
        raise RungError(f"non-finite {name} at env step {step:,}: training diverged; lower lr, or check the env's "
                        "rewards and observations (the last checkpoint holds the last good state)")
