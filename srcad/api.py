"""The public API: grad, value_and_grad, vjp, jvp, source, explain, gradcheck.

A gradient object specialises on the types of its arguments at each call (scalar or array,
rank, float or int), as Numba's dispatcher does: the first call with a new signature runs
the pipeline, compiles the generated code with numba.njit and caches it. Mode choice
(`mode="auto"`): the source transform compiled with Numba; if Numba cannot compile the
generated code, the same code as plain Python; if the source cannot be transformed, the
runtime tape, with a FallbackWarning naming the construct and its file:line.
"""

import copy
import functools
import inspect
import os
import re
import types

import numpy as np

from . import check, diskcache
from .compiler import frontend, pytrees, valuetypes
from .errors import PYTHON_TEXT, AliasingError, ListItemShapeError, ShapeAssumptionFailed, \
    StaleCompiledValue, UnsupportedError, share_elements, warn_fallback

MODES = ("auto", "source", "tape")
# compiled specialisations shared by every gradient object of the same function in the process:
# (function, its code, wrt, kind, mode, jit, fastmath, parallel, aux, cache, argument types)
# -> _Specialization
_COMPILED = {}


class _Stale(Exception):
    """Something the generated gradient captured (a helper, a global's type) has changed."""


class _Specialization:
    """One compiled (or tape) gradient for one signature. `call` is the kernel: the numba
    dispatcher, the generated Python function, or the tape runner."""

    def __init__(self, mode, call, generated=None, reason=None, single=False):
        self.mode, self.call, self.generated, self.reason = mode, call, generated, reason
        self.single = single  # computes in float32 (the float arguments are float32)
        self.widened = False  # float32 arguments are passed as float64 (a mixed call Numba
        # could not compile: its matrix products take operands of one dtype)
        self.code = None  # the function's __code__ when it was specialised
        self.transformable = None  # (a tangent function's, as a second transform reads it)

    def hidden_values(self):
        """The current values of the data the gradient reads from globals, closures and
        modules (passed as arguments after the function's own); raises _Stale when a captured
        object was rebound or a value's type changed since the gradient was generated."""
        g = self.generated
        if self.changed_capture() is not None:
            raise _Stale
        try:
            if not g.hidden_refs:
                return ()
            values = tuple(_scalar_if_0d(ref.read()) for ref in g.hidden_refs)
        except (KeyError, AttributeError, ValueError, IndexError):
            raise _Stale from None
        if tuple(valuetypes.of_value(v) for v in values) != g.hidden_types:
            raise _Stale
        return values

    def changed_capture(self):
        """The first Ref of a captured object that holds another one now (or is gone), or
        None."""
        for ref, obj in self.generated.checks:
            try:
                if not frontend.same_object(ref.read(), obj):
                    return ref
            except (KeyError, AttributeError, ValueError, IndexError):
                return ref
        return None

    def as_python(self):
        """This specialization running the generated Python instead of the compiled code."""
        python = copy.copy(self)
        python.mode, python.call = "source+python", self.generated.gradient
        return python

    def frozen(self):
        """(this specialization, a copy of the values of the globals it reads now): what a
        pullback runs later, whatever is rebound or changed in place by then."""
        return self, copy.deepcopy(self.hidden_values())

    def direct(self):
        """(the compiled kernel, the hidden values it takes after the arguments) when the
        kernel can be called with the plain arguments as they are (compiled, in float64,
        writing into no argument, reading only numbers and arrays from globals), else None."""
        if self.mode != "source+numba" or self.single or self.widened or \
                self.generated.written or self.generated.writes_data:
            return None
        try:
            hidden = self.hidden_values()
        except _Stale:
            return None
        return (self.call, hidden) if _call_key(hidden) is not None else None

    def refuse_writes(self, args, extra):
        """The gradient writes into copies of the arguments the function writes into (the
        caller's arrays never change); that is the function's own computation only when no
        other argument or global it reads shares their memory, and when NumPy would let it
        write (a read-only array: NumPy's ValueError)."""
        g = self.generated
        user = getattr(g.fn, "__srcad_user_fn__", g.fn).__qualname__  # (not its f_jvp)
        names = list(inspect.signature(g.gradient).parameters)  # (flattened)
        values = tuple(args) + tuple(extra)
        for i in g.writes_data:  # (a global's array: the function writes into it itself)
            i = len(args) + i
            for j, other in enumerate(values):
                if any(share_elements(a, b) for a in pytrees.arrays_in(values[i])
                       for b in pytrees.arrays_in(other) if j != i or a is not b):
                    what = f"argument '{names[j]}'" if j < len(args) else \
                        f"'{g.hidden[j - len(args)]}'"
                    raise AliasingError(
                        f"{user} writes into '{g.hidden[i - len(args)]}', which "
                        f"shares memory with {what}: srcad differentiates them as separate "
                        "arrays, and the write would change the other; pass separate arrays "
                        "(np.copy)")
        for i in g.written:
            if isinstance(args[i], np.ndarray) and not args[i].flags.writeable:
                raise ValueError(f"{user} writes into its argument "
                                 f"'{names[i]}', which is read-only (NumPy: assignment "
                                 "destination is read-only)")
            for j, other in enumerate(values):
                if j != i and isinstance(other, np.ndarray) and \
                        share_elements(args[i], other):
                    raise AliasingError(
                        f"{user} writes into its argument '{names[i]}', which "
                        f"shares memory with '{names[j]}': srcad differentiates a copy of "
                        "what it writes into, which would not change the other; pass "
                        "separate arrays (np.copy)")

    def run(self, args, cotangent, tangents=None, frozen=None):
        """The kernel's output for the flat arguments `args`: with `tangents` (forward mode,
        one per argument differentiated) `(value, tangent)`, else `(value, [aux,] grads...)`
        for the seed `cotangent` (None: 1.0). `frozen`: the values of the globals it reads
        as an earlier call read them (a pullback's: `frozen()`), else they are read now."""
        if self.mode == "tape":
            return self.call(*args, cotangent=cotangent)
        g = self.generated
        extra = frozen if frozen is not None else \
            self.hidden_values() if g.checks or g.hidden_refs else ()
        if g.written or g.writes_data:
            self.refuse_writes(args, extra)
        # NumPy's floating-point semantics, as compiled; Python floats are weak in NumPy: a
        # float32 computation keeps them float32
        if self.mode == "source+python" or self.single:
            real = np.float32 if self.single else np.float64
            args = tuple(real(a) if type(a) is float else a for a in args)
            if tangents is not None:
                tangents = tuple(real(t) if type(t) is float else t for t in tangents)
            cotangent = real(1.0 if cotangent is None else cotangent) \
                if not isinstance(cotangent, np.ndarray) else cotangent.astype(real, copy=False)
        if self.widened:
            args, tangents = _widened(args), tangents and _widened(tangents)
        if tangents is not None:
            return self.call(*args, *extra, *tangents)
        if cotangent is None:
            return self.call(*args, *extra)
        return self.call(*args, *extra, cotangent)


def own_signature(fn):
    """The parameters of `fn` as its own code has them: inspect.signature follows a
    functools.wraps wrapper to what it wraps (`__wrapped__`) and believes a `__signature__`, and
    srcad differentiates the wrapper's code (calls bound the wrapped function's defaults: a
    wrong number, silently). The tape's callers (`__srcad_calls__`) and other callables keep
    inspect's."""
    if isinstance(fn, types.MethodType) and isinstance(fn.__func__, types.FunctionType):
        own = own_signature(fn.__func__)  # (without the parameter taking the instance)
        return own.replace(parameters=list(own.parameters.values())[1:])
    if not isinstance(fn, types.FunctionType) or hasattr(fn, "__srcad_calls__"):
        return inspect.signature(fn)
    own = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                             fn.__closure__)
    own.__kwdefaults__ = fn.__kwdefaults__
    return inspect.signature(own)


class Signature:
    """own_signature(fn), made again when fn's defaults are replaced (`f.__defaults__ =
    ...`), so that a call binds the function's current defaults."""

    def __init__(self, fn):
        self.fn, self.made, self.defaults = fn, None, None
        # a wrapper srcad made (of a custom_vjp, a partial, a *args wrapper) takes what it wraps'
        # current defaults when its `__srcad_follow__()` runs (True: its signature is new)
        self.follow = getattr(fn, "__srcad_follow__", None)
        self.default_values = {}  # parameter -> its default, of the signature `now` gave
        self.by_keyword = frozenset()  # the positional parameters a call may name

    def follow_wrapped(self):
        """A wrapper srcad made takes what it wraps now."""
        if self.follow is not None and self.follow():
            self.made = None

    def now(self):
        self.follow_wrapped()
        defaults = (getattr(self.fn, "__defaults__", None),
                    getattr(self.fn, "__kwdefaults__", None))
        if self.made is None or not all(frontend.same_object(a, b) for a, b in
                                        zip(defaults, self.defaults, strict=True)):
            self.made = own_signature(self.fn)
            self.defaults = tuple(frontend.snapshot(d) for d in defaults)
            params = self.made.parameters.values()
            self.default_values = {p.name: p.default for p in params
                                   if p.default is not p.empty}
            self.by_keyword = frozenset(p.name for p in params
                                        if p.kind == p.POSITIONAL_OR_KEYWORD)
        return self.made


