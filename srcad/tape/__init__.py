"""srcad.tape: the runtime tape, with PyTorch's autograd semantics.

It differentiates what the source transform cannot (recursion, data-dependent Python
structures, calls without source) and is there for users who think in PyTorch's terms: a
script written for torch runs with `import srcad as torch` as far as it uses what is here.

    x = srcad.tensor([1.0, 2.0], requires_grad=True)
    e = 2 * x**4 - x**3          # each operation records a grad_fn: <SubBackward0>
    e.grad_fn.next_functions     # ((<MulBackward0 ...>, 0), (<PowBackward0 ...>, 0))
    e.backward(srcad.tensor([1.0, 1.0]))   # a vector-Jacobian product; a scalar needs none
    x.grad                       # accumulates until x.grad = None
    g, = srcad.autograd.grad(e.sum(), x, create_graph=True); g.sum().backward()  # 2nd order
    np.sin(x), np.sum(x, axis=0), x @ W, x[1:], x.T   # NumPy functions and indexing are tracked
    h = x * 2; h.retain_grad(); h.register_hook(print)
    with srcad.no_grad(): ...    # operations inside are not recorded; also enable_grad()
    srcad.make_dot(e, params={"x": x})   # the backward graph (graphviz.Digraph, or DOT text)
    opt = srcad.optim.SGD([w], lr=0.1, momentum=0.9); opt.zero_grad(); loss.backward(); opt.step()

Files: tensor.py (the Tensor and recording), methods.py (operators and methods), ops.py (THE op
table), engine.py (graph nodes and the backward walk), autograd.py (grad, backward),
numpy_api.py (NumPy functions on tensors), factories.py (zeros, randn, cat, exp, ...), dtypes.py,
printing.py, mode.py (no_grad), graph.py (make_dot), optim.py (SGD, Adam), run.py and
patching.py (below).

Errors follow PyTorch: backward() of a non-scalar without a gradient, a second backward()
through a graph without retain_graph=True, an in-place change to a leaf that requires grad, and
an in-place change to a value the graph saved (found at backward time by a version counter).
Converting a tracked tensor to a plain NumPy array (np.asarray(t), y[i] = t into an ndarray)
raises rather than drop the gradient; float(t) and t.item() return numbers, as in PyTorch
(inside a function run by run.py they keep the gradient as 0-d tensors instead).

For plain NumPy functions srcad.api uses value_and_grad(fn, args, wrt) and vjp(fn, args, wrt)
from run.py: they run fn on tensors while `math.*`, NumPy allocations (np.zeros, ...) and
float() are patched in the user's modules (patching.py), so loops that fill arrays
(y[i] = math.sin(x[i])), while loops, recursion and helper functions are differentiated.
"""

from srcad.tape import autograd, factories, numpy_api, optim  # numpy_api registers NumPy's
from srcad.tape.dtypes import (
    Size,
    bool_,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from srcad.tape.dtypes import bool_ as bool  # torch.bool; this module uses no builtin bool
from srcad.tape.dtypes import float32 as float
from srcad.tape.dtypes import get_default_dtype, set_default_dtype
from srcad.tape.dtypes import int32 as int
from srcad.tape.factories import *
from srcad.tape.graph import make_dot
from srcad.tape.mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                             set_grad_enabled)
from srcad.tape.run import value_and_grad, vjp  # noqa: F401 (srcad.api's tape mode)
from srcad.tape.tensor import Tensor

del numpy_api

# torch's names, which srcad exports too (value_and_grad and vjp are srcad.api's there)
__all__ = [
    "Size",
    "Tensor",
    "autograd",
    "bool",
    "bool_",
    "double",
    "enable_grad",
    "float",
    "float16",
    "float32",
    "float64",
    "get_default_dtype",
    "half",
    "inference_mode",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_grad_enabled",
    "long",
    "make_dot",
    "no_grad",
    "optim",
    "set_default_dtype",
    "set_grad_enabled",
    "short",
    "uint8",
]
__all__ += factories.__all__
