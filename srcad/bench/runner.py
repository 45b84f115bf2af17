"""Running one workload: a row per size with the primal, hand-adjoint, srcad and peer cells.

The row (a dict, written as is to the JSON) holds: workload, size, file, description, wrt;
the cells "primal", "hand", "srcad" and "peers" {name: cell}; "srcad_compile_s" (srcad's
first call, building included, minus its steady call); "verified" (srcad vs the hand adjoint);
"srcad_warnings"; "ratios"; "adbench_check_srcad"/"adbench_check_hand"; "call_overhead" on
the workload's first row; or "error" when the row could not run at all. A failure is a cell,
never an exception out of here.
"""

import copy
import inspect
import time
import warnings

from ..cli import describe
from . import peers as peer_cells
from . import timing, verify
from .workloads import FunctionTarget, key_str


class Progress:
    """`[k/N] workload size tool … elapsed, ETA` lines on stderr."""

    def __init__(self, total, quiet=False, stream=None):
        import sys

        self.total, self.done, self.quiet = total, 0, quiet
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()

    def __call__(self, workload, size, tool):
        self.done += 1
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.t0
        eta = ""
        if self.done > 1:
            eta = f", ETA {_duration(elapsed / (self.done - 1) * (self.total - self.done + 1))}"
        width = len(str(self.total))
        print(f"[{self.done:>{width}}/{self.total}] {workload} {size} {tool} … "
              f"{_duration(elapsed)} elapsed{eta}", file=self.stream, flush=True)


def _duration(s):
    if s < 60:
        return f"{s:.0f}s"
    return f"{int(s // 60)}m{int(s % 60):02d}s"


def count_cells(job, sizes, peers):
    """How many progress steps `run` will take for `job` (for the progress's N)."""
    if job.error:
        return 1
    if isinstance(job, FunctionTarget):
        return 2
    W = job.module
    per_size = 3 + len(peers)
    extra = (1 if hasattr(W, "check") else 0) + 1  # ADBench check, call overhead
    return max(1, len(sizes) * per_size + extra)


class SrcadGradient:
    """srcad.value_and_grad(f) built once per workload; a failure becomes the cell text, and
    warnings (a fallback to the tape, say) are kept for the notes."""

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

                    # (cache=False: the compile column is a first compile, whatever
                    # SRCAD_CACHE says)
                    self.g = srcad.value_and_grad(self.f, wrt=self.wrt, cache=False,
                                                  fastmath=self.fastmath)
                except Exception as exc:
                    self.g = f"srcad error: {describe(exc)}"
            self.warnings = [describe(w.message) for w in caught]
            self.build_s = time.perf_counter() - t0
        return self.g

    def first_call(self, args):
        """(out, seconds of building + first call, warnings) — or raises."""
        g = self.get()
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = g(*args)
        seconds = self.build_s + time.perf_counter() - t0
        self.build_s = 0.0  # building is counted once, with the first size
        found, self.warnings = self.warnings + [describe(w.message) for w in caught], []
        return out, seconds, found


def run(job, opts, peers, progress):
    """All rows of one workload (or user function)."""
    import numba

    if job.error:
        progress(job.name, "-", "load")
        return [{"workload": job.name, "size": "-", "error": job.error, "file": str(job.path)}]
    if isinstance(job, FunctionTarget):
        return [_run_function(job, opts, progress, numba)]
    W = job.module
    wrt = job.wrt
    sizes = job.sizes(opts.sizes)
    if not sizes:
        progress(job.name, "-", "sizes")
        return [{"workload": job.name, "size": "-", "file": str(job.path),
                 "error": f"no sizes for --sizes {opts.sizes}"}]
    primal = numba.njit(W.f, fastmath=bool(opts.fastmath))
    gradient = SrcadGradient(W.f, wrt, opts.fastmath)
    hand = getattr(W, "hand_adjoint", None)
    rows = []
    for size in sizes:
        row = {"workload": job.name, "size": key_str(size), "file": str(job.path),
               "description": getattr(W, "DESCRIPTION", ""), "wrt": list(wrt)}
        rows.append(row)
        _run_size(row, job, size, opts, peers, progress, primal, gradient, hand)
        if len(rows) > 1:  # compiled with the first size: what is left is first-call noise
            row["compiled_with"] = rows[0]["size"]
            row.get("ratios", {}).pop("srcad compile/primal compile", None)
    if hasattr(W, "check"):
        progress(job.name, key_str(getattr(W, "CHECK_SIZE", "test")), "ADBench check")
        _adbench_check(rows, W, gradient, hand)
    progress(job.name, key_str(job.smallest_size()), "call overhead")
    rows[0]["call_overhead"] = _call_overhead(job, gradient, opts.budget)
    return rows


