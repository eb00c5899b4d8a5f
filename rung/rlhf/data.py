"""A small language whose grammar and sentiment are known exactly: short reviews.

    review  := clause [ "but" clause ] "."
    clause  := subject verb [ "not" ] [ intensifier ] adjective
    subject := "the" noun

e.g. "the plot was very good but the ending was not great ." Sentiment words, intensifiers, negation
and "but" are the features VADER's rules handle (Hutto & Gilbert 2014), so the gold judge can score
any text, and `is_grammatical` parses it exactly, so text a policy invents that leaves the language
is recognised as such (the reward-hacking experiments need that).
"""

from __future__ import annotations

import random

NOUNS = ("movie", "plot", "acting", "ending", "music", "food", "service", "hotel", "book", "game", "room",
         "staff", "story", "camera", "price")
VERBS = ("was", "is", "felt", "seemed")
INTENSIFIERS = ("very", "really", "extremely", "quite", "slightly", "somewhat")
POSITIVE = ("good", "great", "excellent", "wonderful", "enjoyable", "delightful", "nice", "amazing")
NEGATIVE = ("bad", "terrible", "awful", "boring", "dull", "disappointing", "poor", "horrible")
NEUTRAL = ("fine", "okay", "average", "ordinary")
ADJECTIVES = POSITIVE + NEGATIVE + NEUTRAL
WORDS = ("the", "not", "but", ".") + NOUNS + VERBS + INTENSIFIERS + ADJECTIVES


def clause(rng: random.Random) -> list[str]:
    words = ["the", rng.choice(NOUNS), rng.choice(VERBS)]
    if rng.random() < 0.2:
        words.append("not")
    if rng.random() < 0.4:
        words.append(rng.choice(INTENSIFIERS))
    return words + [rng.choice(ADJECTIVES)]


def review(rng: random.Random) -> str:
    words = clause(rng)
    if rng.random() < 0.35:
        words += ["but"] + clause(rng)
    return " ".join(words + ["."])


def corpus(n: int, seed: int = 0) -> list[str]:
    """`n` reviews drawn from the grammar (seeded)."""
    rng = random.Random(seed)
    return [review(rng) for _ in range(n)]


def parse_clause(words: list[str], i: int) -> int | None:
    """Index after a clause starting at `i`, or None if there is none."""
    if words[i:i + 1] != ["the"] or i + 2 >= len(words) or words[i + 1] not in NOUNS or words[i + 2] not in VERBS:
        return None
    i += 3
    if i < len(words) and words[i] == "not":
        i += 1
    if i < len(words) and words[i] in INTENSIFIERS:
        i += 1
    return i + 1 if i < len(words) and words[i] in ADJECTIVES else None


def is_grammatical(text: str) -> bool:
    """Exactly the reviews the grammar generates."""
    words = text.split()
    end = parse_clause(words, 0)
    if end is not None and end < len(words) and words[end] == "but":
        end = parse_clause(words, end + 1)
    return end is not None and words[end:] == ["."]
