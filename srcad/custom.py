"""User-supplied derivatives: `@srcad.custom_vjp`.

    @srcad.custom_vjp
    def softplus(x):
        return np.log1p(np.exp(x))

    @softplus.defvjp
    def softplus_vjp(g, ans, x):          # g: adjoint of the result, ans: the result
        return g / (1.0 + np.exp(-x))     # one adjoint per argument (a tuple for several;
                                          # None for an argument with no derivative)

The source transform calls the function in the forward sweep and `softplus_vjp` in the reverse
sweep instead of differentiating the body (both must compile with Numba for jit=True, or srcad
runs the generated Python); the tape records it as one op. Arguments are positional.

Forward mode (srcad.jvp, jacobian in mode "fwd") needs the tangent too:

    @softplus.defjvp
    def softplus_jvp(t, ans, x):          # t: the tangent of x (a tuple of them, one per
        return t / (1.0 + np.exp(-x))     # argument, for several); returns the result's
"""

import functools
import inspect
import types

import numpy as np

from .errors import UnsupportedError, UserCodeError


class custom_vjp:  # noqa: N801 (used as a decorator, like functools.wraps)
    """A function with a derivative of your own, used by the source transform and the tape.

    Decorate the function with `@srcad.custom_vjp`, then its vector-Jacobian product with
    `@f.defvjp`: `vjp(g, ans, *args)` gets the adjoint `g` of the result, the result `ans` and
    the arguments, and returns one adjoint per argument (a tuple for several; None for an
    argument with no derivative). Both must compile with Numba for `jit=True`. A vjp returning
    the wrong number of adjoints, None for an argument that carries a derivative, or an adjoint
    of another shape than its argument is an error. The function (a def or a lambda), its vjp
    and its jvp must not write into their array arguments: the source transform refuses them.
    """

    def __init__(self, fn):
        if not isinstance(fn, types.FunctionType):
            raise TypeError(f"srcad.custom_vjp decorates a function (def or lambda), not "
                            f"{type(fn).__name__} {fn!r:.60}: wrap it in a def")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.vjp = None
        self.jvp = None
        self._op_name = None
        self._jitable = None  # the vjp whose pair Numba can call (registered at first use)
        self._compiled_with = None  # {Ref: value} Numba compiled into fn, vjp and jvp

    def defvjp(self, vjp):
        """Register `vjp(g, ans, *args)`, returning the adjoint of each argument."""
        self.vjp = vjp
        from .tape import ops
        self._op_name = f"custom_{self.fn.__name__}_{id(self):x}"
        op = ops.Op(self.fn.__name__, self._new_result, vjp_all=self._tape_vjp)
        op.name = self._op_name
        ops.OPS[self._op_name] = op
        return vjp

    def defjvp(self, jvp):
        """Register `jvp(t, ans, *args)`, returning the tangent of the result from the tangent
        `t` of the argument (a tuple, one per argument, for several; 0.0 or zeros for an
        argument that carries none). It must compile with Numba for jit=True."""
        self.jvp = jvp
        return jvp

    @property
    def __srcad_jvp__(self):
        """The jvp, made callable from compiled code; None if none was given."""
        if self.jvp is not None:
            from numba.extending import register_jitable
            register_jitable(self.fn)
            register_jitable(self.jvp)
        return self.jvp

    def _new_result(self, *args, **keywords):
        """fn's result, which the tape records as new memory: a result sharing memory with an
        argument (`return x`) would make a write into either a write into both, unrecorded."""
        ans = self.fn(*args, **keywords)
        if isinstance(ans, np.ndarray) and ans.ndim == 0:  # (`min(x, 1.0)` of a number)
            return ans.copy()
        for arg in args:
            if isinstance(ans, np.ndarray) and isinstance(arg, np.ndarray) and \
                    np.shares_memory(ans, arg):
                raise UnsupportedError(
                    f"custom_vjp function {self.fn.__name__} returned (a view of) its argument: "
                    "srcad takes a custom function's result to be new memory (return a copy: "
                    "x.copy())")
        return ans

    def _tape_vjp(self, g, ans, *args, **keywords):
        name = getattr(self.vjp, "__name__", "the vjp")
        # (a number is a 0-d array on the tape; the rule gets it as a number, as from the
        # source transform: an njit helper it calls may take no 0-d array)
        g, ans, *args = (_number_if_0d(v) for v in (g, ans, *args))
        try:
            grads = self.vjp(g, ans, *args, **keywords)  # (keyword-only: by keyword)
        except TypeError as exc:
            if not hasattr(g, "requires_grad"):
                raise
            # (create_graph: the tape records the vjp's own operations, for a 2nd derivative)
            raise TypeError(f"differentiating {name}, the vjp of custom_vjp function "
                            f"{self.fn.__name__}, for a second derivative: {exc} (give "
                            f"{self.fn.__name__}.defjvp(...) a forward rule, which hvp and "
                            "hessian use instead)") from exc
        # (a list of them for several arguments, as the source transform takes it)
        grads = list(grads) if isinstance(grads, tuple) or \
            isinstance(grads, list) and len(args) > 1 else [grads]
        if len(grads) != len(args):
            raise TypeError(f"{name} returns {len(grads)} adjoint(s) for {len(args)} "
                            "argument(s) (a tuple, one per argument)")
        for k, (grad, arg) in enumerate(zip(grads, args, strict=True)):
            if isinstance(grad, (list, tuple)) and not any(hasattr(v, "_value") for v in grad) \
                    and np.shape(grad) == np.shape(arg):  # (of a tuple argument: an array here)
                grads[k] = grad = np.asarray(grad, np.result_type(*grad, np.float32))
            if grad is not None and (np.shape(grad) != np.shape(arg) or
                                     isinstance(grad, (list, tuple))):
                raise ValueError(f"the adjoint of argument {k} from {name} has shape "
                                 f"{np.shape(grad)}, its argument {np.shape(arg)}")
        # (a number, `return 0`, as the engine's arrays; g is a tensor in a second derivative)
        dtype = np.result_type(getattr(g, "_value", g), np.float32)
        return [grad if grad is None or hasattr(grad, "shape") else np.asarray(grad, dtype)
                for grad in grads]

    @property
    def __srcad_vjp__(self):
        if self.vjp is None:
            raise UserCodeError(f"custom_vjp function {self.fn.__name__} has no derivative: "
                                f"decorate one with @{self.fn.__name__}.defvjp")
        if self._jitable is not self.vjp:  # (numba is imported by the compiler, not srcad)
            from numba.extending import register_jitable
            register_jitable(self.fn)
            register_jitable(self.vjp)
            self._jitable = self.vjp
        return self.vjp

    def captured(self):
        """{Ref: value} of the numbers and arrays fn, vjp and jvp read from their globals and
        closures (through the functions they call), which Numba compiles in as constants."""
        out, seen = {}, set()
        for fn in (self.fn, self.vjp, self.jvp):
            _captured(fn, seen, out)
        return out

    def check_compiled_values(self):
        """Raise UnsupportedError where compiled code would run with other values than Python:
        a writeable array read from a global or closure (Numba compiles a copy in, so writes
        into it are not seen), or a value changed since Numba first compiled these functions
        (it keeps the first: Numba's compiled functions are kept for the process)."""
        captured = self.captured()
        name = self.fn.__name__
        for ref, value in captured.items():
            if any(isinstance(v, np.ndarray) and _may_change(v)
                   for v in (value if isinstance(value, tuple) else (value,))):
                raise UnsupportedError(
                    f"custom_vjp function {name} reads the array '{ref.key}' from outside: "
                    "Numba compiles a copy of it in, so a later write into it would not be "
                    "seen: pass it as an argument, or make it read-only "
                    f"({ref.key}.setflags(write=False); a view of a writeable array can still "
                    "change through that array: make a read-only copy)")
        if self._compiled_with is None:
            self._compiled_with = captured
        for ref, value in captured.items():
            first = self._compiled_with.get(ref, value)
            if not _same(value, first):
                what, fix = f"'{ref.key}'", "pass it as an argument"
                if ref.key in ("__defaults__", "__kwdefaults__"):
                    what = f"the defaults ({ref.key}) of {ref.container.__name__}"
                    fix = "pass the argument in the call"
                raise UnsupportedError(
                    f"custom_vjp function {name} reads {what}, changed since Numba compiled "
                    f"it with the first value ({first!r}; Numba keeps what it compiled for the "
                    f"process): {fix}")

    def __call__(self, *args, **kwargs):
        from .tape.mode import is_grad_enabled
        from .tape.tensor import Tensor, _apply
        if self.vjp is None and is_grad_enabled() and any(
                isinstance(a, Tensor) and a.requires_grad for a in (*args, *kwargs.values())):
            self.__srcad_vjp__  # noqa: B018 (raises, as in the source transform: no vjp given)
        if self.vjp is not None and any(isinstance(a, Tensor) for a in (*args, *kwargs.values())):
            # (the vjp takes every argument: the defaults too)
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
            bound.apply_defaults()
            for name, value in bound.kwargs.items():
                if isinstance(value, Tensor):
                    raise TypeError(f"custom_vjp function {self.fn.__name__}: its keyword-only "
                                    f"argument '{name}' is a tensor; a custom vjp gives "
                                    "adjoints of positional arguments only")
            return _apply(self._op_name, *bound.args, **bound.kwargs)
        return self.fn(*args, **kwargs)