class Gradient:
    """The gradient (or value-and-gradient) of a function; call it like the function."""

    __srcad_gradient__ = True

    def __init__(self, fn, wrt, kind, mode="auto", jit=True, cache=None, fastmath=False,
                 has_aux=False, parallel=False):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if frontend.is_derivative(fn):
            raise UnsupportedError(
                f"srcad.{kind} of {fn!r}: srcad differentiates a srcad derivative again only "
                "as grad or value_and_grad (second derivatives are srcad.grad(srcad.grad(f)), "
                "srcad.hvp and srcad.hessian)")
        if not callable(fn):
            raise TypeError(f"srcad.{kind} needs a function, not {type(fn).__name__}")
        self.fn, self.no_source = _as_function(frontend.unwrap(fn), kind, mode)
        self.given_0d = False  # (whether the last call bound a 0-d array argument)
        self._given = None  # (then: what bind returned, and the arguments as given)
        if self.no_source is None and _forwards_everything(self.fn):
            reason = (f"{self.fn.__qualname__} is a decorator's wrapper(*args, **kwargs): "
                      "srcad's source transform differentiates named parameters (give the "
                      "wrapper the function's parameters)")
            if mode == "source":
                raise UnsupportedError(reason + "; mode='tape' can run it")
            self.fn, self.no_source = _calling(self.fn), reason
        # an object's __call__: made again when its class or __call__ is replaced
        self._called = (fn, type(fn), self.fn.__func__) \
            if isinstance(self.fn, types.MethodType) and self.fn.__self__ is fn else None
        self._made_with = (fn, wrt, kind, mode, jit, cache, fastmath, has_aux, parallel)
        self._signature = Signature(self.fn)
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
        self.cache, self.fastmath, self.has_aux = diskcache.wanted(cache), fastmath, bool(has_aux)
        self.parallel = bool(parallel)
        self._last = None
        self._warned = False
        # _call_key(args) -> fast_call's function (or None), for calls that skip the binding:
        # positional plain arguments, one per parameter
        self._fast = {}
        self._recent = None  # the last of them that ran, tried before anything else
        self._positional = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                               for p in self.signature.parameters.values())
        functools.update_wrapper(self, self.fn)

    def __repr__(self):
        return f"<srcad.{self.kind} of {self.fn.__qualname__} wrt {', '.join(self.wrt_names)}>"

    @property
    def signature(self):
        return self._signature.now()

    # -- calling ----------------------------------------------------------------------------
    def bind(self, args, kwargs):
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = tuple(bound.arguments[p] for p in self.params)
        # (what the code takes for a 0-d array is the number it holds: _refuse_0d_writes)
        self.given_0d = any(type(v) is np.ndarray and v.ndim == 0 for v in values)
        if not self.given_0d:
            return values
        bound = tuple(map(_scalar_if_0d, values))
        self._given = (bound, values)
        return bound

    def tape_if_0d_writes(self, spec, bound, stacklevel=4):
        """`spec`; in mode="auto", the tape instead if the call bound to `bound` was given a
        0-d array the generated code would update as a number under a second name
        (_refuse_0d_writes), which the tape updates in place as NumPy does."""
        reason = spec.generated.zero_d_writes if spec.generated is not None else None
        if self.mode != "auto" or not reason or self.as_given(bound) is bound:
            return spec
        warn_fallback(f"srcad: using the runtime tape for {self.fn.__qualname__}: {reason}")
        self._last = self._tape_spec(reason)
        return self._last

    def as_given(self, bound):
        """The arguments `bind` returned `bound` for, 0-d arrays as given: the tape runs the
        function on them (`x += 1` changes a 0-d array in place, and so every name for it)."""
        given = self._given
        return given[1] if given is not None and bound is given[0] else bound

    def layout(self, args):
        """The call's arguments as the generated code takes them: (flat arguments, a structured
        argument's leaves in its place; {parameter: Treedef} of the structured ones; the
        Python expression naming each flat argument)."""
        flat, structures, labels = [], {}, []
        for name, value in zip(self.params, args, strict=True):
            if pytrees.is_structured(value):
                leaves, structures[name] = pytrees.flatten(value)
                flat.extend(_scalar_if_0d(leaf) for leaf in leaves)
                labels.extend(name + path for path in structures[name].paths())
            else:
                flat.append(value)
                labels.append(name)
        return tuple(flat), structures, tuple(labels)

    def wrt_leaves(self, labels):
        """The labels of the flat arguments differentiated."""
        return {label for label in labels if label.partition("[")[0] in self.wrt_names}

    def arg_types(self, flat, labels):
        types = []
        differentiated = self.wrt_leaves(labels)
        for label, value in zip(labels, flat, strict=True):
            if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
                raise TypeError(f"{self.fn.__qualname__}: argument '{label}' is a "
                                f"{type(value).__module__}.{type(value).__name__}, whose "
                                "operators differ from numpy.ndarray's; pass np.asarray(...) "
                                "(for a masked array, decide what its masked entries are)")
            _check_dtype(self.fn, label, value)
            ty = valuetypes.of_value(value) if not _beyond_int64(value) else valuetypes.UNKNOWN
            if label in differentiated and not (self.kind == "jvp" and "[" in label and
                                                ty.kind in "ib" and not ty.ndim):
                _check_differentiable(self.fn, label, value, ty)  # (a jvp's int leaf: constant)
            types.append(ty)
        return tuple(types)

    def specialization(self, flat, structures, labels):
        types = self.arg_types(flat, labels)
        key = (self.fn, self.fn.__code__, self.wrt_names,
               self.kind if self.kind in ("vjp", "jvp") else "grad", self.mode,
               self.jit, self.fastmath, self.parallel, self.has_aux, self.cache, types,
               tuple(_dtype_of(a) for a in flat), tuple(structures.items()),
               tuple(same_shapes(flat, labels).items()))
        spec = _COMPILED.get(key)
        if spec is None or spec.generated is not None and not _valid(spec):
            spec = _COMPILED[key] = self._specialize(flat, types, structures, labels)
            spec.code = self.fn.__code__
        if spec.mode == "tape" and self.mode == "auto" and not self._warned:
            self._warned = True
            warn_fallback(f"srcad: using the runtime tape for {self.fn.__qualname__}: "
                          f"{spec.reason}")
        self._last = spec
        return spec

    def _specialize(self, flat, types, structures, labels, single=None, assume_shapes=True):
        if self.mode == "tape":
            return self._tape_spec("mode='tape' was requested")
        if self.no_source is not None:
            return self._tape_spec(self.no_source)
        try:
            _check_leaves(self.fn, flat, labels, structures)
            for label, value, ty in zip(labels, flat, types, strict=True):
                if _beyond_int64(value):
                    held, as_floats = (f"the int {value}", f"float({label})") if not \
                        isinstance(value, np.ndarray) else \
                        (f"a uint64 array holding {value.max()}", f"{label}.astype(float)")
                    raise UnsupportedError(
                        f"argument '{label}' of {self.fn.__qualname__} is {held}, which does "
                        "not fit the 64-bit integers compiled code computes with (pass "
                        f"{as_floats}, or use mode='tape')")
                if isinstance(value, (slice, type(Ellipsis))):
                    raise UnsupportedError(
                        f"argument '{label}' of {self.fn.__qualname__} is {value!r}: srcad's "
                        "source transform takes numbers, arrays, strings and None (and tuples, "
                        "lists and dicts of them) as arguments; write the slice in the function "
                        "(x[a:b], a and b arguments), or use mode='tape'")
                if ty == valuetypes.UNKNOWN and isinstance(value, (int, float)):
                    raise UnsupportedError(
                        f"argument '{label}' of {self.fn.__qualname__} is a "
                        f"{type(value).__qualname__}, a subclass of {type(value).__base__.__name__}"
                        " whose operators may differ from it: srcad's source transform takes "
                        "plain numbers (pass int(...) or float(...), or use mode='tape')")
            single = _single_precision(flat) if single is None else single
            folder = diskcache.folder() if self.cache else None  # (warns here, not in a thread)
            options = (structures, self.has_aux, single, "jvp" if self.kind == "jvp" else "grad",
                       self.parallel, same_shapes(flat, labels), numpy_scalars(flat),
                       assume_shapes)
            # a gradient an earlier process generated, found without importing the compiler
            from . import reuse
            name = reuse.entry_name(self.fn, self.wrt_names, types, *options) \
                if folder is not None else None
            generated = reuse.generated(folder, name, self.fn) if name is not None else None
            if generated is None:
                from . import pipeline  # (the compiler is imported when first needed)
                generated = pipeline.transform(self.fn, self.wrt_names, types, folder, *options)
            if self.jit:
                for obj in generated.scope.values():
                    if frontend.is_custom_vjp(obj):
                        obj.check_compiled_values()
        except UnsupportedError as exc:
            if self.mode == "source" or isinstance(exc, StaleCompiledValue):
                raise  # (the tape would refuse it too)
            return self._tape_spec(str(exc))
        if self.kind not in ("vjp", "jvp") and generated.output_type.ndim > 0:
            raise TypeError(f"{self.fn.__qualname__} returns an array "
                            f"({generated.output_type}); grad needs a scalar output: use "
                            "srcad.vjp for the vector-Jacobian product of a non-scalar output")
        # (compiled code draws from Numba's own generator, which np.random.seed does not set:
        # the generated Python draws what the function would)
        if not self.jit or generated.effects.startswith(reuse.DRAWS):
            return _Specialization("source+python", generated.gradient, generated, None, single)
        from .compiler import loading
        compiled = loading.jit(generated.jittable, cache=generated.path is not None,
                               fastmath=self.fastmath)
        return _Specialization("source+numba", compiled, generated, None, single)

    def _tape_spec(self, reason):
        from .tape import run as tape_run
        indices, has_aux = self.wrt_index, self.has_aux
        fn = getattr(self.fn, "__srcad_calls__", self.fn)

        def call(*args, cotangent=None, tangents=None):
            if tangents is not None:  # (forward mode: the tape's vjp differentiated again)
                value, tangent = tape_run.jvp(fn, args, indices, tangents)
                return value, None, (tangent,)
            if cotangent is None:
                value, grads = tape_run.value_and_grad(fn, args, indices, has_aux)
                value, aux = value if has_aux else (value, None)
            else:
                value, pullback, *aux = tape_run.vjp(fn, args, indices, has_aux)
                grads, aux = pullback(cotangent), (aux[0] if has_aux else None)
            return value, aux, grads
        return _Specialization("tape", call, reason=reason)

    def evaluate(self, args, cotangent=None, tangents=None, frozen=None, regenerated=0):
        """(value, aux or None, grads tuple) for bound positional `args`; in forward mode
        (value, None, (tangent,)) for the tangents of the flat arguments differentiated.
        `frozen`: `_Specialization.frozen()` of an earlier call, run as it was then.
        `regenerated`: how often this call found what the gradient captured changed."""
        flat, structures, labels = self.layout(args)
        _refuse_tape_tensors(repr(self), flat)
        spec = frozen[0] if frozen is not None else \
            self.tape_if_0d_writes(self.specialization(flat, structures, labels), args)
        try:
            if spec.mode == "tape":
                value, aux, grads = spec.call(*self.as_given(args), cotangent=cotangent,
                                              tangents=tangents)
                return _plain(value), _plain_tree(aux), grads
            out = spec.run(flat, cotangent, tangents, None if frozen is None else frozen[1])
        except _Stale:
            if regenerated == 2:  # (what it captured is another object at every read)
                raise UnsupportedError(_unsteady(spec, self.fn)) from None
            _COMPILED.clear()  # (rare: a helper or global was rebound) regenerate
            return self.evaluate(args, cotangent, tangents, frozen, regenerated + 1)
        except ShapeAssumptionFailed:  # (the arguments broadcast) generate it without
            vars(spec).update(vars(self._specialize(flat, self.arg_types(flat, labels),
                                                    structures, labels, spec.single,
                                                    assume_shapes=False)))
            return self.evaluate(args, cotangent, tangents, frozen)
        except ListItemShapeError as exc:  # (a list's items of two shapes: the
            if self.mode != "auto" or frozen is not None:  # tape's lists hold any items)
                raise
            warn_fallback(f"srcad: using the runtime tape for {self.fn.__qualname__}: {exc}")
            vars(spec).update(vars(self._tape_spec(str(exc))))
            return self.evaluate(args, cotangent, tangents, frozen)
        except Exception as exc:
            if spec.mode not in ("source+numba", "source+python"):
                raise
            if spec.mode == "source+python" or not _is_numba_error(exc):
                raise _located(exc, spec, lambda: spec.as_python().run(
                    flat, cotangent, tangents, None if frozen is None else frozen[1])) from None
            text = PYTHON_TEXT in _numba_reason(exc)  # (in the arguments' precision)
            if spec.single and not text:  # (a helper without a float32 form) compute in
                vars(spec).update(vars(self._specialize(  # float64 instead
                    flat, self.arg_types(flat, labels), structures, labels, single=False)))
                return self.evaluate(args, cotangent, tangents, frozen)
            if not text and not spec.widened and _widened(flat) is not flat:  # (X32 @ w64)
                spec.widened = True
                return self.evaluate(args, cotangent, tangents, frozen)
            what = "forward-mode derivative" if tangents is not None else "gradient"
            warn_fallback(f"srcad: numba could not compile the {what} of "
                          f"{self.fn.__qualname__}; running the generated Python instead "
                          f"({_numba_reason(exc)})")
            spec.mode, spec.call = "source+python", spec.generated.gradient
            spec.reason = str(exc)
            return self.evaluate(args, cotangent, tangents, frozen)
        if tangents is not None:
            return _plain(out[0]), None, (_plain(out[1], out[0]),)
        aux = _plain_tree(out[1]) if self.has_aux else None
        return _plain(out[0]), aux, self.structured_grads(out[1 + self.has_aux:], flat, labels,
                                                          structures, args)

    def fast_call(self, spec, key, forward=False):
        """For `spec`, compiled by a call of positional plain arguments of types `key`
        (_call_key): a function of such arguments returning what __call__ returns, or None
        where the general path must run (arguments of other types, something the gradient
        captured changed, a new array layout). A call of an already-seen signature costs this
        function and the kernel: it is written out for the key (a loop over the arguments cost
        0.1 us each on Python 3.11) and run first on every call. `forward`: a function of the
        primals and the tangents (None for an argument not differentiated) returning what
        `srcad.jvp` returns."""
        g = spec.generated
        # the kernel alone: not the tape, float32, or the generated Python (which takes NumPy
        # floats)
        if spec.mode != "source+numba" or spec.single or spec.widened:
            return None
        # objects the gradient captured from a module's globals (`np`, a helper) or attributes
        # (`np.sin`), and the names that must stay undefined there (a builtin it calls)
        captured = [(ref, obj) for ref, obj in g.checks
                    if ref.how in ("item", "absent") and type(ref.container) is dict or
                    ref.how == "attr" and isinstance(ref.container, types.ModuleType) and
                    ref.key.isidentifier()]
        names = [f"a{k}" for k in range(len(key))]
        env = {"ndarray": np.ndarray, "fn": self.fn, "code": spec.code, "spec": spec,
               "kernel": spec.call, "owner": self, "plain": _plain, "plain_tree": _plain_tree,
               "absent": frontend.ABSENT}
        lines = [f"def fast(args{', tangents' if forward else ''}):",
                 f"    if len(args) != {len(key)}{' or len(tangents) != len(args)' * forward}:",
                 "        return None"]
        if names:
            lines.append(f"    {', '.join(names)}{',' if len(names) == 1 else ''} = args")
        tests = ["fn.__code__ is not code", "spec.call is not kernel"]
        if forward:  # (a tangent of its argument's type; None where none is differentiated)
            env["scalars"] = _PLAIN_SCALARS
            lines.append(f"    {', '.join(f't{k}' for k in range(len(key)))}"
                         f"{',' if len(key) == 1 else ''} = tangents")
            for k, part in enumerate(key):
                if k not in self.wrt_index:
                    tests.append(f"t{k} is not None")
                elif type(part) is tuple:
                    tests.append(f"type(t{k}) is not ndarray or t{k}.shape != a{k}.shape or "
                                 f"t{k}.dtype is not a{k}.dtype and t{k}.dtype != a{k}.dtype")
                else:
                    tests.append(f"type(t{k}) not in scalars")
        for k, part in enumerate(key):
            if type(part) is tuple:  # (dtype, rank, position of the first argument of its shape)
                dtype, rank, first = part
                env[f"dtype{k}"] = dtype
                tests[k:k] = [f"type(a{k}) is not ndarray"]
                tests += [f"a{k}.ndim != {rank}",
                          f"a{k}.dtype is not dtype{k} and a{k}.dtype != dtype{k}"]
                if first != k:  # (arguments of one shape: the kernel may assume it)
                    tests.append(f"a{k}.shape != a{first}.shape")
                if dtype == np.uint64:
                    env["beyond_int64"] = _beyond_int64
                    tests.append(f"beyond_int64(a{k})")
            else:
                env[f"type{k}"] = part
                tests[k:k] = [f"type(a{k}) is not type{k}"]
        for k, (ref, obj) in enumerate(captured):
            env[f"where{k}"], env[f"obj{k}"] = ref.container, obj
            tests.append(f"where{k}.{ref.key} is not obj{k}" if ref.how == "attr" else
                         f"where{k}.get({ref.key!r}, absent) is not obj{k}")
        lines += ["    try:", f"        if {' or '.join(tests)}:", "            return None",
                  "    except AttributeError:  # (a module attribute deleted)",
                  "        return None"]
        hidden = ", *spec.hidden_values()" if g.hidden_refs or len(captured) < len(g.checks) \
            else ""
        if g.written or g.writes_data:  # (the general path says why it cannot, if so)
            extra = f"({hidden[2:]},)" if hidden else "()"
            lines += ["    try:", f"        spec.refuse_writes(args, {extra})",
                      "    except Exception:", "        return None"]
        # (the tangents of the arguments differentiated, numbers as floats)
        given = "".join(f", t{i}" if type(key[i]) is tuple else f", float(t{i})"
                        for i in self.wrt_index) if forward else ""
        lines += ["    try:", f"        out = kernel({', '.join(names)}{hidden}{given})",
                  "    except Exception:  # (a new array layout, or an error: the general path",
                  "        return None  # names the user's line that raised it)",
                  "    owner._last = spec"]
        if forward:
            lines.append("    return plain(out[0]), plain(out[1], out[0])")
            exec("\n".join(lines) + "\n", env)
            return env["fast"]
        first = 1 + self.has_aux
        grads = []
        for k, i in enumerate(self.wrt_index):
            grad, like = f"g{k}", f"a{i}"
            if type(key[i]) is tuple:  # (an array's gradient is mostly one as it should be)
                lines += [f"    {grad} = out[{first + k}]",
                          (f"    if type({grad}) is not ndarray or {grad}.shape != {like}.shape "
                           f"or {grad}.dtype is not {like}.dtype:"),
                          f"        {grad} = plain({grad}, {like})"]
            else:
                lines.append(f"    {grad} = plain(out[{first + k}], {like})")
            grads.append(grad)
        result = grads[0] if self.single else \
            f"({', '.join(grads)}{',' if len(grads) == 1 else ''})"
        value = "plain(out[0])"
        if self.has_aux:
            lines.append("    aux = plain_tree(out[1])")
            value = f"({value}, aux)"
            result = f"{result}, aux" if self.kind != "value_and_grad" else result
        lines.append(f"    return {value}, {result}" if self.kind == "value_and_grad" else
                     f"    return {result}")
        exec("\n".join(lines) + "\n", env)
        return env["fast"]

    def as_0d_arrays(self, grads, args, kwargs):
        """The gradients, each of a 0-d array argument a 0-d array of its dtype (`bind` gave
        the generated code that argument as a number)."""
        if not any(type(a) is np.ndarray and a.ndim == 0 for a in (*args, *kwargs.values())):
            return grads
        _refuse_0d_writes(self._last, True)
        given = self.signature.bind(*args, **kwargs).arguments
        return tuple(np.asarray(grad, given[name].dtype)
                     if type(given.get(name)) is np.ndarray and given[name].ndim == 0 else grad
                     for name, grad in zip(self.wrt_names, grads, strict=True))

    def structured_grads(self, flat_grads, flat, labels, structures, args):
        """One gradient per wrt argument, shaped like it, from the gradients of the flat
        arguments differentiated (in wrt order, a structure's leaves in flatten order); a 0-d
        array leaf's is a 0-d array (the generated code took it as a number)."""
        like = dict(zip(labels, flat, strict=True))
        grads, out = iter(flat_grads), []
        for name in self.wrt_names:
            treedef = structures.get(name)
            if treedef is None:
                out.append(_plain(next(grads), like[name]))
                continue
            leaves, _ = pytrees.flatten(args[self.params.index(name)])
            out.append(treedef.unflatten(
                _plain(next(grads), leaf if isinstance(leaf, np.ndarray) else like[name + path])
                for path, leaf in zip(treedef.paths(), leaves, strict=True)))
        return tuple(out)

    def positional(self, args, kwargs):
        """One value per parameter, in order, for a call with keywords or defaults left out,
        when they are plainly the function's parameters (else None: `bind` raises what Python
        would), so that such a call takes the fast path too (binding took 15-17 us)."""
        self._signature.now()
        defaults, by_keyword = self._signature.default_values, self._signature.by_keyword
        if len(args) > len(self.params):
            return None
        values, named = list(args), 0
        for name in self.params[len(args):]:
            if name in kwargs and name in by_keyword:
                values.append(kwargs[name])
                named += 1
            elif name in defaults:
                values.append(defaults[name])
            else:
                return None
        return tuple(values) if named == len(kwargs) else None

    def _settled(self):
        """Whether `refresh` has nothing to follow: a plain function, not a wrapper srcad made
        nor an object's `__call__` (then the last fast path may run before it)."""
        return self._signature.follow is None and self._called is None

    def refresh(self):
        """Made again if the object it differentiates had its class or `__call__` replaced; a
        wrapper srcad made takes what it wraps now (a partial's function, arguments)."""
        self._signature.follow_wrapped()
        if self._called is not None:
            obj, cls, method = self._called
            if type(obj) is not cls or cls.__call__ is not method:
                self.__init__(*self._made_with)

    def __call__(self, /, *args, **kwargs):  # (`/`: a parameter may be named self)
        recent = self._recent
        if recent is not None and not kwargs:
            out = recent(args)
            if out is not None:
                return out
        self.refresh()
        if self._positional and (kwargs or len(args) < len(self.params)):
            values = self.positional(args, kwargs)
            if values is not None:
                args, kwargs = values, {}
        key = _call_key(args) if not kwargs else None
        fast = self._fast.get(key) if key is not None else None
        if fast is not None:
            out = fast(args)
            if out is not None:
                self._recent = fast if self._settled() else None
                return out
        value, aux, grads = self.evaluate(self.bind(args, kwargs))
        grads = self.as_0d_arrays(grads, args, kwargs)
        if key is not None and self._positional and len(args) == len(self.params) and \
                self._last.mode != "tape":
            fast = self.fast_call(self._last, key)
            self._fast[key] = fast
            self._recent = fast if self._settled() else None
        result = grads[0] if self.single else tuple(grads)
        if self.kind == "value_and_grad":
            return ((value, aux), result) if self.has_aux else (value, result)
        return (result, aux) if self.has_aux else result


