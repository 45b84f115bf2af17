"""srcad's gradient with parallel=True against the serial one, workload by workload.

    python -m bench.parallel [--quick] [--budget 0.5] [--out bench/parallel.md]

The workloads of `srcad bench` whose top-level loop has independent trips: `gmm` (the
ADBench objective written as loops, over points), `ba` (over observations) and `newton`
(over elements); and `logistic`, whose matrix-vector products run by blocks of rows. For each: srcad's serial gradient, then the same function with
parallel=True on one thread and on every thread Numba has. Every other thread pool is pinned
to one thread (timing.pin_threads); Numba's is set per cell with numba.set_num_threads.
Medians of repeats after a warm-up; first calls (compilation) apart. Each parallel gradient is
checked against the serial one (relative 1e-12: sums are added in another order) first.
"""

import argparse
import time
from pathlib import Path

import numba
import numpy as np

import srcad
from bench.hessians import fmt
from bench.workloads import ba, gmm, logistic, newton
from srcad.bench import timing

RTOL = 1e-12
SIZES = {"quick": [(gmm, "1k/gmm_d10_K25"), (ba, "ba1"), (newton, 10_000),
                   (logistic, (10_000, 100))],
         "full": [(gmm, "1k/gmm_d10_K25"), (gmm, "10k/gmm_d10_K25"), (ba, "ba1"),
                  (ba, "ba3"), (newton, 10_000), (newton, 100_000), (logistic, (10_000, 100))]}


def _first(call):
    t0 = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t0


def _check(got, expected, who):
    for g, e in zip(got[1], expected[1], strict=True):
        error = np.max(np.abs(g - e)) / max(np.max(np.abs(e)), 1e-300)
        if not error <= RTOL:
            raise AssertionError(f"{who}: the parallel gradient differs from the serial one: "
                                 f"relative {error:.1e}")


def measure(workload, size, budget, threads):
    """One row: (workload, size, serial, parallel on 1 thread, on `threads`, first calls)."""
    args = tuple(workload.make_inputs(size))
    serial = srcad.value_and_grad(workload.f, wrt=workload.WRT)
    parallel = srcad.value_and_grad(workload.f, wrt=workload.WRT, parallel=True)
    reference, serial_first = _first(lambda: serial(*args))
    out, parallel_first = _first(lambda: parallel(*args))
    _check(out, reference, f"{workload.NAME} {size}")
    cells = []
    for tool, n in ((serial, 1), (parallel, 1), (parallel, threads)):
        numba.set_num_threads(n)
        cells.append(timing.timed(lambda tool=tool: tool(*args), budget, warm=True)["median_s"])
    numba.set_num_threads(threads)
    return (workload.NAME, size, *cells, serial_first, parallel_first)


def table(rows, threads):
    header = (f"| workload | size | serial | parallel, 1 thread | parallel, {threads} threads | "
              "speedup | first call: serial / parallel |")
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    for name, size, serial, one, many, first_s, first_p in rows:
        lines.append(f"| {name} | {size} | {fmt(serial)} | {fmt(one)} | {fmt(many)} | "
                     f"{serial / many:.2f}x | {fmt(first_s)} / {fmt(first_p)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the smaller sizes only")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of calls per cell")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    opts = parser.parse_args(argv)
    threads = numba.config.NUMBA_NUM_THREADS
    timing.pin_threads()  # (every pool to one thread; Numba's is set per cell)
    rows = [measure(w, size, opts.budget, threads)
            for w, size in SIZES["quick" if opts.quick else "full"]]
    text = table(rows, threads)
    print(text)
    if opts.out:
        Path(opts.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
