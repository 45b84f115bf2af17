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

import numpy as np

from . import api
from .compiler import valuetypes
from .errors import UnsupportedError

# in a worker: the generated module's digest -> the compiled gradient
_KERNELS = {}


def _kernel(text, name, statics):
    key = hashlib.sha256(text.encode()).hexdigest()
    kernel = _KERNELS.get(key)
    if kernel is None:
        from .compiler import codegen
        module = codegen.load(text, f"<srcad {name} {key[:16]}>", dict(statics))
        kernel = _KERNELS[key] = codegen.jit(getattr(module, name))
    return kernel


def _chunk(code, args, data_at, *data):
    """(value, gradients...) of one chunk: the generated gradient of `code` called with `args`,
    the chunk's `data` put in at the positions `data_at`."""
    args = list(args)
    for k, chunk in zip(data_at, data, strict=True):
        args[k] = chunk
    return _kernel(*code)(*args)


class DaskGradient:
    """The value and gradient of a sum over data rows, computed by chunks on a Dask cluster;
    call it with the function's other arguments. Made by `value_and_grad`."""

    def __init__(self, fn, data, wrt, chunk_rows, client, parallel):
        self.gradient = api.Gradient(fn, wrt, "value_and_grad", mode="source",
                                     parallel=parallel)
        self.fn, self.parallel = self.gradient.fn, parallel
        params = self.gradient.params
        unknown = sorted(set(data) - set(params))
        if unknown:
            raise TypeError(f"srcad.dask.value_and_grad: {self.fn.__qualname__} has no "
                            f"parameter {', '.join(map(repr, unknown))}")
        if set(data) & set(self.gradient.wrt_names):
            raise TypeError("srcad.dask.value_and_grad: the data are not differentiated "
                            f"(wrt={wrt!r} names one of {sorted(data)})")
        self.data_names = [p for p in params if p in data]
        self.others = [p for p in params if p not in data]
        if chunk_rows is not None and (not isinstance(chunk_rows, int) or chunk_rows < 1):
            raise ValueError(f"chunk_rows must be a positive int, not {chunk_rows!r}")
        self.own_cluster = client is None
        self.client = client if client is not None else _local_client()
        self.examples, self.rows, self.chunks = self._send(data, chunk_rows)
        self._code = {}  # argument types -> (the generated module, hidden data)

    def _send(self, data, chunk_rows):
        """(an empty chunk of each data argument, the row count, per chunk the futures of its
        rows of each data argument)."""
        arrays = {name: data[name] for name in self.data_names}
        rows = {name: _rows(self.fn, name, a) for name, a in arrays.items()}
        if len(set(rows.values())) > 1:
            raise ValueError(f"srcad.dask.value_and_grad: the data of {self.fn.__qualname__} "
                             f"have different numbers of rows: {rows}")
        n = next(iter(rows.values()))
        examples = {name: np.empty((0,) + a.shape[1:], a.dtype) for name, a in arrays.items()}
        if any(_is_dask(a) for a in arrays.values()):
            blocks = _dask_blocks(self.client, self.fn, arrays)
        else:
            size = chunk_rows or max(1, math.ceil(n / (4 * max(1, _workers(self.client)))))
            bounds = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
            self._numpy = (arrays, bounds)
            blocks = self._scatter()
        return examples, n, blocks

    def _scatter(self):
        arrays, bounds = self._numpy
        pieces = [[np.ascontiguousarray(arrays[name][lo:hi]) for name in self.data_names]
                  for lo, hi in bounds]
        flat = self.client.scatter([p for chunk in pieces for p in chunk])
        k = len(self.data_names)
        return [flat[j:j + k] for j in range(0, len(flat), k)]

    def code(self, args):
        """(the generated module, the positions of the data, the arguments with the hidden
        data) for a call with `args` (one per parameter, the data's replaced by empty chunks)."""
        g = self.gradient
        flat, structures, labels = g.layout(args)
        if structures:
            raise UnsupportedError("srcad.dask.value_and_grad takes floats and arrays; "
                                   f"{', '.join(structures)} is a tuple, list or dict")
        types = g.arg_types(flat, labels)
        found = self._code.get(types)
        if found is None:
            from . import pipeline
            single = api._single_precision(flat)
            generated = pipeline.transform(g.fn, g.wrt_names, types, None, {}, False, single,
                                           "grad", self.parallel)
            if generated.output_type.ndim > 0:
                raise TypeError(f"{g.fn.__qualname__} returns an array "
                                f"({generated.output_type}); it must return a scalar")
            spec = api._Specialization("source+numba", None, generated, single=single)
            module = (generated.text, generated.gradient.__name__,
                      {k: getattr(v, "fn", v) if hasattr(v, "__srcad_vjp__") else v
                       for k, v in generated.scope.items()})
            # (sent once to every worker, not with every task)
            module = self.client.scatter([module], broadcast=True, hash=False)[0]
            found = self._code[types] = (module, spec)
        module, spec = found
        return module, tuple(flat) + spec.hidden_values()

    def __call__(self, *args, **kwargs):
        given = dict(zip(self.others, args))
        defaults = {p for p, v in self.gradient.signature.parameters.items()
                    if v.default is not inspect.Parameter.empty}
        if len(args) > len(self.others) or set(kwargs) - set(self.others) or \
                set(kwargs) & set(given) or \
                set(self.others) - set(given) - set(kwargs) - defaults:
            raise TypeError(f"call it with the parameters of {self.fn.__qualname__} other "
                            f"than its data: ({', '.join(self.others)})")
        values = self.gradient.bind((), {**given, **kwargs, **self.examples})
        module, call_args = self.code(values)
        data_at = tuple(self.gradient.params.index(n) for n in self.data_names)
        for attempt in range(3):
            futures = [self.client.submit(_chunk, module, call_args, data_at, *chunk,
                                          pure=False) for chunk in self.chunks]
            try:
                results = self.client.gather(futures)
                break
            except Exception as exc:
                if not _lost(exc) or attempt == 2 or not hasattr(self, "_numpy"):
                    raise
                self.chunks = self._scatter()  # (a worker holding some data was lost)
        value = sum(r[0] for r in results)
        grads = [sum(r[1 + k] for r in results) for k in range(len(results[0]) - 1)]
        grads = [api._plain(gr, values[i]) for gr, i in zip(grads, self.gradient.wrt_index,
                                                             strict=True)]
        return api._plain(value), grads[0] if self.gradient.single else tuple(grads)

    def close(self):
        """Release the data on the cluster; shut down the LocalCluster srcad started (a client
        passed in stays open)."""
        self.client.cancel([f for chunk in self.chunks for f in chunk])
        self.chunks = []
        if self.own_cluster:
            cluster = self.client.cluster
            self.client.close()
            cluster.close()

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
    return DaskGradient(fn, dict(data), wrt, chunk_rows, client, parallel)