def _as_function(fn, kind, mode):
    """(function, None): `fn` itself for a Python function or method; for an object with a
    Python `__call__`, that method bound to it; for a library function with a derivative rule
    (`np.sin`, `math.log`), a Python function calling it, so it is differentiated like one. For
    a functools.partial of a Python function, a Python function with the partial's parameters
    calling that function; of anything else, outside mode="source": (a function calling it,
    why only the tape can run it)."""
    if isinstance(fn, (types.FunctionType, types.MethodType)):
        return fn, None
    if isinstance(fn, functools.partial):
        function = _partial_function(fn)
        if function is not None:
            return function, None
    if frontend.is_custom_vjp(fn):
        return _calling_custom(fn), None
    method = frontend.python_call(fn)
    if method is not None:
        return method, None
    from . import rules
    rule = rules.lookup(fn)
    name = getattr(fn, "__name__", None)
    if rule is None or rule.nondiff or rule.piece is not None or not str(name).isidentifier():
        reason = (f"srcad.{kind} of {fn!r}: it is not a Python function, so srcad cannot read "
                  "its source (and has no derivative rule for it)")
        runnable = isinstance(fn, functools.partial)
        if runnable and isinstance(getattr(fn.func, "__code__", None), types.CodeType):
            reason = (f"srcad.{kind} of {fn!r}: srcad's source transform differentiates a "
                      "partial of a function with named parameters, which take the partial's "
                      "arguments (not *args or **kwargs)")
        if runnable and mode != "source":
            try:
                return _calling(fn), reason
            except (TypeError, ValueError):  # no signature to read
                pass
        raise UnsupportedError(reason + ("; mode='tape' can run it" if runnable else ""))
    params = ", ".join(p if p not in rule.defaults else f"{p}={rule.defaults[p]!r}"
                       for p in rule.params)
    call = ", ".join(rule.params)
    return codegen_wrapper(name, f"def {name}({params}):\n    return _fn({call})\n",
                           {"_fn": fn}), None


