"""srcad.dask on a LocalCluster: one worker against two, and the scheduling overhead.

    python -m bench.dask_scaling [--rows 2000000] [--chunk-rows 100000] [--repeats 5]

The logistic loss of bench/workloads/logistic.py without its regularisation (a sum over rows)
on `rows` x 100 data cut into chunks of `chunk_rows` rows (20 chunks by default), its value and
gradient by srcad.dask.value_and_grad on a LocalCluster of one, then two, single-threaded
worker processes (srcad.dask.local_client, the cluster srcad starts itself). The compute is
srcad's compiled gradient of one chunk in this process, timed alone (BLAS pinned to one
thread), times the number of chunks: the overhead is what a call takes beyond compute /
workers. The scheduling is what a call takes beyond its busiest worker's compute there (Dask's
task stream): sending the tasks and arguments, gathering the results; in percent of the
compute. Medians of `repeats`
calls after a warm-up call. Each result is checked against srcad's gradient over all the rows
first (relative 1e-10).
"""

import argparse
import os
import statistics
import time

import numpy as np

import srcad
import srcad.dask
from srcad.bench import timing


def loss(w, X, y):
    z = X @ w
    return np.sum(np.log1p(np.exp(-y * z)))


def _median_call(client, g, w, repeats):
    """The median time of a call, and of its part beyond the busiest worker's compute."""
    from distributed import get_task_stream
    g(w)
    times, scheduling = [], []
    for _ in range(repeats):
        with get_task_stream(client=client) as stream:
            t0 = time.perf_counter()
            g(w)
            times.append(time.perf_counter() - t0)
        busy = {}
        for task in stream.data:
            busy[task["worker"]] = busy.get(task["worker"], 0.0) + sum(
                s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
        scheduling.append(times[-1] - max(busy.values()))
    return statistics.median(times), statistics.median(scheduling)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    opts = parser.parse_args(argv)
    os.environ.update(timing.THREAD_ENV)  # (the workers' BLAS: one thread each)
    timing.pin_threads()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(opts.rows, opts.features))
    y = np.sign(rng.normal(size=opts.rows))
    w = 0.1 * rng.normal(size=opts.features)
    whole = srcad.value_and_grad(loss)
    reference = whole(w, X, y)
    chunk = (X[:opts.chunk_rows], y[:opts.chunk_rows])
    chunks = -(-opts.rows // opts.chunk_rows)
    whole(w, *chunk)
    compute = chunks * statistics.median(
        timing.samples(lambda: whole(w, *chunk), 1, max(opts.repeats, 3)))
    print(f"{opts.rows} x {opts.features} rows in {chunks} chunks of {opts.chunk_rows}; "
          f"compute {compute:.3f} s (srcad's gradient of each chunk, in this process)")
    print("| workers | median call | speedup | overhead beyond compute / workers "
          "| scheduling (of compute) |")
    print("|---:|---:|---:|---:|---:|")
    first = None
    for workers in (1, 2):
        client = srcad.dask.local_client(workers)
        with client, srcad.dask.value_and_grad(
                loss, {"X": X, "y": y}, chunk_rows=opts.chunk_rows, client=client) as g:
            value, grad = g(w)
            if not (np.isclose(value, reference[0], rtol=1e-10) and
                    np.allclose(grad, reference[1], rtol=1e-10)):
                raise AssertionError("srcad.dask's gradient differs from srcad's over all rows")
            call, scheduling = _median_call(client, g, w, opts.repeats)
        client.cluster.close()
        first = first or call
        overhead = (call - compute / workers) / call
        print(f"| {workers} | {call:.3f} s | {first / call:.2f}x | {100 * overhead:.1f}% | "
              f"{1e3 * scheduling:.1f} ms ({100 * scheduling / compute:.1f}%) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
