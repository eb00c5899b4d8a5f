"""rung: reinforcement learning from a Q-table to RLHF, one readable rung at a time."""

__version__ = "0.1.0"

from rung.api import load, resume, train  # noqa: E402
from rung.evaluate import evaluate  # noqa: E402
from rung.errors import RungError  # noqa: E402

__all__ = ["train", "resume", "evaluate", "load", "RungError", "__version__"]
