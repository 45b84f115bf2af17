"""The public API: grad, value_and_grad, vjp, source, explain, gradcheck.

A gradient object specialises on the types of its arguments at each call (scalar or array,
rank, float or int), as Numba's dispatcher does: the first call with a new signature runs
the pipeline, compiles the generated code with numba.njit and caches it. Mode choice
(`mode="auto"`): the source transform compiled with Numba; if Numba cannot compile the
generated code, the same code as plain Python; if the source cannot be transformed, the
runtime tape, with a FallbackWarning naming the construct and its file:line.
"""

import functools
import inspect
import warnings

import numpy as np

from . import check, diskcache, frontend, pipeline, typeinfer
from .errors import FallbackWarning, UnsupportedError

MODES = ("auto", "source", "tape")
# compiled specialisations shared by every gradient object of the same function in the process:
# (function, its code, wrt, kind, mode, jit, fastmath, cache, argument types) -> _Specialization
_COMPILED = {}


class _Stale(Exception):
    """Something the generated gradient captured (a helper, a global's type) has changed."""


class _Specialization:
    """One compiled (or tape) gradient for one signature. `call` is the kernel: the numba
    dispatcher, the generated Python function, or the tape runner."""

    def __init__(self, mode, call, generated=None, reason=None):
        self.mode, self.call, self.generated, self.reason = mode, call, generated, reason

    def hidden_values(self):
        """The current values of the data the gradient reads from globals, closures and
        modules (passed as arguments after the function's own); raises _Stale when a captured
        object was rebound or a value's type changed since the gradient was generated."""
        g = self.generated
        try:
            if any(ref.read() is not obj for ref, obj in g.checks):
                raise _Stale
            values = tuple(_scalar_if_0d(ref.read()) for ref in g.hidden_refs)
        except (KeyError, AttributeError, ValueError, IndexError):
            raise _Stale from None
        if tuple(typeinfer.of_value(v) for v in values) != g.hidden_types:
            raise _Stale
        return values

    def run(self, args, cotangent):
        if self.mode == "tape":
            return self.call(*args, cotangent=cotangent)
        extra = self.hidden_values()
        if self.mode == "source+python":  # NumPy's floating-point semantics, as compiled
            args = tuple(np.float64(a) if type(a) is float else a for a in args)
            cotangent = np.float64(1.0 if cotangent is None else cotangent) \
                if not isinstance(cotangent, np.ndarray) else cotangent
        if cotangent is None:
            return self.call(*args, *extra)
        return self.call(*args, *extra, cotangent)


