"""Tensor: a NumPy array that records the operations applied to it, as in PyTorch.

This file holds what a tensor is: its storage and dtype, its autograd attributes (requires_grad,
grad, grad_fn, hooks, backward), conversions, indexing and the in-place machinery, and apply(),
which runs an op of ops.OPS and, when an input requires grad (in grad mode), gives the result an
engine.Node as grad_fn. Operators and methods are in methods.py (a mixin); what NumPy functions
called on tensors do is registered from numpy_api.py into HANDLED_UFUNCS / HANDLED_FUNCTIONS. A
NumPy function the tape cannot differentiate raises instead of dropping the gradient, and so
does converting a tracked tensor to a plain array.

Storage and versions: a result shares memory with an input only where NumPy's result would be
a view of it (x[1:], x.T, x.reshape(...), np.squeeze, np.flip, np.diagonal: the ops.defview ops;
numpy_api.py maps NumPy's other view functions onto them); a view shares its base's version
counter. A NumPy function the tape runs on a tensor's array that returns a view of it raises:
the tape could not record a write through it. In-place operations (a += b, y[i] = v, x.add_(1)) write into the tensor's storage, bump
its version counter and make the recorded op its new grad_fn. A node that saved the old value
then raises at backward time, as in PyTorch; in user-code mode (mode.py) the write goes to a
fresh copy instead (as it does for a tensor wrapping a caller's array there). A write into a
view is a write into its base (recorded there as CopySlices), after which the base gives each
of its live views its storage and a grad_fn reading the new value: both always read as NumPy
arrays would, with the gradient that goes with it.
"""

import copy
import dis
import itertools
import sys
import warnings
import weakref

import numpy as np

from srcad.compiler import pytrees
from srcad.tape import dtypes, engine, mode
from srcad.tape.methods import TensorMethods
from srcad.tape.ops import OPS
from srcad.tape.printing import tensor_repr

_STORE_SUBSCR = dis.opmap["STORE_SUBSCR"]
# the instruction of `a % b`: (opcode, its argument, None for any)
_REMAINDER = (dis.opmap["BINARY_OP"], 6) if "BINARY_OP" in dis.opmap else \
    (dis.opmap["BINARY_MODULO"], None)  # (Python 3.10)
_view_numbers = itertools.count()  # views are updated in the order they were made

_DROPPED_IN_USER_CODE = (
    "srcad.tape: float() of a value that depends on the differentiated inputs would return a "
    "plain number and drop its gradient. It happens where the tape cannot see a call: in "
    "library code, or a math function reached otherwise than by its name (a list of functions, "
    "a default argument), or storing x into a NumPy array made outside the differentiated "
    "function. Keep x as it is, or write x.detach() where no gradient should flow."
)
# (the tape makes the arguments tensors, and NumPy's functions return tensors; an array from
# elsewhere stays NumPy's, and so does what its methods return)
_PLAIN_COPIES = (
    "A copy made by a method of an array the function was not given as an argument (G.copy() "
    "of a global, a closure's or a functools.partial's array; G + 0.0) is a NumPy array: write "
    "np.copy(G), or pass G as an argument."
)
_DROPPED_BY_STORE = (
    "srcad.tape: storing a tensor that requires grad into a NumPy array (y[i] = t) would drop "
    "its gradient. Make y a tensor (srcad.tensor(np.zeros(n))), or store t.detach() if no "
    "gradient should flow. " + _PLAIN_COPIES
)
_DROPPED_BY_ARRAY = (
    "srcad.tape: a tensor that requires grad (shape {shape}) was converted to a NumPy array, "
    "which would drop its gradient: it was stored into a NumPy array (y[i:j] = t), put in "
    "np.array([...]), or passed to a function the tape does not know. Make "
    "y a tensor (srcad.tensor(...)), build arrays of tensors with np.stack, or use t.detach() "
    "(and t.detach().numpy()) if no gradient should flow. " + _PLAIN_COPIES
)
_DROPPED_BY_OUT = (
    "srcad.tape: out= names a NumPy array, which cannot carry the gradient of the result. Make "
    "it a tensor (an array made with np.zeros inside the differentiated function is one) or "
    "assign the result instead of using out=."
)
_CANNOT_WRITE = (
    "srcad.tape: {name} writes into a tensor in a way the tape does not record; write it with "
    "indexing instead (y[i] = v, y[idx] += v)"
)
_RETURNS_A_VIEW = (
    "srcad.tape: {name} returned a view of a tensor's memory, which the tape does not model "
    "(a write through it, or into the tensor, would not be recorded). Pass it a copy "
    "(np.copy(x)), or write it with operations the tape supports."
)
_NO_ATTRIBUTE = (
    "srcad.tape: ndarray.{name} is not supported on the tape's tensors; write it with "
    "operations the tape supports (srcad/tape/methods.py)"
)
_NO_DERIVATIVE = (
    "srcad.tape has no derivative for {name}, called on a tensor that requires grad. Write it "
    "with operations the tape supports (srcad/tape/ops.py), or pass x.detach() if no gradient "
    "should flow through it."
)

