"""Data-parallel gradients on a Dask cluster: `srcad.dask.value_and_grad`.

For a function that is a sum over the rows (leading axis) of its data arguments, the value and
gradient over all the data are the sums of those over chunks of rows. srcad generates the
gradient once, in the calling process; each worker compiles it once (a worker keeps what it
compiled, keyed by the generated module's text) and computes chunk after chunk. The data are
sent to the cluster once, when the gradient is made; a call sends the other arguments.

A worker lost during a call changes nothing: Dask runs the lost tasks again elsewhere, and
numpy data held by the lost worker are sent again from this process.
"""

import hashlib
import inspect
import math
import numbers
import time
import warnings
from collections.abc import Mapping

import numpy as np

from . import api
from .compiler import frontend, valuetypes
from .errors import UnsupportedError

# in a worker: the generated module's digest -> the compiled gradient
_KERNELS = {}
# times a call sends what lost workers held and runs its chunks again before it gives up
ATTEMPTS = 5


def _kernel(text, name, statics):
    """The generated gradient of the module `text`, compiled with Numba (or the generated
    Python where Numba cannot compile it, as srcad.grad falls back to), once per worker."""
    key = hashlib.sha256(text.encode()).hexdigest()
    kernel = _KERNELS.get(key)
    if kernel is None:
        from .compiler import loading
        filename = f"<srcad {name} {key[:16]}>"
        # (nogil: the worker's event loop answers the scheduler while a chunk is computed)
        compiled = loading.jit(getattr(loading.load(text, filename, dict(statics)), name),
                               nogil=True)
        python = getattr(loading.load(text, filename, loading.numpy_semantics(statics)), name)

        def kernel(*args):
            try:
                return compiled(*args)
            except Exception as exc:
                if not api._is_numba_error(exc):
                    raise
                _KERNELS[key] = python
                return python(*args)
        _KERNELS[key] = kernel
    return kernel


def _chunk(code, args, data_at, data):
    """(value, gradients...) of one chunk: the generated gradient of `code` called with `args`,
    the chunk's `data` put in at the positions `data_at`."""
    args = list(args)
    for k, rows in zip(data_at, _aligned_chunk(data), strict=True):
        args[k] = rows  # (copied only where the chunk came from another worker)
    return _kernel(*code)(*args)


def _chunks(code, args, data_at, *chunks):
    """(value, gradients...) summed over `chunks`, which one worker holds: one task per worker
    and call, not one per chunk (each task costs a round of messages with the scheduler)."""
    total = _chunk(code, args, data_at, chunks[0])
    for data in chunks[1:]:
        total = tuple(a + b for a, b in zip(total, _chunk(code, args, data_at, data), strict=True))
    return total


