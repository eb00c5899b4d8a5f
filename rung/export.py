"""`rung export RUN_DIR --onnx FILE.onnx | --torchscript FILE.pt`: the greedy policy of a deep agent as one
graph, observation → action, to run without rung (docs/deploy.md).

What the graph holds: observation normalisation (its running statistics become constants), the body
(MLP or CNN; uint8 images go in as they come), the head, and the greedy action: argmax of the logits or
of Q (Discrete: int64 [B]; MultiDiscrete: int64 [B, k]), the Gaussian's mean or the deterministic actor
mapped to the env's bounds and clipped (Box: float32 [B, *shape]). Not exportable: Dict/Tuple
observations (several inputs), recurrent policies (state in and out), tables (they are arrays already).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rung.errors import RungError


class GreedyPolicy(nn.Module):
    """obs [B, *obs_shape] → the greedy action of the agent, as rung's act_batch computes it."""

    def __init__(self, agent):
        super().__init__()
        self.kind, bounds = exportable(agent)
        self.net = {"actor_critic": lambda: agent.policy, "q_network": lambda: agent.q_net,
                    "actor": lambda: agent.actor}[self.kind]()
        self.action_shape = getattr(agent, "action_space", None) and agent.action_space.shape
        self.bounded = bounds is not None
        if self.bounded:   # rung.envs.ActionScaler: low + (a + 1)/2 · (high − low), clipped
            self.register_buffer("low", torch.as_tensor(bounds[0]))
            self.register_buffer("high", torch.as_tensor(bounds[1]))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.kind == "q_network":
            return self.net(obs).argmax(dim=1)
        if self.kind == "actor":
            action = self.net(obs)
        else:
            dist, _ = self.net(obs)
            action = dist.mode
        if self.bounded:
            action = action.reshape(-1, *self.action_shape)
            action = torch.minimum(torch.maximum(self.low + (action + 1.0) * 0.5 * (self.high - self.low), self.low),
                                   self.high)
        return action


def exportable(agent) -> tuple[str, tuple[np.ndarray, np.ndarray] | None]:
    """The agent's kind and its action bounds (None when actions pass unchanged); a RungError for agents
    a single observation → action graph cannot express."""
    kind = ("actor_critic" if hasattr(agent, "policy") else "q_network" if hasattr(agent, "q_net")
            else "actor" if hasattr(agent, "actor") else None)
    if kind is None:
        raise RungError(f"{agent.algo} keeps a table, not a network: nothing to export (its Q table is in the run "
                        "directory)")
    if isinstance(agent.obs_space, (spaces.Dict, spaces.Tuple)):
        raise RungError("Dict and Tuple observations are not exportable yet (the graph would need one input each)")
    if kind == "actor_critic" and agent.policy.lstm is not None:
        raise RungError("recurrent policies are not exportable yet (their memory would be an input and an output)")
    scaler = getattr(agent, "scaler", None)
    return kind, ((scaler.low, scaler.high) if scaler is not None and scaler.bounded else None)


def example_obs(agent, n: int = 2) -> torch.Tensor:
    space = agent.obs_space
    return torch.as_tensor(np.stack([space.sample() for _ in range(n)]))


def to_onnx(agent, path: str | Path) -> Path:
    """The greedy policy as ONNX (opset 18), input "obs" [batch, *obs_shape], output "action"."""
    policy = GreedyPolicy(agent).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(policy, (example_obs(agent),), str(path), input_names=["obs"], output_names=["action"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=18, dynamo=True,
                          verbose=False)
    return path


def to_torchscript(agent, path: str | Path) -> Path:
    """The greedy policy traced to TorchScript (torch.jit.load, no rung needed)."""
    policy = GreedyPolicy(agent).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.jit.trace(policy, (example_obs(agent),)).save(str(path))
    return path