def _partial_function(partial):
    """A Python function with the parameters `inspect.signature(partial)` gives, calling the
    partial's Python function with the partial's arguments (its positional ones are globals
    of the new function, its keywords the defaults of keyword-only parameters), so srcad reads
    and inlines the function the partial calls. None when that function is not a Python
    function, collects *args or **kwargs, or does not take the partial's arguments."""
    func = frontend.unwrap(partial.func)
    if not isinstance(func, (types.FunctionType, types.MethodType)):
        func = frontend.python_call(func)  # (an object with a Python __call__)
        if func is None:
            return None
    params = list(own_signature(func).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params) or \
            len(partial.args) > len(positional) or \
            not set(partial.keywords) <= {p.name for p in params[len(partial.args):]}:
        return None
    namespace = {"_srcad_func": func}
    arguments = []
    for k, value in enumerate(partial.args):
        namespace[f"_srcad_arg{k}"] = value
        arguments.append(f"_srcad_arg{k}")
    declared, keyword_only = [], False
    for k, p in enumerate(params[len(partial.args):]):
        # a keyword given to the partial makes its parameter, and those after it, keyword-only
        keyword_only |= p.name in partial.keywords or p.kind == p.KEYWORD_ONLY
        if keyword_only and "*" not in declared:
            declared.append("*")
        default = partial.keywords.get(p.name, p.default)
        if default is not p.empty:
            namespace[f"_srcad_default{k}"] = default
        declared.append(p.name if default is p.empty else f"{p.name}=_srcad_default{k}")
        arguments.append(f"{p.name}={p.name}" if keyword_only else p.name)
    name = func.__name__ if func.__name__.isidentifier() else "partial_of_lambda"
    if name == "__call__":
        name = type(func.__self__).__name__
    function = codegen_wrapper(name, f"def {name}({', '.join(declared)}):\n"
                               f"    return _srcad_func({', '.join(arguments)})\n", namespace)
    function.__qualname__ = f"functools.partial({func.__qualname__})"
    made_from = [frontend.snapshot(v) for v in _defaults_of(func, partial)]
    parts = [partial.func, partial.args]

    def follow():
        now = _defaults_of(func, partial)
        replaced = partial.func is not parts[0] or partial.args is not parts[1]
        if replaced or \
                not all(frontend.same_object(a, b) for a, b in zip(now, made_from, strict=True)):
            again = _partial_function(partial)
            if replaced and (again is None or inspect.signature(again) !=
                             inspect.signature(function)):
                raise UnsupportedError(
                    f"the function or the positional arguments of {partial!r} were replaced "
                    "(partial.__setstate__) by ones of other parameters: take srcad's "
                    "derivative of the partial again")
            function.__defaults__, function.__kwdefaults__ = \
                again.__defaults__, again.__kwdefaults__
            function.__globals__.update({k: v for k, v in again.__globals__.items()
                                         if k.startswith("_srcad_")})
            made_from[:] = [frontend.snapshot(v) for v in now]
            parts[:] = [partial.func, partial.args]
    function.__srcad_follow__ = follow
    return function


def _defaults_of(func, partial):
    """What a partial's wrapper takes its defaults from."""
    return (getattr(func, "__defaults__", None), getattr(func, "__kwdefaults__", None),
            partial.keywords)


def _forwards_everything(fn):
    """A functools.wraps wrapper that takes only *args and **kwargs: its parameters are the
    wrapped function's (inspect.signature follows `__wrapped__`), its code names none."""
    params = own_signature(fn).parameters.values() if isinstance(fn, types.FunctionType) else ()
    return hasattr(fn, "__wrapped__") and bool(params) and \
        all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def _calling_custom(custom):
    """A Python function with the parameters of a custom_vjp's function, calling it (so that
    srcad.grad(softplus) differentiates it with its own rules)."""
    signature = inspect.signature(custom.fn)
    name = custom.fn.__name__ if custom.fn.__name__.isidentifier() else "custom"
    params, call, namespace, star = [], [], {"_fn": custom}, False
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise UnsupportedError(f"srcad differentiates custom_vjp function {name} called "
                                   "with named parameters (not *args or **kwargs)")
        if p.kind == p.KEYWORD_ONLY and not star:
            params.append("*")
            star = True
        if p.default is p.empty:
            params.append(p.name)
        else:
            namespace[f"_default_{p.name}"] = p.default
            params.append(f"{p.name}=_default_{p.name}")
        call.append(f"{p.name}={p.name}" if p.kind == p.KEYWORD_ONLY else p.name)
    function = codegen_wrapper(name, f"def {name}({', '.join(params)}):\n"
                                     f"    return _fn({', '.join(call)})\n", namespace)
    function.__qualname__ = custom.fn.__qualname__

    def follow():  # (the same parameters: the same defaults; Signature sees them change)
        function.__defaults__ = custom.fn.__defaults__
        function.__kwdefaults__ = custom.fn.__kwdefaults__
    function.__srcad_follow__ = follow
    return function


def _calling(fn):
    """A function with fn's signature and name (the tape runs fn itself); it takes one value
    per parameter, as Gradient.bind gives them, and calls fn with them."""
    from .tape.run import call_with_values

    def calling(*values):
        return call_with_values(fn, values)
    calling.__signature__ = inspect.signature(fn)

    def follow():  # (a wrapper's signature is the wrapped function's, defaults and all)
        now = inspect.signature(fn)
        changed = now != calling.__signature__
        calling.__signature__ = now
        return changed
    calling.__srcad_follow__ = follow
    inner = fn.func if isinstance(fn, functools.partial) else fn
    name = getattr(inner, "__qualname__", None) or type(inner).__qualname__
    calling.__name__ = calling.__qualname__ = \
        f"functools.partial({name})" if inner is not fn else name
    calling.__srcad_calls__ = fn
    return calling


def codegen_wrapper(name, text, namespace):
    """A function defined by `text`, whose source `inspect` and srcad's frontend can read."""
    import hashlib
    import linecache
    # (named by its text: two partials of one function may have different parameters)
    filename = f"<srcad wrapper of {name} {hashlib.sha256(text.encode()).hexdigest()[:12]}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    exec(compile(text, filename, "exec"), namespace)
    return namespace[name]


def _unsteady(spec, fn):
    ref = spec.changed_capture()
    what = f"{ref.key!r} of its {type(ref.container).__name__}" if ref is not None else \
        "a global it reads"
    return (f"srcad: {fn.__qualname__} reads {what}, which is another object (or of another "
            "type) every time it is read, so its gradient cannot be generated once for it: "
            "pass it as an argument, or use mode='tape'")


