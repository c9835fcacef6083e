"""benchmarks/ab.py: the two-checkout A/B scripts' worker runner and best-of table."""

from pathlib import Path

from benchmarks.ab import BEST_OF, best_of_table, run_checkout

ROOT = Path(__file__).resolve().parent.parent

ENV_WORKER = """
import json, os, filterbank
print("noise first")
print(json.dumps({"threads": os.environ["OPENBLAS_NUM_THREADS"],
                  "pin": os.environ.get("OPENBLAS_CORETYPE"),
                  "filterbank": filterbank.__file__}))
"""


def test_the_worker_runs_in_the_checkout_with_its_threads(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    out = run_checkout(ROOT, ENV_WORKER, threads=3)
    assert out["threads"] == "3" and out["pin"] == "Haswell"
    assert out["filterbank"].startswith(str(ROOT / "filterbank"))
    assert run_checkout(ROOT, ENV_WORKER, drop_openblas=True)["pin"] is None


def test_best_of_prelude_and_argv():
    src = BEST_OF + "print(json.dumps({'arg': sys.argv[1], 't': best(lambda: 0, 2, blocks=2)}))"
    out = run_checkout(ROOT, src, ["x"])
    assert out["arg"] == "x" and 0 <= out["t"] < 0.1


def test_best_of_table_keeps_each_sides_minimum(capsys):
    values = {"old": iter([5.0, 3.0]), "new": iter([2.0, 4.0])}
    best_of_table("old", "new", 2, lambda side: {"f": next(values[side])})
    rows = capsys.readouterr().out.splitlines()
    assert rows[-1] == "| f | 3.0 | 2.0 | 0.667 |"