def _may_change(array):
    """Can the elements of `array` change: it is writeable, or a view of memory that is?"""
    while isinstance(array, np.ndarray):
        if array.flags.writeable:
            return True
        array = array.base
    return array is not None and not isinstance(array, bytes)


def _same(value, first):
    """Is `value` what Numba compiled in as `first`: the same object, or an equal number or
    tuple of numbers (a read-only array rebound to another is not)?"""
    from .compiler.frontend import same_object
    if same_object(value, first):  # (a dict the same as its snapshot `first`)
        return True
    try:
        return type(value) is type(first) and not isinstance(value, np.ndarray) and \
            bool(value == first)
    except ValueError:  # (a tuple holding arrays)
        return False


def _captured(fn, seen, out):
    from .compiler.frontend import Ref, globals_read, is_library, names_read, snapshot
    fn = getattr(fn, "py_func", fn)  # (a Numba dispatcher: its Python function)
    if isinstance(fn, custom_vjp):
        for part in (fn.fn, fn.vjp, fn.jvp):
            _captured(part, seen, out)
        return
    if not isinstance(fn, types.FunctionType) or id(fn) in seen:
        return
    seen.add(id(fn))
    # (Numba compiles a function's defaults in with it, as the values it reads)
    out[Ref(fn, "__defaults__", "attr")] = fn.__defaults__
    out[Ref(fn, "__kwdefaults__", "attr")] = snapshot(fn.__kwdefaults__)
    names = globals_read(fn.__code__)
    found = [(Ref(fn.__globals__, n, "item"), fn.__globals__[n])
             for n in sorted(names & fn.__globals__.keys())]
    for n, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
        try:
            found.append((Ref(cell, n, "cell"), cell.cell_contents))
        except ValueError:  # (an empty cell)
            pass
    attributes = names_read(fn.__code__)
    for ref, value in found:
        if not isinstance(value, types.ModuleType):
            _capture(ref, value, seen, out)
        elif not is_library(value):  # (cfg.K: Numba compiles a user module's attribute in too)
            for a in sorted(attributes & vars(value).keys()):
                if not isinstance(vars(value)[a], types.ModuleType):
                    _capture(Ref(vars(value), a, "item"), vars(value)[a], seen, out)


