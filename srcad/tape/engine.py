"""The backward pass: graph nodes (a tensor's grad_fn) and the walk behind backward() and grad().

A Node records one operation: its op-table entry, its params, where each input's gradient goes
(an edge: the input's own Node, the AccumulateGrad of a leaf, or None when the input needs no
gradient), and the values its vjps read. run() executes the nodes reachable from the roots,
latest-created first, which is a topological order; it calls each node's vjps, sums every
gradient to its input's shape and accumulates it for the next node, then into the leaves'
.grad, or hands the gradients of chosen tensors back (autograd.grad). There is no per-op code.

Two kinds of values flow: NumPy arrays for a plain backward(), and, with create_graph=True,
tensors whose operations are recorded, so that the gradient can itself be differentiated (the
vjps in ops.py run on either). A gradient that is zero but at an index (ops.IndexedGrad, from
x[i]) is added at that index only, so a loop that reads x[i] n times costs O(n), not O(n**2).

A value a node saved may be unavailable when backward() reads it: freed by an earlier backward()
or changed in place since it was saved (its version counter moved on). A stand-in then takes its
place, and raises a RuntimeError only if a vjp actually reads the value, as PyTorch does.
"""

import heapq
import itertools
import math
import weakref

import numpy as np

from srcad.tape import mode
from srcad.tape.ops import IndexedGrad

_FREED = (
    "Trying to backward through the graph a second time: the values {label} saved were freed "
    "by the first backward(). Call the first backward() with retain_graph=True if you need to "
    "backward through the graph again."
)
MODIFIED = (
    "one of the variables needed for gradient computation has been modified by an inplace "
    "operation: {what} of {label}, a tensor of shape {shape}, is at version {now}; expected "
    "version {then} instead. Compute on a copy (t.clone()) instead of changing it in place, or "
    "call backward() before the in-place change."
)
_NOT_SAVED = "srcad/tape/ops.py declares {label} linear, but its vjp read an input value"
_UNUSED = (
    "The differentiated Tensor at index {i} appears to not have been used in the graph. Set "
    "allow_unused=True if this is the desired behavior."
)


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


class RemovableHandle:
    """What register_hook returns: handle.remove() unregisters the hook."""

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


_sequence = itertools.count()


class Node:
    """A recorded operation; the grad_fn of the tensor it produced (<MulBackward0>)."""

    __slots__ = (
        "__weakref__",
        "edges",
        "hooks",
        "op",
        "params",
        "retained",
        "saved",
        "sequence",
        "shapes",
        "versions",
    )

    def __init__(self, op, params, edges, values, counters):
        """values: the input values then the result; counters: each one's version counter,
        or None for values that are not tensors."""
        self.op, self.params, self.edges = op, params, edges
        self.sequence = next(_sequence)  # creation order: a node's inputs come before it
        self.shapes = [getattr(value, "shape", ()) for value in values]
        self.retained = None  # weak reference to a non-leaf tensor that called retain_grad()
        self.hooks = None  # the hooks registered on the tensor this node produced
        if op.linear:
            self.saved, self.versions = None, ()
        else:
            self.saved = values
            self.versions = [
                (slot, counter, counter[0])
                for slot, counter in enumerate(counters)
                if counter is not None
            ]

    def name(self):
        return self.op.label(self.shapes[:-1], self.params)

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

    @property
    def next_functions(self):
        """((node, 0), ...) per input, as torch: the input's grad_fn or AccumulateGrad, or
        None for an input that needs no gradient."""
        return tuple((edge, 0) for edge in self.edges)

    def apply(self, g, math):
        """The gradients of this node's inputs, given the gradient g of its result, as a list of
        (edge, gradient) pairs for the inputs that need one."""
        *inputs, ans = math.inputs(self, self._saved_values())
        op = self.op
        if op.vjp_all is not None:
            grads = op.vjp_all(g, ans, *inputs, **self.params)
        else:
            grads = [
                None if edge is None else vjp(g, ans, *inputs, **self.params)
                for vjp, edge in zip(op.vjps, self.edges, strict=True)
            ]
        for k, (edge, grad) in enumerate(zip(self.edges, grads, strict=True)):
            if edge is not None and grad is None:
                raise TypeError(f"the derivative of {self.name()} gives None for its argument "
                                f"{k}, which needs a gradient (a custom_vjp's vjp returns an "
                                "adjoint for each argument that carries a derivative)")
        if not op.linear:
            grads = math.in_graph(grads, (*inputs, ans))
        return [
            (edge, sum_to_shape(grad, shape))
            for edge, grad, shape in zip(self.edges, grads, self.shapes[:-1], strict=True)
            if edge is not None
        ]

    def free(self):
        self.saved = None

    def _saved_values(self):
        label = self.name()
        if self.saved is None:
            message = _NOT_SAVED if self.op.linear else _FREED
            return [_Unavailable(shape, message, label=label) for shape in self.shapes]
        values = list(self.saved)
        for slot, counter, version in self.versions:
            if counter[0] != version:
                what = "the result" if slot == len(values) - 1 else f"input {slot}"
                values[slot] = _Unavailable(
                    self.shapes[slot],
                    MODIFIED,
                    what=what,
                    label=label,
                    now=counter[0],
                    then=version,
                )
        return values