class DaskGradient:
    """The value and gradient of a sum over data rows, computed by chunks on a Dask cluster;
    call it with the function's other arguments. Made by `value_and_grad`."""

    def __init__(self, fn, data, wrt, chunk_rows, client, parallel):
        self.gradient = api.Gradient(fn, wrt, "value_and_grad", mode="source",
                                     parallel=parallel)
        self.fn, self.parallel = self.gradient.fn, parallel
        name = self.fn.__qualname__
        params = self.gradient.signature.parameters
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params.values()):
            raise TypeError(f"srcad.dask.value_and_grad: {name} collects arguments in *args or "
                            "**kwargs; it takes functions with named parameters")
        if not isinstance(data, Mapping) or not data:
            raise TypeError("srcad.dask.value_and_grad: data must be a dict of arrays by "
                            f"parameter name, naming at least one, not {data!r:.60}")
        unknown = sorted(set(data) - set(params))
        if unknown:
            raise TypeError(f"srcad.dask.value_and_grad: {name} has no parameter "
                            f"{', '.join(map(repr, unknown))}")
        if set(data) & set(self.gradient.wrt_names):
            raise TypeError("srcad.dask.value_and_grad: the data are not differentiated "
                            f"(wrt={wrt!r} names one of {sorted(data)})")
        if chunk_rows is not None and (isinstance(chunk_rows, bool) or
                                       not isinstance(chunk_rows, numbers.Integral) or
                                       chunk_rows < 1):
            raise ValueError(f"chunk_rows must be a positive int, not {chunk_rows!r}")
        if client is not None and not hasattr(client, "scatter"):
            raise TypeError("client must be a distributed.Client (for an address: "
                            f"client=distributed.Client({client!r})), not {type(client).__name__}")
        if client is not None and getattr(client, "status", None) == "closed":
            raise ValueError("srcad.dask.value_and_grad: the client given is closed")
        self.data_names = [p for p in params if p in data]
        self.others = [p for p in params if p not in data]
        self.data = {n: data[n] for n in self.data_names}
        rows = {n: _rows(self.fn, n, a) for n, a in self.data.items()}
        if len(set(rows.values())) > 1:
            raise ValueError(f"srcad.dask.value_and_grad: the data of {name} have different "
                             f"numbers of rows: {rows}")
        self.rows = next(iter(rows.values()))
        self.chunk_rows = int(chunk_rows) if chunk_rows is not None else None
        self.examples = {n: np.empty((0,) + a.shape[1:], a.dtype) for n, a in self.data.items()}
        # (which tell a sum over rows from other functions at each call: pairs of neighbouring
        # rows spread over the data, each pair split between the two halves compared, so that
        # a term joining neighbours (a group's, a sequence's state) is seen)
        anchors = np.linspace(0, max(self.rows - 2, 0), min(self.rows, 4)).round()
        self.sample_index = np.unique(np.concatenate([anchors, anchors + 1]).astype(np.int64)
                                      .clip(0, max(self.rows - 1, 0)))[:self.rows]
        self.sample = {n: np.array(a[self.sample_index].compute() if _is_dask(a) else
                                   a[self.sample_index]) for n, a in self.data.items()}
        self.own_cluster = client is None
        self.client = client if client is not None else local_client()
        self._code = {}  # argument types -> (the generated module, its specialization)
        self._sent = {}  # argument types -> the future of the module on the cluster
        try:
            self.chunks = self._send()
        except BaseException:
            self.close()
            raise

    def _send(self):
        """By the worker holding them, the chunks: per chunk, the future of its rows of each
        data argument (together on one worker)."""
        chunks = self._send_chunks()
        who_has, by_worker = self.client.who_has(chunks), {}
        for chunk in chunks:
            where = who_has.get(chunk.key)
            by_worker.setdefault(where[0] if where else None, []).append(chunk)
        return by_worker

    def _send_chunks(self):
        if any(_is_dask(a) for a in self.data.values()):
            return _dask_blocks(self.client, self.data)
        size = self.chunk_rows or max(1, math.ceil(self.rows / (4 * _workers(self.client))))
        bounds = [(lo, min(lo + size, self.rows)) for lo in range(0, self.rows, size)] or \
            [(0, 0)]
        pieces = [tuple(np.ascontiguousarray(self.data[n][lo:hi]) for n in self.data_names)
                  for lo, hi in bounds]
        # (hash=False: keys of their own; keyed by content, another gradient's equal chunks
        # were the same keys, and letting its copies go cancelled this one's)
        return _held(self.client, self.client.scatter(pieces, hash=False))

    def code(self, args):
        """(the future of the generated module, the arguments with the hidden data) for a call
        with `args` (one per parameter, the data's replaced by empty chunks)."""
        key, module, _, call_args = self.generated(args)
        if key not in self._sent:  # (sent once to every worker, not with every task)
            self._sent[key] = self.client.scatter([module], broadcast=True, hash=False)[0]
        return self._sent[key], call_args

    def generated(self, args):
        """(its key, the generated module, its specialization, the arguments with the hidden
        data) for a call with `args`. The gradient is computed in float64 (srcad.grad's float32
        code may need a float64 fallback): the caller passes float32 arguments in float64."""
        g = self.gradient
        flat, structures, labels = g.layout(args)
        if structures:
            raise UnsupportedError("srcad.dask.value_and_grad takes floats and arrays; "
                                   f"{', '.join(structures)} is a tuple, list or dict")
        types = g.arg_types(flat, labels)
        key = (types, api.numpy_scalars(flat))
        found = self._code.get(key)
        if found is None:
            from . import pipeline
            try:
                generated = pipeline.transform(g.fn, g.wrt_names, types, None, {}, False,
                                               False, "grad", self.parallel,
                                               numpy_scalars=key[1])
            except UnsupportedError as exc:
                raise UnsupportedError(
                    "srcad.dask.value_and_grad sends srcad's generated gradient to the workers "
                    "(the runtime tape does not run there), and srcad generates none for "
                    f"{g.fn.__qualname__}: {exc}") from None
            if generated.output_type.ndim > 0:
                raise TypeError(f"{g.fn.__qualname__} returns an array "
                                f"({generated.output_type}); it must return a scalar")
            spec = api._Specialization("source+numba", None, generated)
            module = (generated.text, generated.gradient.__name__,
                      {k: getattr(v, "fn", v) if frontend.is_custom_vjp(v) else v
                       for k, v in generated.scope.items()})
            found = self._code[key] = (module, spec)
        module, spec = found
        return key, module, spec, tuple(flat) + spec.hidden_values()

    def __call__(self, *args, **kwargs):
        if self.chunks is None:
            raise RuntimeError("this srcad.dask gradient was closed")
        if getattr(self.client, "status", None) == "closed":
            raise RuntimeError("the client of this srcad.dask gradient was closed")
        values = self.arguments(args, kwargs)
        params = self.gradient.params
        # (float32 arguments are computed in float64, their gradients handed back in float32)
        computed = tuple(v if p in self.data else _float64(v) for p, v in zip(params, values))
        data_at = tuple(params.index(n) for n in self.data_names)
        _, _, spec, call_args = self.generated(computed)
        self.refuse_what_is_not_a_sum(computed, spec, call_args, data_at)
        for attempt in range(ATTEMPTS):
            try:
                if attempt:  # (workers holding some data or the code were lost: send them again)
                    time.sleep(0.05 * 2 ** attempt)  # (while the cluster replaces them)
                    self._sent = {}
                    self.chunks = self._send()
                future, call_args = self.code(computed)
                futures = [self.client.submit(_chunks, future, call_args, data_at, *chunks,
                                              workers=address, allow_other_workers=True,
                                              pure=False)
                           for address, chunks in self.chunks.items()]
                results = self.client.gather(futures)
                break
            except Exception as exc:
                if not _lost(exc) or attempt == ATTEMPTS - 1:
                    raise
        value = sum(r[0] for r in results)
        grads = [sum(r[1 + k] for r in results) for k in range(len(results[0]) - 1)]
        given = {**dict(zip(self.others, args)), **kwargs}  # (a 0-d array's gradient is one)
        grads = [api._plain(gr, given.get(params[i], values[i]))
                 for gr, i in zip(grads, self.gradient.wrt_index, strict=True)]
        return api._plain(value), grads[0] if self.gradient.single else tuple(grads)

    def refuse_what_is_not_a_sum(self, values, spec, call_args, data_at):
        """Raise unless the function, at the call's arguments, is a sum over the data's rows as
        far as a sample of rows tells (four pairs of neighbours spread over the data): of no
        rows its value and gradient are 0, of the sample the sums of those of two halves that
        split every pair (the chunks' values and gradients are added: a term outside the sum,
        such as a regulariser or a mean's 1/n, would be counted once per chunk). The sample
        runs through the generated gradient's Python, whose code is the chunks'."""
        if sum(map(len, self.chunks.values())) == 1:  # (one chunk: the function itself)
            return
        first_half, second_half = slice(0, None, 2), slice(1, None, 2)

        def at(rows):  # (value, gradients...) on those sample rows
            args = list(call_args)
            for k, name in zip(data_at, self.data_names, strict=True):
                args[k] = np.copy(self.sample[name][rows])  # (the function may write into it)
            return np.concatenate([np.ravel(np.asarray(v, np.float64))
                                   for v in spec.generated.gradient(*args)])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (NumPy's of an empty mean, say)
            try:
                empty = at(slice(0, 0))
            except Exception as exc:  # noqa: BLE001 (a sum of no rows is 0, it raises nothing)
                self.refuse_rows_not_given_as_data(values, exc)
                self.refuse_not_a_sum(f"of no rows it raises {type(exc).__name__}: {exc}")
            try:
                whole, first, second = (at(slice(0, None)), at(first_half), at(second_half))
            except Exception as exc:
                self.refuse_rows_not_given_as_data(values, exc)
                raise
        seen = np.abs(np.concatenate([whole, first, second]))
        scale = max(1.0, float(seen[np.isfinite(seen)].max(initial=0.0)))
        if not np.allclose(empty, 0.0, rtol=0.0, atol=1e-9 * scale):
            self.refuse_not_a_sum(f"of no rows its value and gradient are {empty.tolist()}")
        if not np.allclose(whole, first + second, rtol=0.0, atol=1e-9 * scale, equal_nan=True):
            self.refuse_not_a_sum(
                f"of rows {self.sample_index.tolist()} its value and gradient are "
                f"{whole.tolist()}, the sums of those of the rows "
                f"{self.sample_index[first_half].tolist()} and of the rest "
                f"{(first + second).tolist()}")

    def refuse_not_a_sum(self, found):
        raise ValueError(
            f"srcad.dask.value_and_grad: {self.fn.__qualname__} is not a sum over the rows of "
            f"{', '.join(self.data_names)} ({found}): srcad.dask adds the values and gradients "
            "of the chunks, so a term outside the sum (a regulariser, the 1/n of a mean, a "
            "constant) would count once per chunk; differentiate the sum with srcad.dask and "
            "add the rest with srcad.value_and_grad")

    def refuse_rows_not_given_as_data(self, values, exc):
        """f failed on some of the data's rows: if an argument other than the data has as many
        rows as the data, it is likely data passed as an argument (every chunk would get all of
        it)."""
        rowlike = [p for p, v in zip(self.gradient.params, values) if p not in self.data and
                   np.ndim(v) >= 1 and np.shape(v)[0] == self.rows]
        if rowlike:
            raise ValueError(
                f"srcad.dask.value_and_grad: {self.fn.__qualname__} failed on a few rows of "
                f"its data ({type(exc).__name__}: {exc}); {', '.join(rowlike)} "
                f"{'has' if len(rowlike) == 1 else 'have'} as many rows as the data "
                f"({self.rows}) but {'is' if len(rowlike) == 1 else 'are'} passed as an "
                "argument, whole to every chunk: give data rows in data=") from exc

    def arguments(self, args, kwargs):
        """One value per parameter of the function: the call's, the defaults, the data's empty
        chunks."""
        given = dict(zip(self.others, args))
        params = self.gradient.signature.parameters
        missing = [p for p in self.others if p not in given and p not in kwargs and
                   params[p].default is inspect.Parameter.empty]
        if len(args) > len(self.others) or set(kwargs) - set(self.others) or \
                set(kwargs) & set(given) or missing:
            raise TypeError(f"call it with the parameters of {self.fn.__qualname__} other "
                            f"than its data: ({', '.join(self.others)})")
        merged = {**given, **kwargs, **self.examples}
        return tuple(_scalar(merged[p]) if p in merged else params[p].default
                     for p in self.gradient.params)

    def close(self):
        """Release the data and code on the cluster; shut down the LocalCluster srcad started
        (a client passed in stays open)."""
        held = [c for chunks in (getattr(self, "chunks", None) or {}).values() for c in chunks] \
            + list(self._sent.values())
        self.chunks, self._code, self._sent = None, {}, {}
        if held and getattr(self.client, "status", None) != "closed":
            self.client.cancel(held)
        if self.own_cluster:
            cluster = self.client.cluster
            self.client.close()
            cluster.close()
            self.own_cluster = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def value_and_grad(fn, data, wrt=0, *, chunk_rows=None, client=None, parallel=False):
    """The value and gradient of `fn`, a sum over the rows of its data arguments, computed by
    chunks of rows on a Dask cluster.

    Args:
        fn: a Python function returning a scalar that is a sum of terms, one per row (leading
            axis) of each data argument: fn(..., data) == sum of fn(..., data[chunk]).
        data: {parameter name: array} for fn's data parameters, each a numpy array or a
            dask.array with the same number of rows (a dask array keeps its row chunks).
            They are sent to the cluster now; changing them later is not seen.
        wrt: the parameters to differentiate, as for srcad.grad (never data).
        chunk_rows: rows per chunk of numpy data (default: four chunks per worker).
        client: a distributed.Client (say `Client("tcp://scheduler:8786")`); None starts a
            LocalCluster with one single-threaded worker process per core.
        parallel: also run each chunk's loops on the worker's threads (see srcad.grad).
    Returns:
        A DaskGradient: call it with fn's other arguments for (value, gradient); `.close()`
        (or `with`) shuts the LocalCluster down.
    """
    return DaskGradient(fn, data, wrt, chunk_rows, client, parallel)


def local_client(workers=None):
    """A Client of a new LocalCluster on this machine, as value_and_grad starts when given no
    client: `workers` single-threaded worker processes (default: one per core). Pass it as
    `client=` to share one cluster between gradients; close it (and its `.cluster`) after."""
    if workers is not None and (isinstance(workers, bool) or
                                not isinstance(workers, numbers.Integral) or workers < 1):
        raise ValueError(f"workers must be a positive int or None, not {workers!r}")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("srcad.dask needs Dask's distributed scheduler: "
                          "pip install 'dask[distributed]'") from None
    import os

    import dask
    # Dask's nanny gives its workers MALLOC_TRIM_THRESHOLD_=65536 (putting it in this process's
    # environment too), which also stops glibc from raising its mmap threshold: every array a
    # gradient made of more than 128 kB was a fresh mapping, 1,570 page faults per call of a
    # 100,000-row chunk (15% of its time). The workers keep glibc's defaults.
    trim = os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_":
                              None}):
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                   threads_per_worker=1, processes=True, dashboard_address=":0")
    finally:
        if trim is not None:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = trim
    return Client(cluster)


