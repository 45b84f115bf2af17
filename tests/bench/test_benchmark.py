"""`srcad bench` end to end on tiny workloads written here, asserting the harness's
structure (table, JSON, statuses), never that srcad's compiler handles the workload."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest

from srcad import benchmark

ROOT = Path(__file__).resolve().parents[2]

TINY = '''
import numba
import numpy as np

NAME = "tiny"
DESCRIPTION = "sum of squares as a loop"
SIZES = {"quick": [5], "full": [5, 7]}
WRT = (0,)


def make_inputs(n):
    return (np.linspace(0.1, 1.0, n),)


def f(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i]
    return s


@numba.njit
def hand_adjoint(x):
    return np.sum(x * x), (2.0 * x,)


class CannotExpress(Exception):
    pass


def make_jax(x):
    raise CannotExpress("this test says so")


PEERS = {"jax": make_jax}
'''


def run_bench(args, cwd, pinned=False):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if pinned:
        env.update(benchmark.THREAD_ENV)
    code = ("import sys; from srcad.benchmark import main; rc = main(sys.argv[1:]); "
            "print('PEERS LOADED:', sorted(m for m in ('jax', 'torch', 'autograd') "
            "if m in sys.modules)); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return path


def test_end_to_end_table_and_json(tiny, tmp_path):
    out_json = tmp_path / "results.json"
    r = run_bench([str(tiny), "--peers", "jax", "--json", str(out_json), "--budget", "0.01"],
                  tmp_path)
    assert r.returncode in (0, 1), r.stderr
    out = r.stdout
    assert "srcad bench" in out and "Times (median per call)" in out and "Ratios" in out
    assert "threads : every library pinned to 1" in out
    assert "SVML" in out
    assert "tiny" in out
    assert "tiny[5]: numba primal" in r.stderr  # progress goes to stderr

    data = json.loads(out_json.read_text())
    machine = data["machine"]
    for key in ("cpu", "cores", "python", "versions", "numba_svml", "peers"):
        assert key in machine
    assert machine["versions"]["numpy"] == np.__version__
    assert "jax" in machine["peers"]
    (row,) = data["results"]
    assert row["workload"] == "tiny" and row["size"] == "5"
    assert row["primal"]["status"] == "ok" and row["primal"]["median_s"] > 0
    assert row["hand"]["status"] == "ok" and row["ratios"]["hand/primal"] > 0
    srcad_status = row["srcad"]["status"]
    assert srcad_status == "ok" or srcad_status.startswith("srcad error: ")
    if srcad_status == "ok":
        assert row["verified"] in ("ok",) or row["verified"].startswith("MISMATCH")
        assert row["srcad_compile_s"] > 0 and "srcad/hand" in row["ratios"]
    jax = row["peers"]["jax"]["status"]
    assert jax in ("not installed", "cannot express: this test says so")


def test_runs_in_process_when_pinned_and_imports_no_peer(tiny, tmp_path):
    r = run_bench([str(tiny), "--budget", "0.01", "-q"], tmp_path, pinned=True)
    assert r.returncode in (0, 1), r.stderr
    assert "PEERS LOADED: []" in r.stdout
    assert "numba primal" not in r.stderr  # -q: no progress lines


def test_user_function_mode(tmp_path):
    mod = tmp_path / "mymodule.py"
    mod.write_text(textwrap.dedent('''
        import math

        def f(x, a):
            s = 0.0
            for i in range(x.shape[0]):
                s = s + math.sin(a * x[i])
            return s
    '''))
    out_json = tmp_path / "r.json"
    r = run_bench([f"{mod}:f", "--args", "np.linspace(0, 1, 50), 2.0", "--json", str(out_json),
                   "--budget", "0.01", "-q"], tmp_path, pinned=True)
    assert r.returncode in (0, 1), r.stderr
    (row,) = json.loads(out_json.read_text())["results"]
    assert row["workload"] == "mymodule.py:f"
    assert row["primal"]["status"] == "ok"
    assert row["hand"]["status"] == "n/a"
    s = row["srcad"]["status"]
    assert s == "ok" or s.startswith("srcad error: ")
    if s == "ok":
        assert row["verified"].startswith(("ok", "MISMATCH"))


def test_broken_and_failing_workloads_become_rows(tmp_path):
    (tmp_path / "a_broken.py").write_text("NAME = 'broken'\n")
    (tmp_path / "b_bad_inputs.py").write_text(TINY.replace(
        "return (np.linspace(0.1, 1.0, n),)", "raise RuntimeError('no data here')").replace(
        '"tiny"', '"bad_inputs"'))
    (tmp_path / "_helper.py").write_text("raise SystemExit('helpers are not workloads')\n")
    out_json = tmp_path / "r.json"
    r = run_bench([str(tmp_path), "--json", str(out_json), "--budget", "0.01", "-q"], tmp_path,
                  pinned=True)
    assert r.returncode in (0, 1), r.stderr
    rows = json.loads(out_json.read_text())["results"]
    assert [row["workload"] for row in rows] == ["a_broken", "bad_inputs"]
    assert "missing" in rows[0]["error"]
    assert rows[1]["error"] == "make_inputs failed: RuntimeError: no data here"
    assert "no data here" in r.stdout


def test_usage_errors():
    assert benchmark.main(["--peers", "nope"]) == 2
    assert benchmark.main(["/no/such/workload.py"]) == 2


def test_list(tiny, tmp_path):
    r = run_bench([str(tiny), "--list"], tmp_path, pinned=True)
    assert r.returncode == 0 and "tiny" in r.stdout and "quick: [5]" in r.stdout


def test_compare_flags_mismatches():
    ref = (1.0, (np.array([1.0, 2.0]), np.array([[3.0]])))
    assert benchmark._compare((1.0, (np.array([1.0, 2.0]), np.array([[3.0]]))), ref, 1e-6,
                              "hand") == "ok"
    bad = benchmark._compare((1.0, (np.array([1.0, 2.1]), np.array([[3.0]]))), ref, 1e-6, "hand")
    assert bad.startswith("MISMATCH") and "grad 0" in bad
    nan = benchmark._compare((1.0, (np.array([np.nan, 2.0]), np.array([[3.0]]))), ref, 1e-6, "h")
    assert nan.startswith("MISMATCH")
    assert benchmark._compare((2.0, ref[1]), ref, 1e-6, "h").startswith("MISMATCH vs h: value")
    shape = benchmark._compare((1.0, (np.array([1.0, 2.0]), np.array([3.0]))), ref, 1e-6, "h")
    assert "shape" in shape


def test_timed_cells():
    cell = benchmark._timed(lambda: sum(range(100)), 0.01, track_memory=True)
    assert cell["status"] == "ok" and cell["samples"] >= 1 and cell["median_s"] > 0
    assert cell["_out"] == 4950 and cell["peak_bytes"] is not None
    failed = benchmark._timed(lambda: 1 / 0, 0.01)
    assert failed["status"] == "error: ZeroDivisionError: division by zero"


def test_formatting():
    assert benchmark.fmt_time(1.5e-6) == "1.5 µs"
    assert benchmark.fmt_time(0.25) == "250 ms"
    assert benchmark.fmt_time(None) == "-"
    assert benchmark.fmt_bytes(None) == "n/a"
    assert benchmark.fmt_bytes(2_500_000) == "2.5 MB"


def test_plot_without_rows(tmp_path):
    msg = benchmark.plot_ratios([], [], tmp_path / "p.png")
    assert "matplotlib" in msg or "nothing to plot" in msg


def _run_in_process(path, monkeypatch, fake_value_and_grad):
    import srcad

    monkeypatch.setattr(srcad, "value_and_grad", fake_value_and_grad, raising=False)
    opts = benchmark._parser().parse_args([str(path), "--budget", "0.001"])
    return benchmark._WorkloadJob(path).run(opts, [], lambda message: None, numba)


def test_wrong_gradient_is_flagged_and_warnings_reported(tiny, monkeypatch):
    def fake(f, wrt, **kwargs):
        warnings.warn("fell back to the tape: a test", UserWarning, stacklevel=2)
        return lambda x: (f(x), 3.0 * x)  # the true gradient is 2x

    rows = _run_in_process(tiny, monkeypatch, fake)
    (row,) = rows
    assert row["verified"].startswith("MISMATCH vs hand adjoint: grad 0")
    assert row["srcad"]["status"] == "ok"  # still timed, and flagged
    assert row["srcad_warnings"] == ["UserWarning: fell back to the tape: a test"]
    assert "MISMATCH!" in benchmark.format_table(rows, [])
    notes = benchmark._notes(rows)
    assert "!!! MISMATCH tiny[5]" in notes and "srcad warned: UserWarning: fell back" in notes


def test_srcad_failure_becomes_the_cell(tiny, monkeypatch):
    def fake(f, wrt, **kwargs):
        raise NotImplementedError("no rule for np.foo\nsecond line")

    (row,) = _run_in_process(tiny, monkeypatch, fake)
    assert row["srcad"]["status"] == "srcad error: NotImplementedError: no rule for np.foo"
    assert row["primal"]["status"] == "ok" and row["hand"]["status"] == "ok"
    assert "srcad error: NotImplementedError" in benchmark.format_table([row], [])