class AccumulateGrad:
    """The edge into a leaf tensor: backward() adds the leaf's gradient to its .grad."""

    __slots__ = ("__weakref__", "variable")
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


def accumulator(leaf):
    """The leaf's AccumulateGrad, one per leaf while the graph holds it (as torch)."""
    found = leaf._accumulator and leaf._accumulator()
    if found is None:
        found = AccumulateGrad(leaf)
        leaf._accumulator = weakref.ref(found)
    return found


def sum_to_shape(g, shape):
    """Sum a gradient that was broadcast in the forward pass back to its input's shape."""
    if isinstance(g, IndexedGrad):
        return g
    if not hasattr(g, "shape"):  # (a Python float: a tensor times a fractions.Fraction)
        g = np.asarray(g)
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    stretched = tuple(i for i, n in enumerate(shape, extra) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=tuple(range(extra)) + stretched).reshape(shape)


class _ArrayMath:
    """A plain backward(): gradients are NumPy arrays, summed in place where the engine owns
    the buffer."""

    def __init__(self):
        self.owned = set()  # the edges whose pending gradient is a buffer of ours

    @staticmethod
    def inputs(node, values):
        return values

    @staticmethod
    def dense(grad):
        return grad.dense() if isinstance(grad, IndexedGrad) else grad

    @staticmethod
    def in_graph(grads, values):
        return grads

    def add(self, pending, edge, grad):
        if edge not in self.owned:
            current = pending[edge]
            dense = self.dense(current)
            pending[edge] = dense if dense is not current else np.array(current)
            self.owned.add(edge)
        if isinstance(grad, IndexedGrad):
            grad.add_to(pending[edge])
        else:
            pending[edge] += grad

    def taken(self, edge):
        self.owned.discard(edge)

    @staticmethod
    def to_tensor(g):
        from srcad.tape.tensor import new  # tensor.py imports this module

        return new(g)

    @staticmethod
    def from_tensor(t):
        return t._value


class _TensorMath:
    """backward(create_graph=True): gradients are tensors and the vjps' operations are recorded,
    so every sum is a new tensor."""

    def __init__(self):
        from srcad.tape.tensor import Tensor, apply, new  # tensor.py imports this module

        self.apply, self.new, self.tensor = apply, new, Tensor

    def inputs(self, node, values):
        """The saved values as tensors carrying their history: the leaf itself, or a tensor
        whose grad_fn is the input's node (the result's is `node`)."""
        counters = {slot: counter for slot, counter, _ in node.versions}
        wrapped = []
        for slot, (value, edge) in enumerate(zip(values, [*node.edges, node], strict=True)):
            if isinstance(edge, AccumulateGrad) and not isinstance(value, _Unavailable):
                wrapped.append(edge.variable)
            elif isinstance(edge, Node) and not isinstance(value, _Unavailable):
                t = self.new(value, grad_fn=edge)
                if slot in counters:  # (its storage's: changed in place later, the recorded
                    t._counter = counters[slot]  # backward formula sees it, as torch's does)
                wrapped.append(t)
            else:
                wrapped.append(value)
        return wrapped

    def dense(self, grad):
        if isinstance(grad, IndexedGrad):
            return self.apply("scatter", grad.g, shape=grad.shape, index=grad.index)
        return grad

    def in_graph(self, grads, values):
        """torch records a backward formula that reads a tracked value also where its
        derivative is zero (relu's reads its result: the gradient of relu(x).sum() requires
        grad, and differentiates to zeros). A gradient that came out untracked (a mask times
        a constant) is tied to those values with a zero derivative, as torch's would be."""
        tracked = [v for v in values if isinstance(v, self.tensor) and v.requires_grad]
        if not tracked:
            return grads
        return [g if g is None or getattr(g, "requires_grad", False) else
                self.apply("zero_derivative", self.dense(g), *tracked) for g in grads]

    def add(self, pending, edge, grad):
        pending[edge] = self.dense(pending[edge]) + self.dense(grad)

    def taken(self, edge):
        pass

    @staticmethod
    def to_tensor(g):
        return g

    @staticmethod
    def from_tensor(t):
        return t


