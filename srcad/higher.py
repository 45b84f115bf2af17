"""Second and higher derivatives, and Jacobians, composed from the two transforms.

The forward transform can emit a function's tangent alone as plain Python (pipeline kind
"tangent"): `f_jvp(<f's flat arguments>, <the data f reads>, <tangents>)`, whose source srcad
reads like a user's. Everything here differentiates that function again:

    hvp(f)(x, v)        the gradient of <grad f(x), v> = f_jvp(x, v): reverse over forward
    hessian(f)(x)       hvp along every basis vector at once (a block: transforms/batching.py),
                        or along each in turn where the code has no block form
    grad(grad(f))(x)    for a scalar x, f'(x) = f_jvp(x, 1.0), differentiated in reverse;
                        one level deeper, f_jvp of f_jvp (forward over forward), and so on
    jacobian(F)(x)      jvp along the basis vectors (forward) or vjp of the output's (reverse),
                        each as a block as hessian's where it can
"""

import inspect
import itertools
import types
import warnings

import numpy as np

from . import api
from .compiler import frontend, outputs, pytrees, valuetypes
from .errors import FallbackWarning, ShapeAssumptionFailed, UnsupportedError, UserCodeError, \
    warn_fallback


# (f, wrt, the call's types) -> the _Specialization holding f's generated tangent function,
# for the process: a new hvp or hessian of f finds it, and with it the compiled gradient of
# that function (api caches gradients by function)
_TANGENTS = {}


class _TangentCode:
    """The generated tangent function of `fn` w.r.t. `wrt`, one per call signature."""

    def __init__(self, fn, wrt, jit):
        self.g = api.Gradient(fn, wrt, "jvp", "auto", jit)  # (mode: what it says of a partial)
        if self.g.no_source is not None:
            raise UnsupportedError(f"{self.g.no_source}; second derivatives run the source "
                                   "transform only (pass a Python function)")

    def prepare(self, bound, tangents):
        """(the specialization holding the tangent function, its arguments, the flat
        arguments' labels) for `bound` (one value per parameter of f) and the tangents of the
        arguments differentiated (one each, None for zero)."""
        g = self.g
        g.refresh()
        flat, structures, labels = g.layout(bound)
        types = g.arg_types(flat, labels)
        flat_tangents = api.flat_tangents_of(g, tangents, flat, structures, labels)
        key = (g.fn, g.wrt_names, types, tuple(api._dtype_of(a) for a in flat),
               tuple(structures.items()))
        spec = _TANGENTS.get(key)
        if spec is None or spec.code is not g.fn.__code__ or not api._valid(spec):
            from . import pipeline
            try:
                generated = pipeline.transform(g.fn, g.wrt_names, types, None, structures,
                                               kind="tangent",
                                               numpy_scalars=api.numpy_scalars(flat))
            except UnsupportedError as exc:
                raise UnsupportedError(f"the derivative of {g.fn.__qualname__} along "
                                       f"'{g.wrt_names[0]}' cannot be generated: {exc}") from None
            if generated.output_type is not None and generated.output_type.ndim:
                raise TypeError(f"{g.fn.__qualname__} returns an array "
                                f"({generated.output_type}): hvp, hessian and grad of grad take "
                                "a function with a scalar output (srcad.jacobian takes others)")
            spec = _TANGENTS[key] = api._Specialization("source", None, generated)
            spec.code = g.fn.__code__
        extra = spec.hidden_values() if spec.generated.hidden_refs else ()
        return spec, (*flat, *extra, *flat_tangents), labels

    def second(self, bound, tangents, kind, wrt, jit, made):
        """(kind ("grad" / "value_and_grad") of the tangent function w.r.t. its parameters at
        positions `wrt` (None: the leaves of the arguments differentiated), its arguments at
        `bound`, the tangent function's specialization); `made` keeps the gradient objects."""
        spec, call_args, labels = self.prepare(bound, tangents)
        api._refuse_0d_writes(spec, self.g.given_0d)
        if spec.transformable is None:
            from . import reuse
            spec.transformable = reuse.transformable(spec.generated)
        function = spec.transformable
        function.__srcad_user_fn__ = getattr(self.g.fn, "__srcad_user_fn__", self.g.fn)
        outer = made.get((function, wrt))
        if outer is None:
            positions = wrt if wrt is not None else tuple(
                k for k, label in enumerate(labels) if label.partition("[")[0] in
                self.g.wrt_names)
            outer = made[(function, wrt)] = api.Gradient(function, positions, kind, "source",
                                                        jit)
        return outer, call_args, spec