class Gradient:
    """The gradient (or value-and-gradient) of a function; call it like the function."""

    __srcad_gradient__ = True

    def __init__(self, fn, wrt, kind, mode="auto", jit=True, cache=False, fastmath=False):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if getattr(fn, "__srcad_gradient__", False):
            raise UnsupportedError(
                f"srcad.{kind} of {fn!r}: differentiating a srcad gradient again (a higher-order "
                "derivative) is not supported yet")
        if not callable(fn):
            raise TypeError(f"srcad.{kind} needs a function, not {type(fn).__name__}")
        self.fn = _as_function(frontend.unwrap(fn), kind)
        self.signature = inspect.signature(self.fn)
        self.params = list(self.signature.parameters)
        self.wrt_names, self.single = _normalize_wrt(wrt, self.params, self.fn)
        for name in self.wrt_names:
            if self.signature.parameters[name].kind in (inspect.Parameter.VAR_POSITIONAL,
                                                        inspect.Parameter.VAR_KEYWORD):
                raise TypeError(
                    f"wrt={wrt!r} names *{name} of {self.fn.__qualname__}, which collects "
                    "arguments: srcad differentiates named parameters (a decorator's "
                    "wrapper(*args, **kwargs) hides the function's own: use functools.wraps "
                    "and name them)")
        self.wrt_index = tuple(self.params.index(n) for n in self.wrt_names)
        self.kind, self.mode, self.jit = kind, mode, jit
        self.cache, self.fastmath = cache, fastmath
        self._last = None
        self._warned = False
        functools.update_wrapper(self, self.fn)

    def __repr__(self):
        return f"<srcad.{self.kind} of {self.fn.__qualname__} wrt {', '.join(self.wrt_names)}>"

    # -- calling ----------------------------------------------------------------------------
    def bind(self, args, kwargs):
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(_scalar_if_0d(bound.arguments[p]) for p in self.params)

    def arg_types(self, args):
        types = []
        for name, value in zip(self.params, args, strict=True):
            if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
                raise TypeError(f"{self.fn.__qualname__}: argument '{name}' is a "
                                f"{type(value).__module__}.{type(value).__name__}, whose "
                                "operators differ from numpy.ndarray's; pass np.asarray(...) "
                                "(for a masked array, decide what its masked entries are)")
            ty = typeinfer.of_value(value)
            if name in self.wrt_names:
                _check_differentiable(self.fn, name, value, ty)
            types.append(ty)
        return tuple(types)

    def specialization(self, args):
        types = self.arg_types(args)
        key = (self.fn, self.fn.__code__, self.wrt_names, self.kind == "vjp", self.mode,
               self.jit, self.fastmath, self.cache, types, tuple(_dtype_of(a) for a in args))
        spec = _COMPILED.get(key)
        if spec is None or spec.generated is not None and not _valid(spec):
            spec = _COMPILED[key] = self._specialize(args, types)
        if spec.mode == "tape" and self.mode == "auto" and not self._warned:
            self._warned = True
            warnings.warn(f"srcad: using the runtime tape for {self.fn.__qualname__}: "
                          f"{spec.reason}", FallbackWarning, stacklevel=4)
        self._last = spec
        return spec

    def _specialize(self, args, types):
        if self.mode == "tape":
            return self._tape_spec("mode='tape' was requested")
        try:
            folder = diskcache.folder() if self.cache else None  # (warns here, not in a thread)
            generated = pipeline.transform(self.fn, self.wrt_names, types, folder)
        except UnsupportedError as exc:
            if self.mode == "source":
                raise
            return self._tape_spec(str(exc))
        if self.kind != "vjp" and generated.output_type.ndim > 0:
            raise TypeError(f"{self.fn.__qualname__} returns an array "
                            f"({generated.output_type}); grad needs a scalar output: use "
                            "srcad.vjp for the vector-Jacobian product of a non-scalar output")
        if not self.jit:
            return _Specialization("source+python", generated.gradient, generated)
        from . import codegen
        compiled = codegen.jit(generated.jittable, cache=generated.path is not None,
                               fastmath=self.fastmath)
        return _Specialization("source+numba", compiled, generated)

    def _tape_spec(self, reason):
        from .tape import run as tape_run
        indices = self.wrt_index

        def call(*args, cotangent=None):
            if cotangent is None:
                value, grads = tape_run.value_and_grad(self.fn, args, indices)
                return (value, *grads)
            value, pullback = tape_run.vjp(self.fn, args, indices)
            return (value, *pullback(cotangent))
        return _Specialization("tape", call, reason=reason)

    def evaluate(self, args, cotangent=None):
        """(value, grads tuple) for bound positional `args`."""
        _refuse_tape_tensors(self, args)
        spec = self.specialization(args)
        try:
            out = spec.run(args, cotangent)
        except _Stale:
            _COMPILED.clear()  # (rare: a helper or global was rebound) regenerate
            return self.evaluate(args, cotangent)
        except Exception as exc:
            if spec.mode != "source+numba" or not _is_numba_error(exc):
                raise
            warnings.warn(f"srcad: numba could not compile the gradient of "
                          f"{self.fn.__qualname__}; running the generated Python instead "
                          f"({str(exc).splitlines()[0]})", FallbackWarning, stacklevel=3)
            spec.mode, spec.call = "source+python", spec.generated.gradient
            spec.reason = str(exc)
            return self.evaluate(args, cotangent)
        value, grads = out[0], tuple(_plain(out[k + 1], args[i])
                                     for k, i in enumerate(self.wrt_index))
        return _plain(value), grads

    def __call__(self, *args, **kwargs):
        value, grads = self.evaluate(self.bind(args, kwargs))
        result = grads[0] if self.single else grads
        return (value, result) if self.kind == "value_and_grad" else result


def _as_function(fn, kind):
    """`fn` itself for a Python function; for a library function with a derivative rule
    (`np.sin`, `math.log`), a Python function calling it, so it is differentiated like one."""
    if hasattr(fn, "__code__"):
        return fn
    from . import rules
    rule = rules.lookup(fn)
    name = getattr(fn, "__name__", None)
    if rule is None or rule.nondiff or rule.piece is not None or not str(name).isidentifier():
        raise UnsupportedError(f"srcad.{kind} of {fn!r}: it is not a Python function, so srcad "
                               "cannot read its source (and has no derivative rule for it)")
    params = ", ".join(p if p not in rule.defaults else f"{p}={rule.defaults[p]!r}"
                       for p in rule.params)
    call = ", ".join(rule.params)
    return codegen_wrapper(name, f"def {name}({params}):\n    return _fn({call})\n",
                           {"_fn": fn})


