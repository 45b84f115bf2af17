"""Timing one callable: the median per-call time of a few samples after a warm-up call, the
first call (compilation) apart, and the peak memory of one call.

Every result is a *cell*, a dict with "status" ("ok", or text saying what went wrong) and, when
ok, the figures. A failure never raises out of here: it becomes the cell's status.
"""

import gc
import os
import statistics
import time
import tracemalloc

from ..cli import describe

# Set in the environment for libraries loaded later and for the peers' child processes;
# what is already loaded is limited at run time by threadpoolctl (see pin_threads).
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def pin_threads():
    """Limit every thread pool of this process to one thread, and children's through the
    environment. Returns a description of the pools found (library, API, threads)."""
    # Numba refuses a changed NUMBA_NUM_THREADS once its threads run: set_num_threads instead
    os.environ.update({k: v for k, v in THREAD_ENV.items() if k != "NUMBA_NUM_THREADS"})
    # Numba's np.dot calls scipy's BLAS, which is loaded on first use: load it now, so that
    # threadpoolctl sees and limits it too.
    import numba
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_info, threadpool_limits

    numba.set_num_threads(1)  # starts Numba's threading layer (OpenMP, say) before limiting
    threadpool_limits(limits=1)
    pools = [f"{p.get('internal_api')} ({os.path.basename(p.get('filepath', ''))}): "
             f"{p.get('num_threads')}" for p in threadpool_info()]
    return pools + [f"numba: {numba.get_num_threads()}"]


def timed(fn, budget, track_memory=False, warm=False, eager=False):
    """Time the zero-argument callable `fn`.

    Args:
        budget: seconds of timed calls (about budget / 7 per sample, 3 to 7 samples).
        track_memory: also measure the tracemalloc peak of one call (`peak_bytes`).
        warm: the first call is not a compilation (no `first_s` is reported).
        eager: `fn` compiles nothing, so a first call longer than the budget is the sample.
    Returns:
        A cell: status "ok", median_s, min_s, samples, number (calls per sample), first_s,
        compile_s (first call minus the median), peak_bytes, and `_out` (the first call's
        result, for checking; removed before reporting). Or {"status": "error: ..."}.
    """
    try:
        t0 = time.perf_counter()
        out = fn()
        first = time.perf_counter() - t0
        if eager and first >= budget:
            times, number = [first], 1
        else:
            t0 = time.perf_counter()
            fn()
            once = max(time.perf_counter() - t0, 1e-9)
            number = max(1, int(budget / 7 / once))
            # at least 3 samples of calls under a second, even past the budget
            nsamples = max(1 if once >= 1.0 else 3, min(7, int(budget / (once * number))))
            times = samples(fn, number, nsamples) if nsamples > 1 else [once]
        median = statistics.median(times)
        cell = {"status": "ok", "median_s": median, "min_s": min(times),
                "samples": len(times), "number": number, "_out": out}
        if not warm:
            cell["first_s"] = first
            cell["compile_s"] = max(first - median, 0.0)
        cell["peak_bytes"] = peak_memory(fn) if track_memory else None
        return cell
    except Exception as exc:
        return {"status": f"error: {describe(exc)}"}


def samples(fn, number, nsamples):
    """`nsamples` mean times per call of `number` calls each, with the collector off."""
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


def peak_memory(fn):
    """tracemalloc's peak over one call: numpy's and Numba's allocations (Numba's runtime
    allocates through CPython's raw allocator); torch's and XLA's are not seen."""
    if tracemalloc.is_tracing():
        return None
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
