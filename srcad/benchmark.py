"""The timing harness behind `srcad bench`.

Input: workload files following the protocol in `bench/workloads/__init__.py` (NAME, SIZES,
WRT, make_inputs, f, hand_adjoint, optional PEERS and check), or a user's `module.py:func`
with `--args`. Output: a table on stdout, progress on stderr, optionally every figure as
JSON (`--json`) and a bar chart of the gradient/primal ratios (`--plot`).

For each workload and size it times the Numba primal (`numba.njit(f)`), srcad's gradient
(`srcad.value_and_grad(f, wrt=WRT)`), the hand-written Numba adjoint and each requested
peer's gradient: the median per-call time of several samples after a warm-up call, with the
first call (compilation) reported apart. srcad's gradient is checked against the hand
adjoint before it is timed. A cell that fails says why; no row is dropped.

Every library is pinned to one thread. The variables must be set before numpy, numba and
the peers load their thread pools, so `main` runs the benchmark in a child interpreter
with them set unless they are set already.
"""

import argparse
import gc
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
PEER_NAMES = ("jax", "autograd", "torch")
EAGER_PEERS = ("autograd", "torch")  # no compilation: a slow first call is already a sample
TRACED_PEERS = ("autograd",)  # allocate through numpy, which tracemalloc sees; torch/XLA do not
RTOL = 1e-6
SUITE_DIR = Path(__file__).resolve().parents[1] / "bench" / "workloads"
_CHILD_FLAG = "SRCAD_BENCH_CHILD"


# ---- command line ----

def _parser():
    p = argparse.ArgumentParser(
        prog="srcad bench",
        description="Time srcad's gradients against the Numba primal, a hand-written Numba "
                    "adjoint and peer AD tools (JAX, HIPS autograd, PyTorch).",
    )
    p.add_argument("targets", nargs="*",
                   help="workload files or folders (default: the bench/workloads suite), "
                        "or module.py:func with --args")
    p.add_argument("--peers", default="",
                   help="comma-separated peers to time: " + ",".join(PEER_NAMES))
    p.add_argument("--sizes", default="quick",
                   help="quick (default), full, test, or comma-separated size keys")
    p.add_argument("--only", default="", help="comma-separated workload names to run")
    p.add_argument("--json", metavar="PATH", help="write every figure and the machine to PATH")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of the ratios")
    p.add_argument("--markdown", metavar="PATH",
                   help="write the times and ratios as a Markdown table (for bench/README.md)")
    p.add_argument("--fastmath", action="store_true",
                   help="compile the primal and srcad's gradient with fastmath (off by default)")
    p.add_argument("--budget", type=float, default=0.3,
                   help="seconds of timed calls per cell (default 0.3)")
    p.add_argument("--args", dest="call_args",
                   help="for module.py:func: the arguments, a Python expression list "
                        "(np and math are available), e.g. \"np.random.rand(1000), 2.0\"")
    p.add_argument("--wrt", default="0", help="for module.py:func: argument indices or names")
    p.add_argument("--list", action="store_true", help="list the workloads and their sizes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p


def main(argv=None):
    """Entry point of `srcad bench`. Returns the exit status: 0, or 1 when a gradient
    disagrees with its reference (MISMATCH) or an ADBench check fails, 2 on usage errors."""
    argv = list(sys.argv[1:] if argv is None else argv)
    opts = _parser().parse_args(argv)
    problem = _usage_problem(opts)
    if problem:
        print(f"srcad bench: {problem}", file=sys.stderr)
        return 2
    if not _threads_pinned() and not os.environ.get(_CHILD_FLAG):
        return _run_pinned_child(argv)
    return _run(opts)


def _usage_problem(opts):
    unknown = [p for p in opts.peers.split(",") if p.strip() and p.strip() not in PEER_NAMES]
    if unknown:
        return f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEER_NAMES)}"
    for t in opts.targets or [str(SUITE_DIR)]:
        path, _, func = t.rpartition(":")
        if func and path.endswith(".py") and not Path(t).exists():
            if opts.call_args is None:
                return f"{t}: give the function's arguments with --args"
            t = path
        if not Path(t).exists():
            hint = ("" if opts.targets else " (the suite ships with the source checkout: "
                    "install with `pip install -e .[bench]`, or name a workload file)")
            return f"no such file or folder: {t}{hint}"
    return None


