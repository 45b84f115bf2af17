"""The backward pass: graph nodes (a tensor's grad_fn) and backward().

A Node records one operation: its op-table entry, its params, where each input's gradient goes
(an edge: the input's own Node, a leaf tensor, or None when the input needs no gradient), and
the values its vjps read. backward() runs the nodes reachable from the root, latest-created
first, which is a topological order; it calls each node's vjps, sums every gradient to its
input's shape and accumulates it for the next node, or into a leaf's .grad. A gradient that is
zero but at an index (ops.IndexedGrad, from x[i]) is added at that index only, so a loop that
reads x[i] n times costs O(n), not O(n**2). There is no per-op code here.

A value a node saved may be unavailable when backward() reads it: freed by an earlier backward()
or changed in place since it was saved (its version counter moved on). A stand-in then takes its
place, and raises a RuntimeError only if a vjp actually reads the value, as PyTorch does.
"""

import heapq
import itertools
import math

import numpy as np

from srcad.tape.ops import IndexedGrad

_FREED = (
    "Trying to backward through the graph a second time: the values {label} saved were freed "
    "by the first backward(). Call the first backward() with retain_graph=True if you need to "
    "backward through the graph again."
)
_MODIFIED = (
    "one of the variables needed for gradient computation has been modified by an inplace "
    "operation: {what} of {label}, a tensor of shape {shape}, is at version {now}; expected "
    "version {then} instead. Compute on a copy (t.clone()) instead of changing it in place, or "
    "call backward() before the in-place change."
)
_NOT_SAVED = "srcad/tape/ops.py declares {label} linear, but its vjp read an input value"


class _Unavailable:
    """Stands in for a value a node does not have: shape queries work, any other use raises."""

    __slots__ = ("_details", "_message", "ndim", "shape", "size")

    def __init__(self, shape, message, **details):
        self.shape, self.ndim, self.size = shape, len(shape), math.prod(shape)
        self._message, self._details = message, details

    def _fail(self, *args, **kwargs):
        raise RuntimeError(self._message.format(shape=self.shape, **self._details))

    def __getattr__(self, name):
        self._fail()

    __array__ = __array_ufunc__ = __array_function__ = _fail
    __float__ = __int__ = __bool__ = __len__ = __iter__ = __getitem__ = _fail
    __neg__ = __pos__ = __abs__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _fail


_sequence = itertools.count()


class Node:
    """A recorded operation; the grad_fn of the tensor it produced (repr: <MulBackward>)."""

    __slots__ = ("edges", "op", "params", "retained", "saved", "sequence", "shapes", "versions")

    def __init__(self, op, params, edges, values, counters):
        """values: the input values then the result; counters: each one's version counter,
        or None for values that are not tensors."""
        self.op, self.params, self.edges = op, params, edges
        self.sequence = next(_sequence)  # creation order: a node's inputs come before it
        self.shapes = [getattr(value, "shape", ()) for value in values]
        self.retained = None  # weak reference to a non-leaf tensor that called retain_grad()
        if op.linear:
            self.saved, self.versions = None, ()
        else:
            self.saved = values
            self.versions = [
                (slot, counter, counter[0])
                for slot, counter in enumerate(counters)
                if counter is not None
            ]

    def __repr__(self):
        return f"<{self.op.label}>"

    def name(self):
        return self.op.label

    def apply(self, g):
        """The gradients of this node's inputs, given the gradient g of its result, as a list of
        (edge, gradient) pairs for the inputs that need one."""
        *inputs, ans = self._saved_values()
        op = self.op
        if op.vjp_all is not None:
            grads = op.vjp_all(g, ans, *inputs, **self.params)
        else:
            grads = [
                None if edge is None else vjp(g, ans, *inputs, **self.params)
                for vjp, edge in zip(op.vjps, self.edges, strict=True)
            ]
        return [
            (edge, sum_to_shape(grad, shape))
            for edge, grad, shape in zip(self.edges, grads, self.shapes[:-1], strict=True)
            if edge is not None
        ]

    def free(self):
        self.saved = None

    def _saved_values(self):
        label = self.op.label
        if self.saved is None:
            message = _NOT_SAVED if self.op.linear else _FREED
            return [_Unavailable(shape, message, label=label) for shape in self.shapes]
        values = list(self.saved)
        for slot, counter, version in self.versions:
            if counter[0] != version:
                what = "the result" if slot == len(values) - 1 else f"input {slot}"
                values[slot] = _Unavailable(
                    self.shapes[slot],
                    _MODIFIED,
                    what=what,
                    label=label,
                    now=counter[0],
                    then=version,
                )
        return values


def sum_to_shape(g, shape):
    """Sum a gradient that was broadcast in the forward pass back to its input's shape."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    stretched = tuple(i for i, n in enumerate(shape, extra) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=tuple(range(extra)) + stretched).reshape(shape)


def backward(root, gradient=None, retain_graph=False):
    """Accumulate the gradient of `root` into the .grad of every leaf it depends on.

    Args:
        root: a Tensor that requires grad.
        gradient: the vector of the vector-Jacobian product, shaped like root; may be omitted
            for a single-element root (it is then 1).
        retain_graph: keep the values the graph saved, so that backward() can run through it
            again. Otherwise they are freed.

    Raises:
        RuntimeError: root does not require grad; gradient omitted for a non-scalar root or
            shaped unlike it; a saved value needed here was freed or modified in place.
    """
    if not root.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if gradient is None:
        if root.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        gradient = np.ones(root.shape)
    gradient = np.asarray(gradient, dtype=np.float64)
    if gradient.shape != root.shape:
        raise RuntimeError(
            f"Mismatch in shape: gradient has a shape of {gradient.shape} and the output has "
            f"a shape of {root.shape}"
        )
    if root.grad_fn is None:
        root._accumulate_grad(gradient)
        return
    # Nodes run latest-created first: every node that feeds a gradient into a node was created
    # after it, so the node has received all its gradient when its turn comes (as in PyTorch).
    pending = {root.grad_fn: gradient}  # gradient received so far, by node or leaf
    owned = set()  # the edges whose pending gradient is a buffer of ours, safe to add into
    queue = [(-root.grad_fn.sequence, root.grad_fn)]
    leaves = []
    while queue:
        node = heapq.heappop(queue)[1]
        g = _dense(pending.pop(node))
        owned.discard(node)
        retained = node.retained() if node.retained is not None else None
        if retained is not None:
            retained._accumulate_grad(g)
        for edge, grad in node.apply(g):
            if edge in pending:
                _accumulate(pending, owned, edge, grad)
                continue
            pending[edge] = grad
            if isinstance(edge, Node):
                heapq.heappush(queue, (-edge.sequence, edge))
            else:
                leaves.append(edge)
        if not retain_graph:
            node.free()
    for leaf in leaves:
        leaf._accumulate_grad(_dense(pending.pop(leaf)))


def _dense(grad):
    return grad.dense() if isinstance(grad, IndexedGrad) else grad


def _accumulate(pending, owned, edge, grad):
    """pending[edge] += grad, in place once the engine owns the buffer."""
    if edge not in owned:
        current = pending[edge]
        is_indexed = isinstance(current, IndexedGrad)
        pending[edge] = current.dense() if is_indexed else np.array(current, dtype=np.float64)
        owned.add(edge)
    if isinstance(grad, IndexedGrad):
        grad.add_to(pending[edge])
    else:
        pending[edge] += grad
