"""Network bodies and heads: MLP and Nature-CNN bodies, orthogonal initialisation, Q heads.

A body maps observations [B, *obs_shape] to features [B, F]; a head maps features to what an
algorithm needs (Q-values here; policy and value heads come with the on-policy algorithms).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rung.errors import RungError, require_finite
from rung.masks import mask_logits
from rung.observations import Leaves, is_tree_space, leaf_spaces

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def orthogonal_init(module: nn.Module, gain: float = math.sqrt(2)) -> None:
    """Orthogonal weights with the given gain and zero biases for every Linear/Conv layer."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)


def is_image_space(space: spaces.Space) -> bool:
    """uint8 Box with 3 dims: frames, stacked frames or RGB, channel-first or channel-last."""
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def is_code_space(space: spaces.Space) -> bool:
    """Discrete or MultiDiscrete: observations that are category codes, fed to a network one-hot."""
    return isinstance(space, (spaces.Discrete, spaces.MultiDiscrete))


class OneHot(nn.Module):
    """Discrete / MultiDiscrete observations [B] or [B, *nvec.shape] → concatenated one-hot vectors
    [B, Σ n_i]: a state number carries no order or distance, so it must not enter a network as a scalar."""

    def __init__(self, space: spaces.Space):
        super().__init__()
        sizes = np.array([space.n]) if isinstance(space, spaces.Discrete) else space.nvec.reshape(-1)
        starts = np.array([space.start]) if isinstance(space, spaces.Discrete) else space.start.reshape(-1)
        # column of code c of component i: offset_i + c − start_i
        self.register_buffer("shift", torch.as_tensor(np.concatenate([[0], np.cumsum(sizes)[:-1]]) - starts))
        self.out_dim = int(sizes.sum())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        columns = obs.long().reshape(len(obs), -1) + self.shift                        # [B, K]
        return torch.zeros(len(obs), self.out_dim, device=obs.device).scatter_(1, columns, 1.0)           # [B, Σ n_i]


class MLP(nn.Module):
    """Flatten (or one-hot encode, given an `encoder`), then Linear → activation for each hidden size."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], activation: str = "relu", encoder: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        layers, dim = [nn.Flatten()], in_dim
        for size in hidden:
            layers += [nn.Linear(dim, size), ACTIVATIONS[activation]()]
            dim = size
        self.net = nn.Sequential(*layers)
        self.out_dim = dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.float() if self.encoder is None else self.encoder(obs))  # [B, F]


NATURE_REACH = 36   # the smallest side the Nature CNN's 8/4 → 4/2 → 3/1 convolutions can take


def image_layout(obs_shape: tuple[int, ...]) -> tuple[bool, int, int, int]:
    """(channels_last, C, H, W) of an image observation: channel-last when the last axis is ≤ 4 and the
    first is not (RGB frames), channel-first otherwise (stacked frames)."""
    channels_last = obs_shape[-1] <= 4 < obs_shape[0]
    c, h, w = (obs_shape[2], obs_shape[0], obs_shape[1]) if channels_last else obs_shape
    return channels_last, c, h, w


class ImageEncoder(nn.Module):
    """Pixels scaled to [0, 1], convolutions, a ReLU layer of `features` units.

    Images of at least 36 px a side: the Nature CNN of Mnih et al. (2015), three conv layers (8/4,
    4/2, 3/1) and 512 units. Smaller ones (MinAtar's 10 × 10, a grid rendered as pixels) would shrink
    to nothing in it: two 3 × 3 convolutions with padding (16 and 32 channels, the second of stride 2)
    and 256 units, the size of the small stacks MinAtar's agents use."""

    def __init__(self, obs_shape: tuple[int, ...]):
        super().__init__()
        self.channels_last, c, h, w = image_layout(obs_shape)
        if min(c, h, w) < 1:
            raise RungError(f"an image observation of shape {obs_shape} has an empty side: no network can read it")
        if min(h, w) >= NATURE_REACH:
            convs, features = [nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                               nn.Conv2d(64, 64, 3, stride=1), nn.ReLU()], 512
        else:
            convs, features = [nn.Conv2d(c, 16, 3, stride=1, padding=1), nn.ReLU(),
                               nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU()], 256
        self.conv = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, c, h, w)).shape[1]
        self.fc = nn.Sequential(nn.Linear(flat, features), nn.ReLU())
        self.out_dim = features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float() / 255.0                        # [B, C, H, W]
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.fc(self.conv(x))                   # [B, F]