def _threads_pinned():
    return all(os.environ.get(k) == v for k, v in THREAD_ENV.items())


def _run_pinned_child(argv):
    env = dict(os.environ)
    env.update(THREAD_ENV)
    env[_CHILD_FLAG] = "1"
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    code = "import sys; from srcad.benchmark import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], env=env, check=False).returncode


# ---- the run ----

def _run(opts):
    peers = [p.strip() for p in opts.peers.split(",") if p.strip()]
    progress = _Progress(quiet=opts.quiet)
    jobs = _collect(opts)
    if opts.list:
        for job in jobs:
            print(job.describe())
        return 0

    import numba

    machine = machine_description(peers)
    settings = {
        "threads": "1 (" + ", ".join(f"{k}={v}" for k, v in THREAD_ENV.items()) +
                   ", torch.set_num_threads(1))",
        "timing": f"median per call of 3 to 7 samples after one warm-up call (1 sample "
                  f"for calls over 1 s), about {opts.budget:g} s of calls per cell, gc off "
                  f"while timing; the first call (compilation) is reported apart",
        "fastmath": bool(opts.fastmath),
        "sizes": opts.sizes,
        "peers": peers,
        "verification": f"srcad's value and gradient vs the hand adjoint, relative {RTOL:g} "
                        f"(vs central finite differences for module.py:func)",
    }
    print(_header(machine, settings))
    sys.stdout.flush()
    rows = []
    for job in jobs:
        rows.extend(job.run(opts, peers, progress, numba))
        if opts.json:  # written as it goes, so a long run that dies keeps its figures
            _write_json(opts.json, machine, settings, rows)
    print(format_table(rows, peers))
    notes = _notes(rows)
    if notes:
        print("\n" + notes)
    if opts.json:
        _write_json(opts.json, machine, settings, rows)
        print(f"\nwrote {opts.json}")
    if opts.markdown:
        Path(opts.markdown).write_text(format_markdown(rows, peers, machine))
        print(f"wrote {opts.markdown}")
    if opts.plot:
        print(plot_ratios(rows, peers, opts.plot))
    bad = any(r.get("verified", "").startswith("MISMATCH") or
              str(r.get("adbench_check_srcad", "")).startswith("FAILED") for r in rows)
    return 1 if bad else 0


def _write_json(path, machine, settings, rows):
    result = {"machine": machine, "settings": settings, "results": rows}
    Path(path).write_text(json.dumps(result, indent=1, default=str))


def _collect(opts):
    targets = opts.targets or [str(SUITE_DIR)]
    only = {n.strip() for n in opts.only.split(",") if n.strip()}
    jobs = []
    for t in targets:
        path, _, func = t.rpartition(":")
        if func and path.endswith(".py") and not Path(t).exists():
            jobs.append(_FunctionJob(Path(path), func, opts.call_args, opts.wrt))
            continue
        p = Path(t)
        if p.is_dir():
            files = sorted(q for q in p.glob("*.py") if not q.name.startswith("_"))
        else:
            files = [p]
        for q in files:
            job = _WorkloadJob(q)
            if not only or job.name in only or q.stem in only:
                jobs.append(job)
    return jobs


# ---- loading workload files ----

def load_module(path):
    """Import a workload file. A file inside a package (bench/workloads/) is imported under
    its dotted name so its own imports work; any other file as a standalone module."""
    path = Path(path).resolve()
    repo = SUITE_DIR.parents[1]
    if SUITE_DIR.is_dir() and str(repo) not in sys.path:
        sys.path.insert(0, str(repo))  # so any workload file can `from bench.workloads import`
    parts = [path.stem]
    d = path.parent
    while (d / "__init__.py").is_file():
        parts.insert(0, d.name)
        d = d.parent
    if len(parts) > 1:
        if str(d) not in sys.path:
            sys.path.insert(0, str(d))
        return importlib.import_module(".".join(parts))
    name = f"_srcad_bench_{abs(hash(str(path)))}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


REQUIRED = ("NAME", "SIZES", "WRT", "make_inputs", "f")


