"""srcad.autograd: torch.autograd's functions on tape tensors.

    g, = srcad.autograd.grad(y, x, create_graph=True)   # dy/dx, itself differentiable
    g.backward()                                        # so x.grad holds d2y/dx2 (summed)
    srcad.autograd.backward([y1, y2], [g1, g2])         # several roots at once
"""

from srcad.tape import engine
from srcad.tape.mode import enable_grad, no_grad, set_grad_enabled  # noqa: F401 (torch's names)
from srcad.tape.tensor import Tensor


def _sequence(x):
    return [x] if isinstance(x, Tensor) or x is None else list(x)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph=False,
    allow_unused=False,
):
    """The gradients of outputs with respect to inputs, without touching any .grad.

    Args:
        outputs: a tensor or a sequence of tensors.
        inputs: a tensor or a sequence of tensors that require grad (leaves or not).
        grad_outputs: the vectors of the vector-Jacobian product, one per output (None for a
            single-element output, where it is 1).
        retain_graph: keep the graph's saved values; defaults to create_graph.
        create_graph: record the computation of the gradients, so they can be differentiated.
        allow_unused: give None for an input the outputs do not depend on, instead of raising.

    Returns:
        a tuple with one gradient per input.
    """
    outputs, inputs = _sequence(outputs), _sequence(inputs)
    grad_outputs = _sequence(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    return engine.grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate the gradients of tensors into the leaves' .grad, as t.backward() does."""
    tensors = _sequence(tensors)
    grads = _sequence(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    roots = [
        engine.root_gradient(t, g, create_graph, i)
        for i, (t, g) in enumerate(zip(tensors, grads, strict=True))
    ]
    engine.run(tensors, roots, retain_graph, create_graph)


def Variable(data, requires_grad=False):  # noqa: N802 (torch's deprecated name)
    """torch.autograd.Variable, deprecated in torch: a tensor (`data` itself when it is one)."""
    if isinstance(data, Tensor):
        if requires_grad:
            data.requires_grad_(True)
        return data
    return Tensor(data, requires_grad=requires_grad)
