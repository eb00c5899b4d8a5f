"""The review language: generation stays inside the grammar, and the parser knows its edge."""

import random

import pytest

from rung.rlhf.data import WORDS, corpus, is_grammatical


def test_every_generated_review_is_grammatical_and_the_corpus_is_seeded():
    reviews = corpus(2000, seed=1)
    assert all(is_grammatical(r) for r in reviews)
    assert reviews == corpus(2000, seed=1) and reviews != corpus(2000, seed=2)
    assert any(" but " in r for r in reviews) and any(" not " in r for r in reviews)
    assert len(set(reviews)) > 1500


@pytest.mark.parametrize("text, ok", [
    ("the movie was good .", True),
    ("the plot was not very good but the ending was great .", True),
    ("the movie was good", False),                          # no full stop
    ("the movie was good . .", False),
    ("the movie was very very good .", False),              # one intensifier at most
    ("the movie was good but .", False),
    ("the movie was good but the ending was bad but the music was fine .", False),  # one "but" at most
    ("good good good good .", False),
    ("movie the was good .", False),
    ("the movie was not .", False),
    ("", False),
])
def test_parser_on_hand_written_cases(text, ok):
    assert is_grammatical(text) is ok


def test_random_word_salads_are_rejected():
    rng = random.Random(0)
    salads = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(2000)]
    grammatical = [s for s in salads if is_grammatical(s)]
    assert len(grammatical) < 5   # salads almost never land inside the language


def test_gold_judge_follows_sentiment_inside_the_language_and_punishes_leaving_it():
    from rung.rlhf.gold import UNGRAMMATICAL, gold_score, sentiment

    good, very_good = gold_score("the movie was good ."), gold_score("the movie was very good .")
    assert 0 < good < very_good                                                 # intensifier
    assert gold_score("the movie was not good .") < 0                           # negation
    assert gold_score("the movie was good but the ending was terrible .") < 0   # "but" weighs the second clause
    assert gold_score("the movie was bad but the ending was wonderful .") > 0
    assert sentiment("good good good good") > 0.8                               # what VADER alone would reward
    assert gold_score("good good good good") == UNGRAMMATICAL                   # ... and gold does not
    repeated = gold_score("the movie was good but the plot was good .")
    assert repeated < gold_score("the movie was good but the plot was great .") - 0.4


def test_exact_reward_of_the_arithmetic_task():
    from rung.rlhf.arithmetic import corpus as sums, exact_reward

    assert exact_reward(["3 + 4 = 7 .", "3 + 4 = 8 .", "3 + 4 = 7", "3 + 4 = 7 . .", "3 4 = 7 .", ""]).tolist() == \
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    rewards = exact_reward(sums(5000, seed=0, correct_fraction=0.3))
    assert 0.3 <= float(rewards.mean()) <= 0.36          # 30 % right by construction, plus lucky guesses (1/19)