class _WorkloadJob:
    def __init__(self, path):
        self.path = path
        self.name = path.stem
        self.module = None
        self.error = None
        try:
            self.module = load_module(path)
            missing = [n for n in REQUIRED if not hasattr(self.module, n)]
            if missing:
                self.error = f"not a workload file: missing {', '.join(missing)}"
            else:
                self.name = self.module.NAME
        except (Exception, SystemExit) as e:  # a broken workload must not stop the suite
            self.error = f"cannot load: {_first_line(e)}"

    def describe(self):
        if self.error:
            return f"{self.name}: {self.error}"
        sizes = "; ".join(f"{k}: {v}" for k, v in self.module.SIZES.items())
        return f"{self.name} ({self.path}): {getattr(self.module, 'DESCRIPTION', '')} [{sizes}]"

    def sizes(self, spec):
        table = self.module.SIZES
        if spec in table:
            return list(table[spec])
        if spec in ("quick", "full", "test"):
            return list(table.get("quick", []))[:1] if spec == "test" else []
        return [_parse_key(k) for k in spec.split(",") if k.strip()]

    def run(self, opts, peers, progress, numba):
        if self.error:
            progress(f"{self.name}: {self.error}")
            return [{"workload": self.name, "size": "-", "error": self.error,
                     "file": str(self.path)}]
        W = self.module
        wrt = tuple(W.WRT)
        sizes = self.sizes(opts.sizes)
        if not sizes:
            return [{"workload": self.name, "size": "-", "file": str(self.path),
                     "error": f"no sizes for --sizes {opts.sizes}"}]
        primal = numba.njit(W.f, fastmath=True) if opts.fastmath else numba.njit(W.f)
        srcad_state = _SrcadBuilder(W.f, wrt, opts.fastmath)
        hand = getattr(W, "hand_adjoint", None)
        rows = []
        for size in sizes:
            label = f"{self.name}[{_key_str(size)}]"
            row = {"workload": self.name, "size": _key_str(size), "file": str(self.path),
                   "description": getattr(W, "DESCRIPTION", ""), "wrt": list(wrt)}
            rows.append(row)
            progress(f"{label}: inputs")
            try:
                args = tuple(W.make_inputs(size))
            except Exception as e:
                row["error"] = f"make_inputs failed: {_first_line(e)}"
                progress(f"{label}: {row['error']}")
                continue
            budget = opts.budget
            progress(f"{label}: numba primal")
            row["primal"] = _timed(lambda a=args: primal(*a), budget, track_memory=True)
            ref = None
            if hand is None:
                row["hand"] = {"status": "n/a (no hand_adjoint)"}
            else:
                progress(f"{label}: hand adjoint")
                row["hand"] = _timed(lambda a=args: hand(*a), budget, track_memory=True)
                if row["hand"]["status"] == "ok":
                    ref = row["hand"].pop("_out")
                    ref = (ref[0], tuple(ref[1]))
            progress(f"{label}: srcad")
            self._srcad_cell(row, srcad_state, args, wrt, ref, budget)
            for peer in peers:
                progress(f"{label}: {peer}")
                row.setdefault("peers", {})[peer] = _peer_cell(W, peer, args, wrt, ref, budget)
            _ratios(row, peers)
            for cell in [row.get("primal"), row.get("hand"), row.get("srcad"),
                         *row.get("peers", {}).values()]:
                if isinstance(cell, dict):
                    cell.pop("_out", None)
        if hasattr(W, "check"):
            self._adbench_check(rows, W, srcad_state, hand, progress)
        return rows

    def _srcad_cell(self, row, state, args, wrt, ref, budget):
        g = state.get()
        if isinstance(g, str):
            row["srcad"] = {"status": g}
            return
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = g(*args)
            except Exception as e:
                row["srcad"] = {"status": f"srcad error: {_first_line(e)}"}
                return
        row["srcad_compile_s"] = state.build_s + time.perf_counter() - t0
        state.build_s = 0.0  # construction is counted once, with the first size
        caught = state.take_warnings() + [_first_line(w.message) for w in caught]
        if caught:
            row["srcad_warnings"] = caught
        try:
            value, grads = _normalise(out, wrt)
            if ref is not None:
                row["verified"] = _compare((value, grads), ref, RTOL, "hand adjoint")
            else:
                row["verified"] = "unverified (no hand adjoint)"
        except Exception as e:
            row["srcad"] = {"status": f"srcad error: unexpected result: {_first_line(e)}"}
            return
        row["srcad"] = _srcad_timed(g, args, budget)

    def _adbench_check(self, rows, W, state, hand, progress):
        keys = getattr(W, "CHECK_SIZE", "test")
        keys = keys if isinstance(keys, list) else [keys]
        takes_size = len(inspect.signature(W.check).parameters) >= 3
        results = {"srcad": [], "hand": []}
        for key in keys:
            progress(f"{self.name}: ADBench check at {_key_str(key)}")
            try:
                args = tuple(W.make_inputs(key))
            except Exception as e:
                results["srcad"].append(f"n/a ({_first_line(e)})")
                continue
            for who, fn in (("srcad", state.get()), ("hand", hand)):
                if fn is None or isinstance(fn, str):
                    results[who].append(fn or "n/a")
                    continue
                try:
                    value, grads = _normalise(fn(*args), tuple(W.WRT))
                except Exception as e:
                    results[who].append(f"{who} error: {_first_line(e)}")
                    continue
                try:
                    W.check(value, grads, key) if takes_size else W.check(value, grads)
                    results[who].append("ok")
                except AssertionError as e:
                    results[who].append(f"FAILED at {_key_str(key)}: {_first_line(e)}")
        for who, found in results.items():
            summary = next((r for r in found if r != "ok"), "ok" if found else "n/a")
            for row in rows:
                row[f"adbench_check_{who}"] = summary