def codegen_wrapper(name, text, namespace):
    """A function defined by `text`, whose source `inspect` and srcad's frontend can read."""
    import linecache
    filename = f"<srcad wrapper of {name}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    exec(compile(text, filename, "exec"), namespace)
    return namespace[name]


def _valid(spec):
    try:
        spec.hidden_values()
        return True
    except _Stale:
        return False


def _scalar_if_0d(value):
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _dtype_of(value):
    return value.dtype.str if isinstance(value, (np.ndarray, np.generic)) else type(value)


def _check_differentiable(fn, name, value, ty):
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind in "fc" and dtype not in (np.float64, np.float32):
        raise TypeError(f"cannot differentiate {fn.__qualname__} with respect to '{name}': "
                        f"its dtype is {dtype}; srcad differentiates float64 and float32 "
                        "(convert with .astype(np.float64))")
    if ty.kind != "f":
        raise TypeError(
            f"cannot differentiate {fn.__qualname__} with respect to '{name}': it is "
            f"{_describe(value)}; srcad differentiates float arguments (Python floats or float "
            "arrays), and passes integers, booleans and index arrays through")


def _refuse_tape_tensors(g, args):
    from .tape.tensor import Tensor
    if any(isinstance(a, Tensor) for a in args):
        raise UnsupportedError(f"{g!r} was called on tape tensors: differentiating a srcad "
                               "gradient again (a higher-order derivative) is not supported yet")


def _is_numba_error(exc):
    import numba.core.errors as nerr
    return isinstance(exc, nerr.NumbaError) or \
        isinstance(exc, NotImplementedError) and "lowering" in str(exc)  # (numba's, unwrapped)


def _plain(value, like=None):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return float(value)
    if isinstance(value, (np.floating, np.integer)):
        return float(value)
    if like is not None and isinstance(like, np.ndarray) and not isinstance(value, np.ndarray):
        return np.full(like.shape, value)
    return value


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype}"
    return f"a value of type {type(value).__name__}"


def _normalize_wrt(wrt, params, fn):
    single = not isinstance(wrt, (tuple, list))
    items = [wrt] if single else list(wrt)
    names = []
    for w in items:
        if isinstance(w, bool) or not isinstance(w, (int, str)):
            raise TypeError(f"wrt must be an int, a parameter name or a tuple of them, not {w!r}")
        if isinstance(w, int):
            if not -len(params) <= w < len(params):
                raise ValueError(f"wrt={w}: {fn.__qualname__} has {len(params)} parameters")
            names.append(params[w])
        else:
            if w not in params:
                raise ValueError(f"wrt={w!r}: {fn.__qualname__} has no parameter named {w!r} "
                                 f"(its parameters: {', '.join(params)})")
            names.append(w)
    if len(set(names)) != len(names):
        raise ValueError(f"wrt names a parameter twice: {wrt!r}")
    return tuple(names), single


# ---- public functions -----------------------------------------------------------------------

def grad(fn=None, wrt=0, *, mode="auto", jit=True, cache=False, fastmath=False):
    """The gradient of scalar-valued `fn` w.r.t. argument(s) `wrt`.

    Args:
        fn: a Python function (or a numba dispatcher) returning a scalar. `@srcad.grad` and
            `@srcad.grad(wrt=...)` work as decorators.
        wrt: an argument index, a parameter name, or a tuple of them (then a tuple of
            gradients is returned).
        mode: "auto" (source transform, falling back to the tape with a FallbackWarning),
            "source" (never falls back) or "tape".
        jit: compile the generated gradient with numba.njit; False runs it as Python.
        cache: keep the generated code and numba's machine code on disk between processes
            ($SRCAD_CACHE_DIR; README.md says what the cache trusts and checks).
        fastmath: passed to numba.njit (off by default: it may reorder floating point).
    Returns:
        A callable with fn's signature returning the gradient: a float for a float argument,
        an array of the argument's shape for an array.
    Raises (when called):
        TypeError: a differentiated argument is not a float / float array, or fn's output is
            not a scalar (use vjp).
        UnsupportedError: with mode="source", a construct srcad cannot transform.
    """
    if fn is None:
        return lambda f: grad(f, wrt, mode=mode, jit=jit, cache=cache, fastmath=fastmath)
    return Gradient(fn, wrt, "grad", mode, jit, cache, fastmath)