class FlatFloats(nn.Module):
    """A vector leaf (or MultiBinary bits) as floats [B, D]."""

    def __init__(self, space: spaces.Space):
        super().__init__()
        self.out_dim = int(np.prod(space.shape))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.reshape(len(obs), -1).float()


def leaf_encoder(space: spaces.Space) -> nn.Module:
    if is_image_space(space):
        return ImageEncoder(space.shape)
    if is_code_space(space):
        return OneHot(space)
    if isinstance(space, (spaces.Box, spaces.MultiBinary)):
        return FlatFloats(space)
    raise RungError(f"no encoder for an observation leaf of type {type(space).__name__}")


class LeafEncoders(nn.Module):
    """Dict / Tuple observations (rung.observations.Leaves) → one feature vector: an encoder per leaf
    (the CNN sized to the image for images, one-hot for Discrete / MultiDiscrete, the floats of vectors),
    their outputs concatenated [B, Σ F_leaf] for the MLP above."""

    def __init__(self, space: spaces.Space):
        super().__init__()
        leaves = leaf_spaces(space)
        self.names = list(leaves)
        self.encoders = nn.ModuleList(leaf_encoder(leaf) for leaf in leaves.values())
        self.out_dim = sum(encoder.out_dim for encoder in self.encoders)

    def forward(self, obs) -> torch.Tensor:
        return torch.cat([encoder(obs[name]) for name, encoder in zip(self.names, self.encoders)], dim=1)


def make_body(obs_space: spaces.Space, hidden: tuple[int, ...], activation: str = "relu") -> nn.Module:
    """A CNN sized to the image for image observations, an MLP on one-hot codes for Discrete / MultiDiscrete
    ones, an MLP on every leaf's encoding for Dict / Tuple ones, an MLP for everything flat."""
    if is_image_space(obs_space):
        return ImageEncoder(obs_space.shape)
    if is_code_space(obs_space):
        encoder = OneHot(obs_space)
        return MLP(encoder.out_dim, hidden, activation, encoder)
    if is_tree_space(obs_space):
        encoder = LeafEncoders(obs_space)
        return MLP(encoder.out_dim, hidden, activation, encoder)
    return MLP(int(np.prod(obs_space.shape)), hidden, activation)


def is_vector_space(space: spaces.Space) -> bool:
    """A float Box that is no image: what observation normalisation applies to."""
    return isinstance(space, spaces.Box) and not is_image_space(space) and np.issubdtype(space.dtype, np.floating)


def make_obs_norm(obs_space: spaces.Space) -> nn.Module | None:
    """RunningNorm for a vector observation, LeafNorms for the vector leaves of a Dict / Tuple one,
    None where there is nothing to normalise (category codes)."""
    if is_tree_space(obs_space):
        return LeafNorms(obs_space) if any(map(is_vector_space, leaf_spaces(obs_space).values())) else None
    return None if is_code_space(obs_space) else RunningNorm(obs_space.shape)


def default_threads(obs_space: spaces.Space) -> int | None:
    """Torch threads for a run on this observation space unless the user says otherwise (`--threads`).
    One for the MLP bodies: a second thread made their small ops no faster (docs/benchmarks.md), and
    with one thread per core two runs side by side made each ≈ 30× slower (their OpenMP threads spin
    against each other). Image bodies (CNN): None, torch's own choice (one per core), where the
    convolutions are large enough for more threads to pay."""
    return None if has_image_leaf(obs_space) else 1


def has_image_leaf(obs_space: spaces.Space) -> bool:
    """Whether a network on these observations has a CNN (an image, alone or as a Dict / Tuple leaf)."""
    leaves = leaf_spaces(obs_space).values() if is_tree_space(obs_space) else [obs_space]
    return any(map(is_image_space, leaves))