def _srcad_timed(g, args, budget):
    cell = _timed(lambda: g(*args), budget, track_memory=True, warm=True)
    if cell["status"].startswith("error: "):
        cell["status"] = "srcad " + cell["status"]
    return cell


class _SrcadBuilder:
    """Builds srcad.value_and_grad(f) once per workload; a failure becomes the cell text,
    and warnings (a fallback to the tape, say) are kept for the table's notes."""

    def __init__(self, f, wrt, fastmath):
        self.f, self.wrt, self.fastmath = f, wrt, fastmath
        self.g = None
        self.build_s = 0.0
        self.warnings = []

    def get(self):
        if self.g is None:
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    import srcad

                    kwargs = {"fastmath": True} if self.fastmath else {}
                    self.g = srcad.value_and_grad(self.f, wrt=self.wrt, **kwargs)
                except Exception as e:
                    self.g = f"srcad error: {_first_line(e)}"
            self.warnings = [_first_line(w.message) for w in caught]
            self.build_s = time.perf_counter() - t0
        return self.g

    def take_warnings(self):
        found, self.warnings = self.warnings, []
        return found


class _FunctionJob:
    """`srcad bench module.py:func --args ...`: primal, srcad gradient and compile time."""

    def __init__(self, path, func, args_expr, wrt):
        self.path, self.func, self.args_expr = path, func, args_expr
        self.wrt = tuple(int(w) if w.strip().lstrip("-").isdigit() else w.strip()
                         for w in wrt.split(","))
        self.name = f"{path.name}:{func}"

    def describe(self):
        return f"{self.name} with args ({self.args_expr})"

    def run(self, opts, peers, progress, numba):
        import numpy as np

        row = {"workload": self.name, "size": self.args_expr, "file": str(self.path),
               "wrt": list(self.wrt)}
        try:
            module = load_module(self.path)
            f = getattr(module, self.func)
            namespace = {"np": np, "numpy": np, "math": math, **vars(module)}
            args = eval(f"({self.args_expr},)", namespace)
        except Exception as e:
            row["error"] = f"cannot set up: {_first_line(e)}"
            return [row]
        budget = opts.budget
        progress(f"{self.name}: numba primal")
        primal = numba.njit(f, fastmath=True) if opts.fastmath else numba.njit(f)
        row["primal"] = _timed(lambda: primal(*args), budget, track_memory=True)
        row["hand"] = {"status": "n/a"}
        progress(f"{self.name}: srcad")
        state = _SrcadBuilder(f, self.wrt, opts.fastmath)
        g = state.get()
        if isinstance(g, str):
            row["srcad"] = {"status": g}
        else:
            t0 = time.perf_counter()
            try:
                out = g(*args)
                row["srcad_compile_s"] = state.build_s + time.perf_counter() - t0
                if state.warnings:
                    row["srcad_warnings"] = state.take_warnings()
                value, grads = _normalise(out, self.wrt)
                pf = primal if row["primal"]["status"] == "ok" else f
                row["verified"] = _check_fd(pf, args, self.wrt, value, grads)
                row["srcad"] = _srcad_timed(g, args, budget)
            except Exception as e:
                row["srcad"] = {"status": f"srcad error: {_first_line(e)}"}
        for peer in peers:
            row.setdefault("peers", {})[peer] = {"status": "no formulation (a user function)"}
        _ratios(row, peers)
        for cell in (row["primal"], row.get("srcad", {})):
            cell.pop("_out", None)
        return [row]


