"""Where tensors live: `--device auto|cpu|cuda|cuda:N` (`device=` in Python).

`auto` is CUDA where it pays and the CPU elsewhere. So far only the RLHF stages take a device (language
models: every step is large matrix products); `auto` gives them CUDA when torch sees a GPU. The control
algorithms still run on the CPU (their MLPs are small, and rung's NumPy acting path is the fast one
there; not yet measured against a GPU).
"""

from __future__ import annotations

import torch

from rung.errors import RungError

CHOICES = "auto, cpu, cuda or cuda:N"


def resolve(spec: str | torch.device | None, prefers_gpu: bool = True) -> torch.device:
    """The torch.device for a --device value; a one-line RungError for a CUDA device this machine lacks."""
    if spec is None or str(spec) == "auto":
        return torch.device("cuda" if prefers_gpu and torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise RungError(f"unknown device {spec!r}; use {CHOICES}") from None
    if device.type not in ("cpu", "cuda"):
        raise RungError(f"unknown device {spec!r}; use {CHOICES}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RungError(f"--device {spec}: torch sees no CUDA device on this machine (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RungError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
