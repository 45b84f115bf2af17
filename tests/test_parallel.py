"""parallel=True: loops whose trips are independent run in chunks on every thread, in both
sweeps. Every gradient is checked against finite differences and against the serial gradient
(equal up to the order sums are added in)."""

import ast
import importlib.util
import inspect
import math
import textwrap
import warnings

import numpy as np
import pytest

import srcad
from srcad import check
from srcad.errors import UnsupportedError
from tests import programs


def _has_top_level_loop(fn):
    body = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0].body
    return any(isinstance(s, ast.For) for s in body)


LOOPS = [fn for fn in programs.PROGRAMS if _has_top_level_loop(fn)]
COMPILED = {"matvec_loops", "nested_loops_triangular"}


def _plans(fn, args, wrt=0):
    text = srcad.explain(srcad.grad(fn, wrt=wrt, parallel=True), *args)
    return [line.strip() for line in text.splitlines() if "the loop at line" in line]


def _both(fn, args, wrt, jit=True):
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        parallel = srcad.value_and_grad(fn, wrt=wrt, mode="source", jit=jit, parallel=True)
        serial = srcad.value_and_grad(fn, wrt=wrt, mode="source", jit=jit)
        return parallel(*args), serial(*args)


def _assert_close(parallel, serial):
    (pv, pg), (sv, sg) = parallel, serial
    np.testing.assert_allclose(pv, sv, rtol=1e-12, atol=1e-12)
    for p, s in zip(pg if isinstance(pg, tuple) else (pg,), sg if isinstance(sg, tuple)
                    else (sg,), strict=True):
        np.testing.assert_allclose(p, s, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", LOOPS, ids=lambda f: f.__name__)
def test_corpus_loops_in_parallel_match_serial_and_finite_differences(fn, rng):
    args = programs.make_inputs(fn, rng)
    wrt = programs.float_params(fn, args)
    if not any("runs in parallel" in p for p in _plans(fn, args, wrt)):
        # (the serial gradient, which test_programs checks; its elementwise loops may run in
        # chunks)
        assert "_grad_chunk" not in srcad.source(srcad.grad(fn, wrt=wrt, parallel=True), *args)
        return
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    # (as the generated Python, which runs the same chunks one after another; compiling every
    # program twice more took minutes of CI: the kinds of loops below run compiled)
    parallel, serial = _both(fn, args, wrt, jit=fn.__name__ in COMPILED)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)
    _assert_close(parallel, serial)
    check.compare(fn, args, list(wrt), parallel[1], rtol=1e-5, atol=1e-6)


def test_the_corpus_has_loops_that_run_in_parallel(rng):
    running = [fn.__name__ for fn in LOOPS
               if any("runs in parallel" in p for p in
                      _plans(fn, programs.make_inputs(fn, rng), programs.float_params(
                          fn, programs.make_inputs(fn, rng))))]
    assert len(running) >= 15, running


# ---- the kinds of loops that qualify -------------------------------------------------------

def rows_then_sum(x, w):
    n = x.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = math.sin(x[i] * w[0]) + w[1] * x[i] ** 2
    return np.sum(out * out)


def scalar_sums(x, a):
    s = 0.0
    t = 0.0
    count = 0
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            s += a * x[i] ** 3
            count += 1
        else:
            t -= math.exp(a * x[i])
    return s * t + count


def scatter_into_bins(x, w, idx):
    g = np.zeros(3)
    for i in range(x.shape[0]):
        g[idx[i]] += w[idx[i]] * x[i] ** 2
    return np.sum(g * g) + g[0]


def scatter_subtracted(x, w, idx):  # (found by an attack: an element's `-=` kept it serial)
    h = np.ones(3)
    for i in range(x.shape[0]):
        h[idx[i]] -= w[idx[i]] * x[i] ** 2
    return np.sum(h * h)


def workspace_per_trip(X, M):
    n, d = X.shape
    K = M.shape[0]
    diff = np.empty(d)
    best = np.empty(K)
    total = 0.0
    for i in range(n):
        for k in range(K):
            for r in range(d):
                diff[r] = X[i, r] - M[k, r]
            sq = 0.0
            for r in range(d):
                sq += diff[r] * diff[r]
            best[k] = -sq
        m = np.max(best)
        total += m + math.log(np.sum(np.exp(best - m)))
    return total


