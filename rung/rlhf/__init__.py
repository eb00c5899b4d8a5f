"""RLHF at small scale: a generated review corpus, a tiny causal transformer, a reward model learned
from preferences, and PPO / GRPO / RLOO on the language model (issue 6; built step by step)."""