class QNetwork(nn.Module):
    """Q(s, ·) for every discrete action.

    dueling (Wang et al. 2016): Q(s,a) = V(s) + A(s,a) − mean_a' A(s,a')."""

    def __init__(self, body: nn.Module, n_actions: int, dueling: bool = False, obs_norm: nn.Module | None = None):
        super().__init__()
        self.body, self.dueling = body, dueling
        # observation normalisation (rung.nets.make_obs_norm) lives in the network: saved and loaded with it
        self.obs_norm = obs_norm
        self.head = nn.Linear(body.out_dim, n_actions)            # A(s,·), or Q(s,·) when not dueling
        self.value = nn.Linear(body.out_dim, 1) if dueling else None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.obs_norm is not None:
            obs = self.obs_norm(obs)
        features = self.body(obs)                                  # [B, F]
        advantages = self.head(features)                           # [B, A]
        if not self.dueling:
            return advantages
        return self.value(features) + advantages - advantages.mean(dim=1, keepdim=True)  # [B, A]


class EnsembleLinear(nn.Module):
    """K independent Linear layers applied at once: x [K, B, in] → x W_k + b_k [K, B, out], one batched
    matmul instead of K (the twin critics of TD3 and SAC). Initialised as nn.Linear: U(±1/√in)."""

    def __init__(self, k: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(k, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)                          # [K, B, out]


class QCritics(nn.Module):
    """K action-value networks Q_k(s, a) for continuous actions, evaluated together: each reads the
    observation through its own encoder (rung.nets.make_body without hidden layers: the CNN, one-hot
    codes, the leaves of a Dict, or the flat vector), appends the action, and runs its own MLP.
    forward(obs, actions [B, A]) → Q [K, B]."""

    def __init__(self, obs_space: spaces.Space, action_dim: int, hidden: tuple[int, ...], k: int):
        super().__init__()
        self.encoders = nn.ModuleList(make_body(obs_space, ()) for _ in range(k))
        self.shared_features = not any(p.numel() for p in self.encoders.parameters())   # a flat vector: read once
        layers, dim = [], self.encoders[0].out_dim + action_dim
        for size in hidden:
            layers += [EnsembleLinear(k, dim, size), nn.ReLU()]
            dim = size
        self.net = nn.Sequential(*layers, EnsembleLinear(k, dim, 1))
        self.k = k

    def forward(self, obs, actions: torch.Tensor) -> torch.Tensor:
        if self.shared_features:
            features = self.encoders[0](obs).expand(self.k, -1, -1)                  # [K, B, F]
        else:
            features = torch.stack([encoder(obs) for encoder in self.encoders])      # [K, B, F]
        x = torch.cat([features, actions.expand(self.k, -1, -1)], dim=2)             # [K, B, F + A]
        return self.net(x).squeeze(-1)                                               # [K, B]


class DeterministicActor(nn.Module):
    """μ_θ(s) = tanh(MLP(s)) ∈ [−1, 1]^A (rung.envs.ActionScaler maps it to the env's bounds); exploring
    adds Gaussian noise N(0, noise_std²) and clips back into the box (DDPG, TD3)."""

    def __init__(self, obs_space: spaces.Space, action_dim: int, hidden: tuple[int, ...], noise_std: float):
        super().__init__()
        self.body = make_body(obs_space, hidden)
        self.head = nn.Linear(self.body.out_dim, action_dim)
        self.noise_std = noise_std

    def forward(self, obs) -> torch.Tensor:
        return torch.tanh(self.head(self.body(obs)))                                  # [B, A]

    def explore(self, obs) -> torch.Tensor:
        action = self(obs)
        return (action + self.noise_std * torch.randn_like(action)).clamp(-1.0, 1.0)


LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0   # SAC's clamp on log σ (Haarnoja et al.'s code, SB3)


def tanh_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log π(a|s) of a = tanh(u), u ~ N(mean, σ²), by the change of variables:
    log π(a|s) = Σ_i [log N(u_i; μ_i, σ_i) − log(1 − tanh²(u_i))], with
    log(1 − tanh²(u)) = 2·(log 2 − u − softplus(−2u)) (exact, and stable for large |u|)."""
    normal = -0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)       # [B, A]
    squash = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))                          # [B, A]
    return (normal - squash).sum(-1)                                                                # [B]


class SquashedGaussianActor(nn.Module):
    """π_θ(·|s): a = tanh(u), u ~ N(μ_θ(s), σ_θ(s)²), both from one MLP (SAC). forward gives the
    deterministic action tanh(μ); `sample` a reparameterised action and its log-probability."""

    def __init__(self, obs_space: spaces.Space, action_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.body = make_body(obs_space, hidden)
        self.head = nn.Linear(self.body.out_dim, 2 * action_dim)

    def mean_log_std(self, obs) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.head(self.body(obs)).chunk(2, dim=-1)                    # [B, A] each
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def forward(self, obs) -> torch.Tensor:
        return torch.tanh(self.mean_log_std(obs)[0])

    def sample(self, obs) -> tuple[torch.Tensor, torch.Tensor]:
        """a = tanh(μ + σ·ε), ε ~ N(0, I) (gradients flow through μ and σ), and log π(a|s) [B]."""
        mean, log_std = self.mean_log_std(obs)
        u = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)

    def explore(self, obs) -> torch.Tensor:
        return self.sample(obs)[0]


class FlatParameters:
    """All of a module's parameters (and their gradients) as views into one flat tensor each.

    Autograd then accumulates every gradient straight into `grad`, so clipping the global norm is one
    norm and one multiply, and Adam updates a single tensor: measured 15 % faster per DQN update than
    per-parameter tensors for a 256×256 MLP. The module is used exactly as before."""

    def __init__(self, module: nn.Module):
        params = list(module.parameters())
        self.param = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
        self.param.grad = torch.zeros_like(self.param)
        offset = 0
        for p in params:
            size = p.numel()
            p.data = self.param.data[offset:offset + size].view_as(p)
            p.grad = self.param.grad[offset:offset + size].view_as(p)
            offset += size

    def zero_grad(self) -> None:
        self.param.grad.zero_()

    def apply(self, loss: torch.Tensor, optimizer, max_grad_norm: float | None, step: int) -> torch.Tensor:
        """One gradient step: backpropagate `loss`, clip the global norm (if `max_grad_norm`), step the
        optimiser. Stops the run (RungError) if the loss or the gradient is not finite; a finite
        gradient keeps the parameters finite, and rung.checkpoint checks them before every save.
        Returns ‖g‖ before clipping."""
        self.zero_grad()
        self.backward(loss, step)
        return self.step(optimizer, max_grad_norm, step)

    def backward(self, loss: torch.Tensor, step: int) -> None:
        """Add ∇loss to the gradient (several calls accumulate: micro-batches)."""
        require_finite("loss", loss, step)
        loss.backward()

    def step(self, optimizer, max_grad_norm: float | None, step: int) -> torch.Tensor:
        """Clip the accumulated gradient's global norm (if `max_grad_norm`) and step the optimiser;
        returns ‖g‖ before clipping."""
        grad_norm = self.clip_grad_norm(max_grad_norm) if max_grad_norm else torch.linalg.vector_norm(self.param.grad)
        require_finite("gradient", grad_norm, step)
        optimizer.step()
        return grad_norm

    def clip_grad_norm(self, max_norm: float) -> torch.Tensor:
        """g ← g · min(1, max_norm / ‖g‖), as torch.nn.utils.clip_grad_norm_; returns ‖g‖ before clipping."""
        norm = torch.linalg.vector_norm(self.param.grad)
        self.param.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm


class RunningNorm(nn.Module):
    """Running mean and variance of a stream (Chan et al.'s parallel update), used to normalise inputs:
    x ← clip((x − μ) / √(σ² + 1e-8), ±clip). The statistics are buffers, so they are saved with the
    network's state_dict and loaded with it; only an explicit `update` changes them (evaluation never does)."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0):
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Merge a batch [B, *shape] into the running statistics."""
        batch = batch.double()
        batch_mean, batch_var, n = batch.mean(0), batch.var(0, unbiased=False), batch.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        # M2 = M2_a + M2_b + δ²·n_a·n_b / n
        self.var.copy_((self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total) / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = (x.double() - self.mean) / torch.sqrt(self.var + 1e-8)
        return normed.clamp(-self.clip, self.clip).float()


class LeafNorms(nn.Module):
    """A RunningNorm for each vector leaf of a Dict / Tuple observation; images and codes pass as they are."""

    def __init__(self, space: spaces.Space):
        super().__init__()
        leaves = {name: leaf for name, leaf in leaf_spaces(space).items() if is_vector_space(leaf)}
        self.names = list(leaves)
        self.norms = nn.ModuleList(RunningNorm(leaf.shape) for leaf in leaves.values())

    @torch.no_grad()
    def update(self, obs) -> None:
        for name, norm in zip(self.names, self.norms):
            norm.update(obs[name])

    def forward(self, obs):
        return Leaves({**obs, **{name: norm(obs[name]) for name, norm in zip(self.names, self.norms)}})


def initial_log_std(action_space: spaces.Box, log_std_init: float) -> torch.Tensor:
    """log σ in the unit box for an initial σ = e^log_std_init in the env's own units (as Stable-Baselines3
    starts), capped at the box: σ_unit = σ_env / max(1, half-width). A box of ±100 around targets within
    ±2 then starts exploring ±1, not ±100; a box of ±1 or narrower is unchanged."""
    half_width = np.ones(action_space.shape, np.float64)
    if np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high)):
        half_width = (action_space.high.astype(np.float64) - action_space.low) / 2
    return torch.as_tensor(log_std_init - np.log(np.maximum(half_width.reshape(-1), 1.0)), dtype=torch.float32)


class ActorCritic(nn.Module):
    """π_θ(a|s) and V(s): an actor head and a critic head on one shared body, or on two separate bodies.

    Discrete actions: Categorical over logits [B, A]. MultiDiscrete: one Categorical per component.
    MultiBinary: one Bernoulli per bit, independent. Box actions: Gaussian N(μ(s), σ²) with a state-independent log σ, in a unit space that
    `rung.envs.ActionScaler` maps to the env's bounds."""

    def __init__(self, obs_space: spaces.Space, action_space: spaces.Space, hidden: tuple[int, ...] = (64, 64),
                 activation: str = "tanh", shared: bool = False, log_std_init: float = 0.0, ortho: bool = True,
                 normalize_obs: bool = False, lstm_size: int | None = None):
        super().__init__()
        self.action_space = action_space
        # observation normalisation lives in the network so its statistics are saved and loaded with it
        self.obs_norm = make_obs_norm(obs_space) if normalize_obs else None
        if lstm_size:   # memory, as sb3-contrib's RecurrentPPO: encoder → LSTM → the MLP bodies → heads
            self.encoder = make_body(obs_space, (), activation)   # the CNN, one-hot codes, or the flat vector
            self.lstm = nn.LSTM(self.encoder.out_dim, lstm_size)
            self.body = MLP(lstm_size, hidden, activation)
            # unshared: the critic has its own LSTM too, so that its large value gradients do not drown
            # the actor's in a shared memory (sb3-contrib's enable_critic_lstm)
            self.critic_lstm = None if shared else nn.LSTM(self.encoder.out_dim, lstm_size)
            self.critic_body = None if shared else MLP(lstm_size, hidden, activation)
        else:
            self.encoder = self.lstm = self.critic_lstm = None
            self.body = make_body(obs_space, hidden, activation)
            self.critic_body = None if shared else make_body(obs_space, hidden, activation)
        features = self.body.out_dim
        if isinstance(action_space, spaces.Discrete):
            self.action_dims = [int(action_space.n)]
        elif isinstance(action_space, spaces.MultiDiscrete):
            self.action_dims = [int(n) for n in action_space.nvec.reshape(-1)]
        else:   # Box, MultiBinary: one head output per action component
            self.action_dims = [int(np.prod(action_space.shape))]
        self.continuous = isinstance(action_space, spaces.Box)
        self.binary = isinstance(action_space, spaces.MultiBinary)
        self.actor = nn.Linear(features, sum(self.action_dims))
        self.critic = nn.Linear(features, 1)
        self.log_std = nn.Parameter(initial_log_std(action_space, log_std_init)) if self.continuous else None
        if ortho:  # SB3 / CleanRL: √2 for bodies, 0.01 for the policy head (near-uniform start), 1 for V
            orthogonal_init(self.body, math.sqrt(2))
            if self.encoder is not None:
                orthogonal_init(self.encoder, math.sqrt(2))
            if self.critic_body is not None:
                orthogonal_init(self.critic_body, math.sqrt(2))
            orthogonal_init(self.actor, 0.01)
            orthogonal_init(self.critic, 1.0)

    def forward(self, obs: torch.Tensor, action_masks: torch.Tensor | None = None
                ) -> tuple[torch.distributions.Distribution, torch.Tensor]:
        """π_θ(·|s) and V(s); with `action_masks` [B, Σ dims] (rung.masks), π over the legal actions only."""
        if self.obs_norm is not None:
            obs = self.obs_norm(obs)
        features = self.body(obs)                                                 # [B, F]
        value = self.critic(features if self.critic_body is None else self.critic_body(obs)).squeeze(-1)  # [B]
        head = self.actor(features)                                               # [B, Σ dims]
        if action_masks is not None:   # logit −∞ (the lowest float) for illegal actions: π(a|s) = 0
            head = mask_logits(head, action_masks)
        return self.distribution(head), value

    def sequence(self, obs, state: tuple[torch.Tensor, torch.Tensor], starts: torch.Tensor,
                 action_masks: torch.Tensor | None = None, keep: torch.Tensor | None = None):
        """The recurrent policy over L steps of B envs: `obs` [L·B, …] time-major, `state` (h, c) [1, B, H]
        entering the first step, `starts` [L, B] True where an episode begins (the state is zeroed there
        first, so no memory leaks across episodes). Returns π [L·B], V [L·B] (only the rows where the
        bool mask `keep` is True, if given) and the state after step L."""
        if self.obs_norm is not None:
            obs = self.obs_norm(obs)
        features = self.encoder(obs)                                              # [L·B, F]
        L, B = starts.shape
        lstms = [self.lstm] if self.critic_lstm is None else [self.lstm, self.critic_lstm]
        H = self.lstm.hidden_size
        hs, cs = list(state[0].split(H, dim=2)), list(state[1].split(H, dim=2))   # the state: LSTMs side by side
        carry = (~starts).float().unsqueeze(-1)                                   # [L, B, 1]: 0 where episodes begin
        # one LSTM call per stretch of steps in which no env begins an episode, rather than one per step
        cuts = [0, *(torch.nonzero(starts[1:].any(dim=1)).flatten() + 1).tolist(), L]
        x = features.view(L, B, -1)
        outputs = [[] for _ in lstms]
        for a, b in zip(cuts[:-1], cuts[1:]):
            for k, lstm in enumerate(lstms):
                out, (hs[k], cs[k]) = lstm(x[a:b], (hs[k] * carry[a], cs[k] * carry[a]))  # [b − a, B, H]
                outputs[k].append(out.reshape(-1, H))
        memories = [torch.cat(out) for out in outputs]                            # [L·B, H] each, time-major
        if keep is not None:
            memories = [memory[keep] for memory in memories]
        features = self.body(memories[0])
        value = self.critic(features if self.critic_body is None else self.critic_body(memories[-1])).squeeze(-1)
        head = self.actor(features)
        if action_masks is not None:
            head = mask_logits(head, action_masks)
        return self.distribution(head), value, (torch.cat(hs, dim=2), torch.cat(cs, dim=2))

    def initial_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, c) of n envs at their episodes' start: zeros [1, n, H], or [1, n, 2H] with the critic's LSTM."""
        zeros = torch.zeros(1, n, self.lstm.hidden_size * (1 if self.critic_lstm is None else 2),
                            device=self.actor.weight.device)
        return zeros, zeros.clone()

    def distribution(self, head: torch.Tensor) -> torch.distributions.Distribution:
        # validate_args=False: the argument checks cost ≈ 20 % of a PPO run on CartPole and the inputs
        # come from this network, not from a user
        if self.continuous:
            normal = torch.distributions.Normal(head, self.log_std.exp(), validate_args=False)
            return torch.distributions.Independent(normal, 1, validate_args=False)
        if self.binary:
            return IndependentBernoulli(head.reshape(-1, *self.action_space.shape))
        if len(self.action_dims) == 1:
            return torch.distributions.Categorical(logits=head, validate_args=False)
        return MultiCategorical(head, self.action_dims)


def fast_sampler(policy: ActorCritic, rng: np.random.Generator):
    """a ~ π(·|s) in NumPy for an ActorCritic with an MLP body, or None for other bodies.

    Why: acting for 8 envs through torch modules and distributions costs ≈ 400 µs a step here, the
    same arithmetic in NumPy ≈ 60 µs, and acting is half of an on-policy run. The arrays are views of
    the network's current weights (and observation statistics), so build a sampler per rollout. Only
    the sampling lives here: log π and V are computed by the torch network (rung.collection.Rollouts.collect).
    On the CPU only: a policy on a GPU acts through torch (rung.collection.torch_sampler).
    Discrete: Gumbel-max, argmax(logits + G) with G = −log(−log U), a sample of softmax(logits).
    MultiBinary: a_i = 1 if U_i < σ(logit_i). Box: μ(s) + σ·ε with ε ~ N(0, I)."""
    if (not isinstance(policy.body, MLP) or policy.body.encoder is not None or policy.lstm is not None
            or policy.actor.weight.device.type != "cpu"):
        return None
    activations = {nn.Tanh: np.tanh, nn.ReLU: lambda x: np.maximum(x, 0)}
    layers = [(layer.weight.detach().numpy().T, layer.bias.detach().numpy(), activations[type(act)])
              for layer, act in zip(policy.body.net[1::2], policy.body.net[2::2])]
    head_w, head_b = policy.actor.weight.detach().numpy().T, policy.actor.bias.detach().numpy()
    norm = policy.obs_norm
    if norm is not None:
        mean, std = norm.mean.numpy(), np.sqrt(norm.var.numpy() + 1e-8)
    std_devs = policy.log_std.detach().exp().numpy() if policy.continuous else None
    splits = np.cumsum(policy.action_dims)[:-1]

    def sample(obs: np.ndarray, action_masks: np.ndarray | None = None) -> np.ndarray:
        x = obs.reshape(len(obs), -1)
        x = np.clip((x - mean) / std, -norm.clip, norm.clip) if norm is not None else x
        x = x.astype(np.float32)
        for weight, bias, activation in layers:
            x = activation(x @ weight + bias)
        head = x @ head_w + head_b                                                  # [B, Σ dims]
        if std_devs is not None:
            return (head + std_devs * rng.standard_normal(head.shape, dtype=np.float32)).astype(np.float32)
        if policy.binary:   # U < σ(x)  ⇔  log U − log(1 − U) < x, without overflow in exp
            u = rng.random(head.shape)
            return (np.log(u) - np.log1p(-u) < head).astype(np.int8).reshape(len(obs), *policy.action_space.shape)
        if action_masks is not None:   # illegal actions never win the argmax below
            head = np.where(action_masks, head, -np.inf)
        gumbel = -np.log(-np.log(rng.random(head.shape)))
        choices = [np.argmax(part, axis=1) for part in np.split(head + gumbel, splits, axis=1)]
        return choices[0] if len(choices) == 1 else np.stack(choices, axis=1)
    return sample


class MultiCategorical:
    """Independent Categoricals, one per MultiDiscrete component: log π = Σ log π_i, H = Σ H_i."""

    def __init__(self, logits: torch.Tensor, dims: list[int]):
        self.parts = [torch.distributions.Categorical(logits=chunk, validate_args=False)
                      for chunk in logits.split(dims, dim=-1)]

    def sample(self) -> torch.Tensor:
        return torch.stack([part.sample() for part in self.parts], dim=-1)         # [B, K]

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return sum(part.log_prob(actions[..., i]) for i, part in enumerate(self.parts))  # [B]

    def entropy(self) -> torch.Tensor:
        return sum(part.entropy() for part in self.parts)                          # [B]

    @property
    def mode(self) -> torch.Tensor:
        return torch.stack([part.probs.argmax(dim=-1) for part in self.parts], dim=-1)


class IndependentBernoulli:
    """One Bernoulli per MultiBinary bit, logits [B, *shape]: log π = Σ_i log π_i, H = Σ_i H_i. Actions are
    0/1 integers (the env's dtype); log π takes them as floats."""

    def __init__(self, logits: torch.Tensor):
        self.bits = torch.distributions.Bernoulli(logits=logits, validate_args=False)
        self.sum_dims = tuple(range(1, logits.dim()))

    def sample(self) -> torch.Tensor:
        return self.bits.sample().to(torch.int8)                                   # [B, *shape]

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.bits.log_prob(actions.float()).sum(self.sum_dims)              # [B]

    def entropy(self) -> torch.Tensor:
        return self.bits.entropy().sum(self.sum_dims)                              # [B]

    @property
    def mode(self) -> torch.Tensor:
        return (self.bits.logits > 0).to(torch.int8)
