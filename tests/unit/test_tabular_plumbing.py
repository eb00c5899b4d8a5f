import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given
from hypothesis import strategies as st

from rung.algos.tabular import QTableAgent, StateIndexer, epsilon_greedy, linear_schedule


@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data())
def test_state_index_is_row_major_like_numpy(dims, data):
    obs = tuple(data.draw(st.integers(0, d - 1)) for d in dims)
    index = StateIndexer(tuple(dims))(obs if len(dims) > 1 else obs[0])
    assert index == np.ravel_multi_index(obs, dims)


def test_state_indexer_handles_discrete_start_offsets():
    space = spaces.Tuple((spaces.Discrete(3, start=4), spaces.Discrete(2)))
    indexer = StateIndexer.for_space(space)
    assert sorted(indexer(o) for o in [(4, 0), (4, 1), (5, 0), (5, 1), (6, 0), (6, 1)]) == list(range(6))


def test_linear_schedule():
    assert linear_schedule(1.0, 0.0, 0.5, 0.25) == pytest.approx(0.5)
    assert linear_schedule(1.0, 0.0, 0.5, 0.9) == 0.0
    assert linear_schedule(1.0, 0.2, 0.0, 0.0) == 0.2


def test_epsilon_greedy_breaks_ties_at_random_and_explores_at_rate_epsilon():
    rng = np.random.default_rng(0)
    tied = np.array([1.0, 1.0, 0.0])
    picks = np.array([epsilon_greedy(tied, 0.0, rng) for _ in range(2000)])
    assert set(picks) == {0, 1} and abs((picks == 0).mean() - 0.5) < 0.05
    q = np.array([0.0, 5.0, 0.0, 0.0])
    picks = np.array([epsilon_greedy(q, 0.4, rng) for _ in range(20000)])
    # greedy with prob 1 − ε, plus ε/|A| from exploration: P(a=1) = 0.6 + 0.1
    assert abs((picks == 1).mean() - 0.7) < 0.015


def test_agent_save_load_round_trip(tmp_path):
    q = np.random.default_rng(0).normal(size=(6, 2))
    agent = QTableAgent("qlearning", q, (3, 2), (4, 0), "Blackjack-v1", {"sab": True})
    agent.save(tmp_path)
    loaded = QTableAgent.load(tmp_path)
    np.testing.assert_array_equal(loaded.q, q)
    assert loaded.env_id == "Blackjack-v1" and loaded.env_kwargs == {"sab": True}
    assert [loaded.act(o) for o in [(4, 0), (5, 1), (6, 1)]] == [agent.act(o) for o in [(4, 0), (5, 1), (6, 1)]]
    assert not list(tmp_path.glob("*.pkl"))