def _valid(spec):
    try:
        spec.hidden_values()
        return True
    except _Stale:
        return False


_PLAIN_SCALARS = frozenset((float, int, np.float64, np.float32, np.int64, np.int32))


def _call_key(args):
    """What the types of a call's arguments depend on, computed fast; None when an argument
    needs the general path (a structure, a 0-d array, anything but a number or an array)."""
    key, shapes = [], {}
    for a in args:
        kind = type(a)
        if kind is np.ndarray:  # (its dtype, rank, and the first argument of its shape)
            shape = a.shape
            if not shape:
                return None
            key.append((a.dtype, len(shape), shapes.setdefault(shape, len(key))))
        elif kind in _PLAIN_SCALARS:
            key.append(kind)
        else:
            return None
    return tuple(key)


def same_shapes(flat, labels):
    """{label: an earlier label} of the array arguments with an earlier one's shape. The code
    generated for them takes them to have it (so no adjoint is summed back over broadcast
    axes, and elementwise code over both fuses); a call with other shapes gets its own."""
    first, same = {}, {}
    for label, value in zip(labels, flat, strict=True):
        if type(value) is np.ndarray and value.ndim and "[" not in label:  # (not a leaf)
            earlier = first.setdefault(value.shape, label)
            if earlier != label:
                same[label] = earlier
    return same


def numpy_scalars(flat):
    """(position, NumPy type name) of the NumPy scalars among a call's flat arguments."""
    return tuple((k, type(value).__name__) for k, value in enumerate(flat)
                 if isinstance(value, np.generic))


def _refuse_0d_writes(spec, given_0d):
    """An AliasingError if the call was given a 0-d array and the code `spec` ran updates a
    number in place while another name for it is read later (NumPy changes a 0-d array in
    place, the generated code the number it holds)."""
    generated = spec.generated if spec is not None else None
    if given_0d and generated is not None and generated.zero_d_writes:
        raise AliasingError(generated.zero_d_writes)


def _scalar_if_0d(value):
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _dtype_of(value):
    return value.dtype.str if isinstance(value, (np.ndarray, np.generic)) else type(value)


def _beyond_int64(value):
    """Whether `value` holds an integer compiled code's int64 cannot: a Python int, a np.uint64
    or a uint64 array (Numba computes `n - 1` of a uint64 n in int64) from 2**63."""
    kind = type(value)
    if kind is int:
        return not valuetypes.is_int64(value)
    if kind is np.uint64:
        return value >= _INT64_END
    return kind is np.ndarray and value.dtype == np.uint64 and value.size > 0 and \
        value.max() >= _INT64_END


_INT64_END = np.uint64(2 ** 63)


def _check_dtype(fn, name, value):
    dtype = getattr(value, "dtype", None)
    if isinstance(value, complex) or dtype is not None and \
            (dtype.kind == "c" or dtype.kind == "f" and dtype not in (np.float64, np.float32)):
        kind = dtype if dtype is not None else "complex"
        raise TypeError(f"{fn.__qualname__}: argument '{name}' is {kind}; srcad computes with "
                        "float64 and float32 (convert with .astype(np.float64))")


def _check_differentiable(fn, name, value, ty):
    if ty.kind != "f":
        raise TypeError(
            f"cannot differentiate {fn.__qualname__} with respect to '{name}': it is "
            f"{_describe(value)}; srcad differentiates float arguments (Python floats or float "
            "arrays), and passes integers, booleans and index arrays through" +
            ("" if "[" not in name else " when they are arguments of their own, not leaves of "
             "a structure differentiated (pass it separately)"))


def _widened(values):
    """`values` with float32 arrays and scalars as float64 (`values` itself where none is)."""
    if not any(isinstance(v, (np.ndarray, np.floating)) and np.result_type(v) == np.float32
               for v in values):
        return values
    return tuple(v.astype(np.float64) if isinstance(v, (np.ndarray, np.floating)) and
                 np.result_type(v) == np.float32 else v for v in values)


def _single_precision(flat):
    """Are the call's floats float32 (Python floats, weak in NumPy, aside)?"""
    dtypes = {np.result_type(v) for v in flat
              if isinstance(v, (np.ndarray, np.floating)) and np.result_type(v).kind == "f"}
    return dtypes == {np.dtype(np.float32)}


def _check_leaves(fn, flat, labels, structures):
    """A structured argument's leaves must be numbers or arrays for the generated code to take
    them (the tape takes anything)."""
    for label, value in zip(labels, flat, strict=True):
        if label.partition("[")[0] in structures and not frontend.is_data(value):
            raise UnsupportedError(f"the argument {label} of {fn.__qualname__} is "
                                   f"{_describe(value)}; srcad compiles structures whose "
                                   "leaves are numbers and arrays")


def _plain_tree(value):
    """An auxiliary output with Python numbers for NumPy scalars and 0-d arrays."""
    return pytrees.tree_map(lambda v: v.item() if isinstance(v, np.generic) or
                            isinstance(v, np.ndarray) and v.ndim == 0 else v, value)


def _refuse_tape_tensors(what, args):
    from .tape.tensor import Tensor
    if any(isinstance(a, Tensor) for a in args):
        raise UnsupportedError(f"{what} was called on tape tensors: the tape does not "
                               "differentiate through a srcad derivative (second derivatives are "
                               "srcad.grad(srcad.grad(f)), srcad.hvp and srcad.hessian)")


def _located(exc, spec, rerun):
    """`exc`, raised by the generated code of `spec`, with a note naming the user's statement
    that raised it. Compiled code knows no lines: the generated Python is run (`rerun`) for the
    exception it raises there, NumPy's (Numba's own can be of another type and speak of its
    internals: np.linalg.solve of a non-square matrix); if it raises none, `exc` is as it was.
    srcad's own checks name the statement in their message already, a user's `raise` or `assert`
    says what the user wrote."""
    if _names_its_statement(exc):
        return exc
    python = exc
    if spec.mode == "source+numba":
        try:
            rerun()
            return exc
        except Exception as again:  # noqa: BLE001
            if _names_its_statement(again):
                return exc
            python = again
    generated = spec.generated.gradient.__code__.co_filename
    tb, line = python.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == generated:
            line = tb.tb_lineno
        tb = tb.tb_next
    locations = spec.generated.locations
    loc = locations.get(line)
    if loc is None and isinstance(python, OverflowError) and line is not None:
        # (a save of an int beyond 64 bits, srcad's own line: the statement computed it above)
        loc = next((locations[k] for k in range(line - 1, 0, -1) if k in locations), None)
        python.add_note("(srcad keeps ints in 64 bits, as compiled code computes them, where "
                        "Python's grow without bound; compiled, a larger one wraps around)")
    if loc is None or loc.text.lstrip().startswith(("raise", "assert")):
        return exc
    python.add_note(f"(raised where srcad's generated code computes "
                    f"{os.path.basename(loc.file)}:{loc.line}: {loc.text.strip()})")
    return python


def _names_its_statement(exc):
    """srcad's own checks name the statement; SliceShapeMismatch stands in for Numba's error."""
    from .runtime import SliceShapeMismatch
    return type(exc).__module__.startswith("srcad.") and not isinstance(exc, SliceShapeMismatch)


def _numba_reason(exc):
    """What stopped Numba, in a line: a variable it cannot give one type named with both, or
    the first line of its message that is not the pipeline's stage."""
    text = str(exc)
    clash = re.search(r"Cannot unify (.+?) and (.+?) for '([A-Za-z_]\w*?)(\.\d+)?'", text)
    if clash:
        a, b, name = clash.group(1), clash.group(2), clash.group(3)
        return (f"Numba gives each variable one type, and '{name}' is {a} at one point and "
                f"{b} at another: make it {b} from the start")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    own = next((line for line in lines if "srcad:" in line), None)  # (a reason srcad gave)
    if own is not None:
        return own[own.index("srcad:") + len("srcad:"):].strip()
    return next((line for line in lines if not line.startswith(("Failed in", "File", "During"))),
                lines[0] if lines else type(exc).__name__)


def _is_numba_error(exc):
    import numba.core.errors as nerr
    return isinstance(exc, nerr.NumbaError) or \
        isinstance(exc, NotImplementedError) and "lowering" in str(exc) or \
        _raised_while_compiling(exc) or \
        isinstance(exc, TypeError) and re.fullmatch(r"expected \w+, got None", str(exc)) \
        is not None  # (a value that may be None used where numba wants a number: x[:e])


def _raised_while_compiling(exc):
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "compile_extra" and code.co_filename.endswith(
                os.path.join("numba", "core", "compiler.py")):
            return True
        tb = tb.tb_next
    return False


def _plain(value, like=None):
    """A value or gradient as the user gets it: a Python float for a scalar (a NumPy scalar of
    the argument's type for a NumPy scalar argument), an array of the argument's shape and
    dtype for an array argument."""
    if type(value) is float and (like is None or type(like) is float):
        return value  # (the common cases first: a call's overhead is mostly this function)
    if isinstance(like, np.ndarray):
        if type(value) is np.ndarray and value.shape == like.shape and \
                (value.dtype is like.dtype or value.dtype == like.dtype):
            return value
        if np.shape(value) == like.shape:
            return np.asarray(value, dtype=like.dtype)
        if np.ndim(value):  # (an adjoint never updated stays a scalar zero: broadcast only that)
            raise UnsupportedError(f"bug in srcad: a gradient of shape {np.shape(value)} for "
                                   f"an argument of shape {like.shape}")
        return np.full(like.shape, value, dtype=like.dtype)
    if isinstance(value, np.ndarray) and value.ndim == 0 or \
            isinstance(value, (np.floating, np.integer)):
        value = float(value)
    return type(like)(value) if isinstance(like, np.floating) else value


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype}"
    return f"a value of type {type(value).__name__}"


def _normalize_wrt(wrt, params, fn):
    single = not isinstance(wrt, (tuple, list))
    items = [wrt] if single else list(wrt)
    names = []
    for w in items:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer, str)):
            raise TypeError(f"wrt must be an int, a parameter name or a tuple of them, not {w!r}")
        if not isinstance(w, str):
            w = int(w)  # (a NumPy integer: np.argmax(...) picked it)
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

