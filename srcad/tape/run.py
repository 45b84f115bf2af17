"""Run a user's NumPy function on the tape: the bridge srcad.api uses for mode="tape".

value_and_grad and vjp wrap the arguments to differentiate in tensors that require grad, and
other float arrays in constant tensors (the caller's arrays are never changed: writes go to
copies), and call the function as it is while patching.py makes `math.*`, NumPy's allocations
and `float()` work on tensors in the user's modules. The call runs in user-code mode (mode.py),
where whatever would still drop a gradient raises instead.
"""

import contextlib
import gc
import inspect
import numbers

import numpy as np

from srcad.compiler import pytrees
from srcad.errors import AliasingError, UnsupportedError, share_elements
from srcad.tape import engine, mode, patching
from srcad.tape.tensor import Tensor, new


def value_and_grad(fn, args, wrt, has_aux=False):
    """Value and gradient of a scalar-valued function, on the tape.

    Args:
        fn: the user's function.
        args: one value per parameter of fn, in signature order, as inspect.Signature.bind
            gives them (a *args parameter's value is the tuple of the extra positional
            arguments, a **kwargs parameter's a dict of the extra keywords); fewer values
            leave the remaining parameters at their defaults.
        wrt: tuple of the indices of the arguments to differentiate with respect to; such an
            argument may be a tuple, list or dict (nested) of numbers and arrays.
        has_aux: fn returns (value, aux).

    Returns:
        (value, grads), or ((value, aux), grads) with has_aux: value as a float; grads a tuple
        in wrt order, a float for a number argument, an ndarray shaped like the argument for an
        array argument, and a structure of those for a structured argument; aux with NumPy
        arrays for tensors.

    Raises:
        TypeError: fn does not return a single number, or a wrt argument is not numeric.
    """
    with _collector_paused():
        out, leaves = _trace(fn, args, wrt)
    out, aux = _split_aux(out, fn, has_aux)
    value = _output_value(out, fn)
    if value.size != 1:
        raise TypeError(
            f"{_qualname(fn)} returned an array of shape {value.shape}, but grad and "
            "value_and_grad need a scalar output; use vjp for non-scalar outputs"
        )
    if isinstance(out, Tensor) and out.requires_grad:
        with _collector_paused():
            engine.backward(out)
    grads = _grads(args, wrt, leaves)
    return ((value.item(), aux), grads) if has_aux else (value.item(), grads)


def vjp(fn, args, wrt, has_aux=False):
    """Value and vector-Jacobian product function of fn, on the tape.

    Returns:
        (value, pullback), or (value, pullback, aux) with has_aux: value is fn's output as a
        float or ndarray; pullback(cotangent), with a cotangent shaped like value, returns the
        grads as value_and_grad does. It can be called any number of times.
    """
    with _collector_paused():
        out, leaves = _trace(fn, args, wrt)
    out, aux = _split_aux(out, fn, has_aux)
    value = _output_value(out, fn)

    def pullback(cotangent):
        cotangent = np.asarray(cotangent, dtype=np.float64)
        if cotangent.shape != value.shape:
            raise ValueError(
                f"the cotangent has shape {cotangent.shape}, but {_qualname(fn)} returned "
                f"shape {value.shape}"
            )
        for leaf in _all_leaves(leaves):
            leaf.grad = None
        if isinstance(out, Tensor) and out.requires_grad:
            with _collector_paused():
                engine.backward(out, cotangent, retain_graph=True)
        return _grads(args, wrt, leaves)

    plain = value.item() if value.ndim == 0 else value
    return (plain, pullback, aux) if has_aux else (plain, pullback)