class Hvp:
    """`hvp(f, wrt)(*args, v)`: the Hessian of scalar `f` w.r.t. argument `wrt` times `v`."""

    __srcad_gradient__ = True

    def __init__(self, fn, wrt=0, jit=True, kind="hvp"):
        self.code = _TangentCode(fn, wrt, jit)
        if len(self.code.g.wrt_names) != 1:
            raise TypeError(f"srcad.{kind} differentiates with respect to one argument "
                            "(wrt=...)")
        self.jit = jit
        self._made = {}
        self._by_types = {}  # api._call_key of a call -> (the tangent's spec, outer gradient)
        self._warned = False
        self.__qualname__ = f"hvp({self.code.g.fn.__qualname__})"

    def __repr__(self):
        return f"<srcad.hvp of {self.code.g.fn.__qualname__} wrt {self.code.g.wrt_names[0]}>"

    def split(self, args, kwargs):
        """(f's arguments bound, v) of a call."""
        if not args:
            raise TypeError(f"srcad.hvp of {self.code.g.fn.__qualname__} takes f's arguments "
                            "and then v, the direction")
        unknown = sorted(set(kwargs) - set(self.code.g.params))
        if unknown:
            raise TypeError(f"srcad.hvp of {self.code.g.fn.__qualname__}: no parameter "
                            f"{unknown[0]!r}; the direction v comes last, by position: "
                            "hvp(f)(*args, v, **kwargs)")
        *primal, v = args
        try:
            bound = self.code.g.bind(tuple(primal), kwargs)
        except TypeError as exc:
            if _binds(self.code.g.signature, args, kwargs):
                raise TypeError(f"srcad.hvp of {self.code.g.fn.__qualname__} was given f's "
                                "arguments but no direction v: hvp(f)(*args, v)") from None
            raise TypeError(f"srcad.hvp of {self.code.g.fn.__qualname__}: {exc} (it takes f's "
                            "arguments, then v, the direction, last: hvp(f)(*args, v))") from None
        return bound, _unshared(v, primal)

    def outer_gradient(self, bound, v):
        """(the gradient object of the tangent function, its arguments, the tangent function's
        specialization)."""
        return self.code.second(bound, (v,), "grad", None, self.jit, self._made)

    def __call__(self, /, *args, **kwargs):
        key = api._call_key(args) if not kwargs and \
            len(args) == len(self.code.g.params) + 1 else None
        out = self._run_known(self._by_types.get(key), args)
        if out is None:
            out = self.evaluate(*self.split(args, kwargs), remember=key)
        return out

    def _run_known(self, known, args):
        """H v for a call like an earlier one (plain numbers and arrays, no defaults left
        out, no data read from globals): its arguments are the tangent function's own, so the
        outer gradient (and its own fast path) takes them as they are."""
        if known is None:
            return None
        spec, outer = known  # (the call's key holds that v has x's shape: `evaluate`)
        g = self.code.g
        if not g._settled():
            g.refresh()
        if spec.code is not g.fn.__code__ or not api._valid(spec):
            return None
        if spec.generated.written:
            args = (*args[:-1], _unshared(args[-1], args[:-1]))
        return outer(*args)[0]

    def evaluate(self, bound, v, remember=None):
        try:
            outer, call_args, spec = self.outer_gradient(bound, v)
        except UnsupportedError as exc:
            return self.on_tape(bound, v, exc)
        _refuse_reruns(spec, self.__qualname__, columns=False)
        try:
            hv = _restructure(outer(*call_args), bound[self.code.g.wrt_index[0]])
        except UnsupportedError as exc:  # (the outer gradient is built at its first call)
            return self.on_tape(bound, v, exc, or_refuse=True)
        if remember is not None and not spec.generated.hidden_refs and \
                len(call_args) == len(bound) + 1 and \
                np.shape(v) == np.shape(bound[self.code.g.wrt_index[0]]) and \
                all(a is b for a, b in zip(call_args, (*bound, v), strict=True)):
            self._by_types[remember] = (spec, outer)
        return hv

    def on_tape(self, bound, v, exc, or_refuse=False):
        """H v from the runtime tape (the gradient recorded, then differentiated) where the
        source transform refuses f's code (`exc`), with a FallbackWarning saying why, once;
        `or_refuse`: raise `exc` where the tape fails too other than by a refusal of its own (a
        refusal found at the outer gradient's first call: srcad's own kernels, which the
        tape does not run on tensors)."""
        g = self.code.g
        from .tape import run as tape_run
        try:
            hv = tape_run.hvp(getattr(g.fn, "__srcad_calls__", g.fn), bound, g.wrt_index[0], v)
        except UnsupportedError:
            raise
        except Exception:
            if or_refuse:
                raise exc from None
            self._warn_fallback(exc)  # (why the tape ran, before why it failed)
            raise
        self._warn_fallback(exc)
        return hv

    def _warn_fallback(self, exc):
        if not self._warned:
            self._warned = True
            warn_fallback(f"srcad: using the runtime tape for the hvp of "
                          f"{self.code.g.fn.__qualname__}: {exc}")

    def source(self, /, *args, **kwargs):
        """The generated code of the Hessian-vector product for these arguments (float
        scalars when none are given)."""
        given = bool(args or kwargs)
        args = _or_floats(args, kwargs, len(self.code.g.params) + 1)
        try:
            outer, call_args, _ = self.outer_gradient(*self.split(args, kwargs))
        except UnsupportedError as exc:
            if not given:  # (the floats assumed do not fit: no call would run on the tape)
                raise
            return f"# {self.__qualname__} runs on the runtime tape: {exc}\n"
        return api.source(outer, *call_args)