def grad(fn=None, wrt=0, *, mode="auto", jit=True, cache=None, fastmath=False,
         has_aux=False, parallel=False):
    """The gradient of scalar-valued `fn` w.r.t. argument(s) `wrt`.

    Args:
        fn: a Python function (or a numba dispatcher) returning a scalar. `@srcad.grad` and
            `@srcad.grad(wrt=...)` work as decorators.
        wrt: an argument index, a parameter name, or a tuple of them (then a tuple of
            gradients is returned). A differentiated argument may be a tuple, list or dict
            (nested) of floats and float arrays; its gradient has the same structure.
        mode: "auto" (source transform, falling back to the tape with a FallbackWarning),
            "source" (never falls back) or "tape".
        jit: compile the generated gradient with numba.njit; False runs it as Python.
        cache: keep the generated code and numba's machine code on disk between processes
            ($SRCAD_CACHE_DIR; README.md says what the cache trusts and checks). Not given:
            as $SRCAD_CACHE says (1: on), off when it is unset.
        fastmath: passed to numba.njit (off by default: it may reorder floating point).
        has_aux: fn returns a pair (value, aux); the callable returns (gradient, aux), aux
            as fn computed it.
        parallel: run the trips of fn's top-level `for` loops on every core (Numba's
            threads), both sweeps, where no trip reads what another writes apart from sums
            (`s += ...`, `g[k] += ...`); `srcad.explain` says which loops qualify and why
            others do not. Sums may differ from the serial gradient's in the last bits (they
            are added in another order).
    Returns:
        A callable with fn's signature returning the gradient: a float for a float argument,
        an array of the argument's shape and dtype for an array, a structure of those for a
        structured argument.
    Raises (when called):
        TypeError: a differentiated argument is not a float / float array, or fn's output is
            not a scalar (use vjp), or fn returns a tuple without has_aux.
        UnsupportedError: with mode="source", a construct srcad cannot transform.
    """
    if fn is None:
        return lambda f: grad(f, wrt, mode=mode, jit=jit, cache=cache, fastmath=fastmath,
                              has_aux=has_aux, parallel=parallel)
    if frontend.is_derivative(fn) and not has_aux:
        from . import higher
        return higher.Nested(fn, wrt, "grad", mode, jit)
    return Gradient(fn, wrt, "grad", mode, jit, cache, fastmath, has_aux, parallel)


def value_and_grad(fn=None, wrt=0, *, mode="auto", jit=True, cache=None, fastmath=False,
                   has_aux=False, parallel=False):
    """Like grad, but the callable returns `(value, gradient)`; with has_aux,
    `((value, aux), gradient)`."""
    if fn is None:
        return lambda f: value_and_grad(f, wrt, mode=mode, jit=jit, cache=cache,
                                        fastmath=fastmath, has_aux=has_aux,
                                        parallel=parallel)
    if frontend.is_derivative(fn) and not has_aux:
        from . import higher
        return higher.Nested(fn, wrt, "value_and_grad", mode, jit)
    return Gradient(fn, wrt, "value_and_grad", mode, jit, cache, fastmath, has_aux, parallel)


def vjp(fn, *args, wrt=0, mode="auto", jit=True, cache=None, fastmath=False, has_aux=False,
        parallel=False):
    """Value of `fn(*args)` and its pullback: `pullback(cotangent)` -> gradients.

    The cotangent has the shape of the output; the pullback returns one gradient per `wrt`
    entry (a tuple when `wrt` is a tuple). With has_aux, fn returns (value, aux) and vjp
    returns `(value, pullback, aux)`. The pullback linearizes fn where this call evaluated
    it: the arguments, globals and helpers as they were then (the source transform keeps a
    copy; the tape keeps the arrays themselves). Run as Python (`jit=False`), it refuses to run
    once a custom rule, a global a custom rule reads or a module's attribute the function
    reads has changed; the tape calls a custom rule's vjp when the pullback runs.
    """
    return vjp_checked(fn, args, wrt, mode, jit, cache, fastmath, has_aux, parallel)


def vjp_checked(fn, args, wrt=0, mode="auto", jit=True, cache=None, fastmath=False,
                has_aux=False, parallel=False, check=None):
    """`vjp`, calling `check(specialization)` first if given (a Jacobian's: it refuses a
    function whose rows would be runs of it doing what the one before did)."""
    g = _made(_VJPS, (fn, wrt, mode, jit, cache, fastmath, has_aux, parallel),
              lambda: Gradient(fn, wrt, "vjp", mode, jit, cache, fastmath, has_aux, parallel))
    bound = g.bind(args, {})
    spec = g.tape_if_0d_writes(g.specialization(*g.layout(bound)), bound, stacklevel=3)
    if check is not None:
        check(spec)
    effects = _effects(spec)
    if effects:  # (the generated pullback runs the function again: the tape records it once)
        reason = (f"srcad.vjp of {g.fn.__qualname__}: it {effects}, which its pullback would "
                  "do again (a pullback of the source transform runs the function anew)")
        if mode == "source":
            raise UnsupportedError(reason + "; mode='tape' records it once")
        warn_fallback(f"srcad: using the runtime tape: {reason}")
    if spec.mode == "tape" or effects:
        from .tape import run as tape_run
        value, tape_pullback, *aux = tape_run.vjp(getattr(g.fn, "__srcad_calls__", g.fn),
                                                  g.as_given(bound), g.wrt_index, g.has_aux)
        aux = aux[0] if g.has_aux else None

        def pullback(cotangent):
            grads = g.as_0d_arrays(tape_pullback(cotangent), args, {})
            return grads[0] if g.single else tuple(grads)
    else:
        value, aux, _ = g.evaluate(bound, cotangent=0.0)
        # the pullback linearizes at the arguments, globals and helpers of this call, whatever
        # changes them in place or rebinds them before it runs
        bound, frozen = copy.deepcopy(bound), g._last.frozen()

        def pullback(cotangent):
            if np.iscomplexobj(cotangent):  # (the cast would drop its imaginary part)
                raise TypeError("srcad: the cotangent must be real, not complex")
            # (the output's dtype, not the value's: a Python float is weak and would give
            # float32, NEP 50)
            cotangent = np.asarray(cotangent,
                                   dtype=np.result_type(np.asarray(value).dtype, np.float32))
            if np.shape(value) != cotangent.shape:
                raise ValueError(f"the cotangent has shape {cotangent.shape}; the output of "
                                 f"{g.fn.__qualname__} has shape {np.shape(value)}")
            ct = cotangent[()] if cotangent.ndim == 0 else cotangent
            _refuse_changed_captures(g, frozen[0])
            _, _, grads = g.evaluate(bound, cotangent=ct, frozen=frozen)
            grads = g.as_0d_arrays(grads, args, {})
            return grads[0] if g.single else grads
        # (the specialization the last call ran: its kernel takes the cotangent last)
        pullback.specialization = lambda: g._last
    return (value, pullback, _plain_tree(aux)) if g.has_aux else (value, pullback)


def _effects(spec):
    """What the function `spec` runs does besides computing its result ("" for nothing), where
    running it again would do it again: draw other random numbers, write into a global's array
    what it wrote already."""
    g = spec.generated if spec.mode != "tape" else None
    if g is None:
        return ""
    return g.effects or ("writes into an array it reads from outside (a global's)"
                         if g.writes_data else "")


def _refuse_changed_captures(g, spec):
    """A pullback running generated Python reads what the gradient captured (a custom rule,
    the globals it reads, a module's attribute) as it is when it runs, where compiled code has
    them as they were: it refuses to run after one changed."""
    ref = spec.changed_capture() if spec.mode == "source+python" else None
    if ref is not None:
        raise UnsupportedError(
            f"the pullback of {g.fn.__qualname__} runs as Python (jit=False), which reads "
            f"'{ref.key}' as it is now: it changed since srcad.vjp was called (rebound or "
            "redefined). Call srcad.vjp again, or use jit=True, whose compiled code keeps what "
            "the call read")