# what NumPy functions and ufuncs do on tensors; numpy_api.py fills these
HANDLED_UFUNCS = {}  # by ufunc, and by (ufunc, method) for np.add.at and the like
HANDLED_FUNCTIONS = {}
ZERO_GRADIENT_FUNCTIONS = set()
WRITING_FUNCTIONS = set()  # functions that write into their first argument, unless handled


def operand(x):
    """The NumPy value of an op input: a tensor's storage, or the number or array itself."""
    if isinstance(x, Tensor):
        return x._value
    if isinstance(x, (list, tuple)):
        return np.asarray([operand(item) for item in x])
    return x


def new(value, grad_fn=None):
    """A tensor around `value` (not copied); with grad_fn, a non-leaf that requires grad."""
    t = object.__new__(Tensor)
    # the storage's version counter and whether the graph saved it (or it is the caller's
    # array): shared with the storage's views and detach()ed aliases
    t._value, t._counter = value, [0, False]
    t._requires_grad = grad_fn is not None
    t._retains_grad = t._python = t._viewed_without_grad = t._array = False
    t.grad_fn = grad_fn
    t._grad = t._view_of = t._views = t.hooks = t._accumulator = None
    return t


def _rebuilt(value, requires_grad, array):
    """A tensor copied or unpickled (`Tensor.__reduce_ex__`)."""
    t = new(value)
    t._requires_grad, t._array = requires_grad, array
    return t


class ShapeError(RuntimeError, ValueError):
    """Operands that do not fit (shapes that do not broadcast, a matrix product's inner
    sizes): torch raises RuntimeError where NumPy raises ValueError, and this is both."""


def holds_tensor(obj):
    return isinstance(obj, Tensor) or (
        isinstance(obj, (list, tuple)) and any(holds_tensor(item) for item in obj)
    )


def stacked(obj):
    """A (nested) list or tuple holding tensors as their np.stack, recorded on the tape."""
    from .numpy_api import stack
    return stack([stacked(item) for item in obj]) if isinstance(obj, (list, tuple)) else obj