def _binds(signature, args, kwargs):
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def _or_floats(args, kwargs, count):
    """The arguments of a `source()` call, or float scalars for all `count` when none are given
    (as for a gradient)."""
    return args if args or kwargs else (1.0,) * count


def _unshared(v, arrays):
    """The direction `v`, copied if it may share memory with one of `arrays` (the function
    may write into its argument: `hvp(f)(x, x)` takes v as the x it was called with)."""
    if isinstance(v, np.ndarray) and any(isinstance(a, np.ndarray) and
                                         np.may_share_memory(a, v) for a in arrays):
        return v.copy()
    return v


def _restructure(grads, like):
    """The gradient of one argument `like` from the flat leaf gradients `grads`."""
    grads = grads if isinstance(grads, tuple) else (grads,)
    if pytrees.is_structured(like):
        return pytrees.flatten(like)[1].unflatten(iter(grads))
    return grads[0]


def _leaf_count(value):
    return len(pytrees.flatten(value)[0]) if pytrees.is_structured(value) else 1


def _basis(x):
    """The unit vectors of x's shape (the scalar 1.0 for a scalar x)."""
    if np.ndim(x) == 0:
        yield 1.0
        return
    for k in range(np.size(x)):
        e = np.zeros(np.size(x), dtype=x.dtype)
        e[k] = 1.0
        yield e.reshape(np.shape(x))


def _compiled_columns(kernel, before, after, x, rows):
    """The (rows, x.size) matrix whose column k is `kernel(*before, e_k, *after)[1]` raveled,
    for e_k the unit vectors of x's shape and dtype, in one compiled loop (a call from Python
    per column cost a call's overhead per column)."""
    loop = _COLUMN_LOOPS.get((len(before), len(after)))
    if loop is None:
        loop = _COLUMN_LOOPS[(len(before), len(after))] = _column_loop(len(before), len(after))
    return loop(kernel, x.shape, rows, np.zeros(x.size, x.dtype), *before, *after)


_COLUMN_LOOPS = {}  # (arguments before the unit vector, after it) -> the compiled loop


def _column_loop(n_before, n_after):
    import numba
    before = [f"a{i}" for i in range(n_before)]
    after = [f"b{i}" for i in range(n_after)]
    call = ", ".join([*before, "e.reshape(shape)", *after])
    text = (f"def columns(kernel, shape, rows, e, {', '.join(before + after)}):\n"
            "    out = np.empty((rows, e.size), e.dtype)\n"
            "    for k in range(e.size):\n"
            "        e[k] = 1.0\n"
            f"        out[:, k] = np.ravel(kernel({call})[1])\n"
            "        e[k] = 0.0\n"
            "    return out\n")
    namespace = {"np": np}
    exec(compile(text, "<srcad column loop>", "exec"), namespace)  # noqa: S102
    return numba.njit(namespace["columns"])


def _by_position(fn, signature):
    """`fn` taking every parameter of `signature` by position (srcad.jvp passes the primals
    by position; a Jacobian binds every argument, keyword-only ones too)."""
    names = list(signature.parameters)
    call = ", ".join(p.name if p.kind != p.KEYWORD_ONLY else f"{p.name}={p.name}"
                     for p in signature.parameters.values())
    name = fn.__name__ if fn.__name__.isidentifier() else "function"
    function = api.codegen_wrapper(name, f"def {name}({', '.join(names)}):\n"
                                   f"    return _srcad_func({call})\n", {"_srcad_func": fn})
    function.__qualname__ = fn.__qualname__
    return function


def _refuse_reruns(spec, what, columns=True):
    """A Jacobian or Hessian runs the function once per column: one that writes into an array
    it reads from outside would see, in each, what the last wrote (an hvp's write would not
    reach the array), one that draws random numbers (prints, changes an object) would draw
    others in each."""
    g = spec.generated if spec is not None else None
    if g is not None and g.writes_data:
        raise UnsupportedError(
            f"{what}: {g.fn.__qualname__} writes into an array it reads from outside (a "
            "global's, a closure's): the columns of a Jacobian or Hessian are runs of it, each "
            "would see what the one before wrote, and an hvp's would not reach it (srcad.grad "
            "and srcad.jvp run it once; or pass the array as an argument)")
    if g is not None and g.effects and columns:
        raise UnsupportedError(
            f"{what}: {g.fn.__qualname__} {g.effects}: the columns of a Jacobian or Hessian are "
            "runs of it, each would do it again (draw other random numbers); draw them outside "
            "and pass them as an argument")