def newton_per_element(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        z = 1.0
        dz = 1.0
        while abs(dz) > 1e-12:
            dz = (z * z * z + a[i] * z - b[i]) / (3.0 * z * z + a[i])
            z = z - dz
        s = s + z * z
    return s


def trip_arrays(X, w):
    total = 0.0
    for i in range(X.shape[0]):
        h = np.tanh(X[i] * w)
        v = np.empty(2)
        v[0] = np.sum(h)
        v[1] = np.sum(h * h)
        total += v[0] * v[1]
    return total


def starts_at_an_offset(x, c):
    s = 0.0
    for i in range(2, x.shape[0] - 1):
        s += c * x[i] * x[i - 1] - x[i + 1]
    return s


def inner_loop_breaks(x):  # (found by an attack: the inner loop's break kept this one serial)
    total = 0.0
    for i in range(x.shape[0]):
        s = 0.0
        for j in range(3):
            if x[i] * j > 0.5:
                s = x[i] ** 2
                break
        else:
            s = math.cos(x[i])
        total += s
    return total


def sum_in_several_terms(x, c):  # (`s = s + e1 - e2` was kept serial: two additions)
    s = 0.0
    for i in range(x.shape[0] - 1):
        a = x[i + 1] - c * x[i] * x[i]
        s = s + 100.0 * a * a - (1.0 - x[i]) ** 2
    return s


CASES = [
    (sum_in_several_terms, lambda r: (r.uniform(-1, 1, 35), 0.9), (0, 1)),
    (inner_loop_breaks, lambda r: (r.uniform(-1, 1, 33),), (0,)),
    (rows_then_sum, lambda r: (r.uniform(-1, 1, 37), r.uniform(0.5, 1.5, 2)), (0, 1)),
    (scalar_sums, lambda r: (r.uniform(-1, 1, 41), 0.7), (0, 1)),
    (scatter_into_bins, lambda r: (r.uniform(-1, 1, 29), r.uniform(0.5, 1.5, 3),
                                   r.integers(0, 3, 29)), (0, 1)),
    (scatter_subtracted, lambda r: (r.uniform(-1, 1, 29), r.uniform(0.5, 1.5, 3),
                                    r.integers(0, 3, 29)), (0, 1)),
    (workspace_per_trip, lambda r: (r.uniform(-1, 1, (23, 3)), r.uniform(-1, 1, (4, 3))),
     (0, 1)),
    (newton_per_element, lambda r: (r.uniform(1, 2, 31), r.uniform(-1, 1, 31)), (0, 1)),
    (trip_arrays, lambda r: (r.uniform(-1, 1, (17, 4)), r.uniform(-1, 1, 4)), (0, 1)),
    (starts_at_an_offset, lambda r: (r.uniform(-1, 1, 19), 1.3), (0, 1)),
]


# compiled, and (two kinds of loop are enough) as the generated Python
RUNS = [(*case, True) for case in CASES] + \
    [(*case, False) for case in CASES if case[0] in (scatter_into_bins, workspace_per_trip)]


@pytest.mark.parametrize("fn, make, wrt, jit", RUNS,
                         ids=[f"{c[0].__name__}-{'jit' if c[3] else 'python'}" for c in RUNS])
def test_loops_that_run_in_parallel(fn, make, wrt, jit, rng):
    args = make(rng)
    assert all("runs in parallel" in p for p in _plans(fn, args, wrt)), _plans(fn, args, wrt)
    parallel, serial = _both(fn, args, wrt, jit)
    _assert_close(parallel, serial)
    check.compare(fn, args, list(wrt), parallel[1], rtol=1e-5, atol=1e-6)
    # the chunk functions are in the generated source
    assert "rt.run_chunks(" in srcad.source(srcad.grad(fn, wrt=wrt, parallel=True), *args)


def test_sums_are_equal_to_the_serial_ones_up_to_their_order(rng):
    x, w = rng.uniform(-1, 1, 100_003), rng.uniform(0.5, 1.5, 2)
    _assert_close(*_both(rows_then_sum, (x, w), (0, 1)))


# ---- elementwise array statements (fused loops) ------------------------------------------------

def logistic_terms(w, X, y):
    z = X @ w
    return np.sum(np.log1p(np.exp(-y * z))) + np.sum(np.tanh(z) ** 2)


def shifted_sums(x):  # (its reverse adds into bx[1:] and bx[:-1]: trips share elements)
    a = x[1:] - x[:-1] ** 2
    return np.sum(100.0 * a * a + (1.0 - x[:-1]) ** 2)


def grid(u, v):
    return np.sum(np.sin(u) * v + u * u) - np.sum(np.cos(u - v) * 0.5)


def mirrored(x):  # (found by an attack: the adjoint adds into bx and a view bx[::-1] of it)
    return np.sum((x + x[::-1]) ** 2)


@pytest.mark.parametrize("fn, shapes, chunked", [
    (logistic_terms, [(8,), (40_000, 8), (40_000,)], 1),
    (shifted_sums, [(40_001,)], 0),
    (grid, [(300, 200), (300, 200)], 1),
    (grid, [(30, 20), (30, 20)], 1), (mirrored, [(40_001,)], 1),
    (mirrored, [(300, 200)], 1)],
    ids=["logistic", "shifted", "grid", "small-grid", "mirrored", "mirrored-2d"])
def test_elementwise_loops_run_in_chunks(fn, shapes, chunked, rng):
    """A fused elementwise loop whose trips write their own elements runs one chunk of trips per
    thread (serially when small): values and gradients equal the serial ones up to the order of
    their sums, and finite differences; one whose trips add into shared elements (a shifted
    slice's adjoint, or an array and a reversed view of it: a race, found by an attack) stays
    serial."""
    args = tuple(rng.uniform(-1, 1, s) for s in shapes)
    wrt = tuple(range(len(args))) if fn is grid else (0,)
    text = srcad.source(srcad.grad(fn, wrt=wrt, parallel=True), *args)
    assert text.count(f"def {fn.__name__}_grad_elements") == chunked, text
    parallel, serial = _both(fn, args, wrt)
    _assert_close(parallel, serial)
    check.compare(fn, args, list(wrt), parallel[1], rtol=1e-5, atol=1e-6)


# ---- what keeps a loop serial -----------------------------------------------------------------

def recurrence(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = 0.9 * s + math.sin(x[i] + s)
    return s


def last_trip_read_after(x):
    t = 0.0
    for i in range(x.shape[0]):
        t = x[i] * x[i]
    return t


def shifted_rows(x):
    y = np.zeros(x.shape[0] + 1)
    for i in range(x.shape[0]):
        y[i + 1] = y[i] + x[i]
    return np.sum(y * y)


def workspace_read_before_written(x):
    buf = np.zeros(3)
    s = 0.0
    for i in range(x.shape[0]):
        s += buf[0] * x[i]
        for r in range(3):
            buf[r] = x[i] + r
    return s


def early_exit(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.9:
            break
        s += x[i]
    return s


def running_sum_read(x):
    s = 0.0
    for i in range(x.shape[0]):
        t = s + x[i]  # (part of the sum, but read by the next line too)
        u = t * 0.5
        s = t + u * x[i] ** 2
    return s


SERIAL = [
    (recurrence, "a trip reads 's' before assigning it"),
    (running_sum_read, "a trip reads 's' before assigning it"),
    (last_trip_read_after, "'t' is assigned in the loop and read after it"),
    (shifted_rows, "a trip writes into 'y' (line"),
    (workspace_read_before_written, "a trip may read it before writing all of it"),
    (early_exit, "it may leave early (a break or return)"),
]


@pytest.mark.parametrize("fn, reason", SERIAL, ids=[c[0].__name__ for c in SERIAL])
def test_loops_that_stay_serial_say_why(fn, reason, rng):
    x = rng.uniform(-1, 1, 13)
    plans = _plans(fn, (x,))
    assert len(plans) == 1 and "runs serially" in plans[0] and reason in plans[0], plans
    _assert_close(*_both(fn, (x,), 0))


def test_float32_loops_run_serially(rng):
    x, w = rng.uniform(-1, 1, 9).astype(np.float32), np.array([1.0, 0.5], np.float32)
    plans = _plans(rows_then_sum, (x, w), (0, 1))
    assert "float32" in plans[0]
    g = srcad.grad(rows_then_sum, wrt=(0, 1), parallel=True)(x, w)
    assert g[0].dtype == np.float32


# ---- errors raised in a chunk ------------------------------------------------------------------

def reads_past_the_end(x, idx):
    s = 0.0
    for i in range(idx.shape[0]):
        s += x[idx[i]] ** 2
    return s


@pytest.mark.parametrize("bad", [0, 7, 12])
def test_an_index_out_of_range_in_any_chunk_raises(bad, jit):
    x = np.linspace(0.0, 1.0, 5)
    idx = np.arange(13) % 5
    idx[bad] = 5
    g = srcad.grad(reads_past_the_end, parallel=True, jit=jit, mode="source")
    with pytest.raises(IndexError, match="out of bounds|out of range"):
        g(x, idx)
    idx[bad] = 4
    np.testing.assert_allclose(g(x, idx), srcad.grad(reads_past_the_end)(x, idx))


DATA = np.linspace(0.5, 1.5, 11)


def reads_a_global(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += DATA[i] * x[i] ** 2
    return s


def test_data_from_globals_reaches_the_chunks(rng):
    x = rng.uniform(-1, 1, 11)
    np.testing.assert_allclose(srcad.grad(reads_a_global, parallel=True)(x), 2 * DATA * x)


def test_vjp_and_the_tape_fallback_take_parallel(rng):
    x, w = rng.uniform(-1, 1, 7), rng.uniform(0.5, 1.5, 2)
    value, pullback = srcad.vjp(rows_then_sum, x, w, wrt=(0, 1), parallel=True)
    _assert_close((value, pullback(1.0)), srcad.value_and_grad(rows_then_sum, wrt=(0, 1))(x, w))

    def opaque(x):  # (a list popped from: the tape runs it, serially)
        ys = [v * v for v in x]
        return ys.pop() * 0.0 + np.sum(np.array(ys)) + x[-1] ** 2
    with pytest.warns(srcad.FallbackWarning):
        np.testing.assert_allclose(srcad.grad(opaque, parallel=True)(x), 2 * x)
    with pytest.raises(UnsupportedError):
        srcad.grad(opaque, parallel=True, mode="source")(x)


def test_the_readme_example_runs_in_parallel(rng, tmp_path):
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### Parallel loops"):]
    module = tmp_path / "readme_parallel.py"  # (srcad reads a function's source from its file)
    module.write_text("import numpy as np\nimport srcad\n\n\n" +
                      re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1))
    spec = importlib.util.spec_from_file_location("readme_parallel", module)
    namespace = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(namespace)
    loglik = namespace.loglik
    means, icf, x = rng.normal(size=3), rng.uniform(0.5, 2.0, 3), rng.normal(size=(50, 3))
    text = srcad.explain(loglik, means, icf, x)
    assert "source+numba" in text and "the loop at line 9 runs in parallel" in text, text
    grads = loglik(means, icf, x)
    check.compare(loglik.fn, (means, icf, x), [0, 1], grads, rtol=1e-6, atol=1e-8)


def test_the_command_line_shows_and_explains_parallel_gradients(tmp_path, capsys):
    from srcad import cli
    module = tmp_path / "sums.py"
    module.write_text("import math\nimport numpy as np\n\n\n" +
                      textwrap.dedent(inspect.getsource(rows_then_sum)) + "\n\n" +
                      textwrap.dedent(inspect.getsource(recurrence)))
    args = ["--args", "np.ones(9), np.ones(2)", "--wrt", "x,w", "--parallel"]
    assert cli.main(["explain", f"{module}:rows_then_sum", *args]) == 0
    assert "the loop at line 8 runs in parallel" in capsys.readouterr().out
    assert cli.main(["show", f"{module}:rows_then_sum", *args]) == 0
    assert "def rows_then_sum_grad_chunk1_reverse(" in capsys.readouterr().out
    assert cli.main(["explain", f"{module}:recurrence", "--args", "np.ones(4),",
                     "--parallel"]) == 0
    assert "runs serially: a trip reads 's' before assigning it" in capsys.readouterr().out
    assert cli.main(["show", f"{module}:recurrence", "--parallel", "--transform", "jvp"]) == 2
    assert "--parallel is a gradient's option" in capsys.readouterr().err



# ---- from an attack on parallel=True (each a wrong number, crash or message found) ---------

def negative_rows(x):
    n = x.shape[0]
    out = np.zeros(n)
    for i in range(-n, n):  # (trip i >= 0 overwrites what trip i - n wrote: x[i] wraps)
        out[i] = x[i] * (i + 10.0)
    return np.sum(out)


def negative_sum(x):
    s = 0.0
    for i in range(-x.shape[0], x.shape[0]):
        s += x[i] ** 2
    return s


def negative_adds(x, g):
    for i in range(-x.shape[0], x.shape[0]):
        g[i] += x[i] ** 2
    return np.sum(g * g)


@pytest.mark.parametrize("fn", [negative_rows, negative_sum, negative_adds],
                         ids=lambda f: f.__name__)
def test_a_negative_index_is_not_the_trips_own_row(fn, rng):
    x = rng.uniform(-1, 1, 10_000)
    args = (x,) if fn is not negative_adds else (x, rng.uniform(-1, 1, 10_000))
    wrt = tuple(range(len(args)))
    serial = srcad.value_and_grad(fn, wrt=wrt)(*args)
    parallel = srcad.value_and_grad(fn, wrt=wrt, parallel=True)
    for _ in range(10):  # (a race loses an addition now and then)
        _assert_close(parallel(*args), serial)


def loop_index_reused_later(x):
    s = 0.0
    for i in range(3):
        s += x[i] ** 2
    t = 0.0
    for k in range(3):
        i = k // 2
        t = t * 0.5 + x[i] * s
    return t


def workspace_sized_by_a_shape(means, x):
    total = 0.0
    diff = np.empty(x.shape[1])
    for i in range(x.shape[0]):
        for r in range(diff.shape[0]):
            diff[r] = x[i, r] - means[r]
        total += np.sum(diff * diff)
    return total


def rows_sliced_after(x):
    out = np.empty((x.shape[0], 2))
    for i in range(x.shape[0]):
        out[i, 0] = x[i]
        out[i, 1] = x[i] ** 2
    return np.sum(out[:, 0] * out[:, 1])


@pytest.mark.parametrize("fn, make, parallel", [
    (loop_index_reused_later, lambda r: (r.uniform(-1, 1, 3),), True),
    (workspace_sized_by_a_shape, lambda r: (r.uniform(-1, 1, 3), r.uniform(-1, 1, (9, 3))),
     True),
    (rows_sliced_after, lambda r: (r.uniform(-1, 1, 9),), True),
], ids=lambda v: getattr(v, "__name__", ""))
def test_loops_an_attack_found(fn, make, parallel, rng, jit=True):
    args = make(rng)
    wrt = tuple(k for k, a in enumerate(args) if np.asarray(a).dtype.kind == "f")
    plans = _plans(fn, args, wrt)
    assert ("runs in parallel" in plans[0]) == parallel, plans
    _assert_close(*_both(fn, args, wrt, jit))


def leaves_early(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.5:
            return s
        s += x[i]
    return s


def scales_bins(x, idx):
    g = np.ones(3)
    for i in range(x.shape[0]):
        g[idx[i]] *= 1.0 + x[i] ** 2
    return np.sum(g * g)


def test_reasons_name_what_the_user_wrote(rng):
    x = rng.uniform(-1, 1, 8)
    (early,) = _plans(leaves_early, (x,))
    assert "it may leave early (a break or return)" in early
    (bins,) = _plans(scales_bins, (x, np.arange(8) % 3))
    assert "does more than add into it (only g[k] += e may)" in bins
    for text in (early, bins):
        assert "_t" not in text and "_i" not in text, text


def _clipped(v, w):
    t = 0.0
    for r in range(3):
        t += v[r] * w
        if t > 1.0:
            return t
    return t


def sum_of_early_returns(x, w):
    s = 0.0
    for i in range(len(x)):
        s += _clipped(x[i], w)
    return s


def rows_at_data_indices(x, idx):
    g = np.ones((3, 2))
    for i in range(len(idx)):
        g[idx[i]] *= x[i]
    return np.sum(np.tanh(g))


def reads_the_previous_row(x, w):
    out = np.zeros(len(x))
    for i in range(1, len(x)):
        out[i] = out[i - 1] * w + x[i]
    return np.sum(out ** 2)


def bins_set_before_the_loop(x, idx):  # (was "'g', which is read before the loop")
    g = np.zeros(3)
    g[0] = x[0]
    for i in range(len(idx)):
        g[idx[i]] += x[i] * x[i]
    return np.sum(g * g)


def a_sum_read_in_the_trip(x):  # (was "a trip reads 's' before assigning it (line of s +=)")
    s = 0.0
    total = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
        total += s * x[i]
    return total


def a_sum_of_whole_arrays(x):
    g = np.zeros(3)
    for i in range(x.shape[0]):
        g = g + x[i] * x[i]
    return np.sum(g * g)


def own_row_and_a_fixed_element(x):
    out = np.zeros((len(x), 2))
    for i in range(len(x)):
        out[i, 0] = x[i] * 2.0
        out[0, 1] = x[i] ** 2
    return np.sum(out ** 2)


def index_reassigned(x):
    out = np.zeros(len(x))
    for i in range(len(x)):
        i = i // 2
        out[i] = x[i] ** 2
    return np.sum(out * np.arange(len(x)))


def test_serial_loops_are_explained_in_the_users_terms(rng):
    """explain named srcad's temporaries ('_ret', 'g[_t2]') and blamed writes for a read of
    another trip's row (found by an attack); the gradients were right and still are."""
    x = rng.uniform(-1, 1, (8, 3))
    idx = np.array([0, 2, 1, 1, 0, 2, 2, 1])
    cases = [(sum_of_early_returns, (x, 0.7), 0,
              "a helper called in the trip returns from inside a loop"),
             (rows_at_data_indices, (x[:, :2].copy(), idx), 0, "'g[idx[i]]'"),
             (reads_the_previous_row, (x[:, 0].copy(), 0.5), 0,
              "reads 'out[i - 1]', a row another trip writes"),
             (bins_set_before_the_loop, (x[:, 0].copy(), idx), 0,
              "'g', whose elements are also set before the loop"),
             (a_sum_read_in_the_trip, (x[:, 0].copy(),), 0,
              "'s' is a sum, and a trip also reads it (line "),
             (a_sum_of_whole_arrays, (x,), 0, "'g' is an array summed whole (line "),
             # (found by an attack: the line of the write into the loop's own row was named,
             # and the loop's index as srcad renamed it, 'out[_i1, ...]')
             (own_row_and_a_fixed_element, (x[:, 0].copy(),), 0,
              f"into 'out' (line {inspect.getsourcelines(own_row_and_a_fixed_element)[1] + 4})"),
             (index_reassigned, (x[:, 0].copy(),), 0, "the loop's own index, which the loop "
                                                      "reassigns")]
    for fn, args, wrt, expected in cases:
        (plan,) = _plans(fn, args, wrt)
        assert expected in plan and "_t" not in plan and "_ret" not in plan, plan
        (value, grad), (value0, grad0) = _both(fn, args, wrt)
        np.testing.assert_allclose(grad, grad0, rtol=1e-12)
        check.compare(fn, args, [wrt], (grad,), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn, make, wrt", [c for c in CASES if c[0] in (
    inner_loop_breaks, newton_per_element, starts_at_an_offset)],
    ids=lambda c: getattr(c, "__name__", None))
def test_a_sum_loop_reverses_each_trip_as_it_runs_in_its_chunk(fn, make, wrt, rng):
    """A loop whose one value used after it is a sum runs its trips and their reversals
    together in each chunk (no second run of the trips in the reverse sweep); each trip adds into
    the chunk's private adjoints with the output's cotangent."""
    args = make(rng)
    assert any("runs in parallel, each trip reversed as it runs" in p
               for p in _plans(fn, args, wrt)), _plans(fn, args, wrt)
    value, pullback = srcad.vjp(fn, *args, wrt=wrt, mode="source", parallel=True)
    serial = srcad.grad(fn, wrt=wrt, mode="source")(*args)
    for got, expected in zip(pullback(2.5), serial, strict=True):
        np.testing.assert_allclose(got, 2.5 * np.asarray(expected), rtol=1e-12)
    assert "_reverse" not in srcad.source(srcad.grad(fn, wrt=wrt, parallel=True), *args)


def logistic_loss(w, X, y, lam):
    z = X @ w
    return np.sum(np.log1p(np.exp(-y * z))) + 0.5 * lam * np.dot(w, w)


def fit_residuals(w, X, y):
    r = np.dot(X, w) - y
    return 0.5 * (r @ r)


@pytest.mark.parametrize("fn", [logistic_loss, fit_residuals])
@pytest.mark.parametrize("rows", [2000, 30])
def test_matrix_vector_products_run_by_blocks_of_rows(fn, rows, rng):
    """parallel=True: `X @ w`, `np.dot(X, w)` and their adjoint `g @ X` outside the loops run
    one block of rows per thread when X is large (2000 x 100), serially when it is small; as
    serially, up to the order of the sums; a matrix in Fortran order or float32 runs as it is."""
    X, w = rng.standard_normal((rows, 100)), 0.1 * rng.standard_normal(100)
    y = rng.choice([-1.0, 1.0], rows) if fn is logistic_loss else rng.standard_normal(rows)
    args = (w, X, y, 0.3)[:len(inspect.signature(fn).parameters)]
    text = srcad.explain(srcad.grad(fn, parallel=True), *args)
    assert "run a large matrix-vector product by blocks of rows" in text
    assert "rt.parallel_" in srcad.source(srcad.grad(fn, parallel=True), *args)
    parallel, serial = _both(fn, args, 0)
    _assert_close(parallel, serial)
    check.compare(fn, args, [0], (parallel[1],), rtol=1e-5, atol=1e-7)
    for other in (np.asfortranarray(X), X.astype(np.float32)):
        moved = (args[0], other) + args[2:]
        got = srcad.value_and_grad(fn, parallel=True)(*moved)
        expected = srcad.value_and_grad(fn)(*moved)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)


def test_a_product_of_mismatched_shapes_raises_numpys_error(rng):
    X, w, y = rng.standard_normal((2000, 100)), rng.standard_normal(99), rng.standard_normal(2000)
    with pytest.raises(ValueError):
        srcad.grad(fit_residuals, parallel=True)(w, X, y)


def writes_into_an_array_made_by_arithmetic(c, x):
    w = c * 2.0
    total = 0.0
    for i in range(x.shape[0]):
        w[0] = x[i] * c[0]
        total += w[1] * w[0]
    return total


def test_an_array_made_by_arithmetic_written_in_the_loop(rng):
    """(found by an attack: the workspace analysis read `c * 2.0` as a call, an internal
    AttributeError, and mode="auto" fell back to the tape)"""
    c, x = rng.uniform(-1, 1, 4), rng.uniform(-1, 1, 5)
    (plan,) = _plans(writes_into_an_array_made_by_arithmetic, (c, x), (0, 1))
    assert "runs serially" in plan and "np.empty(n)" in plan, plan
    parallel, serial = _both(writes_into_an_array_made_by_arithmetic, (c, x), (0, 1))
    _assert_close(parallel, serial)
    check.compare(writes_into_an_array_made_by_arithmetic, [c, x], [0, 1], parallel[1])
