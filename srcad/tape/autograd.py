"""srcad.autograd: torch.autograd's functions on tape tensors.

    g, = srcad.autograd.grad(y, x, create_graph=True)   # dy/dx, itself differentiable
    g.backward()                                        # so x.grad holds d2y/dx2 (summed)
    srcad.autograd.backward([y1, y2], [g1, g2])         # several roots at once
"""

import numpy as np

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


class FunctionCtx:
    """The `ctx` of a Function: what forward keeps for backward."""

    _saved = ()  # (tensor, its version when saved)
    name = "Function"

    def save_for_backward(self, *tensors):
        self._saved = tuple((t, t._version if isinstance(t, Tensor) else None) for t in tensors)

    @property
    def saved_tensors(self):
        """The saved tensors; an error, as torch's, for one changed in place since."""
        for k, (t, version) in enumerate(self._saved):
            if version is not None and t._version != version:
                raise RuntimeError(engine.MODIFIED.format(
                    what=f"saved tensor {k}", label=f"{self.name}Backward",
                    shape=tuple(t.shape), now=t._version, then=version))
        return tuple(t for t, _ in self._saved)

    def mark_non_differentiable(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        pass


def _check_returned(name, k, grad, shape):
    """torch's checks of what a Function's backward returned for its tensor argument k."""
    if grad is None:
        return
    if not isinstance(grad, Tensor):  # (torch's RuntimeError, not a TypeError)
        raise RuntimeError(  # noqa: TRY004
            f"function {name}Backward: expected Variable or None (got {type(grad).__name__}) "
            f"for argument {k}")
    try:
        summable = np.broadcast_shapes(grad.shape, shape) == tuple(grad.shape)
    except ValueError:
        summable = False
    if not summable:
        raise RuntimeError(f"Function {name}Backward returned an invalid gradient at index {k} "
                           f"- got {list(grad.shape)} but expected shape compatible with "
                           f"{list(shape)}")


class Function:
    """torch.autograd.Function: a differentiable operation written as two static methods,
    `forward(ctx, *args)` (run without recording; returns one tensor) and `backward(ctx,
    grad_output)` (one gradient, or None, per argument of forward); `MyFunction.apply(x)`
    records it. With create_graph=True, backward's own operations are recorded."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("a Function subclass defines forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass defines backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args):
        from srcad.tape.ops import Op
        from srcad.tape.tensor import _record, new

        ctx = FunctionCtx()
        ctx.name = cls.__name__
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward returns one tensor (srcad's Function "
                            f"takes no tuples of outputs), not {type(out).__name__}")
        positions = [k for k, a in enumerate(args) if isinstance(a, Tensor)]

        def vjp_all(g, ans, *values):
            wrapped = g if isinstance(g, Tensor) else new(np.asarray(g))
            grads = cls.backward(ctx, wrapped)
            grads = grads if isinstance(grads, tuple) else (grads,)
            if len(grads) != len(args):
                raise RuntimeError(f"function {cls.__name__}Backward returned an incorrect "
                                   f"number of gradients (expected {len(args)}, got "
                                   f"{len(grads)})")
            chosen = [grads[k] for k in positions]
            for k, grad in zip(positions, chosen, strict=True):
                _check_returned(cls.__name__, k, grad, np.shape(args[k]))
            return [np.zeros(np.shape(values[i])) if grad is None else
                    grad if isinstance(g, Tensor) else np.asarray(getattr(grad, "_value", grad))
                    for i, grad in enumerate(chosen)]

        op = Op(cls.__name__, None, vjp_all=vjp_all, torch=f"{cls.__name__}Backward")
        result = new(out._value)
        inputs = [args[k] for k in positions]
        _record(result, op, {}, inputs, [t._value for t in inputs])
        # (a saved output is the recorded result, as torch's: a second derivative goes
        # through it, and a change to it in place is seen)
        ctx._saved = tuple((result if t is out else t, version) for t, version in ctx._saved)
        return result
