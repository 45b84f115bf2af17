"""srcad.dask.value_and_grad: sums over data rows by chunks on a LocalCluster, equal to the
gradient over all the data; a worker killed mid-run changes nothing."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import srcad

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
import srcad.dask


def logistic(w, X, y, lam):
    z = X @ w
    return np.sum(np.log1p(np.exp(-y * z)) + lam * np.sum(w * w))  # (lam's term: per row)


def ridge(w, X, y):  # (its regulariser is outside the sum over rows)
    return np.sum((X @ w - y) ** 2) + np.sum(w * w)


def mean_squares(w, X, y):
    return np.mean((X @ w - y) ** 2)


def per_row_newton(a, b, scale):
    s = 0.0
    for i in range(b.shape[0]):
        z = 1.0
        dz = 1.0
        while abs(dz) > 1e-13:
            dz = (z * z * z + a[0] * z - b[i]) / (3.0 * z * z + a[0])
            z = z - dz
        s += scale * z * z + a[1] * b[i]
    return s


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.mark.parametrize("rows", [97, 1000, 5000])
def test_numpy_data_by_chunks_equal_the_whole(client, rng, rows):
    X, y, w = rng.normal(size=(2003, 4)), np.sign(rng.normal(size=2003)), rng.normal(size=4)
    g = srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, wrt=0, chunk_rows=rows,
                                  client=client)
    value, grad = g(w, 0.3)
    ref_value, ref_grad = srcad.value_and_grad(logistic)(w, X, y, 0.3)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-12)
    value2, grad2 = g(lam=0.3, w=w)  # (keywords; the data stay on the cluster)
    assert value2 == value and np.array_equal(grad2, grad)
    g.close()


def test_a_call_runs_one_task_per_worker_holding_chunks(client, rng):
    X, y, w = rng.normal(size=(3000, 3)), np.sign(rng.normal(size=3000)), rng.normal(size=3)
    with srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, chunk_rows=100,
                                   client=client) as g:
        g(w, 0.1)
        with distributed.get_task_stream(client=client) as stream:
            value, grad = g(w, 0.1)
    ran = [task["worker"] for task in stream.data]
    assert len(ran) == len(set(ran)) == 2  # (30 chunks of 100 rows on two workers)
    ref_value, ref_grad = srcad.value_and_grad(logistic)(w, X, y, 0.1)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-12)


def test_dask_arrays_keep_their_chunks_and_loops_run_per_chunk(client, rng):
    a, b = np.array([1.5, 0.2]), rng.uniform(-1, 1, 1500)
    bd = da.from_array(b, chunks=400)
    g = srcad.dask.value_and_grad(per_row_newton, {"b": bd}, wrt=("a", "scale"), client=client)
    value, (ga, gs) = g(a, 0.7)
    ref_value, (ref_a, ref_s) = srcad.value_and_grad(per_row_newton, wrt=(0, 2))(a, b, 0.7)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(ga, ref_a, rtol=1e-11)
    np.testing.assert_allclose(gs, ref_s, rtol=1e-11)
    g.close()


def test_an_error_in_a_chunk_is_the_functions(client):
    def picks(w, idx):
        s = 0.0
        for i in range(idx.shape[0]):
            s += w[idx[i]] ** 2
        return s
    idx = np.arange(300) % 3
    idx[250] = 7
    g = srcad.dask.value_and_grad(picks, {"idx": idx}, chunk_rows=50, client=client)
    with pytest.raises(IndexError):
        g(np.ones(3))
    g.close()


def sum_of_sines(a, x, /):
    return np.sum(np.sin(a * x))


def test_data_and_calls_an_attack_found(client, rng):
    x = np.linspace(-3.0, 2.0, 200)
    with pytest.raises(TypeError, match="numpy.ma.MaskedArray"):
        srcad.dask.value_and_grad(sum_of_sines, {"x": np.ma.masked_greater(x, 1.0)},
                                  client=client)
    g = srcad.dask.value_and_grad(sum_of_sines, {"x": x}, chunk_rows=np.int64(64),
                                  client=client)  # (positional-only parameters)
    np.testing.assert_allclose(g(0.7), srcad.value_and_grad(sum_of_sines)(0.7, x), rtol=1e-12)
    g.close()
    with pytest.raises(RuntimeError, match="closed"):
        g(0.7)
    empty = srcad.dask.value_and_grad(sum_of_sines, {"x": x[:0]}, client=client)
    assert empty(0.7) == (0.0, 0.0)
    empty.close()
    X, y, w = (rng.normal(size=(300, 3)).astype(np.float32),
               np.sign(rng.normal(size=300)).astype(np.float32),
               rng.normal(size=3).astype(np.float32))
    g = srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, chunk_rows=100, client=client)
    _, grad = g(w, np.float32(0.0))  # (float32 data, computed in float64)
    _, ref_grad = srcad.value_and_grad(logistic)(w.astype(float), X.astype(float),
                                                 y.astype(float), 0.0)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5)
    g.close()


def test_a_function_that_is_not_a_sum_over_rows_is_refused(client, rng):
    # (found by an attack: the chunks' values were added, a regulariser or a mean's 1/n once
    # per chunk: silently wrong)
    X, y, w = rng.normal(size=(50, 3)), rng.normal(size=50), rng.normal(size=3)
    for fn, found in ((ridge, "of no rows its value and gradient are"),
                      (mean_squares, "of no rows its value and gradient are \\[nan")):
        with srcad.dask.value_and_grad(fn, {"X": X, "y": y}, chunk_rows=7, client=client) as g:
            with pytest.raises(ValueError, match=f"{fn.__name__} is not a sum over the rows of "
                                                 f"X, y \\({found}"):
                g(w)


def sample_variance(w, X, y):
    return np.var(X @ w - y, ddof=1) * len(y)  # (nan of one row, the mean's rows cancel)


def standardized_targets(w, X, y):
    z = (y - np.mean(y)) / np.std(y)
    return np.sum((X @ w - z) ** 2) - np.sum(np.mean(y) * 0.0)


def plus_a_linear_term(w, X, y):  # (0 at w = 0, its gradient not)
    return np.sum(np.log1p(np.exp(-y * (X @ w)))) + np.sum(w)


def hinge_max(w, X, y):
    return np.max(np.maximum(0.0, 1.0 - y * (X @ w)))


def group_totals(w, X, y):  # (pairs of neighbouring rows are groups)
    r = X @ w - y
    pairs = r[:r.shape[0] // 2 * 2].reshape(-1, 2)
    return np.sum(r ** 2) + np.sum(np.sum(pairs, axis=1) ** 2)


def sequence_state(w, X, y):  # (a state carried from row to row)
    s, state = 0.0, 0.0
    for i in range(X.shape[0]):
        state = 0.5 * state + X[i, 0] * w[0]
        s += (state - y[i]) ** 2
    return s


@pytest.mark.parametrize("fn", [sample_variance, standardized_targets, plus_a_linear_term,
                                hinge_max, mean_squares, group_totals, sequence_state])
def test_the_sum_check_sees_gradients_nans_and_rows_beyond_the_first(client, rng, fn):
    """(found by attacks: the check compared values on the first two rows, skipping nans:
    a sample variance (nan of one row), standardized targets, a term that is 0 at w = 0 but
    has a gradient, and a max or mean whose first rows are 0 passed; then, on rows spread
    over the data, a term joining neighbouring rows: their chunks were added into wrong
    values and gradients)"""
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    X[:2], y[:2] = 0.0, 0.0
    w = np.zeros(3) if fn is plus_a_linear_term else rng.normal(size=3)
    with srcad.dask.value_and_grad(fn, {"X": X, "y": y}, chunk_rows=7, client=client) as g:
        with pytest.raises(ValueError, match=f"{fn.__name__} is not a sum over the rows"):
            g(w)


def test_rows_passed_as_an_argument_are_named(client, rng):
    # (found by an attack: Numba's "unable to broadcast" from a worker, naming nothing)
    X, y, w = rng.normal(size=(50, 3)), np.sign(rng.normal(size=50)), rng.normal(size=3)
    with srcad.dask.value_and_grad(logistic, {"X": X}, chunk_rows=7, client=client) as g:
        with pytest.raises(ValueError, match="y has as many rows as the data \\(50\\) but is "
                                             "passed as an argument"):
            g(w, y, 0.1)


def test_two_gradients_over_equal_data_share_a_client(client, rng):
    # (found by an attack: equal chunks scattered twice were one key; the second gradient
    # cancelled the first's data, or hung)
    X, y, w = rng.normal(size=(50, 3)), np.sign(rng.normal(size=50)), rng.normal(size=3)
    first = srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, chunk_rows=9, client=client)
    second = srcad.dask.value_and_grad(logistic, {"X": X.copy(), "y": y.copy()}, chunk_rows=9,
                                       client=client)
    expected = srcad.value_and_grad(logistic)(w, X, y, 0.1)
    for g in (first, second, first):
        value, grad = g(w, 0.1)
        np.testing.assert_allclose(value, expected[0], rtol=1e-12)
        np.testing.assert_allclose(grad, expected[1], rtol=1e-11)
    first.close()
    second.close()


def test_wrong_use_is_an_error(client, rng):
    X, y = rng.normal(size=(10, 2)), rng.normal(size=10)
    with pytest.raises(TypeError, match="no parameter 'Z'"):
        srcad.dask.value_and_grad(logistic, {"Z": X}, client=client)
    with pytest.raises(TypeError, match="not differentiated"):
        srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, wrt="X", client=client)
    with pytest.raises(ValueError, match="different numbers of rows"):
        srcad.dask.value_and_grad(logistic, {"X": X, "y": y[:5]}, client=client)
    with pytest.raises(ValueError, match="chunk_rows"):
        srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, chunk_rows=0, client=client)
    with pytest.raises(ValueError, match="chunk_rows"):
        srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, chunk_rows=True, client=client)
    for data in ({}, [X], None):
        with pytest.raises(TypeError, match="data must be a dict"):
            srcad.dask.value_and_grad(logistic, data, client=client)
    with pytest.raises(TypeError, match="must be a distributed.Client"):
        srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, client="tcp://host:8786")
    g = srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, client=client)
    with pytest.raises(TypeError, match=r"other than its data: \(w, lam\)"):
        g(np.ones(2), X, y, 1.0)
    with pytest.raises(TypeError, match="other than its data"):
        g(np.ones(2))
    g.close()


def test_a_worker_killed_mid_run_changes_nothing(rng):
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    with distributed.Client(cluster) as client:
        a, b = np.array([1.5, 0.2]), rng.uniform(-1, 1, 40_000)
        g = srcad.dask.value_and_grad(per_row_newton, {"b": b}, wrt=(0, 2), chunk_rows=500,
                                      client=client)
        expected = g(a, 0.7)  # (compiled on both workers now)
        pids = list(client.run(os.getpid).values())
        results, stop = [], threading.Event()

        def calls():
            while not stop.is_set():
                results.append(g(a, 0.7))
        runs = threading.Thread(target=calls)
        runs.start()
        deadline = time.monotonic() + 60
        while not any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.005)  # (until a call's tasks are running on the workers)
        os.kill(pids[0], signal.SIGKILL)
        time.sleep(2.0)
        os.kill(pids[1], signal.SIGKILL)  # (the other: the last holder of what was sent once)
        time.sleep(2.0)
        stop.set()
        runs.join(timeout=300)
        assert not runs.is_alive() and results
        for value, grads in results:
            np.testing.assert_allclose(value, expected[0], rtol=1e-12)
            for got, want in zip(grads, expected[1], strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-12)
        assert not set(pids) & set(client.run(os.getpid).values())  # (both were replaced)
        g.close()
    cluster.close()


def _unaligned(keys, dask_worker):
    held = [a for k in keys if k in dask_worker.data for a in dask_worker.data[k]]
    return [a.shape for a in held if not (a.flags.aligned and a.flags.c_contiguous)]


@pytest.mark.parametrize("columns", [3, 100])
def test_chunks_on_the_workers_are_aligned(client, rng, columns):
    # (an array received over the network may start at any byte of its message; an unaligned
    # float64 chunk made its gradient 3x slower)
    X, y = rng.normal(size=(4000, columns)), np.sign(rng.normal(size=4000))
    for data in ({"X": X, "y": y}, {"X": da.from_array(X, chunks=(700, columns)), "y": y}):
        with srcad.dask.value_and_grad(logistic, data, chunk_rows=1000, client=client) as g:
            chunks = [c for held in g.chunks.values() for c in held]
            distributed.wait(chunks)  # (before a call, where a task may copy one elsewhere)
            keys = [f.key for f in chunks]
            assert not any(client.run(_unaligned, keys).values())
    misaligned = np.frombuffer(b"." + rng.normal(size=6).tobytes(), offset=1).reshape(2, 3)
    assert not misaligned.flags.aligned
    (again,) = srcad.dask._aligned_chunk((misaligned,))
    assert again.flags.aligned and np.array_equal(again, misaligned)


def _malloc_trim_threshold():
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_its_own_cluster_keeps_mallocs_mmap_threshold(rng):
    # (Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which fixes glibc's mmap threshold: every
    # temporary array of a chunk's gradient was a fresh mapping, with its page faults)
    X, y, w = rng.normal(size=(1001, 3)), np.sign(rng.normal(size=1001)), rng.normal(size=3)
    with srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, chunk_rows=100) as g:
        value, grad = g(w, 0.0)
        assert set(g.client.run(_malloc_trim_threshold).values()) == {None}
    ref_value, ref_grad = srcad.value_and_grad(logistic)(w, X, y, 0.0)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-12)


def test_what_an_attack_found_on_data_arguments_and_clusters(client, rng):
    # float32 arguments and data: the value in float64, the gradient in its argument's dtype
    X32 = rng.normal(size=(2000, 3)).astype(np.float32)
    w32 = (0.4 * rng.normal(size=3)).astype(np.float32)
    with srcad.dask.value_and_grad(sum_of_tanh, {"X": X32}, chunk_rows=100,
                                   client=client) as g:
        value, grad = g(w32)
    ref_value, ref_grad = srcad.value_and_grad(sum_of_tanh)(w32.astype(float), X32.astype(float))
    assert value == pytest.approx(ref_value, rel=1e-12) and grad.dtype == np.float32
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6)
    # a 0-d array parameter: its gradient is a 0-d array, as srcad.value_and_grad's
    x = rng.normal(size=10)
    with srcad.dask.value_and_grad(scaled, {"x": x}, chunk_rows=4, client=client) as g:
        _, ga = g(np.array(2.0))
    assert isinstance(ga, np.ndarray) and ga.shape == () and ga == pytest.approx(np.sum(x))
    for workers in (0, -1, "2", True):
        with pytest.raises(ValueError, match="workers must be a positive int"):
            srcad.dask.local_client(workers)


def test_data_changed_later_is_not_seen_by_workers_in_this_process(rng):
    X, y, w = rng.normal(size=(999, 4)), np.sign(rng.normal(size=999)), rng.normal(size=4)
    expected = srcad.value_and_grad(logistic)(w, X, y, 0.0)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False)
    with distributed.Client(cluster) as client:
        with srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, chunk_rows=100,
                                       client=client) as g:
            X[:] = 0.0
            value, grad = g(w, 0.0)
        np.testing.assert_allclose(value, expected[0], rtol=1e-12)
        np.testing.assert_allclose(grad, expected[1], rtol=1e-11)
    cluster.close()
    with pytest.raises(ValueError, match="the client given is closed"):
        srcad.dask.value_and_grad(logistic, {"X": X, "y": y}, client=client)


def sum_of_tanh(w, X):
    return np.sum(np.tanh(X @ w))


def scaled(a, x):
    return np.sum(a * x)


def log_rows(w, x):
    return np.sum(np.log(x) * w)


def keyword_data(w, *, X, scale=2.0):
    return np.sum(scale * np.sin(X @ w))


def writes_its_arguments(w, X):
    w[0] = w[0] * 2.0
    X[:, 0] = X[:, 0] * 2.0
    return np.sum(X @ w)


def recursive(a, n):
    return a if n == 0 else recursive(a * 1.01, n - 1)


def calls_recursion(w, x):
    return np.sum(recursive(w * x, 3))


def test_what_an_attack_found_on_the_check_that_f_is_a_sum(client, rng):
    x = np.abs(rng.normal(size=7)) + 0.5
    with srcad.dask.value_and_grad(log_rows, {"x": x}, chunk_rows=2, client=client) as g:
        value, grad = g(np.nan)  # (a nan at the first rows was "not a sum over the rows")
        assert np.isnan(value) and grad == pytest.approx(np.sum(np.log(x)))
    x[0] = -1.0  # (log(-1): nan in the first row only)
    with srcad.dask.value_and_grad(log_rows, {"x": x}, chunk_rows=2, client=client) as g:
        value, grad = g(0.5)
        ref_value, ref_grad = srcad.value_and_grad(log_rows)(0.5, x)
        assert np.isnan([value, grad, ref_value, ref_grad]).all()
    X, w = rng.normal(size=(11, 3)), rng.normal(size=3)
    # keyword-only parameters (every call raised a TypeError)
    with srcad.dask.value_and_grad(keyword_data, {"X": X}, chunk_rows=3, client=client) as g:
        value, grad = g(w, scale=0.5)
    ref_value, ref_grad = srcad.value_and_grad(keyword_data)(w, X=X, scale=0.5)
    assert value == pytest.approx(ref_value) and np.allclose(grad, ref_grad, rtol=1e-12)
    eps = 1e-6 * np.eye(3)[1]
    fd = (keyword_data(w + eps, X=X, scale=0.5) - keyword_data(w - eps, X=X, scale=0.5)) / 2e-6
    assert grad[1] == pytest.approx(fd, rel=1e-6)
    # writes into its arguments: the caller's arrays stay as they were (w was doubled once per
    # evaluation of the check, which then failed)
    w0, X0 = w.copy(), X.copy()
    with srcad.dask.value_and_grad(writes_its_arguments, {"X": X}, chunk_rows=4,
                                   client=client) as g:
        value, grad = g(w)
    ref = srcad.value_and_grad(writes_its_arguments)(w0.copy(), X0.copy())
    assert np.array_equal(w, w0) and np.array_equal(X, X0)
    assert value == pytest.approx(ref[0]) and np.allclose(grad, ref[1], rtol=1e-12)
    # no generated gradient: said when called, naming srcad.dask (not mode='tape')
    with srcad.dask.value_and_grad(calls_recursion, {"x": x}, client=client) as g, \
            pytest.raises(srcad.UnsupportedError, match="runtime tape does not run there.*"
                                                        "recursive call of 'recursive'"):
        g(0.5)