class _CotangentMath(_TensorMath):
    """A backward recorded in the cotangents only (srcad.jvp's first pass, which is then
    differentiated in its cotangent alone): the saved values enter its vjps as constants, so
    a vjp whose derivative in them is unknown (a kernel's) is still linear in g."""

    def inputs(self, node, values):
        return values

    def in_graph(self, grads, values):
        return grads


def run(roots, grads, retain_graph=False, create_graph=False, capture=None,
        in_cotangents=False):
    """Propagate grads from roots back through the graph.

    Args:
        roots: tensors that require grad.
        grads: one gradient per root, shaped like it (NumPy arrays or tensors).
        retain_graph: keep the values the graph saved, so that it can be run through again.
        create_graph: record the backward pass itself, so its results can be differentiated.
        capture: None to accumulate into the leaves' .grad; else a list of edges (nodes or
            AccumulateGrads) whose gradients are returned instead, nothing else being touched.
        in_cotangents: with create_graph, record it as a function of the grads alone.

    Returns:
        with capture, the gradient reaching each captured edge (None where none reached it).
    """
    math = (_CotangentMath() if in_cotangents else _TensorMath()) if create_graph else \
        _ArrayMath()
    needed = None if capture is None else _reaching(roots, capture)
    pending, queue, leaves = {}, [], []  # gradient received so far, by node or leaf

    def send(edge, grad):
        if edge in pending:
            math.add(pending, edge, grad)
        elif isinstance(edge, Node):
            pending[edge] = grad
            heapq.heappush(queue, (-edge.sequence, edge))
        else:
            pending[edge] = grad
            leaves.append(edge)

    for root, grad in zip(roots, grads, strict=True):
        send(root.grad_fn or accumulator(root), grad if create_graph else np.asarray(grad))
    captured = {}
    # (a backward is silent about inf and nan, as torch's: sqrt's at 0 divides by 0)
    with mode.set_grad_enabled(create_graph), np.errstate(all="ignore"):
        # Nodes run latest-created first: every node that feeds a gradient into a node was
        # created after it, so the node has received all its gradient when its turn comes.
        while queue:
            node = heapq.heappop(queue)[1]
            math.taken(node)
            g = _run_hooks(node.hooks, math.dense(pending.pop(node)), math)
            retained = node.retained() if node.retained is not None else None
            if retained is not None and (capture is None or node in needed or node in capture):
                retained._accumulate_grad(g, retained=True)  # (autograd.grad fills it too)
            if capture is not None:
                if node in capture:
                    captured[node] = g
                if node not in needed:
                    continue
            for edge, grad in node.apply(g, math):
                send(edge, grad)
            if not retain_graph:
                node.free()
        for leaf in leaves:
            g = _run_hooks(leaf.variable.hooks, math.dense(pending.pop(leaf)), math)
            if capture is None:
                leaf.variable._accumulate_grad(g)
            elif leaf in capture:
                captured[leaf] = g
    if capture is not None:
        return [captured.get(edge) for edge in capture]
    return None