def value_and_grad(fn=None, wrt=0, *, mode="auto", jit=True, cache=False, fastmath=False):
    """Like grad, but the callable returns `(value, gradient)`."""
    if fn is None:
        return lambda f: value_and_grad(f, wrt, mode=mode, jit=jit, cache=cache,
                                        fastmath=fastmath)
    return Gradient(fn, wrt, "value_and_grad", mode, jit, cache, fastmath)


def vjp(fn, *args, wrt=0, mode="auto", jit=True, cache=False, fastmath=False):
    """Value of `fn(*args)` and its pullback: `pullback(cotangent)` -> gradients.

    The cotangent has the shape of the output; the pullback returns one gradient per `wrt`
    entry (a tuple when `wrt` is a tuple).
    """
    g = Gradient(fn, wrt, "vjp", mode, jit, cache, fastmath)
    bound = g.bind(args, {})
    spec = g.specialization(bound)
    if spec.mode == "tape":
        from .tape import run as tape_run
        indices = tuple(g.params.index(n) for n in g.wrt_names)
        value, tape_pullback = tape_run.vjp(g.fn, bound, indices)

        def pullback(cotangent):
            grads = tape_pullback(cotangent)
            return grads[0] if g.single else tuple(grads)
        return value, pullback
    value, _ = g.evaluate(bound, cotangent=0.0)

    def pullback(cotangent):
        cotangent = np.asarray(cotangent, dtype=np.float64)
        if np.shape(value) != cotangent.shape:
            raise ValueError(f"the cotangent has shape {cotangent.shape}; the output of "
                             f"{g.fn.__qualname__} has shape {np.shape(value)}")
        ct = float(cotangent) if cotangent.ndim == 0 else cotangent
        _, grads = g.evaluate(bound, cotangent=ct)
        return grads[0] if g.single else grads
    return value, pullback


def source(g, *args, **kwargs):
    """The generated Python source of gradient `g` (for `args`' types when given; else for the
    last call's; else assuming every parameter is a float scalar)."""
    if not isinstance(g, Gradient):
        g = Gradient(g, 0, "grad")
    if args or kwargs:
        spec = g.specialization(g.bind(args, kwargs))
    elif g._last is not None:
        spec = g._last
    else:
        generated = pipeline.transform(g.fn, g.wrt_names, tuple(typeinfer.FLOAT
                                                                for _ in g.params))
        return generated.source
    if spec.generated is None:
        return f"# {g.fn.__qualname__} runs on the runtime tape: {spec.reason}\n"
    return spec.generated.source


def explain(fn, *args, wrt=0, **kwargs):
    """Say which mode srcad uses for `fn` (with `args`' types, or float scalars) and why."""
    g = fn if isinstance(fn, Gradient) else Gradient(fn, wrt, "grad")
    if args or kwargs:
        types = g.arg_types(g.bind(args, kwargs))
        assumed = ""
    else:
        types = tuple(typeinfer.FLOAT for _ in g.params)
        assumed = " (assuming float arguments: pass example arguments for arrays)"
    name = g.fn.__qualname__
    if g.mode == "tape":
        text = f"{name}: tape (mode='tape' was requested)"
    else:
        try:
            generated = pipeline.transform(g.fn, g.wrt_names, types)
        except UnsupportedError as exc:
            text = f"{name}: tape{assumed}, because the source cannot be transformed: {exc}"
        else:
            signature = ", ".join(f"{p}: {t}" for p, t in zip(g.params, types, strict=True))
            if g.kind != "vjp" and generated.output_type.ndim > 0:
                text = (f"{name}: refused: it returns an array ({generated.output_type}); "
                        "grad needs a scalar output (srcad.vjp takes array outputs)")
            else:
                how = "source+numba" if g.jit else "source+python (jit=False)"
                where = f"in {generated.path}" if generated.path is not None else \
                    "in memory (srcad.source prints it)"
                text = f"{name}: {how}; gradient generated {where}"
            text += f"\n  signature: ({signature}){assumed}"
    print(text)
    return text


def gradcheck(fn, args, wrt=0, *, mode="auto", jit=True, eps=1e-6, rtol=1e-5, atol=1e-7):
    """Check srcad's gradient of `fn` at `args` against central finite differences.

    Returns True, or raises AssertionError describing the worst mismatch.
    """
    g = Gradient(fn, wrt, "grad", mode, jit)
    bound = g.bind(tuple(args), {})
    _, grads = g.evaluate(bound)
    indices = [g.params.index(n) for n in g.wrt_names]
    return check.compare(g.fn, bound, indices, grads, eps=eps, rtol=rtol, atol=atol)
