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

from srcad.tape import engine, mode, patching
from srcad.tape.tensor import Tensor, new


def value_and_grad(fn, args, wrt):
    """Value and gradient of a scalar-valued function, on the tape.

    Args:
        fn: the user's function.
        args: one value per parameter of fn, in signature order, as inspect.Signature.bind
            gives them (a *args parameter's value is the tuple of the extra positional
            arguments, a **kwargs parameter's a dict of the extra keywords); fewer values
            leave the remaining parameters at their defaults.
        wrt: tuple of the indices of the arguments to differentiate with respect to.

    Returns:
        (value, grads): value as a float; grads a tuple in wrt order, a float for a number
        argument and an ndarray shaped like the argument for an array argument.

    Raises:
        TypeError: fn does not return a single number, or a wrt argument is not numeric.
    """
    with _collector_paused():
        out, leaves = _trace(fn, args, wrt)
    value = _output_value(out, fn)
    if value.size != 1:
        raise TypeError(
            f"{_qualname(fn)} returned an array of shape {value.shape}, but value_and_grad "
            "needs a scalar output; use vjp for non-scalar outputs"
        )
    if isinstance(out, Tensor) and out.requires_grad:
        with _collector_paused():
            engine.backward(out)
    return value.item(), _grads(args, wrt, leaves)


def vjp(fn, args, wrt):
    """Value and vector-Jacobian product function of fn, on the tape.

    Returns:
        (value, pullback): value is fn's output as a float or ndarray; pullback(cotangent),
        with a cotangent shaped like value, returns the grads as value_and_grad does. It can be
        called any number of times.
    """
    with _collector_paused():
        out, leaves = _trace(fn, args, wrt)
    value = _output_value(out, fn)

    def pullback(cotangent):
        cotangent = np.asarray(cotangent, dtype=np.float64)
        if cotangent.shape != value.shape:
            raise ValueError(
                f"the cotangent has shape {cotangent.shape}, but {_qualname(fn)} returned "
                f"shape {value.shape}"
            )
        for leaf in leaves.values():
            leaf.grad = None
        if isinstance(out, Tensor) and out.requires_grad:
            with _collector_paused():
                engine.backward(out, cotangent, retain_graph=True)
        return _grads(args, wrt, leaves)

    return (value.item() if value.ndim == 0 else value), pullback


def _trace(fn, args, wrt):
    """Call fn on tensors: returns its output and {argument index: leaf tensor}."""
    leaves = {i: _leaf(args, i) for i in wrt}
    fn = patching.python_of_jitted(fn) or fn
    with patching.patched(fn, args), mode.enable_grad(), mode.user_code():
        # the function gets copies of the leaves: NumPy code may write into its arguments
        values = [leaves[i].clone() if i in leaves else _argument(v) for i, v in enumerate(args)]
        return call_with_values(fn, values), leaves


def _argument(value):
    """What the function gets for an argument that is not differentiated."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        constant = new(value)
        constant._counter[1] = True  # a write inside the function goes to a copy
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


def _leaf(args, i):
    if not 0 <= i < len(args):
        raise IndexError(f"wrt index {i} is out of range for {len(args)} arguments")
    value = args[i]._value if isinstance(args[i], Tensor) else np.asarray(args[i])
    if value.dtype.kind not in "fiu":
        raise TypeError(
            f"argument {i} is a {type(args[i]).__name__} of dtype {value.dtype}; the tape "
            "differentiates with respect to numbers and numeric arrays only"
        )
    leaf = Tensor(value.astype(_float_type(args[i])), requires_grad=True)
    leaf._python = type(args[i]) in (float, int)
    return leaf


def _float_type(arg):
    """float32 stays float32 (as in NumPy); anything else is differentiated in float64."""
    return np.float32 if np.result_type(arg) == np.float32 else np.float64


def _qualname(fn):
    return getattr(fn, "__qualname__", repr(fn))


def _output_value(out, fn):
    if isinstance(out, Tensor):
        return out._value.copy()
    if isinstance(out, (numbers.Real, np.ndarray, np.generic)):
        return np.array(out, dtype=np.float64)
    raise TypeError(
        f"{_qualname(fn)} returned a {type(out).__name__}; the tape differentiates functions "
        "that return a number or an array"
    )


def _grads(args, wrt, leaves):
    grads = []
    for i in wrt:
        grad = leaves[i]._grad
        grad = np.zeros(leaves[i].shape, _float_type(args[i])) if grad is None else grad.numpy()
        if isinstance(args[i], np.floating):
            grad = grad[()]  # a NumPy scalar of the argument's type
        elif isinstance(args[i], numbers.Number):
            grad = grad.item()
        grads.append(grad)
    return tuple(grads)
