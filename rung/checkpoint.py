"""Crash-safe checkpoints: everything a learner needs to continue, in one safetensors file.

    RUN_DIR/checkpoint.safetensors     tensors (weights, optimiser moments, normaliser statistics,
                                       replay buffer, torch's RNGs) + a JSON header (step, counters,
                                       NumPy RNG states, algorithm, env, versions)

Written atomically (a temporary file, fsync, rename), so after a crash at any moment the directory
holds the previous complete checkpoint or the new one. Nothing is unpickled when reading: safetensors
holds only arrays, the header only JSON.

An algorithm names its state once, as a dict of objects, and hands it to `snapshot` / `restore`:
torch modules (their state_dict), objects with `state_dict()` / `load_state_dict()` (rung's optimisers,
buffers, reward scaler), NumPy arrays (restored in place, e.g. a Q table), random number generators
(NumPy's, torch's, Python's `random.Random`), and dicts of JSON values (counters). None entries are skipped (an optional part that is off). torch's global
RNG is always included.

The resume contract: a run continued from the checkpoint saved at env step k is bit-identical to the
same run continuing in its own process right after saving at k with its environments' episodes
restarted there (reset with the seed `restart_seed(seed, k)`): environments are not saved. An
uninterrupted run restarts its episodes at checkpoints only with `exact_resume` (rung.runs.Logger).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from rung.errors import RungError

CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT = "rung-checkpoint-1"


def restart_seed(seed: int, step: int) -> int:
    """The seed the envs are reset with when a run (re)starts its episodes at env step `step`; at step 0
    it is the run's seed."""
    return seed + step


def snapshot(state: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and JSON values of every object in `state` (see the module docstring for the kinds)."""
    arrays, values = {"torch_rng": torch.get_rng_state().numpy()}, {}
    if torch.cuda.is_initialized():   # a learner on a GPU samples from the GPU's generators
        arrays.update({f"cuda_rng/{i}": state.numpy() for i, state in enumerate(torch.cuda.get_rng_state_all())})
    for name, obj in state.items():
        if obj is None:
            continue
        if isinstance(obj, np.random.Generator):
            values[name] = obj.bit_generator.state
        elif isinstance(obj, torch.Generator):
            arrays[name] = obj.get_state().numpy()
        elif isinstance(obj, random.Random):
            values[name] = obj.getstate()
        elif isinstance(obj, np.ndarray):
            arrays[name] = np.array(obj, order="C")  # a copy; np.ascontiguousarray would make 0-d arrays 1-d
        elif isinstance(obj, dict):
            values[name] = obj
        elif hasattr(obj, "state_dict"):
            for key, value in obj.state_dict().items():
                arrays[f"{name}/{key}"] = np.array(value.detach().cpu().numpy() if isinstance(value, torch.Tensor)
                                                   else value, order="C")
        else:
            raise TypeError(f"cannot checkpoint {name}: {type(obj).__name__}")
    return arrays, values


def restore(state: dict, arrays: dict[str, np.ndarray], values: dict) -> None:
    """Load a snapshot back into the objects of `state`, in place."""
    torch.set_rng_state(torch.from_numpy(arrays["torch_rng"].copy()))
    # resumed where the GPU is missing (device_count() is 0), only bit-exactness is lost
    cuda_states = [torch.from_numpy(arrays[f"cuda_rng/{i}"].copy()) for i in range(torch.cuda.device_count())
                   if f"cuda_rng/{i}" in arrays]
    if cuda_states:
        torch.cuda.set_rng_state_all(cuda_states)
    for name, obj in state.items():
        if obj is None:
            continue
        if isinstance(obj, np.random.Generator):
            obj.bit_generator.state = values[name]
        elif isinstance(obj, torch.Generator):
            obj.set_state(torch.from_numpy(arrays[name].copy()))
        elif isinstance(obj, random.Random):
            version, internal, gauss = values[name]   # JSON turned the tuples into lists
            obj.setstate((version, tuple(internal), gauss))
        elif isinstance(obj, np.ndarray):
            obj[...] = arrays[name]
        elif isinstance(obj, dict):
            obj.clear()
            obj.update(values[name])
        else:
            prefix = f"{name}/"
            part = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            if isinstance(obj, torch.nn.Module):
                obj.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in part.items()})
            else:
                obj.load_state_dict(part)


def save(path: Path, step: int, state: dict, header: dict) -> None:
    """Write the checkpoint of `state` at env step `step` atomically to `path`; a state holding NaN or
    inf is refused (RungError), so the checkpoint on disk is always the last good one."""
    arrays, values = snapshot(state)
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise RungError(f"non-finite values in {name} at env step {step:,}: training diverged; the checkpoint "
                            "on disk is the last good one")
    meta = {"format": FORMAT, "step": step, "values": values, **header}
    tmp = path.with_name(path.name + ".tmp")
    save_file(arrays, str(tmp), metadata={"rung": json.dumps(meta)})
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and header of a checkpoint; a RungError for anything unreadable or foreign."""
    if not path.is_file():
        raise RungError(f"{path.parent} has no checkpoint ({path.name} is missing)")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {})["rung"])
        arrays = load_file(str(path))
    except Exception as exc:
        raise RungError(f"{path} is not a readable rung checkpoint ({type(exc).__name__}: {exc})") from None
    if meta.get("format") != FORMAT:
        raise RungError(f"{path} is not a rung checkpoint (format {meta.get('format')!r})")
    return arrays, meta
