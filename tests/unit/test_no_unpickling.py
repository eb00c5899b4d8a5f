"""Nothing rung reads from disk is ever unpickled: a checkpoint or agent file from a stranger can hold
data, never code. The check walks the package's syntax tree, so comments and strings do not count."""

import ast
from pathlib import Path

import rung

PACKAGE = Path(rung.__file__).resolve().parent


def unsafe_loads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            found += [f"imports {n}" for n in names if n.split(".")[0] in ("pickle", "cloudpickle", "dill", "joblib")]
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        keywords = {k.arg: k.value for k in node.keywords}
        if name.endswith("torch.load") or name == "load" and "weights_only" in keywords:
            weights_only = keywords.get("weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append(f"{name} without weights_only=True")
        if name.endswith(("np.load", "numpy.load")):
            allow = keywords.get("allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                found.append(f"{name} with allow_pickle")
        if name.endswith(("pickle.load", "pickle.loads", "Unpickler", "shelve.open", "marshal.loads")):
            found.append(name)
    return found


def test_the_package_never_unpickles():
    problems = {}
    for path in PACKAGE.rglob("*.py"):
        found = unsafe_loads(ast.parse(path.read_text(), str(path)))
        if found:
            problems[str(path.relative_to(PACKAGE))] = found
    assert problems == {}


def test_the_checker_catches_each_unsafe_form():
    for source in ("import pickle", "from pickle import loads", "torch.load(f)", "torch.load(f, weights_only=False)",
                   "np.load(f, allow_pickle=True)", "pickle.loads(b)"):
        assert unsafe_loads(ast.parse(source)), source
    for source in ("torch.load(f, weights_only=True)", "np.load(f)", "safetensors.torch.load_file(p)"):
        assert not unsafe_loads(ast.parse(source)), source