def _run_size(row, job, size, opts, peers, progress, primal, gradient, hand):
    W, wrt, budget, label = job.module, job.wrt, opts.budget, row["size"]
    steps = 3 + len(peers)
    try:
        args = tuple(W.make_inputs(size))
    except FileNotFoundError as exc:  # ADBench data not fetched: a clear cell, not a failure
        row["error"] = f"data not found: {str(exc).strip()}"
        row["data_missing"] = True
    except Exception as exc:
        row["error"] = f"make_inputs failed: {describe(exc)}"
    if "error" in row:
        for _ in range(steps):
            progress.done += 1
        return
    progress(job.name, label, "numba primal")
    own = copy.deepcopy(args)  # (each tool its copy: one writing into them changes only it)
    row["primal"] = timing.timed(lambda: primal(*own), budget, track_memory=True)
    ref = None
    progress(job.name, label, "hand adjoint")
    if hand is None:
        row["hand"] = {"status": "n/a (no hand_adjoint)"}
    else:
        own = copy.deepcopy(args)
        row["hand"] = timing.timed(lambda: hand(*own), budget, track_memory=True)
        if row["hand"]["status"] == "ok":
            value, grads = row["hand"]["_out"]
            ref = (value, tuple(grads))
    progress(job.name, label, "srcad")
    _srcad_cell(row, gradient, args, wrt, budget,
                lambda value, grads: verify.compare((value, grads), ref, "hand adjoint")
                if ref is not None else "unverified (no hand adjoint)")
    for peer in peers:
        progress(job.name, label, peer)
        cell = peer_cells.run_peer(job.path, size, peer, budget, opts.timeout,
                                   opts.memory_limit)
        grads = cell.pop("_grads", None)
        if grads is not None and ref is not None:
            cell["verified"] = verify.compare((None, grads), ref, "hand adjoint")
        row.setdefault("peers", {})[peer] = cell
    ratios(row, peers)
    _drop_outputs(row)


def _srcad_cell(row, gradient, args, wrt, budget, verdict):
    if isinstance(gradient.get(), str):
        row["srcad"] = {"status": gradient.get()}
        return
    try:
        out, first_s, found = gradient.first_call(args)
    except Exception as exc:
        row["srcad"] = {"status": f"srcad error: {describe(exc)}"}
        return
    if found:
        row["srcad_warnings"] = found
    try:
        value, grads = verify.value_and_grads(out, wrt)
        row["verified"] = verdict(value, grads)
    except Exception as exc:
        row["srcad"] = {"status": f"srcad error: unexpected result: {describe(exc)}"}
        return
    g = gradient.get()
    cell = timing.timed(lambda: g(*args), budget, track_memory=True, warm=True)
    if cell["status"].startswith("error: "):
        cell["status"] = "srcad " + cell["status"]
    else:
        row["srcad_compile_s"] = max(first_s - cell["median_s"], 0.0)
    row["srcad"] = cell


def _run_function(job, opts, progress, numba):
    row = {"workload": job.name, "size": job.args_expr, "file": str(job.path),
           "wrt": list(job.wrt)}
    f, args = job.load()
    progress(job.name, "", "numba primal")
    if inspect.isfunction(f):
        primal = numba.njit(f, fastmath=bool(opts.fastmath))
        own = copy.deepcopy(args)  # (a function writing into its arguments changes its copy)
        row["primal"] = timing.timed(lambda: primal(*own), opts.budget, track_memory=True)
    else:  # (obj.method: srcad differentiates it, Numba compiles no bound method)
        row["primal"] = {"status": "n/a (Numba compiles functions, not methods)"}
    row["hand"] = {"status": "n/a"}
    progress(job.name, "", "srcad")
    checked = primal if row["primal"]["status"] == "ok" else f
    _srcad_cell(row, SrcadGradient(f, job.wrt, opts.fastmath), args, job.wrt, opts.budget,
                lambda value, grads: verify.against_finite_differences(checked, args, job.wrt,
                                                                       grads))
    ratios(row, [])
    _drop_outputs(row)
    return row