def _float_argument(x, what):
    if not (isinstance(x, (float, np.floating)) or
            isinstance(x, np.ndarray) and x.dtype.kind == "f"):
        raise TypeError(f"srcad.{what} differentiates with respect to a float or a float "
                        f"array, not {api._describe(x)}")


class Hessian:
    """`hessian(f, wrt)(*args)`: shape `x.shape + x.shape`, the hvp along every entry of x."""

    __srcad_gradient__ = True

    def __init__(self, fn, wrt=0, jit=True):
        self.product = Hvp(fn, wrt, jit, kind="hessian")
        self.__qualname__ = f"hessian({self.product.code.g.fn.__qualname__})"

    def __repr__(self):
        return repr(self.product).replace("hvp", "hessian", 1)

    def _on_tape(self, bound, x, exc, or_refuse=False):
        """The Hessian from the runtime tape, a column at a time (`or_refuse`: as Hvp.on_tape's,
        decided by the first column)."""
        columns = [np.ravel(self.product.on_tape(bound, u, exc, or_refuse and k == 0))
                   for k, u in enumerate(_basis(x))]
        return np.stack(columns, axis=1).reshape(x.shape + x.shape)

    def __call__(self, /, *args, **kwargs):
        bound = self.product.code.g.bind(args, kwargs)
        x = bound[self.product.code.g.wrt_index[0]]
        _float_argument(x, "hessian")
        if np.ndim(x) == 0:  # (of x's type: a float, a NumPy scalar or a 0-d array)
            return api._plain(np.ravel(self.product(*args, 1.0, **kwargs))[0], x)
        if x.size == 0:  # (no column to compute: f runs once, raising what it raises there)
            self.product(*args, np.zeros_like(x), **kwargs)
        basis = _basis(x)
        columns = []
        for e in itertools.islice(basis, 1):
            try:
                outer, call_args, spec = self.product.outer_gradient(bound, e)
            except UnsupportedError as exc:
                return self._on_tape(bound, x, exc)
            _refuse_reruns(spec, self.__qualname__)
            try:
                column = outer(*call_args)
            except UnsupportedError as exc:  # (the outer gradient is built at its first call)
                return self._on_tape(bound, x, exc, or_refuse=True)
            columns.append(np.ravel(_restructure(column, x)))
        direct = outer._last.direct() if columns and outer._last is not None and \
            api._call_key(call_args) is not None else None  # (a tuple read from a global: no)
        if direct is not None:  # (its kernel takes f's flat arguments, its data, v, its data)
            kernel, hidden = direct
            # (the block of directions v is the unit vectors: the columns in one run)
            out = _run_as_block(outer._last.generated, "grad", call_args,
                                (*call_args[:-1], _unit_vectors(x), *hidden), along_last=True)
            flat = _block_rows(out[1], (x.size,) + x.shape).T if out is not None else \
                _compiled_columns(kernel, call_args[:-1], hidden, x, x.size)
        else:
            columns += [np.ravel(self.product(*args, e, **kwargs)) for e in basis]
            flat = np.stack(columns, axis=1) if columns else np.zeros((0, 0), x.dtype)
        return flat.reshape(x.shape + x.shape)

    def source(self, /, *args, **kwargs):
        """The code a call with these arguments runs: the Hessian-vector product for a block of
        every unit vector (or the product, run once per column)."""
        given = bool(args or kwargs)
        args = _or_floats(args, kwargs, len(self.product.code.g.params))
        bound = self.product.code.g.bind(args, kwargs)
        x = bound[self.product.code.g.wrt_index[0]]
        try:
            outer, call_args, _ = self.product.outer_gradient(bound, next(_basis(x)))
        except UnsupportedError as exc:
            if not given:  # (the floats assumed do not fit: no call would run on the tape)
                raise
            return f"# {self.__qualname__} runs on the runtime tape: {exc}\n"
        what = ("the Hessian-vector product along every unit vector of x (a leading axis of the "
                "directions)"), "the Hessian-vector product, run once per entry of x"
        outer(*call_args)
        spec = outer._last
        if not np.ndim(x) or spec is None or spec.generated is None or \
                spec.direct() is None or api._call_key(call_args) is None:
            return f"# {what[1]}\n{api.source(outer, *call_args)}"
        return _block_source(spec.generated, "grad", call_args, True, what)


