"""Where tensors live: `--device auto|cpu|cuda|cuda:N` (`device=` in Python).

`auto` is CUDA where it pays and the CPU elsewhere:
- the RLHF stages (language models: every step is large matrix products): CUDA when torch sees a GPU;
- the control algorithms (DQN, REINFORCE, A2C, PPO, DDPG, TD3, SAC, `for_learner`): CUDA when torch sees
  a GPU and the observations are images (a CNN body's convolutions), the CPU for MLP bodies, whose
  matrices are a few dozen to a few hundred wide: there each step is launch overhead on a GPU, and
  rung's NumPy acting path (rung.nets.fast_sampler) only exists on the CPU. Not yet measured on a GPU
  (docs/gpu.md): no GPU was lent to the sessions that built this.

The learners build their networks on the CPU and then move them (`built_on_cpu`): a seed gives the same initial
weights on every device. Environments and replay / rollout buffers stay in NumPy on the host; each
batch crosses to the device once (rung.observations.as_tensor), actions come back once per step.
"""

from __future__ import annotations

import contextlib

import torch
from gymnasium import spaces

from rung.errors import RungError

CHOICES = "auto, cpu, cuda or cuda:N"
CPU = torch.device("cpu")


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


def device_of(module: torch.nn.Module) -> torch.device:
    """The device a network's weights are on: where its inputs must be made."""
    return next(module.parameters()).device


def for_learner(spec: str | torch.device | None, obs_space: spaces.Space) -> torch.device:
    """The device of a control algorithm's networks: `spec`, or for auto CUDA only for image observations."""
    from rung.nets import has_image_leaf

    return resolve(spec, prefers_gpu=has_image_leaf(obs_space))


@contextlib.contextmanager
def built_on_cpu():
    """Modules made inside are made on the CPU whatever torch's default device is, so that their random
    initial weights are the same for a seed on every device; move them with `.to(device)` after."""
    with torch.device("cpu"):
        yield
