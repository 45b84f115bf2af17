"""`srcad bench` on tiny workloads written here: the harness's behaviour (exit status,
messages, progress, JSON shape, child-process limits), never that srcad's compiler handles
a workload and never a timing."""

import argparse
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import srcad
from srcad import cli
from srcad.bench import peers, plot, report, runner, timing, verify
from srcad.bench.workloads import FunctionTarget, Workload

ROOT = Path(__file__).resolve().parents[2]

TINY = '''
import time

import numba
import numpy as np

NAME = "tiny"
DESCRIPTION = "sum of squares as a loop"
SIZES = {"quick": [5], "full": [5, 7], "test": [3]}
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


def make_autograd(x):  # stands in for a peer; imports nothing
    return lambda: 2.0 * x


PEERS = {"jax": make_jax, "autograd": make_autograd}
'''


def run_bench(args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "srcad", "bench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def options(*args):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    from srcad.bench import cli as bench_cli

    bench_cli.add_parser(sub)
    return parser.parse_args(["bench", *args])


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return path


def test_end_to_end_table_json_and_progress(tiny, tmp_path):
    out_json = tmp_path / "results.json"
    r = run_bench([str(tiny), "--json", str(out_json), "--budget", "0.01"], tmp_path)
    assert r.returncode in (0, 1), r.stderr
    out = r.stdout
    for title in ("srcad bench", "Times (median per call)", "Ratios", "Compile time",
                  "Peak traced memory", "threads : every library pinned to 1", "SVML"):
        assert title in out
    assert "LLVM    : -O0 (NUMBA_OPT): not Numba's default -O3" in out  # (the tests' level)
    assert "[1/4] tiny 5 numba primal … " in r.stderr and "elapsed" in r.stderr
    assert "ETA" in r.stderr.splitlines()[1]

    data = json.loads(out_json.read_text())
    machine = data["machine"]
    for key in ("cpu", "cores", "python", "versions", "numba_svml", "numba_opt", "peers"):
        assert key in machine
    assert machine["versions"]["numpy"] == np.__version__
    (row,) = data["results"]
    assert row["workload"] == "tiny" and row["size"] == "5"
    assert row["primal"]["status"] == "ok" and row["primal"]["compile_s"] >= 0
    assert row["hand"]["status"] == "ok" and row["ratios"]["hand/primal"] > 0
    status = row["srcad"]["status"]
    assert status == "ok" or status.startswith("srcad error: ")
    assert r.returncode == (0 if status == "ok" and row["verified"] == "ok" else 1)
    if status == "ok":
        assert row["srcad_compile_s"] >= 0 and "srcad/hand" in row["ratios"]
    assert row["call_overhead"]["size"] == "3"


def test_user_function_checked_by_finite_differences(tmp_path):
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
    r = run_bench([f"{mod}:f", "--args", "np.linspace(0, 1, 50), 2.0", "--wrt", "0,1",
                   "--json", str(out_json), "--budget", "0.01", "-q"], tmp_path)
    (row,) = json.loads(out_json.read_text())["results"]
    assert row["workload"] == "mymodule.py:f" and row["hand"]["status"] == "n/a"
    assert row["primal"]["status"] == "ok"
    if row["srcad"]["status"] == "ok":
        assert row["verified"] == "ok (finite differences)"
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode == 1


def test_a_function_writing_into_its_argument_is_checked_on_its_own_copy(tmp_path):
    # (found by an attack: the primal, timed on the --args arrays, doubled them to inf, and
    # srcad's gradient was then checked on those: a false MISMATCH and exit status 1)
    mod = tmp_path / "writes.py"
    mod.write_text("import numpy as np\n\ndef f(x):\n    x *= 2.0\n    return np.sum(x ** 2)\n")
    out_json = tmp_path / "r.json"
    r = run_bench([f"{mod}:f", "--args", "np.ones(4)", "--json", str(out_json),
                   "--budget", "0.01", "-q"], tmp_path)
    (row,) = json.loads(out_json.read_text())["results"]
    assert row["srcad"]["status"] == "ok" and row["verified"] == "ok (finite differences)"
    assert r.returncode == 0, r.stderr


def test_a_nan_gradient_that_finite_differences_agree_with_is_no_mismatch(tmp_path):
    mod = tmp_path / "nans.py"  # (found by an attack: "MISMATCH ... (srcad nan, numeric nan)")
    mod.write_text("import math\n\ndef f(x):\n    return math.sqrt(x) + x\n")
    out_json = tmp_path / "r.json"
    r = run_bench([f"{mod}:f", "--args", "-1.0", "--json", str(out_json), "--budget", "0.01",
                   "-q"], tmp_path)
    (row,) = json.loads(out_json.read_text())["results"]
    assert row["verified"] == "ok (finite differences)" and r.returncode == 0, r.stderr


def test_the_jvp_of_a_function_returning_an_array_is_checked_by_differences(tmp_path):
    # (found by an attack: its check asked srcad.grad for a gradient, which needs a number)
    mod = tmp_path / "vector.py"
    mod.write_text(textwrap.dedent('''
        import numpy as np

        def f(x):
            y = np.empty(x.shape[0])
            for i in range(x.shape[0]):
                y[i] = np.sin(x[i]) * x[i]
            return y
    '''))
    r = run_bench([f"{mod}:f", "--args", "np.linspace(0.1, 1.0, 5)", "--transform", "jvp",
                   "--budget", "0.01", "-q"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ok vs differences along t" in r.stdout


def test_a_method_named_through_its_object_is_benchmarked(tmp_path):
    # (found by an attack: `srcad show` took FILE.py:model.loss, bench said it had no such
    # function)
    mod = tmp_path / "methods.py"
    mod.write_text(textwrap.dedent('''
        import numpy as np

        class Model:
            def __init__(self, w):
                self.w = w

            def loss(self, x):
                return np.sum(self.w * x * x)

        model = Model(np.array([1.0, 2.0, 3.0]))
    '''))
    out_json = tmp_path / "r.json"
    r = run_bench([f"{mod}:model.loss", "--args", "np.ones(3)", "--json", str(out_json),
                   "--budget", "0.01", "-q"], tmp_path)
    (row,) = json.loads(out_json.read_text())["results"]
    assert row["primal"]["status"].startswith("n/a") and row["srcad"]["status"] == "ok"
    assert row["verified"] == "ok (finite differences)" and r.returncode == 0, r.stderr


def test_broken_workloads_and_missing_data_become_rows(tmp_path, monkeypatch, capsys):
    (tmp_path / "a_broken.py").write_text("NAME = 'broken'\n")
    (tmp_path / "b_no_data.py").write_text(TINY.replace(
        "return (np.linspace(0.1, 1.0, n),)", "raise FileNotFoundError('fetch it first')")
        .replace('"tiny"', '"no_data"'))
    (tmp_path / "_helper.py").write_text("raise SystemExit('helpers are not workloads')\n")
    out_json = tmp_path / "r.json"
    status = cli.main(["bench", str(tmp_path), "--json", str(out_json), "--budget", "0.001",
                       "-q"])
    rows = json.loads(out_json.read_text())["results"]
    assert [row["workload"] for row in rows] == ["a_broken", "no_data"]
    assert "missing" in rows[0]["error"]
    assert rows[1]["error"] == "data not found: fetch it first"
    assert status == 1  # the broken file; missing data alone is not a failure
    assert report.failures(rows[1:]) == []
    captured = capsys.readouterr()
    assert "no_data[5]: data not found: fetch it first" in captured.out  # the notes
    assert "a_broken" in captured.err


def test_usage_errors_are_one_line_and_exit_2(tiny, capsys, monkeypatch):
    assert cli.main(["bench", "--peers", "nope"]) == 2
    assert cli.main(["bench", "/no/such/workload.py"]) == 2
    assert cli.main(["bench", str(tiny), "--only", "nosuch"]) == 2
    assert cli.main(["bench", f"{tiny}:f"]) == 2  # a function needs --args
    assert cli.main(["bench", "--timeout", "soon"]) == 2
    monkeypatch.setattr(plot, "require_matplotlib", lambda: "--plot needs matplotlib")
    assert cli.main(["bench", str(tiny), "--plot", "p.png"]) == 2
    # what a long run used to find only at its end, or never
    assert cli.main(["bench", str(tiny), "--sizes", "bogus"]) == 2
    assert cli.main(["bench", str(tiny), "--budget", "-1"]) == 2
    assert cli.main(["bench", str(tiny), "--timeout", "-5"]) == 2
    assert cli.main(["bench", str(tiny), "--only", ""]) == 2
    assert cli.main(["bench", str(tiny), "--args", "1.0"]) == 2
    assert cli.main(["bench", str(tiny), "--json", "/no/such/folder/out.json"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 12 and all(line.startswith("srcad bench: ") for line in lines)
    assert "nosuch: no such workload (there are: tiny)" in lines[2]
    assert "--plot needs matplotlib" in lines[5]
    assert "--sizes bogus: not a size of tiny" in lines[6]
    assert "no such folder /no/such/folder" in lines[11]
    assert "Traceback" not in captured.err and captured.out == ""  # checked before any run


def test_list(tiny, capsys):
    assert cli.main(["bench", str(tiny), "--list"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "quick: [5]" in out


def _run_in_process(path, monkeypatch, fake_value_and_grad, *args):
    import srcad

    monkeypatch.setattr(srcad, "value_and_grad", fake_value_and_grad, raising=False)
    opts = options(str(path), "--budget", "0.001", *args)
    return runner.run(Workload(path), opts, [], runner.Progress(10, quiet=True))


def test_wrong_gradient_is_flagged_and_fails_the_run(tiny, monkeypatch):
    def fake(f, wrt, **kwargs):
        warnings.warn("fell back to the tape: a test", UserWarning, stacklevel=2)
        return lambda x: (f(x), 3.0 * x)  # the true gradient is 2x

    rows = _run_in_process(tiny, monkeypatch, fake)
    (row,) = rows
    assert row["verified"].startswith("MISMATCH vs hand adjoint: grad 0")
    assert row["srcad"]["status"] == "ok"  # still timed, and flagged
    assert row["srcad_warnings"] == ["UserWarning: fell back to the tape: a test"]
    assert "MISMATCH!" in report.format_table(rows, [])
    notes = report.notes(rows)
    assert "!!! MISMATCH tiny[5]" in notes and "srcad warned: UserWarning: fell back" in notes
    assert report.failures(rows) == [f"tiny[5]: srcad's gradient {row['verified']}"]


def test_srcad_failure_becomes_the_cell_and_the_exit_status(tiny, monkeypatch, capsys):
    import srcad

    def fake(f, wrt, **kwargs):
        raise NotImplementedError("no rule for np.foo\nsecond line")

    (row,) = _run_in_process(tiny, monkeypatch, fake)
    assert row["srcad"]["status"] == "srcad error: NotImplementedError: no rule for np.foo"
    assert row["primal"]["status"] == "ok" and row["hand"]["status"] == "ok"
    assert "srcad error: NotImplementedError" in report.format_table([row], [])
    monkeypatch.setattr(srcad, "value_and_grad", fake)
    assert cli.main(["bench", str(tiny), "--budget", "0.001", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("srcad bench: tiny[5]: srcad error: NotImplementedError: "
                           "no rule for np.foo")


def test_peer_cells_run_in_a_child_process_with_a_time_limit(tiny, monkeypatch):
    monkeypatch.setattr(peers, "installed", lambda name: True)
    ok = peers.run_peer(tiny, 4, "autograd", 0.001, timeout=60, memory_limit=0)
    assert ok["status"] == "ok" and ok["peak_bytes"] is not None
    assert np.allclose(ok["_grads"][0], 2.0 * np.linspace(0.1, 1.0, 4))
    assert verify.compare((None, ok["_grads"]), (0.0, (2.0 * np.linspace(0.1, 1.0, 4),)),
                          "hand adjoint") == "ok"
    cannot = peers.run_peer(tiny, 4, "jax", 0.001, timeout=60, memory_limit=0)
    assert cannot == {"status": "cannot express: this test says so"}
    never_ends = tiny.with_name("never_ends.py")
    never_ends.write_text(TINY.replace("return lambda: 2.0 * x", "return lambda: time.sleep(60)"))
    slow = peers.run_peer(never_ends, 4, "autograd", 0.001, timeout=1, memory_limit=0)
    assert slow == {"status": "timed out after 1 s"}


def test_peer_child_is_stopped_at_the_memory_limit():
    code = "import time; b = bytearray(400_000_000); b[::4096] = b'x' * 97657; time.sleep(60)"
    hog = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    assert peers._watch(hog, timeout=30, memory_limit=100_000_000).startswith(
        "stopped at the memory limit (100 MB")
    assert hog.poll() is not None


def test_peer_child_crash_is_a_cell(tmp_path, monkeypatch):
    path = tmp_path / "crash.py"
    path.write_text(TINY.replace("return lambda: 2.0 * x", "import os; os._exit(3)"))
    monkeypatch.setattr(peers, "installed", lambda name: True)
    cell = peers.run_peer(path, 4, "autograd", 0.001, timeout=60, memory_limit=0)
    assert cell["status"].startswith("error: the child process exited with 3")


def test_compare_flags_mismatches():
    ref = (1.0, (np.array([1.0, 2.0]), np.array([[3.0]])))
    assert verify.compare((1.0, (np.array([1.0, 2.0]), np.array([[3.0]]))), ref, "hand") == "ok"
    bad = verify.compare((1.0, (np.array([1.0, 2.1]), np.array([[3.0]]))), ref, "hand")
    assert bad.startswith("MISMATCH") and "grad 0" in bad
    nan = verify.compare((1.0, (np.array([np.nan, 2.0]), np.array([[3.0]]))), ref, "h")
    assert nan.startswith("MISMATCH")
    assert verify.compare((2.0, ref[1]), ref, "h").startswith("MISMATCH vs h: value")
    shape = verify.compare((1.0, (np.array([1.0, 2.0]), np.array([3.0]))), ref, "h")
    assert "shape" in shape


def test_finite_difference_check_uses_srcad_check():
    def f(x, a):
        return float(np.sum(np.sin(a * x)))

    x = np.linspace(0, 1, 5)
    good = (2.0 * np.cos(2.0 * x), float(np.sum(x * np.cos(2.0 * x))))
    assert verify.against_finite_differences(f, (x, 2.0), (0, 1), good) == \
        "ok (finite differences)"
    bad = verify.against_finite_differences(f, (x, 2.0), (0, "a"), (good[0], 0.0))
    assert bad.startswith("MISMATCH vs finite differences: gradient w.r.t. argument 1")


def test_timed_cells():
    cell = timing.timed(lambda: sum(range(100)), 0.01, track_memory=True)
    assert cell["status"] == "ok" and cell["samples"] >= 1 and cell["median_s"] > 0
    assert cell["_out"] == 4950 and cell["peak_bytes"] is not None
    assert cell["compile_s"] == max(cell["first_s"] - cell["median_s"], 0.0)
    failed = timing.timed(lambda: 1 / 0, 0.01)
    assert failed["status"] == "error: ZeroDivisionError: division by zero"


def test_progress_counts_and_estimates(capsys):
    import io

    stream = io.StringIO()
    progress = runner.Progress(3, stream=stream)
    for tool in ("numba primal", "hand adjoint", "srcad"):
        progress("w", "5", tool)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[1/3] w 5 numba primal … ") and "ETA" not in lines[0]
    assert lines[2].startswith("[3/3] w 5 srcad … ") and "ETA" in lines[2]


def test_formatting():
    assert report.fmt_time(1.5e-6) == "1.5 µs"
    assert report.fmt_time(0.25) == "250 ms"
    assert report.fmt_time(None) == "-"
    assert report.fmt_bytes(None) == "n/a"
    assert report.fmt_bytes(2_500_000) == "2.5 MB"
    from srcad.bench.cli import memory_size

    assert memory_size("4G") == 4_000_000_000 and memory_size("500M") == 500_000_000


@pytest.mark.parametrize("transform,check", [("jvp", "ok vs <grad, t>"),
                                             ("hvp", "ok vs differences of the gradient")])
def test_a_function_s_transform_is_timed_at_its_args(tmp_path, transform, check, capsys):
    # (found by a helper's attack: refused, where README lists --transform for FILE:FUNC; and
    # --sizes bogus was accepted for it)
    mod = tmp_path / "fmod.py"
    mod.write_text("import math\n\ndef f(x, a):\n    s = 0.0\n    for i in range(x.shape[0]):\n"
                   "        s = s + math.sin(a * x[i])\n    return s\n")
    target = [f"{mod}:f", "--args", "np.linspace(0, 1, 50), 2.0"]
    assert cli.main(["bench", *target, "--wrt", "a", "--transform", transform, "--budget",
                     "0.01", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"srcad {transform}" in out and check in out
    assert cli.main(["bench", *target, "--sizes", "bogus"]) == 2
    assert "--sizes bogus: a module.py:func runs at the --args given" in capsys.readouterr().err
    assert cli.main(["bench", f"{mod}:f", "--args", "np.ones(3), a=2.0"]) == 2
    captured = capsys.readouterr()
    assert "passes the arguments by position" in captured.err and captured.out == ""


@pytest.mark.parametrize("transform,check", [("jvp", "ok vs <grad, t>"),
                                             ("hvp", "ok vs differences of the gradient")])
def test_transform_tables_are_checked(tiny, tmp_path, transform, check, capsys):
    assert cli.main(["bench", str(tiny), "--transform", transform, "--budget", "0.01",
                     "-q"]) == 0
    out = capsys.readouterr().out
    assert f"srcad {transform}" in out and check in out
    assert cli.main(["bench", str(tiny), "--transform", transform, "--peers", "jax"]) == 2


@pytest.mark.parametrize("wrt", ["-1", "2", "z"])
def test_wrt_may_name_a_parameter_left_at_its_default_or_count_from_the_end(tmp_path, wrt):
    # (found by an attack: --wrt -1 checked srcad's d/dz against differences in y, a false
    # MISMATCH; --wrt 2 and --wrt z, z left at its default: "tuple index out of range")
    mod = tmp_path / "defaults.py"
    mod.write_text("import numpy as np\n\ndef f(x, y, z=2.0):\n    return np.sum(x ** 2) * y * z\n")
    target = FunctionTarget(mod, "f", "np.array([0.5, 1.5]), 3.0", wrt)
    f, args = target.load()
    (w,) = target.wrt
    g = srcad.grad(f, wrt=w)(*args)
    assert g == pytest.approx(7.5)  # (d/dz: sum(x**2) * y)
    assert verify.against_finite_differences(f, args, target.wrt, (g,)) == \
        "ok (finite differences)"