def hvp(fn, args, index, v):
    """The Hessian of scalar fn w.r.t. argument `index` (a number, an array, or a tuple, list
    or dict of those) times `v` (of the argument's structure), on the tape: the gradient
    recorded as it is computed (create_graph), then the gradient of <gradient, v>; v None
    stands for zeros, as a tangent does. Returns H v shaped like the argument (a float for a
    number)."""
    with _recorded(fn, args):
        out, leaves = _trace(fn, args, (index,))
        value = _output_value(out, fn)
        if value.size != 1:
            raise TypeError(f"{_qualname(fn)} returned an array of shape {value.shape}; hvp "
                            "takes a function with a scalar output")
        tensors = pytrees.flatten(leaves[index])[0]
        products = [None] * len(tensors)
        if isinstance(out, Tensor) and out.requires_grad and v is not None:
            grads = engine.grad([out], tensors, [None], None, True, True)
            inner = _inner_product(grads, tensors, pytrees.flatten(v)[0])
            if inner is not None:
                products = engine.grad([inner], tensors, [None], None, False, True)
        for t, product in zip(tensors, products, strict=True):
            t._grad = product
    return _grads(args, (index,), leaves)[0]


def jvp(fn, args, wrt, tangents):
    """(value, J t) of fn on the tape, `tangents` one per leaf of the wrt arguments in order
    (None: zero). The tape runs in reverse only, so the product is the gradient of
    <J^T u, t> with respect to the cotangent u, on which J^T u depends linearly: the vjp is
    recorded as it is computed (create_graph, in the cotangent alone: the saved values are
    constants there), then differentiated once more. Returns the tangent shaped and typed
    like the value (a float for a number)."""
    with _recorded(fn, args):
        out, leaves = _trace(fn, args, wrt)
        value = _output_value(out, fn)
        tangent = np.zeros_like(value, dtype=np.result_type(value.dtype, np.float32))
        if isinstance(out, Tensor) and out.requires_grad:
            tensors = [t for i in wrt for t in pytrees.flatten(leaves[i])[0]]
            cotangent = new(np.zeros(out.shape, out._value.dtype))
            cotangent.requires_grad = True
            grads = engine.grad([out], tensors, [cotangent], None, True, True,
                                in_cotangents=True)
            inner = _inner_product(grads, tensors, tangents)
            if inner is not None:
                (product,) = engine.grad([inner], [cotangent], [None], None, False, True)
                if product is not None:
                    tangent = product.numpy().astype(tangent.dtype).reshape(value.shape)
    if value.ndim == 0:
        return value.item(), tangent.item()
    return value, tangent


def nested_grad(fn, args, chain, wrt):
    """grad of grad ... of scalar fn on the tape: the derivative along the scalar arguments at
    positions `chain` in turn (each recorded as it is computed, create_graph), then its
    gradient with respect to the arguments `wrt`. Returns (that derivative as a float, the
    gradients as value_and_grad gives them)."""
    with _recorded(fn, args):
        out, leaves = _trace(fn, args, tuple(sorted(set(chain) | set(wrt))))
        if _output_value(out, fn).size != 1:
            raise TypeError(f"{_qualname(fn)} returned an array; a derivative of a derivative "
                            "takes a function with a scalar output")
        derivative = out if isinstance(out, Tensor) else None
        for i in chain:  # (None: zero)
            (derivative,) = engine.grad([derivative], [leaves[i]], [None], None, True, True) \
                if derivative is not None and derivative.requires_grad else (None,)
        if derivative is not None and derivative.requires_grad:
            tensors = [t for i in wrt for t in pytrees.flatten(leaves[i])[0]]
            grads = engine.grad([derivative], tensors, [None], None, False, True)
            for t, g in zip(tensors, grads, strict=True):
                t._grad = g
    return (0.0 if derivative is None else float(derivative.item())), _grads(args, wrt, leaves)


@contextlib.contextmanager
def _recorded(fn, args):
    """Where a derivative is recorded to be differentiated again: the backward passes run
    custom vjps, whose `math.*` and `float()` must act on tensors there too (outside, they
    would take a tensor's value: a constant, a second derivative of 0)."""
    with _collector_paused(), patching.patched(fn, args), mode.user_code():
        yield


def _inner_product(grads, tensors, directions):
    """The recorded sum of <grad, direction> over the tensors (None where no gradient depends
    on what was recorded or no direction is given)."""
    terms = [(g * new(np.asarray(d, dtype=t._value.dtype))).sum()
             for g, t, d in zip(grads, tensors, directions, strict=True)
             if d is not None and g is not None and g.requires_grad]
    return sum(terms[1:], terms[0]) if terms else None