def _run_hooks(hooks, g, math):
    """Call each hook with the gradient (a tensor); a hook that returns one replaces it."""
    from srcad.tape.tensor import Tensor  # (tensor.py imports this module)
    for hook in list(hooks or ()):
        if isinstance(g, np.ndarray) and not g.flags.writeable:  # (np.broadcast_to's)
            g = g.copy()  # (a hook may change its gradient in place, as torch's may)
        given = math.to_tensor(g)
        replaced = hook(given)
        if replaced is None:
            continue
        name = getattr(hook, "__name__", type(hook).__name__)
        if not isinstance(replaced, Tensor):
            raise TypeError(f"expected Variable, but hook {name!r} returned "
                            f"'{type(replaced).__name__}'")
        if replaced.shape != given.shape:
            raise RuntimeError(f"hook {name!r} has changed the size of value (was "
                               f"{tuple(given.shape)}, got {tuple(replaced.shape)})")
        if replaced.dtype != given.dtype:
            raise RuntimeError(f"hook {name!r} has changed the type of value (was "
                               f"{given.dtype}, got {replaced.dtype})")
        g = math.from_tensor(replaced)
    return g


def _reaching(roots, targets):
    """The nodes from which some target can be reached: only they need to run for grad()."""
    targets = set(targets)
    reaches = {}
    stack = [(root.grad_fn, False) for root in roots if root.grad_fn is not None]
    while stack:
        node, done = stack.pop()
        if done:
            reaches[node] = node in targets or any(
                edge in targets or reaches.get(edge, False) for edge in node.edges
            )
        elif node not in reaches:
            reaches[node] = False  # visiting; a graph has no cycles
            stack.append((node, True))
            stack.extend((edge, False) for edge in node.edges if isinstance(edge, Node))
    return {node for node, reached in reaches.items() if reached}


def backward(root, gradient=None, retain_graph=False, create_graph=False):
    """Accumulate the gradient of `root` into the .grad of every leaf it depends on.

    Args:
        root: a Tensor that requires grad.
        gradient: the vector of the vector-Jacobian product, shaped like root; may be omitted
            for a single-element root (it is then 1).
        retain_graph: keep the values the graph saved, so that backward() can run through it
            again. Otherwise they are freed.
        create_graph: record the backward pass, so that .grad can be differentiated again.

    Raises:
        RuntimeError: root does not require grad; gradient omitted for a non-scalar root or
            shaped unlike it; a saved value needed here was freed or modified in place.
    """
    run([root], [root_gradient(root, gradient, create_graph)], retain_graph, create_graph)


def root_gradient(root, gradient, create_graph, index=0):
    """The gradient to start from at root: given, or 1 for a single-element root."""
    if not root.requires_grad:
        raise RuntimeError(
            f"element {index} of tensors does not require grad and does not have a grad_fn"
        )
    if gradient is None:
        if root.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        gradient = np.ones(root.shape, dtype=root._value.dtype)
    value = gradient._value if hasattr(gradient, "_value") else np.asarray(gradient)
    if value.shape != root.shape:
        raise RuntimeError(
            f"Mismatch in shape: grad_output[{index}] has a shape of {value.shape} and "
            f"output[{index}] has a shape of {root.shape}."
        )
    if not create_graph:
        return value.astype(root._value.dtype, copy=False)
    return gradient if hasattr(gradient, "_value") else _ArrayMath.to_tensor(value)


def grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
         in_cotangents=False):
    """The core of srcad.autograd.grad: sequences in, a tuple of gradients (or None) out."""
    if retain_graph is None:
        retain_graph = create_graph
    grads = [
        root_gradient(output, g, create_graph, i)
        for i, (output, g) in enumerate(zip(outputs, grad_outputs, strict=True))
    ]
    edges = []
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        edges.append(t.grad_fn or accumulator(t))
    results = run(outputs, grads, retain_graph, create_graph, edges, in_cotangents)
    out = []
    for i, (t, g) in enumerate(zip(inputs, results, strict=True)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(_UNUSED.format(i=i))
            out.append(None)
        else:
            # (in the input's dtype, as torch gives it: a float32 input meeting float64)
            out.append(g.to(t.dtype) if create_graph and hasattr(g, "_value") else
                       _ArrayMath.to_tensor(np.array(g, t._value.dtype)))
    return tuple(out)