# ---- timing ----

def _timed(fn, budget, track_memory=False, warm=False, eager=False):
    """Time a zero-argument callable. Returns a cell dict: status "ok", median_s, min_s,
    samples, number (calls per sample), first_s (the first call: compilation, unless
    `warm`), peak_bytes (tracemalloc peak of one call, or None), and `_out` (the first
    result, removed before reporting)."""
    try:
        t0 = time.perf_counter()
        out = fn()
        first = time.perf_counter() - t0
        if eager and first >= budget:
            # an uncompiled tool whose single call exceeds the budget: one sample is all
            # there is time for, and its first call has no compilation to discount
            times, number = [first], 1
        else:
            t0 = time.perf_counter()
            fn()
            once = max(time.perf_counter() - t0, 1e-9)
            number = max(1, int(budget / 7 / once))
            # at least 3 samples of calls under a second, even past the budget
            nsamples = max(1 if once >= 1.0 else 3, min(7, int(budget / (once * number))))
            times = _samples(fn, number, nsamples) if nsamples > 1 else [once]
        cell = {"status": "ok", "median_s": statistics.median(times), "min_s": min(times),
                "samples": len(times), "number": number, "_out": out}
        if not warm:
            cell["first_s"] = first
        cell["peak_bytes"] = _peak_memory(fn) if track_memory else None
        return cell
    except Exception as e:
        return {"status": f"error: {_first_line(e)}"}


def _samples(fn, number, nsamples):
    times = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(nsamples):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return times


def _peak_memory(fn):
    # tracemalloc sees numpy's allocations and Numba's (its runtime allocates through
    # CPython's raw allocator), not torch's or XLA's: those peers report n/a.
    if tracemalloc.is_tracing():
        return None
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _peer_cell(W, peer, args, wrt, ref, budget):
    if importlib.util.find_spec(peer) is None:
        return {"status": "not installed"}
    make = getattr(W, "PEERS", {}).get(peer)
    if make is None:
        return {"status": "no formulation in this workload"}
    try:
        if peer == "torch":
            import torch

            torch.set_num_threads(1)
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:  # only allowed before torch's first parallel work
                pass
        grad = make(*args)
    except Exception as e:
        if type(e).__name__ == "CannotExpress":
            return {"status": f"cannot express: {str(e).strip() or 'no reason given'}"}
        return {"status": f"error: {_first_line(e)}"}
    cell = _timed(grad, budget, track_memory=peer in TRACED_PEERS, eager=peer in EAGER_PEERS)
    if cell["status"] == "ok":
        if peer not in TRACED_PEERS:
            cell["peak_bytes"] = None
        out = cell.pop("_out")
        if ref is not None:
            grads = _to_numpy(out if isinstance(out, (tuple, list)) else (out,))
            cell["verified"] = _compare((None, grads), ref, RTOL, "hand adjoint")
    return cell


# ---- verification ----

def _normalise(out, wrt):
    value, grads = out
    if len(wrt) == 1 and not (isinstance(grads, tuple) and len(grads) == 1):
        grads = (grads,)
    return value, _to_numpy(tuple(grads))


def _to_numpy(grads):
    import numpy as np

    res = []
    for g in grads:
        if hasattr(g, "detach"):  # torch
            g = g.detach().cpu().numpy()
        res.append(np.asarray(g, dtype=float))
    return tuple(res)