class Nested:
    """grad (or value_and_grad) of a derivative object `inner` = grad(f, wrt=i) of a scalar
    argument i, or of another Nested: inner's value is the tangent of its function along
    argument i with tangent 1.0, generated as Python and differentiated in reverse."""

    __srcad_gradient__ = True
    signature = api.Gradient.signature  # (its function's, with its current defaults)

    def __init__(self, inner, wrt, kind, mode="auto", jit=True):
        what = f"srcad.{kind} of {inner!r}"
        if getattr(inner, "kind", None) != "grad" or getattr(inner, "has_aux", False) or \
                not getattr(inner, "single", False):
            raise UnsupportedError(
                f"{what}: a derivative of a derivative is taken of grad(f) with respect to one "
                "argument, without has_aux (for the Hessian of f w.r.t. an array use "
                "srcad.hessian or srcad.hvp)")
        base = inner
        while isinstance(base, Nested):
            base = base.inner
        modes = (mode, getattr(inner, "mode", "auto"))
        self.mode = "tape" if "tape" in modes else "source" if "source" in modes else "auto"
        if base.no_source is not None and self.mode == "source":
            raise UnsupportedError(f"{base.no_source}; mode='source' was requested")
        self.inner, self.base, self.kind, self.jit = inner, base, kind, jit
        self.params, self.fn, self._signature = base.params, base.fn, base._signature
        self.wrt_names, self.single = api._normalize_wrt(wrt, self.params, self.fn)
        self.wrt_index = tuple(self.params.index(n) for n in self.wrt_names)
        self.has_aux = False
        self.__qualname__ = f"{kind}({getattr(inner, '__qualname__', self.fn.__qualname__)})"
        self._codes = {}  # (function, position) -> its _TangentCode
        self._made = {}  # (tangent function, wrt) -> its gradient object
        self._warned = False

    def __repr__(self):
        return f"<srcad.{self.kind} of {self.inner!r} wrt {', '.join(self.wrt_names)}>"

    def scalar_function(self, bound):
        """(a Python function srcad can transform, its arguments at `bound`) whose tangent
        along inner's argument (direction 1) is inner's value."""
        inner = self.inner
        if not isinstance(inner, Nested):
            return inner.fn, tuple(bound)
        function, call_args = inner.scalar_function(bound)
        code = self.tangent_code(function, inner.inner.wrt_index[0])
        spec, call_args, _ = code.prepare(call_args, (1.0,))
        return spec.generated.jittable, call_args

    def tangent_code(self, function, position):
        code = self._codes.get((function, position))
        if code is None:
            code = self._codes[(function, position)] = _TangentCode(function, position,
                                                                    self.jit)
        return code

    def __call__(self, /, *args, **kwargs):
        bound = api.Gradient.bind(self, args, kwargs)
        try:
            outer, call_args, spec = self.outer_gradient(bound)
        except UnsupportedError as exc:
            if self.mode == "source":
                raise
            return self.on_tape(bound, exc)
        api._refuse_0d_writes(spec, self.given_0d)
        out = outer(*call_args)
        value, grads = out if self.kind == "value_and_grad" else (None, out)
        if any(pytrees.is_structured(bound[j]) for j in self.wrt_index):
            grads = iter(grads if isinstance(grads, tuple) else (grads,))
            grads = tuple(_restructure(tuple(itertools.islice(grads, _leaf_count(bound[j]))),
                                       bound[j]) for j in self.wrt_index)
            grads = grads[0] if self.single else grads
        return grads if value is None else (value, grads)

    def on_tape(self, bound, exc):
        """(value and) gradient from the runtime tape, each derivative of the chain recorded as
        it is computed (create_graph), where the source transform refuses f's code (`exc`),
        with a FallbackWarning saying why, once."""
        self.along(bound)
        flat, _, labels = api.Gradient.layout(self, bound)
        for label, value in zip(labels, flat, strict=True):  # (grad's refusals: an int)
            if label.partition("[")[0] in self.wrt_names:
                api._check_differentiable(self.fn, label, value, valuetypes.of_value(value))
        if self.mode == "auto" and not self._warned:
            self._warned = True
            warn_fallback(f"srcad: using the runtime tape for {self.__qualname__}: {exc}")
        chain, node = [], self.inner
        while isinstance(node, Nested):
            chain.append(node.wrt_index[0])
            node = node.inner
        chain.append(node.wrt_index[0])
        from .tape import run as tape_run
        value, grads = tape_run.nested_grad(getattr(self.fn, "__srcad_calls__", self.fn),
                                            bound, chain[::-1], self.wrt_index)
        grads = grads[0] if self.single else grads
        return (value, grads) if self.kind == "value_and_grad" else grads

    def along(self, bound):
        """The position of the scalar argument inner's value is a derivative along, checked to
        be a float in `bound`."""
        inner = self.inner
        position = inner.wrt_index[0]
        if not isinstance(bound[position], (float, np.floating)):
            raise TypeError(
                f"srcad.{self.kind} of {inner!r}: its argument '{inner.wrt_names[0]}' is "
                f"{api._describe(bound[position])}; a derivative of a derivative needs a float "
                "there (for an array, srcad.hessian and srcad.hvp)")
        return position

    def outer_gradient(self, bound):
        """(the gradient object, its arguments, the tangent function's specialization):
        reverse mode of inner's value."""
        if self.mode == "tape":
            raise UnsupportedError("mode='tape' was requested")
        if self.base.no_source is not None:
            raise UnsupportedError(self.base.no_source)
        position = self.along(bound)
        function, call_args = self.scalar_function(bound)
        # (the tangent functions take the leaves of structured arguments, in order, first)
        starts = np.cumsum([0] + [_leaf_count(v) for v in bound])
        wrt = tuple(k for j in self.wrt_index for k in range(starts[j], starts[j + 1]))
        wrt = wrt[0] if self.single and len(wrt) == 1 else wrt
        return self.tangent_code(function, position).second(call_args, (1.0,), self.kind, wrt,
                                                            self.jit, self._made)

    def source(self, /, *args, **kwargs):
        """The generated code of this derivative for these arguments."""
        args = _or_floats(args, kwargs, len(self.params))
        try:
            outer, call_args, _ = self.outer_gradient(api.Gradient.bind(self, args, kwargs))
        except UnsupportedError as exc:
            if self.mode == "source":
                raise
            return f"# {self.__qualname__} runs on the runtime tape: {exc}\n"
        return api.source(outer, *call_args)