def _capture(ref, value, seen, out):
    """A number, array or tuple at `ref` is captured; a function is followed."""
    if isinstance(value, (bool, int, float, complex, np.generic, np.ndarray, tuple)):
        out[ref] = value
    else:
        _captured(value, seen, out)


def _number_if_0d(value):
    return value[()] if type(value) is np.ndarray and value.ndim == 0 else value


def parameters_written(fn):
    """The parameters of `fn` (a custom function or its rule) it may write into, in order:
    stores into their elements (`x[0] = v`, `x[:] += v`), updates in place (`x *= 2.0`: of an
    array), `out=x`. None when its source cannot be read (it is not checked)."""
    import gast

    from .compiler import frontend
    try:
        tree = frontend.parse(fn).tree
        params = list(inspect.signature(fn).parameters)
    except Exception:  # noqa: BLE001 (no source: a builtin, a compiled function)
        return None
    written = set()
    for node in gast.walk(tree):
        targets = node.targets if isinstance(node, gast.Assign) else \
            [node.target] if isinstance(node, gast.AugAssign) else []
        for target in targets:
            in_place = isinstance(target, gast.Subscript) or isinstance(node, gast.AugAssign)
            while isinstance(target, gast.Subscript):
                target = target.value
            if in_place and isinstance(target, gast.Name):
                written.add(target.id)
        if isinstance(node, gast.keyword) and node.arg == "out":
            written |= {n.id for n in gast.walk(node.value) if isinstance(n, gast.Name)}
    return [p for p in params if p in written]