def _trace(fn, args, wrt):
    """Call fn on tensors: returns its output and {argument index: leaf tensor}."""
    for i in wrt:
        if not 0 <= i < len(args):
            raise IndexError(f"wrt index {i} is out of range for {len(args)} arguments")
    leaves = {i: _tree_map_labelled(_leaf, args[i], f"argument {i}") for i in wrt}
    from srcad import rules  # (imports Numba: not at `import srcad`)
    rules.check_unreplaced()  # (the tape's math and SciPy stand-ins are the rules' functions)
    fn = patching.python_of_jitted(fn) or fn
    names = _names_read(fn)
    before = _globals_before(fn, names)
    with patching.patched(fn, args), mode.enable_grad(), mode.user_code():
        # the function gets copies of the leaves: NumPy code may write into its arguments
        values = [pytrees.tree_map(_clone_keeping_strides, leaves[i]) if i in leaves else
                  pytrees.tree_map(_argument, v) for i, v in enumerate(args)]
        versions = [[leaf._version if isinstance(leaf, Tensor) else None
                     for leaf in pytrees.flatten(v)[0]] for v in values]
        try:
            out = call_with_values(fn, values)
        finally:
            _untrack_globals(fn, names, before)
    _refuse_writes(fn, args, values, versions, names)
    return out, leaves


# (larger lists and dicts of the globals are not looked into: copying them per run would cost)
_LOOKED_INTO = 10_000


def _globals_before(fn, names):
    """{global name: (its value, a copy of its items if a list or dict)} of the globals `fn`
    reads (`names`), as they are before a run on the tape."""
    scope = getattr(inspect.unwrap(fn), "__globals__", {})
    return {n: (scope[n], dict(scope[n]) if isinstance(scope[n], dict) and
                len(scope[n]) <= _LOOKED_INTO else list(scope[n]) if
                isinstance(scope[n], list) and len(scope[n]) <= _LOOKED_INTO else None)
            for n in names if n in scope}


def _untrack_globals(fn, names, before):
    """The tensors a run on the tape left in the function's globals, or in the lists and dicts
    they hold (`cache["h"] = h`, `global last; last = y`), as the arrays and numbers calling
    the function leaves there. (A tensor the caller put there stays.)"""
    scope = getattr(inspect.unwrap(fn), "__globals__", {})
    for name in names:
        value = scope.get(name)
        old, items = before.get(name, (None, None))
        if isinstance(value, Tensor) and value is not old:
            scope[name] = _plain(value)
        elif isinstance(value, (dict, list)) and value is old and items is not None and \
                len(value) <= _LOOKED_INTO:
            keys = value.keys() if isinstance(value, dict) else range(len(value))
            for key in keys:
                was = items.get(key) if isinstance(value, dict) else \
                    items[key] if key < len(items) else None
                if isinstance(value[key], Tensor) and value[key] is not was:
                    value[key] = _plain(value[key])


def _plain(tensor):
    value = tensor._value.copy()
    return value[()] if value.ndim == 0 else value


def _names_read(fn):
    """The global names `fn`'s code reads, and the code of the functions written in it and of
    the functions of its module it calls (whose globals are its own: a helper's memo)."""
    fn = inspect.unwrap(fn)
    scope = getattr(fn, "__globals__", {})
    code = getattr(fn, "__code__", None)
    names, todo, seen = set(), [code] if code is not None else [], set()
    while todo:
        c = todo.pop()
        if c in seen:
            continue
        seen.add(c)
        names.update(c.co_names)
        todo.extend(k for k in c.co_consts if isinstance(k, type(c)))
        todo.extend(v.__code__ for v in map(scope.get, c.co_names)
                    if inspect.isfunction(v) and v.__globals__ is scope)
    return names