def jvp(fn, primals, tangents, *, mode="auto", jit=True, cache=None, fastmath=False):
    """Forward mode: `(fn(*primals), J @ tangents)`, the value of `fn` and its derivative at
    `primals` in the direction `tangents`, from generated code that computes each value's
    tangent beside it (`srcad.source(srcad.jvp, f, primals, tangents)` prints it).

    Args:
        fn: a Python function returning a float or a float array.
        primals: a tuple, one argument per parameter of `fn` (a tuple, list or dict of floats
            and float arrays for a structured one).
        tangents: a tuple like `primals`: for each float argument a float or array of its shape
            (a structure like it), or None to hold it constant; for an integer, boolean or
            other non-float argument None or 0 (it carries no derivative).
        mode: "auto" (the source transform, falling back to the runtime tape with a
            FallbackWarning where it cannot: the tape's vjp, recorded as it is computed, is
            differentiated with respect to its cotangent), "source" (an UnsupportedError naming
            the construct instead) or "tape".
        jit, cache, fastmath: as for grad.
    Returns:
        (value, tangent): the tangent has the shape and dtype of the value.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("srcad.jvp takes primals and tangents as tuples, one entry per parameter "
                        f"of {getattr(fn, '__qualname__', fn)} (for one argument: (x,), (t,))")
    primals, tangents = tuple(primals), tuple(tangents)
    try:  # (the fast path of the last call of fn with these options: it tests the types)
        recent = _JVP_RECENT.get((fn, (mode, jit, cache, fastmath)))
    except TypeError:  # (fn is not hashable)
        recent = None
    if recent is not None:
        out = recent(primals, tangents)
        if out is not None:
            return out
    key = _jvp_key(fn, primals, tangents, (mode, jit, cache, fastmath))
    known = _JVP_KNOWN.get(key) if key is not None else None
    if known is not None and known[2] is not None:
        out = known[2](primals, tangents)
        if out is not None:
            _JVP_RECENT[key[:2]] = known[2]
            return out
    known = _jvp_known(known, primals, tangents)
    if known is not None:
        return known
    g, bound, *_, flat_tangents = _jvp_call(fn, primals, tangents, mode, jit, cache, fastmath)
    value, _, (tangent,) = g.evaluate(bound, tangents=flat_tangents)
    _refuse_0d_writes(g._last, g.given_0d)
    if key is not None and g._last.mode != "tape":
        fast = g.fast_call(g._last, key[2], forward=True) \
            if g._settled() and len(primals) == len(g.params) else None
        _JVP_KNOWN[key] = (g, g._last, fast)
        if fast is not None:
            _JVP_RECENT[key[:2]] = fast
        _forget_oldest(_JVP_KNOWN)
        _forget_oldest(_JVP_RECENT)
    return value, _plain(tangent, value)


def jvp_planned(fn, primals, tangents, jit=True):
    """The specialization `jvp(fn, primals, tangents, jit=jit)` runs, made without running
    it (a Jacobian refuses a function whose columns would each do its effects again)."""
    g, bound, *_ = _jvp_call(fn, primals, tangents, "auto", jit, None, False)
    return g.specialization(*g.layout(bound))


def jvp_specialization(fn, primals, tangents, jit=True):
    """The specialization an earlier `jvp(fn, primals, tangents, jit=jit)` of plain numbers and
    arrays of these types ran (its kernel takes the primals, its hidden values, then the
    tangents of the arguments differentiated), or None."""
    key = _jvp_key(fn, tuple(primals), tuple(tangents), ("auto", jit, None, False))
    known = _JVP_KNOWN.get(key) if key is not None else None
    return known[1] if known is not None and known[1].code is known[0].fn.__code__ else None


def jvp_on_tape(fn, primals, tangents, jit=True):
    """Whether the last `jvp(fn, primals, tangents, jit=jit)` ran (or failed) on the tape."""
    g = _jvp_call(fn, primals, tangents, "auto", jit, None, False)[0]
    return g._last is not None and g._last.mode == "tape"


_JVPS = {}  # (fn, wrt, options) -> the Gradient object computing its jvp
_VJPS = {}  # (fn, wrt, options) -> the Gradient object computing its vjp
_JVP_KNOWN = {}  # _jvp_key -> (that object, the specialization an earlier call compiled,
# its fast path or None)
_JVP_RECENT = {}  # (fn, options) -> the fast path of the last jvp of fn with these options
_REMEMBERED = 256  # entries each of these dicts keeps (a new lambda per call is a new key)


def _made(made, key, make):
    """The Gradient object `made[key]`, refreshed; else a new one from `make()`, kept there
    (the oldest entry forgotten past _REMEMBERED)."""
    try:
        g = made.get(key)
    except TypeError:  # (an unhashable callable or wrt)
        return make()
    if g is not None:
        g.refresh()
        return g
    g = made[key] = make()
    _forget_oldest(made)
    return g


def _forget_oldest(made):
    while len(made) > _REMEMBERED:
        del made[next(iter(made))]


def _jvp_key(fn, primals, tangents, options):
    """What a jvp call's specialization depends on, computed fast (plain numbers and arrays
    only); None for the general path."""
    if len(primals) != len(tangents):
        return None
    types = _call_key(primals)
    given = _call_key([t for t in tangents if t is not None])
    if types is None or given is None:
        return None
    try:
        hash(fn)
    except TypeError:
        return None
    return (fn, options, types, tuple(t is None for t in tangents), given)


def _jvp_known(known, primals, tangents):
    """(value, tangent) of a call like an earlier one, through its compiled kernel; None when
    the general path must see the call (a tangent's shape or dtype differs from its argument's,
    the function changed, a new array layout)."""
    if known is None:
        return None
    g, spec, _ = known
    g.refresh()
    if spec.code is not g.fn.__code__ or len(primals) != len(g.params):  # (defaults: bind)
        return None
    flat = []
    for k, (p, t) in enumerate(zip(primals, tangents, strict=True)):
        if k not in g.wrt_index:  # (the tangent of an integer: None or 0, else an error)
            if t is not None and np.any(np.asarray(t) != 0):
                return None
        elif type(p) is np.ndarray:
            if type(t) is not np.ndarray or t.shape != p.shape or t.dtype != p.dtype:
                return None
            flat.append(t)
        else:
            flat.append(float(t))
    try:
        value, tangent = spec.run(primals, None, tuple(flat))
    except Exception:  # noqa: BLE001 (as in fast_call: the general path reports an error)
        return None
    value = _plain(value)
    return value, _plain(tangent, value)


def _jvp_call(fn, primals, tangents, mode, jit, cache, fastmath):
    """(the jvp's Gradient object, the bound primals, their flat layout, the flat tangents of
    the arguments differentiated) for a call of `jvp`."""
    primals, tangents = tuple(primals), tuple(tangents)
    if frontend.is_derivative(fn):
        raise UnsupportedError(f"srcad.jvp of {fn!r}: forward mode of a srcad derivative is not "
                               "supported (srcad.hvp, srcad.hessian and grad of grad are)")
    name = getattr(fn, "__qualname__", None) or repr(fn)
    by_name = _collected_or_keyword_only(frontend.unwrap(fn))
    if by_name is not None and not by_name.startswith("*"):
        raise TypeError(f"srcad.jvp passes the primals by position; {name}'s "
                        f"parameter '{by_name}' is keyword-only")
    if by_name is not None:
        raise TypeError(f"srcad.jvp: {name} collects its arguments in "
                        f"{by_name}: forward mode differentiates named parameters")
    if len(primals) != len(tangents):
        raise ValueError(f"srcad.jvp: {len(primals)} primals but {len(tangents)} tangents "
                         "(one tangent per argument, None for one that is not a float)")
    wrt = tuple(k for k, (p, t) in enumerate(zip(primals, tangents, strict=True))
                if _is_floating(p) and t is not None)
    if not wrt:
        _refuse_tape_tensors(f"srcad.jvp of {name}", primals)
        for k, (p, t) in enumerate(zip(primals, tangents, strict=True)):
            if t is not None and np.any(np.asarray(t) != 0):
                raise TypeError(f"srcad.jvp: argument {k} of {name} is {_describe(p)}, which "
                                "carries no derivative; its tangent must be None or 0 (give "
                                "a float, e.g. float(x) or x.astype(np.float64), to "
                                "differentiate along it)")
        raise TypeError("srcad.jvp: no float argument has a tangent, so nothing carries a "
                        "derivative")
    g = _made(_JVPS, (fn, wrt, mode, jit, cache, fastmath),
              lambda: Gradient(fn, wrt, "jvp", mode, jit, cache, fastmath))
    bound = g.bind(primals, {})
    flat, structures, labels = g.layout(bound)
    g.arg_types(flat, labels)  # (the call's errors first: an integer leaf in a structure)
    for k, (p, t) in enumerate(zip(primals, tangents, strict=True)):
        if k not in wrt and t is not None and np.any(np.asarray(t) != 0):
            raise TypeError(f"srcad.jvp: argument {k} of {g.fn.__qualname__} is "
                            f"{_describe(p)}, which carries no derivative; its tangent must be "
                            "None or 0")
    flat_tangents = flat_tangents_of(g, [tangents[k] for k in wrt], flat, structures, labels)
    return g, bound, flat, structures, labels, flat_tangents


def _collected_or_keyword_only(fn):
    """The first parameter of the Python function `fn` that is not positional: `*args`,
    `**kwargs` (with its stars) or a keyword-only name without a default (one with a default
    takes it); None if there is none (or `fn` is not a Python function: a library function's
    rule says its parameters). Read from its code, not inspect.signature, which takes a
    `__signature__` that functools.wraps may have copied from what it wraps."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    names, count, kwonly = code.co_varnames, code.co_argcount, code.co_kwonlyargcount
    if code.co_flags & inspect.CO_VARARGS:
        return "*" + names[count + kwonly]
    defaults = getattr(fn, "__kwdefaults__", None) or {}
    for name in names[count:count + kwonly]:
        if name not in defaults:
            return name
    if code.co_flags & inspect.CO_VARKEYWORDS:
        return "**" + names[count]
    return None


def flat_tangents_of(g, tangents, flat, structures, labels):
    """The tangents of `g`'s wrt arguments (one each, a structure like a structured one's; a
    None leaf holds it constant) as the generated code takes them: one per flat leaf."""
    like = dict(zip(labels, flat, strict=True))
    out = []
    for name, tangent in zip(g.wrt_names, tangents, strict=True):
        treedef = structures.get(name)
        paths = treedef.paths() if treedef is not None else [""]
        leaves = [tangent] if treedef is None else treedef.leaves_of(tangent)
        if leaves is None:  # (a dict's keys may come in another order, as for grad)
            raise ValueError(f"srcad: the tangent of '{name}' must have the structure of its "
                             f"argument ({treedef})")
        for path, leaf in zip(paths, leaves, strict=True):
            primal = like[name + path]
            if isinstance(primal, (int, np.integer, bool, np.bool_)):  # (a count, a flag)
                if not (leaf is None or isinstance(leaf, (int, float, np.number, np.ndarray))
                        and np.ndim(leaf) == 0 and leaf == 0):  # (0, 0.0, False, np.int64(0))
                    raise TypeError(f"srcad: '{name + path}' is {_describe(primal)}, which has "
                                    "no tangent: give None or 0 for it")
                leaf = None
            out.append(np.zeros_like(primal) if leaf is None and isinstance(primal, np.ndarray)
                       else 0.0 if leaf is None else _tangent_like(leaf, primal, name + path))
    return tuple(out)


def _is_floating(value):
    if pytrees.is_structured(value):
        return any(_is_floating(leaf) for leaf in pytrees.flatten(value)[0])
    return isinstance(value, (float, np.floating)) or \
        isinstance(value, np.ndarray) and value.dtype.kind == "f"


def _tangent_like(tangent, primal, label):
    """The tangent of argument `label` as the generated code takes it: a float for a scalar, an
    array of the argument's shape and dtype for an array."""
    if isinstance(primal, np.ndarray):
        if np.iscomplexobj(tangent):  # (the cast would drop its imaginary part)
            raise TypeError(f"srcad: the tangent of '{label}' must be real, not complex")
        t = np.asarray(tangent, dtype=primal.dtype)
        if t.shape != primal.shape:
            raise ValueError(f"srcad: the tangent of '{label}' has shape {t.shape}, the "
                             f"argument {primal.shape}")
        return t
    if np.ndim(tangent) != 0 or not isinstance(tangent, (int, float, np.number, np.ndarray)) \
            or isinstance(tangent, (bool, complex, np.complexfloating)):
        raise TypeError(f"srcad: the tangent of the scalar '{label}' must be a real "
                        f"number, not {_describe(tangent)}")
    return type(primal)(tangent) if isinstance(primal, np.floating) else float(tangent)


