"""srcad.tape: the runtime tape, with PyTorch's autograd semantics.

It differentiates what the source transform cannot (recursion, data-dependent Python
structures, calls without source) and is there for users who think in PyTorch's terms.

    from srcad.tape import tensor, no_grad, make_dot, optim

    x = tensor([1.0, 2.0], requires_grad=True)
    y = tensor([3.0, 4.0], requires_grad=True)
    e = 2 * x**4 - y**3          # each operation records a grad_fn: e.grad_fn is <SubBackward>
    e.backward(tensor([1.0, 1.0]))   # a vector-Jacobian product; a scalar needs no argument
    x.grad                       # tensor([ 8., 64.]): 8 x^3; accumulates until x.grad = None
    np.sin(x), np.sum(x, axis=0), x @ W, x[1:], x.T   # NumPy functions and indexing are tracked
    h = x * 2; h.retain_grad()   # keep a non-leaf's .grad
    with no_grad(): ...          # operations inside are not recorded; also enable_grad()
    x.detach(), x.requires_grad_(False), x.is_leaf, t.item(), t.detach().numpy()
    make_dot(e, params={"x": x, "y": y})   # Graphviz DOT of the backward graph
    opt = optim.SGD([w, b], lr=0.1); opt.zero_grad(); loss.backward(); opt.step()

Errors follow PyTorch: backward() of a non-scalar without a gradient, a second backward()
through a graph without retain_graph=True, an in-place change to a leaf that requires grad, and
an in-place change to a value the graph saved (found at backward time by a version counter).
Converting a tracked tensor to a plain NumPy array (np.asarray(t), y[i] = t into an ndarray)
raises rather than drop the gradient; float(t) and t.item() return numbers, as in PyTorch.

For plain NumPy functions srcad.api uses value_and_grad(fn, args, wrt) and vjp(fn, args, wrt)
from run.py: they run fn on tensors with `math.*`, NumPy allocations (np.zeros, ...) and
float() patched, so loops that fill arrays (y[i] = math.sin(x[i])), while loops, recursion and
helper functions are differentiated.
"""

from srcad.tape import optim
from srcad.tape.graph import make_dot
from srcad.tape.mode import enable_grad, is_grad_enabled, no_grad
from srcad.tape.run import value_and_grad, vjp
from srcad.tape.tensor import Tensor, tensor

__all__ = [
    "Tensor",
    "enable_grad",
    "is_grad_enabled",
    "make_dot",
    "no_grad",
    "optim",
    "tensor",
    "value_and_grad",
    "vjp",
]