class Jacobian:
    """`jacobian(F, wrt, mode)(*args)`: shape `F(x).shape + x.shape`; forward mode runs one jvp
    per entry of x, reverse mode one vjp per entry of the output (each as one run for the block
    of all of them where the code allows)."""

    __srcad_gradient__ = True

    def __init__(self, fn, wrt=0, mode="auto", jit=True):
        if mode not in ("auto", "fwd", "rev"):
            raise ValueError(f"mode must be 'auto', 'fwd' or 'rev', not {mode!r}")
        if frontend.is_derivative(fn):
            raise UnsupportedError(f"srcad.jacobian of {fn!r}: the Jacobian of a srcad "
                                   "derivative is not supported (srcad.hessian is the Jacobian "
                                   "of a gradient)")
        wrapped, reason = api._as_function(frontend.unwrap(fn), "jacobian", "auto")
        # (np.sin: its rule's parameters; an object with a __call__: the object, whose
        # __call__ srcad.jvp and srcad.vjp read again at each call)
        called = isinstance(wrapped, types.MethodType) and wrapped.__self__ is fn and \
            wrapped.__name__ == "__call__"
        self.fn = fn if reason is not None or called else wrapped
        if reason is None and api._forwards_everything(wrapped):
            raise UnsupportedError(
                f"srcad.jacobian of {wrapped.__qualname__}: it is a decorator's wrapper(*args, "
                "**kwargs), and the source transform differentiates named parameters (give the "
                "wrapper the function's parameters, or take the Jacobian of the function itself)")
        self.mode, self.jit = mode, jit
        self._signature = api.Signature(self.fn)
        params = list(self._signature.now().parameters)
        if reason is None and any(p.kind == p.KEYWORD_ONLY
                                  for p in self._signature.now().parameters.values()):
            self.fn = _by_position(self.fn, self._signature.now())
        names, single = api._normalize_wrt(wrt, params, fn)
        if not single:
            raise TypeError("srcad.jacobian differentiates with respect to one argument")
        self.wrt = params.index(names[0])
        self.__qualname__ = f"jacobian({getattr(fn, '__qualname__', repr(fn))})"

    def bind(self, args, kwargs):
        bound = self._signature.now().bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(bound.arguments.values())

    def plan(self, args):
        """(whether forward mode runs, x, the tangents of a jvp along x, the value or None) for
        the bound arguments."""
        x = args[self.wrt]
        _float_argument(x, "jacobian")
        tangents = [None] * len(args)
        tangents[self.wrt] = np.zeros_like(x) if np.ndim(x) else 0.0
        if self.mode == "rev":
            return False, x, tangents, None
        try:  # (in "auto", rows where the source cannot: on the tape a column costs a vjp and
            # its derivative, a row one vjp)
            with warnings.catch_warnings():  # (said by reverse mode, where it runs on the tape)
                if self.mode == "auto":
                    warnings.simplefilter("ignore", FallbackWarning)
                planned = api.jvp_planned(self.fn, args, tangents, self.jit)
            _refuse_reruns(planned, self.__qualname__)
            if self.mode == "auto" and planned.mode == "tape":
                return False, x, tangents, None  # (reverse mode may compile: a custom vjp)
            value, _ = api.jvp(self.fn, args, tangents, jit=self.jit)
            forward = self.mode == "fwd" or np.size(x) <= np.size(value) and \
                not api.jvp_on_tape(self.fn, args, tangents, self.jit)
        except UserCodeError as exc:
            raise UserCodeError(str(exc).replace(outputs.RETURNS["jvp"],
                                                 outputs.RETURNS["jacobian"])) from None
        except TypeError:  # (the tape's jvp, through an op it cannot differentiate twice)
            if self.mode == "fwd" or not api.jvp_on_tape(self.fn, args, tangents, self.jit):
                raise
            forward, value = False, None
        except UnsupportedError:  # (reverse mode has the tape: recursion, a partial)
            if self.mode == "fwd":
                raise
            forward, value = False, None
        return forward, x, tangents, value

    def __call__(self, /, *args, **kwargs):
        args = self.bind(args, kwargs)
        forward, x, tangents, value = self.plan(args)
        if forward:
            flat = self.forward(args, tangents, x, value)
        else:
            value, flat = self.reverse(args, x)
        shape = np.shape(value) + np.shape(x)
        # (in either mode: a float32 x's Jacobian of a float64 output is float64; of a scalar
        # output, which comes back a Python float whatever it was computed in, it is x's
        # gradient and has x's dtype, as srcad.grad gives)
        output = np.asarray(value).dtype if np.ndim(value) else np.float32
        flat = flat.astype(np.result_type(output, np.asarray(x).dtype, np.float32), copy=False)
        return flat.reshape(shape) if shape else float(flat[0, 0])

    def forward(self, args, tangents, x, value):
        """The (value size, x size) Jacobian: one jvp per unit vector of x."""
        basis, columns = _basis(x), []
        for e in itertools.islice(basis, 1):
            tangents[self.wrt] = e
            columns.append(np.ravel(api.jvp(self.fn, args, tangents, jit=self.jit)[1]))
        spec = api.jvp_specialization(self.fn, args, tangents, self.jit)
        _refuse_reruns(spec, self.__qualname__)
        direct = _direct(spec, args, x, value, forward=True)
        if direct is not None:  # (the jvp's kernel takes the primals, its hidden values, e)
            kernel, hidden = direct
            out = _run_as_block(spec.generated, "jvp", args, (*args, *hidden, _unit_vectors(x)))
            if out is not None:
                return _block_rows(out[1], (x.size,) + np.shape(value)).T
            return _compiled_columns(kernel, (*args, *hidden), (), x, np.size(value))
        for e in basis:
            tangents[self.wrt] = e
            columns.append(np.ravel(api.jvp(self.fn, args, tangents, jit=self.jit)[1]))
        return np.stack(columns, axis=1) if columns else np.zeros((np.size(value), 0))

    def reverse(self, args, x):
        """(the value, the (value size, x size) Jacobian): one vjp per unit vector of the
        output."""
        try:
            value, pullback = api.vjp_checked(
                self.fn, args, self.wrt, jit=self.jit,
                check=lambda spec: _refuse_reruns(spec, self.__qualname__))
        except UserCodeError as exc:
            raise UserCodeError(str(exc).replace(outputs.RETURNS["grad"],
                                                 outputs.RETURNS["jacobian"])) from None
        seed = np.zeros_like(value, dtype=np.result_type(np.asarray(value).dtype, np.float32))
        basis = _basis(seed)
        rows = [np.ravel(pullback(e)) for e in itertools.islice(basis, 1)]
        spec = getattr(pullback, "specialization", lambda: None)()
        direct = _direct(spec, args, x, value, forward=False)
        if direct is not None:  # (the kernel takes the arguments, its hidden values, a seed)
            kernel, hidden = direct
            out = _run_as_block(spec.generated, "grad", args,
                                (*args, *hidden, _unit_vectors(seed)))
            if out is not None:  # (one reverse sweep for the block of all output seeds)
                return value, _block_rows(out[1], (seed.size,) + np.shape(x))
            return value, _compiled_columns(kernel, (*args, *hidden), (), seed, np.size(x)).T
        rows += [np.ravel(pullback(e)) for e in basis]
        return value, np.stack(rows, axis=0) if rows else np.zeros((0, np.size(x)))

    def source(self, /, *args, **kwargs):
        """The code a call with these arguments runs: in forward mode the jvp for a block of
        every unit tangent (or the jvp, run once per column), in reverse mode the vjp for a
        block of every unit seed (or the vjp, run once per row)."""
        args = self.bind(_or_floats(args, kwargs, len(self._signature.now().parameters)), kwargs)
        forward, x, tangents, value = self.plan(args)
        if forward:
            tangents[self.wrt] = next(_basis(x))
            spec = api.jvp_specialization(self.fn, args, tangents, self.jit)
            what = ("the jvp along every unit vector of x (a leading axis of the tangents)",
                    "the jvp, run once per entry of x (a column)")
        else:
            value, pullback = api.vjp(self.fn, *args, wrt=self.wrt, jit=self.jit)
            spec = getattr(pullback, "specialization", lambda: None)()
            what = ("the vjp of every unit seed (a leading axis of the seeds)",
                    "the vjp, run once per entry of the output (a row)")
        if spec is None:
            return f"# {self.__qualname__} runs on the runtime tape (no generated code)\n"
        if spec.generated is None:
            return f"# {self.__qualname__} runs on the runtime tape: {spec.reason}\n"
        if _direct(spec, args, x, value, forward) is None:
            return f"# {what[1]}\n{spec.generated.source}"
        return _block_source(spec.generated, "jvp" if forward else "grad", args, False, what)


