"""Dict and Tuple observations (issue 15, item 1), carried through rung as NumPy structured arrays.

A goal-conditioned robot sees {"observation": Box, "desired_goal": Box}, a game {"board": image,
"turn": Discrete}. Rung packs such an observation into one structured array whose fields are the
leaves, each in its own dtype and shape (uint8 images stay uint8): a batch is an ndarray of shape [N]
like any other observation batch, so buffers, stacking, indexing and reshaping need nothing special.
Only at the network's door are the fields taken apart (`as_tensor` → a `Leaves` dict of tensors),
and rung.nets gives every leaf its own encoder.

Field names: a Dict's keys, a Tuple's positions ("0", "1", …), nested ones joined with ".". An
"action_mask" key is not an observation but the legal actions (rung.masks; the sb3-contrib /
PettingZoo convention): rung.envs.VecEnv takes it out, and a Dict left with one leaf is that leaf.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from rung.errors import RungError

MASK_KEY = "action_mask"


def is_tree_space(space: spaces.Space) -> bool:
    return isinstance(space, (spaces.Dict, spaces.Tuple))


def leaf_spaces(space: spaces.Space, prefix: str = "") -> dict[str, spaces.Space]:
    """Every leaf of a Dict / Tuple space by field name, in the space's order."""
    items = space.spaces.items() if isinstance(space, spaces.Dict) else enumerate(space.spaces)
    leaves = {}
    for key, sub in items:
        name = f"{prefix}{key}"
        leaves.update(leaf_spaces(sub, f"{name}.") if is_tree_space(sub) else {name: sub})
    return leaves


def without_mask(space: spaces.Space) -> spaces.Space:
    """The observation space the learner sees: a Dict without its "action_mask" key (and the one leaf
    left, if only one is)."""
    if not (isinstance(space, spaces.Dict) and MASK_KEY in space.spaces):
        return space
    rest = {key: sub for key, sub in space.spaces.items() if key != MASK_KEY}
    return next(iter(rest.values())) if len(rest) == 1 else spaces.Dict(rest)


def split_mask(obs, space: spaces.Space):
    """(observation without its "action_mask", the mask or None) of an env's raw observation (or batch)."""
    if not (isinstance(space, spaces.Dict) and MASK_KEY in space.spaces):
        return obs, None
    rest = [key for key in space.spaces if key != MASK_KEY]
    return (obs[rest[0]] if len(rest) == 1 else obs), obs[MASK_KEY]


def layout(space: spaces.Space) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one observation as rung stores it: a structured dtype of shape () for a tree."""
    if not is_tree_space(space):
        return space.shape, space.dtype
    fields = []
    for name, leaf in leaf_spaces(space).items():
        if leaf.shape is None or leaf.dtype is None:
            raise RungError(f"observation leaf {name!r} is a {type(leaf).__name__}: rung takes Box, Discrete, "
                            f"MultiDiscrete and MultiBinary leaves")
        fields.append((name, leaf.dtype, leaf.shape))
    return (), np.dtype(fields)


def pack(obs, space: spaces.Space, batched: bool = True) -> np.ndarray:
    """An env's Dict / Tuple observation (a batch of them when `batched`: each leaf [N, …]) as a
    structured array ([N], or a single record of shape ()); other observations as they are."""
    if not is_tree_space(space):
        return obs
    dtype = layout(space)[1]
    leaves = flat_leaves(obs, space)
    n = len(next(iter(leaves.values()))) if batched else None
    packed = np.empty((n,) if batched else (), dtype=dtype)
    for name, value in leaves.items():
        packed[name] = value
    return packed


def flat_leaves(obs, space: spaces.Space, prefix: str = "") -> dict:
    items = space.spaces.items() if isinstance(space, spaces.Dict) else enumerate(space.spaces)
    leaves = {}
    for key, sub in items:
        value = obs[key]
        name = f"{prefix}{key}"
        leaves.update(flat_leaves(value, sub, f"{name}.") if is_tree_space(sub) else {name: value})
    return leaves


class Leaves(dict):
    """The tensors of a batch of tree observations by field name; indexing with anything but a name
    indexes every leaf (a minibatch of the batch)."""

    def __getitem__(self, key):
        if isinstance(key, str):
            return super().__getitem__(key)
        return Leaves({name: value[key] for name, value in self.items()})

    def __len__(self) -> int:
        return len(next(iter(self.values())))


def as_tensor(obs: np.ndarray, device: torch.device | None = None):
    """A batch of observations (or any array) for a network on `device` (None: the CPU, without a copy
    where NumPy allows): a tensor, or for structured arrays a Leaves of tensors (each field copied out
    contiguous: torch cannot view a field of a record)."""
    if obs.dtype.names is None:
        return torch.as_tensor(obs, device=device)
    return Leaves({name: torch.as_tensor(np.ascontiguousarray(obs[name]), device=device) for name in obs.dtype.names})


def one_batch(obs, space: spaces.Space) -> np.ndarray:
    """A single observation (a dict or tuple for tree spaces) as a batch of one."""
    return pack(obs, space, batched=False)[None] if is_tree_space(space) else np.asarray(obs)[None]


def unsupported(space: spaces.Space) -> str | None:
    """Why a deep learner cannot take this observation space (its "action_mask" key aside), or None."""
    space = without_mask(space)
    leaves = leaf_spaces(space).values() if is_tree_space(space) else [space]
    for leaf in leaves:
        if not isinstance(leaf, (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)):
            return (f"observation space {space} has a {type(leaf).__name__} part; rung's networks take Box, "
                    f"Discrete, MultiDiscrete and MultiBinary ones, alone or in a Dict or Tuple")
    return None