def _refuse_writes(fn, args, values, versions, globals_read):
    """The function ran on copies of its arguments; if it wrote into one that shares memory
    with another (an argument, a leaf of a structured one, or an array it reads from a global
    or a closure), the copies computed something else than the function does; into a
    read-only one, NumPy would have raised. (`globals_read`: the global names fn reads.)"""
    names = list(inspect.signature(fn).parameters)
    leaves = []  # (its name, the caller's array, the function's copy, the copy's version)
    for i, (given, made, made_versions) in enumerate(zip(args, values, versions, strict=True)):
        given_leaves, treedef = pytrees.flatten(given)
        name = names[i] if i < len(names) else str(i)
        if pytrees.flatten(made)[1] != treedef:
            raise UnsupportedError(
                f"{_qualname(fn)} changes the structure of its argument '{name}' (an append, "
                "a pop, a new key): the tape runs the function on a copy of it, whose change "
                "the caller would not see; return what the function builds instead")
        leaves += [(name + path, *leaf) for path, leaf in zip(treedef.paths(), zip(
            given_leaves, pytrees.flatten(made)[0], made_versions, strict=True), strict=True)]
    others = [(name, arg) for name, arg, _, _ in leaves] + \
        [(f"the global '{name}'", value) for name, value in _arrays_read(fn, globals_read)]
    for k, (name, arg, value, version) in enumerate(leaves):
        if version is None or value._version == version or not isinstance(arg, np.ndarray):
            continue
        if not arg.flags.writeable:
            raise ValueError(f"{_qualname(fn)} writes into its argument '{name}', which is "
                             "read-only (NumPy: assignment destination is read-only)")
        for j, (other_name, other) in enumerate(others):
            if j != k and isinstance(other, np.ndarray) and share_elements(arg, other):
                what = other_name if other_name.startswith("the global") else \
                    f"its argument '{other_name}'"
                raise AliasingError(
                    f"{_qualname(fn)} writes into its argument '{name}', which shares "
                    f"memory with {what}: the tape runs the function on copies of its "
                    "arguments, which would not see that; pass separate arrays (np.copy)")


def _arrays_read(fn, names):
    """(name, array) of the NumPy arrays `fn` reads from its module's globals (`names`) and its
    closure (its own code and the functions written inside it)."""
    fn = inspect.unwrap(fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    found = [(n, fn.__globals__[n]) for n in sorted(names)
             if n in getattr(fn, "__globals__", {})]
    for n, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
        try:
            found.append((n, cell.cell_contents))
        except ValueError:  # (an empty cell)
            continue
    return [(n, v) for n, v in found if isinstance(v, np.ndarray)]


def _tree_map_labelled(fn, value, label):
    """`fn(leaf, label)` for each leaf of a structured `value`, labelled `argument 0['W']`."""
    leaves, treedef = pytrees.flatten(value)
    return treedef.unflatten(fn(leaf, label + path) for leaf, path in
                             zip(leaves, treedef.paths(), strict=True))


def _all_leaves(leaves):
    return [t for tree in leaves.values() for t in pytrees.flatten(tree)[0]]


def _split_aux(out, fn, has_aux):
    """(output, aux): aux with NumPy arrays where fn returned tensors."""
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"with has_aux=True, {_qualname(fn)} must return a pair (value, aux), "
                        f"not a {type(out).__name__}")
    return out[0], pytrees.tree_map(_detached, out[1])


def _detached(value):
    return value._value.copy() if isinstance(value, Tensor) else value


def _argument(value):
    """What the function gets for an argument that is not differentiated."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        constant = new(value)
        constant._counter[1] = True  # a write inside the function goes to a copy
        constant._array = value.ndim == 0
        return constant
    if isinstance(value, np.ndarray):
        return value.copy()
    return patching.stand_in(value) or value


def call_with_values(fn, values):
    """fn(*values), with values given one per parameter (see value_and_grad)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # no signature to read: positional arguments
        return fn(*values)
    positional, keywords = [], {}
    for parameter, value in zip(parameters, values, strict=False):
        if parameter.kind is parameter.VAR_POSITIONAL:
            positional.extend(value)
        elif parameter.kind is parameter.KEYWORD_ONLY:
            if value is not parameter.default:  # (a ufunc refuses dtype= with signature=)
                keywords[parameter.name] = value
        elif parameter.kind is parameter.VAR_KEYWORD:
            keywords.update(value)
        else:
            positional.append(value)
    return fn(*positional, **keywords)


