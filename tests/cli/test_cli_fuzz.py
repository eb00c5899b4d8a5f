"""Property: whatever arguments a user types, `rung` answers with exit code 0, or with exit code 2 and
one line on stderr starting `rung: error:` — never a traceback. Runs `rung.cli.main` in-process; each
algorithm's `train` is replaced by a stub, so the whole path up to training (parsing, presets, config
checks, env creation, space checks, run directories) is real but no example trains for long."""

from dataclasses import fields

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rung import cli
from rung.algos import ALGOS


class ReachedTraining(Exception):
    """The arguments were valid all the way to the algorithm's train()."""


def stub_train(*args, **kwargs):
    raise ReachedTraining


junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
number = st.one_of(st.integers(-10, 10**13).map(str), st.floats(allow_nan=True).map(str), junk)
algo = st.one_of(st.sampled_from(list(ALGOS)), junk)
env_id = st.one_of(st.sampled_from(["CartPole-v1", "FrozenLake-v1", "Taxi-v4", "Pendulum-v1", "CliffWalking-v1",
                                    "Taxi-v3", "nope:Env", "os:path", "missing.py:Env", "ALE/Nope-v5"]), junk)
config_key = st.one_of(st.sampled_from(sorted({f.name for m in ALGOS.values() for f in fields(m.Config)})), junk)
assignment = st.tuples(config_key, number).map(lambda kv: f"{kv[0]}={kv[1]}")
option = st.one_of(
    st.tuples(st.just("--steps"), number), st.tuples(st.just("--seed"), number),
    st.tuples(st.just("--preset"), st.one_of(st.sampled_from(["zoo", "default"]), junk)),
    st.tuples(st.just("--set"), assignment), st.tuples(st.just("--env-kwargs"), assignment),
    st.tuples(st.just("--eval-episodes"), number), st.tuples(st.just("--threads"), number),
    st.tuples(st.sampled_from(["--bogus", "-x", "--quiet", "--plot"]), junk))
train_args = st.tuples(algo, env_id, st.lists(option, max_size=4)).map(
    lambda t: ["train", t[0], t[1], *[x for pair in t[2] for x in pair]])
other_args = st.one_of(
    st.lists(junk, max_size=4).map(lambda xs: ["eval", *xs]),
    st.lists(junk, max_size=3).map(lambda xs: ["plot", *xs]),
    st.lists(junk, max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.one_of(train_args, other_args))
def test_any_arguments_give_a_message_never_a_traceback(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for module in ALGOS.values():
        monkeypatch.setattr(module, "train", stub_train)
    capsys.readouterr()  # drop what an earlier example's progress bar left
    try:
        code = cli.main(argv)
    except SystemExit as exc:   # argparse's own usage errors
        code = exc.code
    except ReachedTraining:
        return
    err = capsys.readouterr().err
    if code == 0:
        return
    assert code == 2, (argv, err)
    lines = [line for line in err.splitlines() if not line.startswith("rung: warning:")]
    assert len(lines) == 1 and lines[0].startswith("rung: error:"), (argv, err)