def source(g, /, *args, **kwargs):
    """The generated Python source of gradient `g` (for `args`' types when given; else for the
    last call's; else assuming a float for every parameter without a default). `source(srcad.jvp, f,
    primals, tangents)` is the forward-mode code of `jvp(f, primals, tangents)`."""
    if g is jvp:
        g, *_, flat, structures, labels, _ = _jvp_call(*args, **{
            "mode": "auto", "jit": True, "cache": None, "fastmath": False, **kwargs})
        spec = g.specialization(flat, structures, labels)
        if spec.generated is None:
            return f"# the jvp of {g.fn.__qualname__} runs on the runtime tape: {spec.reason}\n"
        return spec.generated.source
    if hasattr(g, "source") and not isinstance(g, Gradient):  # (srcad.higher's)
        if args or kwargs:
            return g.source(*args, **kwargs)
        try:
            return g.source()
        except UnsupportedError as exc:
            raise UnsupportedError(f"{exc}\n(srcad.source without arguments assumes a float "
                                   "for each: pass example arguments)") from None
    if not isinstance(g, Gradient):
        g = Gradient(g, 0, "grad")
    if not args and not kwargs and g._last is not None:
        spec = g._last
    elif g.no_source is not None:
        return f"# {g.fn.__qualname__} runs on the runtime tape: {g.no_source}\n"
    else:
        if not args and not kwargs:
            args, kwargs = float_arguments(g.signature)
        spec = g.specialization(*g.layout(g.bind(args, kwargs)))
    if spec.generated is None:
        return f"# {g.fn.__qualname__} runs on the runtime tape: {spec.reason}\n"
    return spec.generated.source


def explain(fn, /, *args, wrt=0, transform="grad", parallel=False, **kwargs):
    """Which mode srcad uses for `fn` (with `args`' types, or float scalars) and why, as text
    (a str the REPL shows as it is: print it in a script); `transform` is "grad" (the
    default), "jvp" or "hvp". With `parallel` (or for a gradient made with parallel=True), it
    says which top-level loops run in parallel, and why the others do not."""
    _check_parallel_transform(transform, parallel)
    if transform != "grad":
        return _explain_forward(fn, args, kwargs, wrt, transform)
    g = fn if isinstance(fn, Gradient) else Gradient(fn, wrt, "grad", parallel=parallel)
    structures, labels = {}, g.params
    if args or kwargs:
        flat, structures, labels = g.layout(g.bind(args, kwargs))
        types, numpy_args = g.arg_types(flat, labels), numpy_scalars(flat)
        single, assumed, shapes = _single_precision(flat), "", same_shapes(flat, labels)
    else:
        types, numpy_args, shapes = tuple(valuetypes.FLOAT for _ in g.params), (), {}
        single, assumed = False, " (assuming float arguments: pass example arguments for arrays)"
    name = g.fn.__qualname__
    if g.mode == "tape":
        text = f"{name}: tape (mode='tape' was requested)"
    elif g.no_source is not None:
        text = f"{name}: tape, because {g.no_source}"
    else:
        from . import pipeline, reuse
        try:
            # (the options of a call's first attempt: what srcad.source shows)
            folder = diskcache.folder() if g.cache else None  # (where the gradient's would be)
            generated = pipeline.transform(g.fn, g.wrt_names, types, folder, structures,
                                           g.has_aux, single, parallel=g.parallel,
                                           same_shapes=shapes, numpy_scalars=numpy_args,
                                           assume_shapes=True)
        except UnsupportedError as exc:
            text = f"{name}: tape{assumed}, because the source cannot be transformed: {exc}"
        else:
            signature = ", ".join(f"{p}: {t}" for p, t in zip(labels, types, strict=True))
            if g.kind != "vjp" and generated.output_type.ndim > 0:
                text = (f"{name}: refused: it returns an array ({generated.output_type}); "
                        "grad needs a scalar output (srcad.vjp takes array outputs)")
            else:
                how = "source+python (jit=False)" if not g.jit else \
                    f"source+python: it {generated.effects}, which compiled code would draw " \
                    "from Numba's own generator (np.random.seed does not set it)" \
                    if generated.effects.startswith(reuse.DRAWS) else "source+numba"
                where = f"in {generated.path}" if generated.path is not None else \
                    "in memory (srcad.source prints it)"
                text = f"{name}: {how}; gradient generated {where}"
            text += f"\n  signature: ({signature}){assumed}"
            if g.parallel:
                text += "".join(f"\n  {line}" for line in generated.loops or
                                ["parallel=True: no top-level for loop to run in parallel"])
            else:  # (loops reversed trip by trip)
                text += "".join(f"\n  {line}" for line in generated.loops)
    return Explanation(text)


class Explanation(str):
    """What srcad.explain says: a str that the REPL shows as its text (print() it in a
    script)."""

    def __repr__(self):
        return str(self)


def _explain_forward(fn, args, kwargs, wrt, transform):
    """explain for "jvp" and "hvp": generated code, or the tape where the source transform
    refuses the function."""
    if transform not in ("jvp", "hvp"):
        raise ValueError(f"transform must be 'grad', 'jvp' or 'hvp', not {transform!r}")
    name = getattr(fn, "__qualname__", repr(fn))
    assumed = ""
    if not args and not kwargs:
        args, kwargs = float_arguments(own_signature(fn))
        assumed = " (assuming float arguments: pass example arguments for arrays)"
    if transform == "hvp":
        from . import higher
        try:
            higher.hvp(fn, wrt)
        except UnsupportedError as exc:  # (a function srcad cannot read: not even the tape)
            return Explanation(f"{name}: refused: {exc}")
    try:
        text = derivative_source(transform, fn, args, kwargs, wrt)
        reason = text.partition("\n")[0].partition("runs on the runtime tape: ")[2]
    except UnsupportedError as exc:
        reason = str(exc)
    if reason:
        text = f"{name}: {transform} on the runtime tape{assumed} (mode='auto'; mode='source' " \
               f"raises instead), because {reason}"
    else:
        printed = "srcad.source(srcad.jvp, f, primals, tangents)" if transform == "jvp" else \
            "srcad.source(srcad.hvp(f), *args, v)"
        text = f"{name}: {transform} by source transformation, compiled with Numba{assumed}; " \
               f"{printed} prints the code"
    return Explanation(text)


def float_arguments(signature):
    """(args, kwargs) giving a float for every parameter without a default (by position, or by
    keyword where it is keyword-only): what source() and explain() assume without examples."""
    args, kwargs = [], {}
    for p in signature.parameters.values():
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append(1.0)
        elif p.default is p.empty and p.kind == p.KEYWORD_ONLY:
            kwargs[p.name] = 1.0
    return tuple(args), kwargs


def derivative_source(transform, fn, args, kwargs=None, wrt=0, parallel=False):
    """The generated source of `transform` ("grad", "jvp" or "hvp") of `fn` at `args`: the jvp
    along ones in the `wrt` arguments, the hvp in the direction of ones; `parallel`: the
    gradient's with parallel=True."""
    kwargs = kwargs or {}
    _check_parallel_transform(transform, parallel)
    if not args and not kwargs:  # (as source(): every parameter a float)
        args, kwargs = float_arguments(own_signature(fn))
    if transform == "grad":
        return source(grad(fn, wrt=wrt, parallel=parallel), *args, **kwargs)
    if transform == "hvp":
        from . import higher
        product = higher.hvp(fn, wrt)
        x = product.code.g.bind(args, kwargs)[product.code.g.wrt_index[0]]
        return product.source(*args, _ones_like(x), **kwargs)
    if transform != "jvp":
        raise ValueError(f"transform must be 'grad', 'jvp' or 'hvp', not {transform!r}")
    signature = own_signature(fn)
    params = list(signature.parameters)
    names, _ = _normalize_wrt(wrt, params, fn)
    bound = signature.bind(*args, **kwargs)
    keyword_only = [p for p in params
                    if signature.parameters[p].kind == inspect.Parameter.KEYWORD_ONLY]
    given = [p for p in keyword_only if p in kwargs]
    required = [p for p in keyword_only
                if signature.parameters[p].default is inspect.Parameter.empty]
    if given or required:  # (jvp passes the primals by position: keyword-only ones keep their
        # defaults)
        name = (required or given)[0]
        raise TypeError(f"srcad.jvp passes the primals by position, so the keyword-only "
                        f"'{name}' cannot be given"
                        + ("" if name in required else " (it keeps its default)"))
    bound.apply_defaults()
    params = [p for p in params if p not in keyword_only]
    primals = tuple(bound.arguments[p] for p in params)
    tangents = tuple(_ones_like(a) if p in names else None for p, a in zip(params, primals))
    return source(jvp, fn, primals, tangents)


def _check_parallel_transform(transform, parallel):
    if parallel and transform != "grad":
        raise ValueError(f"parallel=True is a gradient's option, not {transform}'s")


def _ones_like(x):
    if pytrees.is_structured(x):
        leaves, treedef = pytrees.flatten(x)
        return treedef.unflatten(iter(_ones_like(leaf) for leaf in leaves))
    return np.ones_like(x, dtype=np.result_type(x, 1.0)) if np.ndim(x) else 1.0


def gradcheck(fn, args, wrt=0, *, kwargs=None, mode="auto", jit=True, eps=1e-6, rtol=1e-5,
              atol=1e-7):
    """Check srcad's gradient of `fn` at `args` (and keyword arguments `kwargs`) against
    central finite differences.

    Returns True, or raises AssertionError describing the worst mismatch.
    """
    g = Gradient(fn, wrt, "grad", mode, jit)
    bound = g.bind(tuple(args), dict(kwargs or {}))
    _, _, grads = g.evaluate(bound)
    flat, structures, labels = g.layout(bound)

    from .tape.run import call_with_values

    def flat_fn(*leaves):  # fn of the leaves of its structured arguments
        leaves, values = iter(leaves), []
        for name in g.params:
            treedef = structures.get(name, pytrees.LEAF)
            values.append(treedef.unflatten(next(leaves) for _ in range(treedef.num_leaves)))
        return call_with_values(getattr(g.fn, "__srcad_calls__", g.fn), values)
    flat_grads = [leaf for grad in grads for leaf in pytrees.flatten(grad)[0]]
    indices = [labels.index(label) for name in g.wrt_names
               for label in (name + p for p in structures.get(name, pytrees.LEAF).paths())]
    return check.compare(flat_fn, flat, indices, flat_grads, eps=eps, rtol=rtol, atol=atol,
                         labels=labels)
