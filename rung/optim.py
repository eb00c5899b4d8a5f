"""Adam and RMSprop over one flat parameter tensor (rung.nets.FlatParameters), written out.

torch.optim's classes do the same arithmetic, but constructing one imports torch._dynamo (≈ 1.4 s of
a 5 s CartPole run here) and each step pays per-group Python bookkeeping; with all parameters in one
tensor the update is a handful of in-place ops. The formulas and constants are torch's, so results
match torch.optim.Adam / RMSprop (tests/unit/test_optim.py)."""

from __future__ import annotations

import math

import torch


class Adam:
    """Kingma & Ba (2015):  m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
    θ ← θ − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)."""

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        grad = self.param.grad
        self.t += 1
        self.m.lerp_(grad, 1 - beta1)                                   # m ← β₁m + (1−β₁)g
        self.v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)        # v ← β₂v + (1−β₂)g²
        bias1, bias2 = 1 - beta1 ** self.t, 1 - beta2 ** self.t
        denom = (self.v.sqrt() / math.sqrt(bias2)).add_(self.eps)       # √v̂ + ε
        self.param.addcdiv_(self.m, denom, value=-self.lr / bias1)      # θ ← θ − lr·m̂/(√v̂ + ε)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"m": self.m, "v": self.v, "t": torch.tensor(self.t, device=self.m.device)}

    def load_state_dict(self, state: dict) -> None:
        """Tensors or NumPy arrays (as a checkpoint holds them)."""
        self.m.copy_(torch.as_tensor(state["m"], device=self.m.device))
        self.v.copy_(torch.as_tensor(state["v"], device=self.v.device))
        self.t = int(state["t"])


class RMSprop:
    """Tieleman & Hinton (2012), as torch and Stable-Baselines3's A2C use it:
    v ← αv + (1−α)g²,  θ ← θ − lr · g / (√v + ε)."""

    def __init__(self, param: torch.Tensor, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        self.param, self.lr, self.alpha, self.eps = param, lr, alpha, eps
        self.v = torch.zeros_like(param)

    @torch.no_grad()
    def step(self) -> None:
        grad = self.param.grad
        self.v.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)    # v ← αv + (1−α)g²
        self.param.addcdiv_(grad, self.v.sqrt().add_(self.eps), value=-self.lr)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"v": self.v}

    def load_state_dict(self, state: dict) -> None:
        self.v.copy_(torch.as_tensor(state["v"], device=self.v.device))
