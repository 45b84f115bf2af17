"""Accumulations into one element of a derivative array across a loop, held in a local (issue
#12).

The adjoint of a loop that reads `x[c]` inside an inner loop adds into `bx[c]` on every
trip of that inner loop: `while r > c + 1: ...; bx[c] += e; bA[k, idx] += f`. The element
is the same on every trip, yet the compiled loop loads and stores it on every trip, because
LLVM cannot tell that `bA` does not share memory with `bx`; the adjoint of the GMM's
triangular product ran 2.3x slower for it. Such a loop becomes

    _bx_acc = 0.0
    while r > c + 1: ...; _bx_acc += e; bA[k, idx] += f
    if _bx_acc != 0.0:
        bx[c] += _bx_acc

for an adjoint or tangent array srcad knows shares memory with no other name (it is
allocated in the function and never handed on as a view), read or written nowhere else in
the loop, at an index whose names the loop does not assign. The sum is added after the loop,
and only if the loop added something, so a loop that runs no trip touches no element (its
index may be out of range then). That adds the terms in another order, which a derivative
may (every AD tool chooses its own), but not the function's value: arrays of the primal keep
Python's order (`(1 + 1e16) - 1e16` is 0.0, an element's -0.0 plus 0.0 is 0.0). Loops are
visited outermost first, so an element is held across every loop in which its index does not
change.
"""

import gast

from .aliasing import FRESH_HELPERS, is_fresh
from .templates import fill, make_assign, make_const, make_name, walk
from .valuetypes import FLOAT

# allocations, beside the helpers `aliasing.is_fresh` knows: a new array every time
ALLOCATING = {"zeros", "empty", "empty_like", "ones", "ones_like", "copy", "full_like", "grow"}
# functions whose result never shares memory with an array argument
SCALAR_OR_NEW = FRESH_HELPERS | ALLOCATING | {
    "save_array", "save_shape", "check_index", "max", "min", "exp", "log", "tanh", "sqrt",
    "sigmoid", "len", "argmax", "argmin", "item"}
SHAPE_ATTRIBUTES = {"shape", "size", "ndim", "dtype"}


def promote(fn_def, types, namer, derivatives):
    """Hold invariant element accumulations into the arrays `derivatives` (adjoint and tangent
    names) in `fn_def`'s loops in locals, in place (`types`: name -> Ty; the locals' types are
    added)."""
    private = _private_arrays(fn_def, types) & set(derivatives)
    if private:
        _block(fn_def.body, private, types, namer)


def _block(stmts, private, types, namer):
    out = []
    for stmt in stmts:
        if isinstance(stmt, (gast.For, gast.While)):
            before, after = _promote(stmt, private, types, namer)
            out.extend(before + [stmt] + after)
        else:
            out.append(stmt)
        for field in ("body", "orelse"):
            if isinstance(getattr(stmt, field, None), list):
                _block(getattr(stmt, field), private, types, namer)
    stmts[:] = out


def _promote(loop, private, types, namer):
    nodes = list(walk(loop))
    if any(isinstance(n, gast.Return) for n in nodes):
        return [], []  # (the store after the loop would be skipped)
    assigned = {n.id for n in nodes if isinstance(n, gast.Name) and
                not isinstance(n.ctx, gast.Load)}
    accumulations = {}  # array -> its AugAssign statements
    for n in nodes:
        if isinstance(n, gast.AugAssign) and isinstance(n.op, (gast.Add, gast.Sub)) and \
                isinstance(n.target, gast.Subscript) and \
                isinstance(n.target.value, gast.Name) and n.target.value.id in private:
            accumulations.setdefault(n.target.value.id, []).append(n)
    before, after = [], []
    for name, stmts in accumulations.items():
        index = gast.dump(stmts[0].target.slice)
        indices = _index_parts(stmts[0].target.slice)
        uses = sum(1 for n in nodes if isinstance(n, gast.Name) and n.id == name)
        if uses != len(stmts) or any(gast.dump(s.target.slice) != index for s in stmts) or \
                len(indices) != types[name].ndim or \
                not all(_scalar_index(i, types) for i in indices) or \
                {n.id for i in indices for n in walk(i) if isinstance(n, gast.Name)} & assigned:
            continue
        acc = namer.fresh(f"_{name}_acc")
        types[acc] = FLOAT
        element = stmts[0].target
        for s in stmts:
            s.target = make_name(acc, gast.Store())
        before.append(make_assign(make_name(acc, gast.Store()), make_const(0.0)))
        after.append(gast.If(test=fill("acc != 0.0", acc=acc), orelse=[], body=[
            gast.AugAssign(target=element, op=gast.Add(), value=make_name(acc))]))
    return before, after


def _index_parts(index):
    return index.elts if isinstance(index, gast.Tuple) else [index]


def _scalar_index(index, types):
    if isinstance(index, gast.Constant):
        return isinstance(index.value, int)
    if isinstance(index, gast.Name):
        ty = types.get(index.id)
        return ty is not None and ty.kind == "i" and ty.ndim == 0
    if isinstance(index, gast.BinOp):
        return _scalar_index(index.left, types) and _scalar_index(index.right, types)
    return False


def _private_arrays(fn_def, types):
    """The float arrays `fn_def` allocates that no other name can reach: every
    assignment gives a new array, and every read takes an element, a shape, or passes the
    array to an operation or function whose result is new."""
    parents = {}
    for node in walk(fn_def):
        for child in gast.iter_child_nodes(node):
            parents[id(child)] = node
    params = {a.id for a in fn_def.args.args}
    candidates = {name for name, ty in types.items()
                  if ty.kind == "f" and ty.ndim and name not in params}
    for node in walk(fn_def):
        if isinstance(node, gast.Name) and node.id in candidates and \
                not _harmless(node, parents.get(id(node)), types, parents):
            candidates.discard(node.id)
    return candidates


def _harmless(name, parent, types, parents):
    if isinstance(name.ctx, gast.Store):  # (a new array, or one updated in place: `x *= g`)
        return isinstance(parent, gast.Assign) and parent.targets == [name] and \
            _allocates(parent.value) or isinstance(parent, gast.AugAssign)
    if isinstance(name.ctx, gast.Param) or parent is None:
        return False
    if isinstance(parent, gast.Subscript) and parent.value is name:
        indices = _index_parts(parent.slice)
        element = len(indices) == types[name.id].ndim and \
            all(_scalar_index(i, types) for i in indices)
        return element or not isinstance(parent.ctx, gast.Load)  # (a write into it)
    if isinstance(parent, gast.Attribute):
        return parent.attr in SHAPE_ATTRIBUTES
    if isinstance(parent, (gast.BinOp, gast.UnaryOp, gast.Compare)):
        return True
    if isinstance(parent, gast.AugAssign):  # `x += v`: in place
        return True
    if isinstance(parent, gast.Call) and name in parent.args:
        return _callee(parent) in SCALAR_OR_NEW
    if isinstance(parent, gast.Tuple) and isinstance(parents.get(id(parent)), gast.Return):
        return True
    return isinstance(parent, gast.Return)


def _allocates(value):
    return is_fresh(value) or isinstance(value, gast.Call) and _callee(value) in ALLOCATING


def _callee(call):
    func = call.func
    return func.attr if isinstance(func, gast.Attribute) else \
        func.id if isinstance(func, gast.Name) else None
