"""Action masks: the legal actions of the current state, for envs where some actions are illegal
(board games, card games, schedulers). The env says which in `info["action_mask"]` (the sb3-contrib /
PettingZoo convention): a 0/1 vector with one entry per action of a Discrete space, or the components'
vectors concatenated for a MultiDiscrete one ([n₁ + n₂ + …]).

How each learner uses it:
- acting: illegal actions are never taken: ε-greedy draws among legal actions and argmax ranges over
  them (Q-learning, SARSA, DQN); a policy's logits of illegal actions are −∞ (REINFORCE, A2C, PPO), so
  log π and the entropy are those of the masked distribution, in the update too;
- the TD target maximises over the legal actions of s' only: max_{a' legal in s'} Q(s', a');
- evaluation acts with the mask as training did.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from rung.errors import RungError

KEY = "action_mask"


def mask_size(action_space: spaces.Space) -> int | None:
    """Entries of a mask for this action space; None when it cannot be masked."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(action_space.nvec.sum())
    return None


def component_sizes(action_space: spaces.Space) -> list[int]:
    if isinstance(action_space, spaces.MultiDiscrete):
        return [int(n) for n in action_space.nvec.reshape(-1)]
    return [int(action_space.n)]


def read(info: dict, action_space: spaces.Space, env_id: str, step: int,
         ended: np.ndarray | bool = False) -> np.ndarray | None:
    """The mask in `info` as bools ([K] from one env, [N, K] from a vector env's stacked infos), or None
    when the env gives none. A mask of the wrong shape, or one without a legal action in a state the
    agent must act in (not the final state of an episode, `ended`) → RungError naming the env step."""
    mask = info.get(KEY) if isinstance(info, dict) else None
    if mask is None:
        return None
    mask = np.asarray(mask)
    size = mask_size(action_space)
    if size is None:
        raise RungError(f"env {env_id!r} gives info[{KEY!r}] at env step {step:,}, but its action space "
                        f"{action_space} has no actions to mask (Discrete or MultiDiscrete)")
    if mask.shape[-1:] != (size,) or mask.ndim > 2:
        raise RungError(f"env {env_id!r} gave an action mask of shape {mask.shape[-1:] if mask.ndim <= 2 else mask.shape} "
                        f"at env step {step:,}; {action_space} needs {size} entries")
    mask = mask.astype(bool)
    empty = np.zeros(mask.shape[:-1], dtype=bool)
    for part in np.split(mask, np.cumsum(component_sizes(action_space))[:-1], axis=-1):
        empty |= ~part.any(axis=-1)
    stuck = empty & ~np.asarray(ended)
    if stuck.any():
        raise RungError(f"env {env_id!r} gave an action mask with no legal action at env step {step:,}"
                        + (f" (env {int(np.flatnonzero(stuck)[0])})" if mask.ndim == 2 else ""))
    if empty.any():   # the final state of an episode: nothing acts there, and nothing must fail on it
        mask = np.where(empty[..., None], True, mask)
    return mask


def random_legal(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random legal action per row of `masks` [N, A]: the largest of uniform keys,
    the illegal ones' set below any legal key."""
    return np.argmax(np.where(masks, rng.random(masks.shape), -1.0), axis=1)


def random_action(action_space: spaces.Space, info: dict, rng: np.random.Generator):
    """One env's uniformly random action, among the legal ones when `info` carries a mask."""
    mask = info.get(KEY) if isinstance(info, dict) else None
    if mask is None:
        return action_space.sample()
    parts = np.split(np.asarray(mask, dtype=bool), np.cumsum(component_sizes(action_space))[:-1])
    choice = [int(random_legal(part[None], rng)[0]) for part in parts]
    return choice[0] if isinstance(action_space, spaces.Discrete) else np.array(choice, dtype=action_space.dtype)


def mask_logits(logits, masks):
    """Logits [B, K] with the illegal entries at the most negative float: their probability is 0 and
    the softmax, log π and the entropy stay finite (−∞ would give 0 · ∞ = NaN in the entropy)."""
    import torch

    return logits.masked_fill(~masks, torch.finfo(logits.dtype).min)
