"""The gold judge: the stand-in for the humans whose preferences RLHF learns from. It labels
preference pairs and scores held-out samples; nothing is ever trained on it directly.

    gold(text) = VADER compound sentiment ∈ [−1, 1]   if the text is a grammatical review
                 − REPEAT_PENALTY                     if its two clauses use the same adjective
               = −1                                   if it is not grammatical

VADER (Hutto & Gilbert 2014, the lexicon the `vaderSentiment` package ships) handles the grammar's
intensifiers, negation and "but" by rule. Unscored, "good good good good" gets 0.89 from VADER: the
grammaticality gate and the repetition penalty are what a reward model trained on this judge's
preferences can miss, and a policy can exploit — the seed's reward hacking.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from rung.errors import RungError
from rung.rlhf.data import ADJECTIVES, is_grammatical

REPEAT_PENALTY = 0.5
UNGRAMMATICAL = -1.0


@lru_cache(maxsize=1)
def analyzer():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise RungError("the RLHF gold judge needs the rlhf extra: pip install 'rung[rlhf]'") from None
    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score of any text, grammatical or not."""
    return float(analyzer().polarity_scores(text)["compound"])


def gold_score(text: str) -> float:
    if not is_grammatical(text):
        return UNGRAMMATICAL
    adjectives = [w for w in text.split() if w in ADJECTIVES]
    repeated = len(adjectives) - len(set(adjectives))
    return sentiment(text) - REPEAT_PENALTY * repeated


def gold_scores(texts: list[str]) -> torch.Tensor:
    """gold_score of each text [N], in the reward interface's shape (rung.rlhf.reward.Reward)."""
    return torch.tensor([gold_score(t) for t in texts], device="cpu")   # callers move it to their device