def _workers(client):
    return max(1, len(client.scheduler_info().get("workers", {})))


def _scalar(value):
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _is_dask(a):
    return type(a).__module__.startswith("dask.")


def _rows(fn, name, a):
    what = f"srcad.dask.value_and_grad: the data '{name}' of {fn.__qualname__}"
    if not (isinstance(a, np.ndarray) or _is_dask(a)):
        raise TypeError(f"{what} must be a numpy or dask array, not {type(a).__name__}")
    if isinstance(a, np.ndarray) and type(a) is not np.ndarray:
        raise TypeError(f"{what} is a {type(a).__module__}.{type(a).__name__}, whose "
                        "operators or memory differ from numpy.ndarray's; pass np.asarray(...) "
                        "(for a masked array, decide what its masked entries are)")
    if a.ndim == 0:
        raise TypeError(f"{what} is a 0-d array: data have rows (a leading axis)")
    if not _is_dask(a):
        valuetypes.of_value(a)  # (a dtype srcad takes)
    elif math.isnan(a.shape[0]):
        raise ValueError(f"{what} has row chunks of unknown size (after boolean indexing, "
                         "say): call its .compute_chunk_sizes() first")
    return a.shape[0]


def _dask_blocks(client, arrays):
    """Per row chunk, the future of each dask array's block (persisted on the cluster, together
    on one worker); numpy data beside them are cut into the same row chunks."""
    import dask.array as da
    arrays = {n: a if _is_dask(a) else da.from_array(a) for n, a in arrays.items()}
    rows = {n: a.chunks[0] for n, a in arrays.items()}
    first = next(iter(rows.values()))
    arrays = {n: (a if a.chunks[0] == first else a.rechunk({0: first}))
              .rechunk({k: -1 for k in range(1, a.ndim)}) for n, a in arrays.items()}
    blocks = [client.compute(list(a.to_delayed().ravel())) for a in arrays.values()]
    return _held(client, list(zip(*blocks)))


def _aligned_chunk(arrays, copy=False):
    """The arrays, each C-contiguous and aligned (copied where not, or always with `copy`). An
    array received over the network may start at any byte of its message; NumPy and Numba
    take slow paths over an unaligned float64 array (a chunk's matrix-vector product ran 3x
    slower)."""
    requirements = ("A", "C", "O") if copy else ("A", "C")
    return tuple(np.require(a, requirements=requirements) for a in arrays)


def _held(client, chunks):
    """The futures of what the workers keep of `chunks` (futures of tuples of arrays), made
    before the futures of `chunks` are let go (a copy of data let go cannot be made again)."""
    from distributed import wait
    # (copies: a worker in this process was given the caller's memory, which may change later)
    held = [client.submit(_aligned_chunk, chunk, copy=True, pure=False) for chunk in chunks]
    wait(held)
    return held


def _float64(value):
    if isinstance(value, np.float32):
        return np.float64(value)
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        return value.astype(np.float64)
    return value


def _lost(exc):
    """Is `exc` the cluster's (a worker or its data lost), not the function's?"""
    module = type(exc).__module__
    return module.startswith(("distributed", "concurrent", "asyncio")) or \
        type(exc).__name__ in ("KilledWorker", "CancelledError", "FutureCancelledError")