def _direct(spec, args, x, value, forward):
    """`spec.direct()` (the kernel that runs a block, or the columns in one compiled loop) when
    a Jacobian's call runs it: an array x and value, a column (row) at least, and in reverse
    mode plain arguments; else None."""
    if spec is None or not (np.ndim(x) and np.ndim(value)) or \
            not np.size(x if forward else value) or \
            not forward and api._call_key(args) is None:
        return None
    return spec.direct()


_BLOCKS = {}  # (id of a derivative's Generated, along_last) -> (it, block form, kernel)


def _block_form(generated, kind, args, along_last=False):
    """(the block form of the derivative `generated` (kind "jvp" or "grad"): generated again
    for a block of its own inputs (tangents, seeds), or of values of its function's last
    parameter (transforms/batching.py); its compiled kernel), each None where there is none
    (or Numba cannot compile it: then never tried again)."""
    key = (id(generated), along_last)
    if key not in _BLOCKS:
        from . import pipeline
        from .compiler import loading
        block = (list(inspect.signature(generated.fn).parameters)[-1],) if along_last else True
        try:
            made = pipeline.transform(generated.fn, generated.wrt, generated.arg_types,
                                      kind=kind, numpy_scalars=api.numpy_scalars(args),
                                      assume_shapes=True, block=block)
            # (its hidden values are the derivative's: the same data, read the same way)
            kernel = loading.jit(made.jittable) if made.hidden == generated.hidden else None
        except UnsupportedError:
            made = kernel = None
        _BLOCKS[key] = (generated, made, kernel)
    return _BLOCKS[key][1:]