def _local_client():
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("srcad.dask needs Dask's distributed scheduler: "
                          "pip install 'dask[distributed]'") from None
    import os
    cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=":0")
    return Client(cluster)


def _workers(client):
    return len(client.scheduler_info().get("workers", {}))


def _is_dask(a):
    return type(a).__module__.startswith("dask.")


def _rows(fn, name, a):
    if not (isinstance(a, np.ndarray) or _is_dask(a)) or a.ndim == 0:
        raise TypeError(f"srcad.dask.value_and_grad: the data '{name}' of {fn.__qualname__} "
                        f"must be an array with rows (numpy or dask), not {type(a).__name__}")
    if not _is_dask(a):
        valuetypes.of_value(a)  # (a dtype srcad takes)
    return a.shape[0]


def _dask_blocks(client, fn, arrays):
    """Per row chunk, the futures of each dask array's block (persisted on the cluster); numpy
    data beside them are cut into the same row chunks."""
    import dask.array as da
    arrays = {n: a if _is_dask(a) else da.from_array(a) for n, a in arrays.items()}
    rows = {n: a.chunks[0] for n, a in arrays.items()}
    first = next(iter(rows.values()))
    arrays = {n: (a if a.chunks[0] == first else a.rechunk({0: first}))
              .rechunk({k: -1 for k in range(1, a.ndim)}) for n, a in arrays.items()}
    futures = {n: client.compute(list(a.to_delayed().ravel())) for n, a in arrays.items()}
    return [[futures[n][j] for n in arrays] for j in range(len(first))]


def _lost(exc):
    """Is `exc` the cluster's (a worker or its data lost), not the function's?"""
    module = type(exc).__module__
    return module.startswith(("distributed", "concurrent", "asyncio")) or \
        type(exc).__name__ in ("KilledWorker", "CancelledError", "FutureCancelledError")