def _compare(got, ref, rtol, what):
    """"ok" or "MISMATCH ..." comparing (value, grads) with (value, grads), each array
    relative to its own largest entry."""
    import numpy as np

    value, grads = got
    rvalue, rgrads = ref
    rgrads = _to_numpy(rgrads)
    problems = []
    if value is not None:
        v, rv = float(value), float(rvalue)
        if not abs(v - rv) <= rtol * max(abs(rv), 1e-8):
            problems.append(f"value {v:.10g} vs {rv:.10g}")
    if len(grads) != len(rgrads):
        return f"MISMATCH: {len(grads)} gradients vs {len(rgrads)} from the {what}"
    for k, (g, r) in enumerate(zip(grads, rgrads, strict=True)):
        if g.shape != r.shape:
            problems.append(f"grad {k} shape {g.shape} vs {r.shape}")
            continue
        scale = max(float(np.max(np.abs(r))) if r.size else 0.0, 1e-8)
        err = float(np.max(np.abs(g - r))) / scale if r.size else 0.0
        if not err <= rtol:  # also catches NaN
            problems.append(f"grad {k} relative error {err:.2g}")
    if problems:
        return f"MISMATCH vs {what}: " + "; ".join(problems)
    return "ok"


def _check_fd(f, args, wrt, value, grads, h=1e-6, rtol=1e-4):
    """Random-projection central-difference check of the gradient w.r.t. each argument."""
    import numpy as np

    rng = np.random.default_rng(0)
    names = list(inspect.signature(f.py_func if hasattr(f, "py_func") else f).parameters)
    problems = []
    for k, w in enumerate(wrt):
        i = names.index(w) if isinstance(w, str) else w
        x = np.asarray(args[i], dtype=float)
        d = rng.standard_normal(x.shape)
        plus, minus = list(args), list(args)
        plus[i] = x + h * d if x.ndim else float(x + h * d)
        minus[i] = x - h * d if x.ndim else float(x - h * d)
        fd = (f(*plus) - f(*minus)) / (2 * h)
        an = float(np.sum(grads[k] * d))
        if not abs(fd - an) <= rtol * max(abs(fd), abs(an), 1e-6):
            problems.append(f"d/d arg {w}: {an:.8g} vs finite differences {fd:.8g}")
    return "MISMATCH vs finite differences: " + "; ".join(problems) if problems else \
        "ok (finite differences)"


# ---- ratios, table, notes ----

def _t(cell):
    return cell.get("median_s") if isinstance(cell, dict) and cell.get("status") == "ok" else None


def _ratios(row, peers):
    p, h, s = _t(row.get("primal")), _t(row.get("hand")), _t(row.get("srcad"))
    r = {}
    if h and p:
        r["hand/primal"] = h / p
    if s and p:
        r["srcad/primal"] = s / p
    if s and h:
        r["srcad/hand"] = s / h
    for peer in peers:
        t = _t(row.get("peers", {}).get(peer))
        if t and p:
            r[f"{peer}/primal"] = t / p
        if t and s:
            r[f"srcad/{peer}"] = s / t
    row["ratios"] = r


def fmt_time(s):
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def fmt_bytes(b):
    if b is None:
        return "n/a"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b} B"


def _cell_text(cell, width=60):
    if not isinstance(cell, dict):
        return "-"
    if cell.get("status") != "ok":
        text = cell.get("status", "-")
        return text if len(text) <= width else text[:width - 3] + "..."
    text = fmt_time(cell["median_s"])
    if str(cell.get("verified", "ok")).startswith("MISMATCH"):
        text += " MISMATCH"
    return text