def _run_as_block(generated, kind, args, call, along_last=False):
    """The block form of `generated` run on `call`; None where it has none."""
    made, kernel = _block_form(generated, kind, args, along_last)
    if kernel is None:
        return None
    try:
        return kernel(*call)
    except Exception as exc:
        if api._is_numba_error(exc) or isinstance(exc, ShapeAssumptionFailed):
            _BLOCKS[(id(generated), along_last)] = (generated, made, None)
        return None  # (an error: the columns, one call each, report it in the user's terms)


def _block_source(generated, kind, args, along_last, what):
    """The source of the block form of `generated` when it has one that runs, headed by what
    it computes; else `generated`'s, headed by the runs it takes."""
    made, kernel = _block_form(generated, kind, args, along_last)
    if kernel is not None:
        return f"# {what[0]}, in one run\n{made.source}"
    return f"# {what[1]}\n{generated.source}"


def _unit_vectors(x):
    return np.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape)


def _block_rows(block, shape):
    """A block's rows raveled, (shape[0], rest): a tangent that is the same for every unit
    vector (zero) is returned once, as a value without the block's axis."""
    block = np.asarray(block)
    if block.shape != shape:
        block = np.broadcast_to(block, shape).copy()
    return block.reshape(shape[0], -1)


def jacobian(fn, wrt=0, *, mode="auto", jit=True):
    """The Jacobian of `fn` w.r.t. argument `wrt` (an index or a name), of shape
    `F(x).shape + x.shape`: mode="fwd" runs the jvp along every entry of x, "rev" the vjp of
    every entry of the output (each once, for the block of all of them, where its code allows;
    on the tape, with a FallbackWarning, where the source transform cannot), "auto" whichever
    runs fewer (on the tape: reverse)."""
    return Jacobian(fn, wrt, mode, jit)


def hessian(fn, wrt=0, *, jit=True):
    """The Hessian of scalar `fn` w.r.t. argument `wrt` (a float or float array), of shape
    `x.shape + x.shape` (a float for a float x): the Hessian-vector products along every entry
    of x, computed once for the block of all of them where the code allows."""
    return Hessian(fn, wrt, jit)


def hvp(fn, wrt=0, *, jit=True):
    """The Hessian-vector product of scalar `fn` w.r.t. argument `wrt`: `hvp(f)(*args, v)` is
    H @ v (the shape of the argument), without forming H; `srcad.source(hvp(f), *args, v)`
    prints its code. Generated as the gradient of f's generated jvp, compiled as one Numba
    function; where the source transform refuses f's code, computed on the runtime tape with a
    FallbackWarning."""
    return Hvp(fn, wrt, jit)