def apply(name, *inputs, **params):
    """Run op `name` on inputs (tensors, arrays, numbers) and record it if any input is tracked.
    The result shares memory with an input only where NumPy's would: as a view (ops.defview)."""
    op = OPS[name]
    if any(type(x) in (list, tuple) for x in inputs):  # ([t1, t2] * y: NumPy makes an array)
        inputs = [stacked(x) if holds_tensor(x) else x for x in inputs]
    values = [x._value if isinstance(x, Tensor) else operand(x) for x in inputs]
    if name in _FLOAT_RESULTS and values[0].dtype.kind in "biu" and not mode.in_user_code():
        values[0] = values[0].astype(dtypes.get_default_dtype().dtype)  # (NumPy: float16)
    torch_dtype = dtypes.result_type(inputs, lambda x: isinstance(x, Tensor)) \
        if name in _PROMOTING and not mode.in_user_code() else None
    if name in _ELEMENTWISE_PROMOTING:
        values = _in_torch_dtype(values, torch_dtype)
    try:
        if mode.in_user_code():  # NumPy's semantics, its warnings too
            value = np.asarray(op.forward(*values, **params))
        else:
            with np.errstate(all="ignore"):  # torch's: log(0) is -inf, silently
                value = np.asarray(op.forward(*values, **params))
    except ValueError as exc:
        if isinstance(exc, (ShapeError, IndexError, np.linalg.LinAlgError)):
            raise  # (NumPy's AxisError is an IndexError, as torch's "dimension out of range")
        raise ShapeError(str(exc)) from None
    if torch_dtype is not None:
        value = _as_torch_promotes(value, name, torch_dtype)

    base = inputs[0] if op.view and isinstance(inputs[0], Tensor) else None
    if base is not None and not np.may_share_memory(value, values[0]):
        base = None
    if base is None and (value.base is not None or any(value is v for v in values)):
        value = value.copy()  # (an op that returned its input as it is is no view either)
    elif value is values[0]:  # a view op that returned its input (np.squeeze of (3,)): NumPy
        value = value.view()  # returns the same array; a tensor needs an array of its own
    out = new(value)
    if value.ndim == 0:  # a Python number in user code where all its operands are
        out._python = all(map(is_python_number, inputs))
    if base is not None:
        out._counter = base._counter
        base._add_view(out, name, params)
    _record(out, op, params, inputs, values)
    return out


# the ops torch computes in the default float dtype for integers and bools (NumPy in the
# smallest float that holds them: float16 for int8, and reciprocal stays integer)
_FLOAT_RESULTS = frozenset(("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
                            "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
                            "tanh", "arcsinh", "arccosh", "arctanh", "erf", "sigmoid",
                            "reciprocal"))


# the ops of several operands whose result dtype torch decides otherwise than NumPy
_PROMOTING = frozenset(("add", "sub", "rsub", "mul", "div", "pow_tensors", "maximum", "minimum",
                        "where", "arctan2", "mod", "matmul", "clip", "stack", "concatenate"))


_ELEMENTWISE_PROMOTING = _PROMOTING - {"where", "matmul", "clip", "stack", "concatenate"}


def _in_torch_dtype(values, dtype):
    """The 0-d operands of an elementwise op in the float `dtype` torch computes it in: a 0-d
    float64 tensor times a float32 one is rounded to float32 first (NumPy would compute in
    float64 and round the result, one unit in the last place away at times)."""
    if dtype is None or dtype.kind != "f":
        return values
    return [v.astype(dtype) if isinstance(v, (np.ndarray, np.generic)) and v.ndim == 0 and
            v.dtype.kind == "f" and v.dtype != dtype else v for v in values]


def _as_torch_promotes(value, name, dtype):
    if value.dtype.kind not in "biufc":
        return value
    if name == "div" and dtype.kind in "biu":  # (true division: the default float)
        dtype = dtypes.get_default_dtype().dtype
    return value if value.dtype == dtype else value.astype(dtype)


def _record(out, op, params, inputs, values):
    """Give out a grad_fn for op if an input is tracked (in grad mode)."""
    if not mode.is_grad_enabled():
        return
    edges = [_edge(x) for x in inputs]
    if all(edge is None for edge in edges):
        return
    if out._value.dtype.kind == "c":  # (its rules are written for real values: |z|'s is not)
        raise NotImplementedError(mode.located(
            f"srcad.tape: {op.name} of a value that carries a derivative gives a complex "
            "value; srcad differentiates real computations only"))
    values = [*values, out._value]
    counters = [x._counter if isinstance(x, Tensor) else None for x in inputs]
    counters.append(out._counter)
    out.grad_fn = engine.Node(op, params, edges, values, counters)
    out._requires_grad = True
    if not op.linear:  # the node keeps these storages: a write in user code goes to a copy
        for x in inputs:
            if isinstance(x, Tensor):
                x._counter[1] = True
        out._counter[1] = True