@contextlib.contextmanager
def _collector_paused():
    """The graph is many small objects, which the cyclic garbage collector would scan again and
    again while the graph grows; reference counting alone frees them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _leaf(arg, label):
    value = arg._value if isinstance(arg, Tensor) else np.asarray(arg)
    if value.dtype.kind not in "fiu":
        raise TypeError(
            f"{label} is a {type(arg).__name__} of dtype {value.dtype}; the tape "
            "differentiates with respect to numbers and numeric arrays only"
        )
    leaf = new(_copy_keeping_strides(value, _float_type(arg)))
    leaf.requires_grad = True
    leaf._python = type(arg) in (float, int)
    leaf._array = type(arg) is np.ndarray and arg.ndim == 0 or \
        isinstance(arg, Tensor) and arg._array
    return leaf


def _clone_keeping_strides(leaf):
    """What the function gets for a leaf: a recorded copy laid out as the argument is (of a
    reversed or sliced array, NumPy's reshape or ravel is a copy: a write to it does not reach
    the argument, and so the tape's)."""
    copy, flags = leaf.clone(), leaf._value.flags
    copy._array = leaf._array
    if not (flags.c_contiguous or flags.f_contiguous):  # (np.copy keeps C or F order)
        copy._value = _copy_keeping_strides(leaf._value, leaf._value.dtype)
    return copy


def _copy_keeping_strides(value, dtype):
    """A copy of `value` in `dtype`, with its strides (in units of items)."""
    if value.ndim == 0 or not value.size or value.flags.c_contiguous or \
            value.flags.f_contiguous or 0 in value.strides:
        return value.astype(dtype)  # (order="K": C or F as value is; a broadcast one compact)
    size = np.dtype(dtype).itemsize
    strides = [s // value.itemsize * size for s in value.strides]
    low = sum(min(0, (n - 1) * s) for n, s in zip(value.shape, strides, strict=True))
    high = sum(max(0, (n - 1) * s) for n, s in zip(value.shape, strides, strict=True))
    memory = np.empty((high - low) // size + 1, dtype)
    copy = np.lib.stride_tricks.as_strided(memory[-low // size:], value.shape, strides)
    copy[...] = value
    return copy


def _float_type(arg):
    """float32 stays float32 (as in NumPy); anything else is differentiated in float64."""
    return np.float32 if np.result_type(arg) == np.float32 else np.float64


def _qualname(fn):
    return getattr(fn, "__qualname__", repr(fn))


def _output_value(out, fn):
    value = out._value if isinstance(out, Tensor) else out
    if isinstance(value, (numbers.Complex, np.ndarray, np.generic)) and \
            np.iscomplexobj(value):
        raise TypeError(f"{_qualname(fn)} returned a complex value; srcad differentiates "
                        "functions with a real output")
    if isinstance(out, Tensor):
        return out._value.copy()
    if isinstance(out, (numbers.Real, np.ndarray, np.generic)):
        return np.array(out, dtype=np.float64)
    hint = " (to return auxiliary values as well, pass has_aux=True and return (value, aux))" \
        if isinstance(out, tuple) else ""
    raise TypeError(
        f"{_qualname(fn)} returned a {type(out).__name__}; the tape differentiates functions "
        f"that return a number or an array{hint}"
    )


def _grads(args, wrt, leaves):
    grads = []
    for i in wrt:
        arg_leaves, treedef = pytrees.flatten(args[i])
        grads.append(treedef.unflatten(
            _grad(arg, leaf) for arg, leaf in
            zip(arg_leaves, pytrees.flatten(leaves[i])[0], strict=True)))
    return tuple(grads)


def _grad(arg, leaf):
    grad = leaf._grad
    grad = np.zeros(leaf.shape, _float_type(arg)) if grad is None else grad.numpy()
    if isinstance(arg, np.floating):
        return grad[()]  # a NumPy scalar of the argument's type
    if isinstance(arg, numbers.Number):
        return grad.item()
    return grad