def format_table(rows, peers):
    times = [["workload", "size", "numba primal", "hand adjoint", "srcad grad", "srcad compile",
              *peers]]
    ratios = [["workload", "size", "hand/primal", "srcad/primal", "srcad/hand",
               *[f"srcad/{p}" for p in peers], "srcad check", "ADBench check"]]
    memory = [["workload", "size", "primal", "hand adjoint", "srcad grad", *peers]]
    for row in rows:
        w, size = row["workload"], row["size"]
        if "error" in row:
            times.append([w, size, row["error"]])
            continue
        peer_cells = [row.get("peers", {}).get(p) for p in peers]
        srcad = row.get("srcad", {})
        srcad_text = _cell_text(srcad)
        if row.get("srcad_warnings"):
            srcad_text += " (*)"
        if str(row.get("verified", "")).startswith("MISMATCH"):
            srcad_text += " MISMATCH!"
        times.append([w, size, _cell_text(row.get("primal")), _cell_text(row.get("hand")),
                      srcad_text, fmt_time(row.get("srcad_compile_s")),
                      *[_cell_text(c) for c in peer_cells]])
        r = row.get("ratios", {})
        check = row.get("adbench_check_srcad", "")
        if check and row.get("adbench_check_hand", "ok") != "ok":
            check += f" (hand: {row['adbench_check_hand']})"
        ratios.append([w, size, _ratio(r.get("hand/primal")), _ratio(r.get("srcad/primal")),
                       _ratio(r.get("srcad/hand")), *[_ratio(r.get(f"srcad/{p}")) for p in peers],
                       _short(row.get("verified", "-")), _short(check or "-")])
        memory.append([w, size, *[fmt_bytes(c.get("peak_bytes")) if isinstance(c, dict) and
                                  c.get("status") == "ok" else "-"
                                  for c in (row.get("primal"), row.get("hand"), srcad,
                                            *peer_cells)]])
    return ("\nTimes (median per call)\n" + _grid(times) +
            "\n\nRatios (a/b = time of a / time of b; srcad/<peer> below 1: srcad is faster)\n" +
            _grid(ratios) +
            "\n\nPeak traced memory of one call (tracemalloc: numpy and Numba allocations; "
            "n/a where the allocator is not traced)\n" + _grid(memory))


def format_markdown(rows, peers, machine):
    """The times table in Markdown, each gradient followed by its ratio to the primal."""
    head = ["workload", "size", "Numba primal", "hand adjoint", "srcad", "srcad/hand",
            "srcad compile", *[{"jax": "JAX jit(grad)", "torch": "torch eager",
                                "autograd": "HIPS autograd"}.get(p, p) for p in peers]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['workload']} | {row['size']} | {row['error']} |")
            continue
        r = row.get("ratios", {})

        def with_ratio(cell, key, r=r):
            text = _cell_text(cell, width=200).replace("|", "/")
            return f"{text} ({_ratio(r[key])})" if key in r else text

        lines.append("| " + " | ".join([
            row["workload"], f"`{row['size']}`", _cell_text(row.get("primal")),
            with_ratio(row.get("hand"), "hand/primal"),
            with_ratio(row.get("srcad"), "srcad/primal"), _ratio(r.get("srcad/hand")),
            fmt_time(row.get("srcad_compile_s")),
            *[with_ratio(row.get("peers", {}).get(p), f"{p}/primal") for p in peers],
        ]) + " |")
    lines.append("")
    lines.append(f"Times are medians per call; (Nx) is the ratio to the Numba primal. Machine: "
                 f"{machine['cpu']}, {machine['cores']} cores, one thread per library; "
                 f"numpy {machine['versions']['numpy']}, numba {machine['versions']['numba']}"
                 + "".join(f", {k} {v}" for k, v in machine["peers"].items() if v) + ".")
    return "\n".join(lines) + "\n"


def _ratio(x):
    return "-" if x is None else (f"{x:.3g}x" if x >= 0.01 else f"{x:.2e}x")


def _short(text, n=48):
    text = str(text)
    return text if len(text) <= n else text[:n - 3] + "..."