_apply = apply  # the name srcad/custom.py imports


def is_python_number(x):
    """x is a Python int, float or bool, or a 0-d tensor standing for one in user code (where
    Python's semantics apply to it rather than NumPy's: (a > b) + (c > d) == 2)."""
    return x._python if isinstance(x, Tensor) else type(x) in (float, int, bool)


def _edge(x):
    if not (isinstance(x, Tensor) and x._requires_grad):
        return None
    return x.grad_fn or engine.accumulator(x)


def as_tensor(data):
    """data as a tensor; a float array is wrapped without a copy (writes go to it), in its
    dtype (np.zeros(n, dtype=np.float32) in user code stays float32, as NumPy's)."""
    if isinstance(data, Tensor):
        return data
    value = np.asarray(data)
    return new(value if value.dtype.kind == "f" else value.astype(np.float64))


def _formats(frame):
    """Is `frame` running `text % values`? (Python asks a value's float() for "%f" of it.)"""
    code, at = frame.f_code.co_code, frame.f_lasti
    return code[at] == _REMAINDER[0] and _REMAINDER[1] in (None, code[at + 1])


def tracked(x):
    return isinstance(x, Tensor) and x._requires_grad and mode.is_grad_enabled()


def plain(obj, name=None):
    """obj with tensors replaced by their arrays. If `name` (the NumPy function they are about
    to be passed to) is given, a tracked tensor raises instead: the tape cannot differentiate it."""
    if isinstance(obj, Tensor):
        if name is not None and tracked(obj):
            raise TypeError(mode.located(_NO_DERIVATIVE.format(name=name)))
        return obj._value
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(item, name) for item in obj)
    if isinstance(obj, dict):
        return {key: plain(item, name) for key, item in obj.items()}
    return obj


def _check_cast(result, out):
    """An in-place operation keeps the tensor's dtype: an int tensor cannot take a float
    result (torch and NumPy both refuse; a store `x[i] = 0.5` truncates, in both too)."""
    if not np.can_cast(result, out, casting="same_kind"):
        if mode.in_user_code():
            raise TypeError(mode.located(f"Cannot cast ufunc output from dtype('{result}') to "
                                         f"dtype('{out}') with casting rule 'same_kind'"))
        raise RuntimeError(f"result type {dtypes.torch_name(result)} can't be cast to the "
                           f"desired output type {dtypes.torch_name(out)}")


def _check_inplace(t):
    if not mode.is_grad_enabled():
        return
    if t._viewed_without_grad:  # (its gradient would be lost: torch refuses too)
        raise RuntimeError("A view was created in no_grad mode and is being modified inplace "
                           "with grad mode enabled. Given that this use case is ambiguous and "
                           "error-prone, it is forbidden. You can clarify your code by moving "
                           "both the view and the inplace either both inside the no_grad block "
                           "(if you don't want the inplace to be tracked) or both outside (if "
                           "you want the inplace to be tracked).")
    kind = "a leaf Variable"
    while t is not None:
        if t._requires_grad and t.grad_fn is None:
            raise RuntimeError(f"{kind} that requires grad is being used in an in-place operation.")
        t, kind = (t._view_of[0] if t._view_of else None), "a view of a leaf Variable"