def _adbench_check(rows, W, gradient, hand):
    """Compare srcad's and the hand adjoint's output with ADBench's published values at
    CHECK_SIZE; the verdict goes on every row of the workload."""
    keys = getattr(W, "CHECK_SIZE", "test")
    keys = keys if isinstance(keys, list) else [keys]
    takes_size = len(inspect.signature(W.check).parameters) >= 3
    results = {"srcad": [], "hand": []}
    for key in keys:
        try:
            args = tuple(W.make_inputs(key))
        except Exception as exc:
            results["srcad"].append(f"n/a ({describe(exc)})")
            continue
        for who, fn in (("srcad", gradient.get()), ("hand", hand)):
            if fn is None or isinstance(fn, str):
                results[who].append(fn or "n/a")
                continue
            try:
                value, grads = verify.value_and_grads(fn(*args), tuple(W.WRT))
            except Exception as exc:
                results[who].append(f"{who} error: {describe(exc)}")
                continue
            try:
                W.check(value, grads, key) if takes_size else W.check(value, grads)
                results[who].append("ok")
            except AssertionError as exc:
                results[who].append(f"FAILED at {key_str(key)}: {describe(exc)}")
    for who, found in results.items():
        summary = next((r for r in found if r != "ok"), "ok" if found else "n/a")
        for row in rows:
            row[f"adbench_check_{who}"] = summary


def _call_overhead(job, gradient, budget):
    """srcad's gradient call vs the compiled kernel it wraps, on the smallest inputs: the cost
    of srcad's Python layer per call."""
    size = job.smallest_size()
    result = {"size": key_str(size)}
    g = gradient.get()
    if isinstance(g, str):
        return {**result, "status": "n/a (srcad failed)"}
    try:
        args = tuple(job.module.make_inputs(size))
        g(*args)
    except Exception as exc:
        return {**result, "status": f"n/a ({describe(exc)})"}
    kernel = _compiled_kernel(g)
    if kernel is None:
        return {**result, "status": "n/a (not a Numba-compiled gradient)"}
    wrapped = timing.timed(lambda: g(*args), budget, warm=True)
    raw = timing.timed(lambda: kernel(*args), budget, warm=True)
    if wrapped["status"] != "ok" or raw["status"] != "ok":
        return {**result, "status": wrapped["status"] if wrapped["status"] != "ok"
                else raw["status"]}
    return {**result, "status": "ok", "srcad_s": wrapped["median_s"], "kernel_s": raw["median_s"],
            "overhead_s": wrapped["median_s"] - raw["median_s"]}


def _compiled_kernel(g):
    # srcad.api keeps the specialisation of the last call; its `call` is the numba dispatcher
    # of the generated gradient, taking the bound positional arguments.
    call = getattr(getattr(g, "_last", None), "call", None)
    return call if hasattr(call, "signatures") and hasattr(call, "py_func") else None


def ratios(row, peers):
    """row["ratios"]: time ratios between the cells that ran ("a/b" = time of a / time of b)."""
    p, h, s = (_seconds(row.get(k)) for k in ("primal", "hand", "srcad"))
    r = {}
    if h and p:
        r["hand/primal"] = h / p
    if s and p:
        r["srcad/primal"] = s / p
    if s and h:
        r["srcad/hand"] = s / h
    primal_compile = (row.get("primal") or {}).get("compile_s")
    if (row.get("srcad_compile_s") or 0) > 0.01 and (primal_compile or 0) > 0.01:
        r["srcad compile/primal compile"] = row["srcad_compile_s"] / primal_compile
    for peer in peers:
        t = _seconds(row.get("peers", {}).get(peer))
        if t and p:
            r[f"{peer}/primal"] = t / p
        if t and s:
            r[f"srcad/{peer}"] = s / t
    row["ratios"] = r


def _seconds(cell):
    return cell.get("median_s") if isinstance(cell, dict) and cell.get("status") == "ok" else None


def _drop_outputs(row):
    for cell in (row.get("primal"), row.get("hand"), row.get("srcad"),
                 *row.get("peers", {}).values()):
        if isinstance(cell, dict):
            cell.pop("_out", None)