def _grid(table):
    widths = [max(len(str(r[i])) for r in table if i < len(r)) for i in range(len(table[0]))]
    lines = []
    for k, r in enumerate(table):
        lines.append("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _notes(rows):
    out = []
    for row in rows:
        label = f"{row['workload']}[{row['size']}]"
        if str(row.get("verified", "")).startswith("MISMATCH"):
            out.append(f"!!! MISMATCH {label}: srcad's gradient {row['verified']}")
        for peer, cell in row.get("peers", {}).items():
            if str(cell.get("verified", "")).startswith("MISMATCH"):
                out.append(f"!!! {peer} MISMATCH {label}: {cell['verified']}")
        for who in ("srcad", "hand"):
            check = str(row.get(f"adbench_check_{who}", ""))
            if check.startswith("FAILED"):
                out.append(f"!!! ADBench check of the {who} gradient {label}: {check}")
        cells = [("primal", row.get("primal")), ("hand", row.get("hand")),
                 ("srcad", row.get("srcad")), *row.get("peers", {}).items()]
        for name, cell in cells:
            status = str((cell or {}).get("status", "ok"))
            if status != "ok" and not status.startswith("n/a") and len(status) > 60:
                out.append(f"{label} {name}: {status}")
        for w in row.get("srcad_warnings", []):
            out.append(f"(*) {label}: srcad warned: {w}")
    seen, unique = set(), []
    for line in out:
        if line not in seen:
            seen.add(line)
            unique.append(line)
    return "Notes\n" + "\n".join(unique) if unique else ""


def _first_line(e):
    text = str(e).strip()
    first = text.splitlines()[0] if text else ""
    name = type(e).__name__ if isinstance(e, BaseException) else ""
    if isinstance(e, AssertionError) or not name:
        return first or name
    return f"{name}: {first}" if first else name


def _key_str(key):
    return str(key) if not isinstance(key, tuple) else "x".join(str(k) for k in key)


def _parse_key(text):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return text


# ---- machine description ----

def machine_description(peers=()):
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    svml = None
    try:
        import numba

        svml = bool(numba.config.USING_SVML)
    except Exception:
        pass
    desc = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: version(d) for d in ("srcad", "numpy", "numba", "llvmlite", "scipy")},
        "numba_svml": svml,
        "intel_cmplr_lib_rt": version("intel-cmplr-lib-rt"),
        "peers": {p: version(p) for p in peers},
    }
    if "jax" in peers:
        desc["peers"]["jaxlib"] = version("jaxlib")
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()
        desc["memory_gb"] = round(int(mem[1]) / 1e6, 1)
    except (OSError, IndexError, ValueError):
        pass
    return desc


def _header(machine, settings):
    v = machine["versions"]
    peers = ", ".join(f"{k} {val or 'not installed'}" for k, val in machine["peers"].items())
    svml = {True: "yes", False: "no", None: "unknown"}[machine["numba_svml"]]
    if machine["numba_svml"] is False:
        svml += (" (install intel-cmplr-lib-rt for Numba to vectorise sin/exp/log)"
                 if not machine["intel_cmplr_lib_rt"] else
                 " (intel-cmplr-lib-rt is installed but Numba did not load SVML)")
    fastmath = "on (primal and srcad; hand adjoints as written)" if settings["fastmath"] else "off"
    return "\n".join([
        "srcad bench",
        (f"machine : {machine['cpu']}, {machine['cores']} cores "
         f"({machine['usable_cores']} usable), {machine['platform']}"),
        (f"versions: Python {machine['python']}, srcad {v['srcad'] or '(source checkout)'}, "
         f"numpy {v['numpy']}, numba {v['numba']}, llvmlite {v['llvmlite']}, "
         f"scipy {v['scipy']}"),
        f"peers   : {peers or 'none requested (--peers jax,autograd,torch)'}",
        f"SVML    : {svml}",
        f"threads : every library pinned to {settings['threads']}",
        f"timing  : {settings['timing']}",
        f"fastmath: {fastmath}",
        f"checks  : {settings['verification']}",
    ])


# ---- plot ----

def plot_ratios(rows, peers, path):
    """A PNG bar chart: each tool's gradient time divided by the Numba primal time."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("--plot needs matplotlib, which is not installed: "
                "pip install matplotlib (or pip install -e .[bench])")
    tools = ["hand", "srcad", *peers]
    labels, series = [], {t: [] for t in tools}
    for row in rows:
        if "ratios" not in row:
            continue
        labels.append(f"{row['workload']}\n{row['size']}")
        r = row["ratios"]
        for t in tools:
            series[t].append(r.get(f"{t}/primal", float("nan")))
    if not labels:
        return "--plot: nothing to plot"
    fig, ax = plt.subplots(figsize=(min(22, max(8, 0.18 * len(labels) * len(tools) + 2)), 6))
    width = 0.8 / len(tools)
    for k, t in enumerate(tools):
        xs = [i + (k - (len(tools) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, series[t], width, label=t)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=7, rotation=45, ha="right")
    ax.set_ylabel("gradient time / Numba primal time (log)")
    ax.set_title("srcad bench: gradient cost relative to the primal (single thread)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path}"


class _Progress:
    def __init__(self, quiet=False):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message):
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {message}", file=sys.stderr,
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