class Tensor(TensorMethods):
    """An array (0-d for a scalar) that records operations when it requires grad."""

    __slots__ = (
        "__weakref__",
        "_accumulator",
        "_array",  # (0-d: it stands for a 0-d NumPy array, which x += y changes in place)
        "_counter",
        "_grad",
        "_python",
        "_requires_grad",
        "_retains_grad",
        "_value",
        "_view_of",
        "_viewed_without_grad",
        "_views",
        "grad_fn",
        "hooks",
    )
    __hash__ = object.__hash__  # hashable by identity, like torch tensors, despite __eq__
    _apply = staticmethod(apply)  # how methods.py records an op
    _wrap = staticmethod(new)  # and makes a tensor it does not record

    def __new__(cls, data, dtype=None, requires_grad=False):
        value = np.array(operand(data), dtype=None if dtype is None else dtypes.as_numpy(dtype))
        if dtype is None:
            dtypes.default_for(value)  # refuses object and string data
            if not isinstance(data, (np.ndarray, np.generic, Tensor)):
                value = dtypes.with_default_float(value)
        t = new(value)
        t.requires_grad = requires_grad
        return t

    # ---- copies, as torch's: a leaf's data and requires_grad (deepcopy: and its grad) ----

    def __copy__(self):
        """A leaf sharing this tensor's data."""
        t = _rebuilt(self._value, self.requires_grad, self._array)
        t._counter = self._counter  # (the same storage, so the same version counter)
        return t

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment")
        t = _rebuilt(np.array(self._value, copy=True), self._requires_grad, self._array)
        memo[id(self)] = t
        if self._grad is not None:
            t._grad = copy.deepcopy(self._grad, memo)
        return t

    def __reduce_ex__(self, protocol):
        return _rebuilt, (np.array(self._value), self.requires_grad, self._array)

    # ---- autograd attributes ----

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if self.grad_fn is not None and not flag:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if flag and self._value.dtype.kind not in "fc":
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad(self):
        if self.grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during backward(). If you want the gradient "
                "of a non-leaf Tensor, call .retain_grad() on it before backward().",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError("assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value.dtype != self.dtype:
                raise RuntimeError(f"attempting to assign a gradient with dtype {value.dtype} "
                                   f"to a tensor with dtype {self.dtype}")
            if value.shape != self.shape:
                raise RuntimeError("assigned grad has data of a different size")
        self._grad = value

    @property
    def retains_grad(self):
        return self._retains_grad

    def retain_grad(self):
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self._retains_grad = True
            self.grad_fn.retained = weakref.ref(self)

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient is computed; it may return a tensor to
        use instead. Returns a handle whose remove() unregisters it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        owner = self if self.grad_fn is None else self.grad_fn  # a non-leaf's are on its node
        if owner.hooks is None:
            owner.hooks = []
        owner.hooks.append(hook)
        return engine.RemovableHandle(owner.hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Add the gradient of this tensor (times `gradient`) to the .grad of the leaves it was
        computed from, or only of `inputs` (tensors, leaves or not)."""
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is None:
            engine.backward(self, gradient, retain_graph, create_graph)
            return
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        grads = engine.grad([self], inputs, [gradient], retain_graph, create_graph, True)
        for t, g in zip(inputs, grads, strict=True):
            if g is not None and not (t.grad_fn is not None and t._retains_grad):  # (filled)
                t._accumulate_grad(g if create_graph else g._value)

    def detach(self):
        """A tensor outside the graph sharing this one's storage and version counter."""
        out = new(self._value)
        out._counter = self._counter
        return out

    def detach_(self):
        if self._view_of is not None and self.grad_fn is not None:  # (torch's refusal: the
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")  # base
        self.grad_fn, self._requires_grad, self._view_of = None, False, None  # stays tracked)
        return self

    @property
    def data(self):
        """This tensor's storage as a tensor outside the graph, with its own version counter."""
        return new(self._value)

    @data.setter
    def data(self, value):
        self._value = np.array(operand(value))

    @property
    def _version(self):
        return self._counter[0]

    def _accumulate_grad(self, g, retained=False):
        """Add `g` into .grad: a leaf's .grad in place, as torch's; a `retained` non-leaf's
        into a new tensor (an earlier .grad object keeps its value)."""
        if retained and self._grad is not None:
            self._grad = self._grad + g if isinstance(g, Tensor) else new(self._grad._value + g)
        elif isinstance(g, Tensor):  # backward(create_graph=True): .grad keeps g's history
            g = g.to(self.dtype)  # (in this tensor's dtype, as torch's)
            self._grad = apply("grad_copy", g) if self._grad is None else self._grad + g
        elif self._grad is None:
            self._grad = new(np.array(g, dtype=self._value.dtype))
        else:
            self._grad._value += g
            self._grad._counter[0] += 1

    # ---- conversions ----

    def numpy(self):
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._value

    def item(self, *args):
        try:
            number = self._value.item(*args)  # NumPy's checks of the size and the index
        except ValueError as exc:
            raise ShapeError(f"a Tensor with {self._value.size} elements cannot be converted "
                             f"to Scalar ({exc})") from None
        if not (tracked(self) and mode.in_user_code()):
            return number
        # on the tape a number read from a tracked array stays a 0-d tensor, as float(t) does
        if not args:
            element = self.reshape(())
        elif len(args) == 1 and not isinstance(args[0], tuple):
            element = self.reshape(-1)[args[0]]
        else:
            element = self[args[0] if len(args) == 1 else args]
        element._python = True
        return element

    def tolist(self):
        if not (tracked(self) and mode.in_user_code()):
            return self._value.tolist()
        return self.item() if self.ndim == 0 else [part.tolist() for part in self]

    def __round__(self, ndigits=None):
        """round(t) has no gradient: in user code a 0-d tensor rounds to a number as Python's
        round does; otherwise the result is a tensor, as torch's."""
        if self.ndim == 0 and mode.in_user_code():
            return round(self._value.item(), ndigits)
        return new(np.round(self._value, ndigits or 0))

    def __array__(self, dtype=None, copy=None):
        if tracked(self):
            raise mode.DroppedGradientError(
                mode.located(_DROPPED_BY_ARRAY.format(shape=self.shape)))
        return self._value if dtype is None else self._value.astype(dtype)

    def __float__(self):
        if tracked(self):
            caller = sys._getframe(1)
            if _formats(caller):  # ("%.3f" % t, in the function or in logging: text only)
                return float(self._value.item())
            if mode.in_user_code():
                raise mode.DroppedGradientError(mode.located(_DROPPED_IN_USER_CODE))
            # float(t) returns a number, as in torch; y[i] = t into an ndarray must not
            if caller.f_code.co_code[caller.f_lasti] == _STORE_SUBSCR:
                raise mode.DroppedGradientError(_DROPPED_BY_STORE)
        return float(self._value.item())

    def __int__(self):
        return int(self._value.item())

    def __index__(self):
        if self._value.dtype.kind not in "iu" or self._value.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._value.item())

    def __bool__(self):
        if self._value.size != 1:
            raise ShapeError(f"Boolean value of Tensor with more than one value is ambiguous "
                             f"(it has {self._value.size}; use .any() or .all())")
        return bool(self._value)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._value)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __repr__(self):  # (in a NumPy function the tape runs: what it would have printed)
        return repr(self._plain_value()) if mode.in_user_code() else tensor_repr(self)

    def __str__(self):
        return str(self._plain_value()) if mode.in_user_code() else tensor_repr(self)

    def _plain_value(self):
        """The value the function computes without the tape: a Python or NumPy number, or an
        array."""
        value = self._value
        if value.ndim or self._array:
            return value
        return value.item() if self._python else value[()]

    def __format__(self, spec):
        return format(self._value.item(), spec) if self.ndim == 0 else format(repr(self), spec)

    # ---- array attributes ----

    shape = property(lambda self: dtypes.Size(self._value.shape))
    ndim = property(lambda self: self._value.ndim)
    size = property(lambda self: dtypes.SizeAttribute(self._value.shape))
    dtype = property(lambda self: dtypes.of(self._value.dtype))
    device = property(lambda self: "cpu")

    def __getattr__(self, name):
        """An ndarray attribute the tape's tensors lack (x.flat, x.put): an error naming it."""
        if name in ("hex", "is_integer", "as_integer_ratio") and self._python:  # (a float's
            return getattr(self._value.item(), name)  # methods, whose results have no derivative)
        if not name.startswith("_") and hasattr(np.ndarray, name):
            raise AttributeError(mode.located(_NO_ATTRIBUTE.format(name=name)))
        raise AttributeError(f"'Tensor' object has no attribute {name!r}")

    def numel(self):
        return self._value.size

    def dim(self):
        return self._value.ndim

    def is_floating_point(self):
        return self._value.dtype.kind == "f"

    # ---- indexing ----

    def __getitem__(self, index):
        index = numpy_index(index)
        if not mode.in_user_code() and _picks_an_element(index, self.ndim):
            index = (*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)
        return apply("getitem", self, index=index)

    def __setitem__(self, index, value):
        self._inplace("index_put", value, index=numpy_index(index))

    # ---- in-place operations ----

    def _inplace(self, name, *others, **params):
        """Store op(self, *others) into self, recording it as self's new grad_fn. A view writes
        into its base instead, which then updates its views (this one too)."""
        _check_inplace(self)
        if mode.in_user_code():  # NumPy reads the operands before it writes: y *= y
            others = tuple(o._copy_in_graph() if isinstance(o, Tensor) and
                           np.may_share_memory(o._value, self._value) else o for o in others)
        if self._view_of is not None:
            if not self._value.flags.writeable:  # np.broadcast_to's, np.diagonal's
                raise ShapeError(mode.located(
                    "assignment destination is read-only (an expanded or diagonal view: "
                    "elements of it may share memory)"))
            base, view, view_params = self._view_of
            changed = apply(name, self._copy_in_graph(), *others, **params)
            base._inplace("view_put", changed, view=view, params=view_params)
            return self
        # the graph saved this storage, or it is the caller's array: write to a copy instead
        if self._counter[1] and mode.in_user_code():
            self._value, self._counter = self._value.copy(), [0, False]
        if OPS[name].linear:
            old = new(self._value)
            old._counter = self._counter
            old.grad_fn, old._requires_grad = self.grad_fn, self._requires_grad
        else:
            old = self._copy_in_graph()
        result = apply(name, old, *others, **params)
        if name not in ("index_put", "view_put"):
            _check_cast(result._value.dtype, self._value.dtype)
            if result._value.shape != self._value.shape:
                raise ShapeError(mode.located(
                    f"output with shape {list(self._value.shape)} doesn't match the broadcast "
                    f"shape {list(result._value.shape)}"))
        self._become(result)
        self._update_views()
        return self

    def _copy_in_graph(self):
        """A copy of this tensor's value with its place in the graph."""
        copy = new(self._value.copy())
        copy.grad_fn, copy._requires_grad = self.grad_fn, self._requires_grad
        return copy

    def _become(self, result):
        """Take result's value (written into this tensor's storage) and its place in the graph."""
        if result._value is not self._value:
            self._value[...] = result._value
        self._counter[0] += 1
        if result.grad_fn is not None:
            if self._retains_grad and self.grad_fn is not None:  # (.grad: of the new value)
                self.grad_fn.retained, result.grad_fn.retained = None, self.grad_fn.retained
            self.grad_fn, self._requires_grad = result.grad_fn, True

    # ---- views: results that share this tensor's memory, as NumPy's (and torch's) do ----

    def _add_view(self, view, name, params):
        if self._views is None:
            self._views = weakref.WeakValueDictionary()
        view._view_of = (self, name, params)
        view._viewed_without_grad = self._requires_grad and not mode.is_grad_enabled()
        self._views[next(_view_numbers)] = view

    def _update_views(self):
        """After a write: each live view takes its values from this tensor's storage again (a
        write may have moved it to a copy) and its grad_fn from this tensor's new one."""
        for view in list(self._views.values()) if self._views else ():
            if view._view_of is None:  # detach_()ed
                continue
            _, name, params = view._view_of
            op = OPS[name]
            view._value = np.asarray(op.forward(self._value, **params))
            view._counter = self._counter
            _record(view, op, params, [self], [self._value])
            view._update_views()

    # ---- NumPy protocols ----

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        key = ufunc if method == "__call__" else (ufunc, method)
        handler = HANDLED_UFUNCS.get(key)
        if handler is None and _installed_rule_ops():
            handler = HANDLED_UFUNCS.get(key)
        if handler is not None:
            return handler(*inputs, **kwargs)
        module = "numpy" if getattr(np, ufunc.__name__, None) is ufunc else "scipy.special" \
            if getattr(sys.modules.get("scipy.special"), ufunc.__name__, None) is ufunc else None
        name = (f"{module}.{ufunc.__name__}" if module else f"the ufunc {ufunc.__name__}") + \
            ("" if method == "__call__" else f".{method}")
        if method == "at":
            raise TypeError(mode.located(_CANNOT_WRITE.format(name=name)))
        return _on_arrays(getattr(ufunc, method), name, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        handler = HANDLED_FUNCTIONS.get(func)
        if handler is None and _installed_rule_ops():
            handler = HANDLED_FUNCTIONS.get(func)
        if handler is not None:
            return handler(*args, **kwargs)
        name = f"{func.__module__}.{func.__name__}"
        if func in WRITING_FUNCTIONS and isinstance(args[0] if args else None, Tensor):
            raise TypeError(mode.located(_CANNOT_WRITE.format(name=name)))
        return _on_arrays(func, name, args, kwargs, func not in ZERO_GRADIENT_FUNCTIONS)


def _installed_rule_ops():
    """Whether this call installed the handlers of the functions only srcad.rules gives a
    derivative (rule_ops.py, imported when first needed: a tape run imports it, a script
    calling np.cumprod on a tensor first may not have)."""
    if "srcad.tape.rule_ops" in sys.modules:
        return False
    from srcad.tape import rule_ops  # noqa: F401
    return True


def _on_arrays(func, name, args, kwargs, differentiable=True):
    """func called on the tensors' arrays (tracked ones raise, if differentiable); an out= that
    names a tensor is written as y[...] = result, which the tape records. A result that is a
    view of a tensor's storage raises: a write through it, or into the tensor, would be lost."""
    kwargs = dict(kwargs)
    out = kwargs.pop("out", None)
    result = func(*plain(args, name if differentiable else None),
                  **plain(kwargs, name if differentiable else None))
    storages = [x._value for x in _tensors_in((args, kwargs))]
    if any(np.may_share_memory(part, storage) for part in pytrees.arrays_in(result)
           for storage in storages):
        raise TypeError(mode.located(_RETURNS_A_VIEW.format(name=name)))
    return result if out is None else write_out(out, result)


def _tensors_in(obj):
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors_in(item)
    elif isinstance(obj, dict):
        yield from _tensors_in(list(obj.values()))


def write_out(out, result):
    """NumPy's out=: the result written into out, which is returned."""
    if isinstance(out, tuple):
        if len(out) != 1:
            raise TypeError(mode.located("srcad.tape: out= with several arrays"))
        (out,) = out
    if isinstance(out, Tensor):
        out[...] = result
    elif tracked(result):
        raise TypeError(mode.located(_DROPPED_BY_OUT))
    else:
        out[...] = operand(result)
    return out


def _picks_an_element(index, ndim):
    """y[0] of a 1-D tensor, y[1, 0] of a 2-D one: in torch a 0-d view, which y[0].mul_(2)
    writes through; NumPy's y[0] is a copy (a scalar), its y[0, ...] the view."""
    items = index if isinstance(index, tuple) else (index,)
    return len(items) == ndim > 0 and all(isinstance(i, (int, np.integer)) and
                                          not isinstance(i, (bool, np.bool_)) for i in items)


def numpy_index(index):
    """An index with tensors in it (x[mask], x[idx]) as the NumPy index it stands for."""
    if isinstance(index, Tensor):
        return index._value
    if isinstance(index, tuple) and any(isinstance(item, Tensor) for item in index):
        return tuple(item._value if isinstance(item, Tensor) else item for item in index)
    return index
