"""Arrays a loop allocates on every trip, allocated once (issue #12).

A temporary that fusion gives a loop's trip (the Laplacian of a stencil step, `lap =
np.empty((_n2, _n12))`, and its tangent beside it) is allocated, filled and freed on every
trip. Above glibc's mmap threshold each allocation maps fresh pages and each free unmaps
them: two 256x256 temporaries cost a page fault per 4 KiB per trip, ten times the stencil's
arithmetic. Where no value of the array can outlive its trip (every use is an element read,
an operand of arithmetic making a new array, a store into it or of it into another array, or
its shape), the trip takes the array of the trip before when it has the shape asked for:

    lap = np.empty((0, 0))                      # before the loop
    for _ in range(steps):
        ...
        lap = rt.buffer(lap, (_n2, _n12))

np.empty's contents are undefined, so the old values it keeps are as good as any.

An array the reverse sweep reads and restores (a gate of an LSTM step: saved by a copy into a
row of a buffer before each trip rebinds it, rebound to the saved row when the reverse sweep
restores it) is assigned more than once, so its name may hold a saved row when the next trip
allocates. Where every read of it only reads (never binds it to another name or keeps it in a
list), it takes its trips' array from a buffer of its own, which no other name can hold:

    _forget_buffer = rt.buffer(_forget_buffer, (_n3,))
    forget = _forget_buffer

An array filled from the one another name holds, then handed over to that name (the
adjoint of an LSTM layer's input, `bx_new[i] = ... bx[i] ...`, then `bx = bx_new`), alternates
between two buffers: the other name holds the one, the next trip fills the other.

    _bx_new_buffer = rt.buffer(_bx_new_buffer, (_n6,))
    bx_new = _bx_new_buffer
    ... (the loop) ...
    bx = bx_new
    _bx_new_held = _bx_new_buffer
    _bx_new_buffer = _bx_new_spare
    _bx_new_spare = _bx_new_held

A loop's save of an array into a row of its buffer, `buf = rt.save_array(buf, shapes, k, v)`,
rebinds the buffer on every trip for the rare trip that widens it; Numba counts references
for each rebinding. Where the row holds the array, it is saved without the rebinding: a vector
into its row's slice, inline (a call copying it cost a tenth of an LSTM step), any other array
by a call returning a bool:

    if v.shape[0] <= buf.shape[1]:              if not rt.saved_in_row(buf, shapes, k, v):
        buf[k, :v.shape[0]] = v                     buf = rt.save_array(buf, shapes, k, v)
        shapes[k, 0] = v.shape[0]
    else:
        buf = rt.save_array(buf, shapes, k, v)
"""

import gast

from . import anno, templates, typeinfer


def reuse_allocations(fn_def, types, np_name, namer):
    """Rewrite in place every `name = np.empty(shape)` inside a loop whose array stays within
    its trip (the trip before's array reused), or whose name is only read (a buffer of its own
    reused); `types`: name -> Ty, for the rank of a shape held in a variable."""
    uses = _Uses(np_name, types)
    uses.visit(fn_def)
    for name, (stmt, loops) in uses.allocations.items():
        rank = _rank(stmt.value, name, types)
        if rank is None:
            continue
        handover = None
        if uses.stays_in_trip(name, loops[0], rank):
            buffer = name
        elif uses.only_read(name, rank):
            buffer = namer.fresh(f"_{name.lstrip('_')}_buffer")
        elif (handover := uses.handed_over(name, stmt, rank)) is not None:
            buffer = namer.fresh(f"_{name.lstrip('_')}_buffer")
            spare = namer.fresh(f"_{name.lstrip('_')}_spare")
        else:
            continue
        call = stmt.value
        empty = gast.Call(func=call.func, args=[_zeros_shape(rank), *call.args[1:]],
                          keywords=call.keywords)
        outer, outer_block = loops[0], uses.blocks[loops[0]]
        for made in [buffer] if handover is None else [buffer, spare]:
            outer_block.insert(outer_block.index(outer),
                               templates.make_assign(made, anno.deepcopy(empty)))
        reuse = gast.Call(func=templates.parse_expr("rt.buffer"),
                          args=[templates.make_name(buffer), call.args[0]], keywords=[])
        if buffer == name:
            stmt.value = reuse
        else:
            stmt.value = templates.make_name(buffer)
            block = uses.statement_blocks[stmt]
            block.insert(block.index(stmt), templates.make_assign(buffer, reuse))
        if handover is not None:  # (b, s = s, b)
            held = namer.fresh(f"_{name.lstrip('_')}_held")
            at = block.index(handover) + 1
            block[at:at] = [templates.make_assign(held, templates.make_name(buffer)),
                            templates.make_assign(buffer, templates.make_name(spare)),
                            templates.make_assign(spare, templates.make_name(held))]


def save_in_rows(fn_def, types):
    """Rewrite in place every `buf = rt.save_array(buf, shapes, k, v)` to save into the row
    without rebinding `buf` where the row holds `v` (`types`: for the rank of `v`)."""
    for block in templates.blocks(fn_def.body):
        for i, stmt in enumerate(block):
            if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Call) and \
                    templates.to_source(stmt.value.func) == "rt.save_array":
                buf, shapes, k, value = stmt.value.args
                if typeinfer._Infer(types).expr(value).ndim == 1:
                    parts = {"b": buf, "s": shapes, "k": k, "v": value}
                    block[i] = gast.If(
                        test=templates.fill("v.shape[0] <= b.shape[1]", **parts),
                        body=[templates.fill_stmt("b[k, :v.shape[0]] = v", **parts),
                              templates.fill_stmt("s[k, 0] = v.shape[0]", **parts)],
                        orelse=[stmt])
                    continue
                block[i] = gast.If(test=templates.fill("not rt.saved_in_row(b, s, k, v)",
                                                       b=buf, s=shapes, k=k, v=value),
                                   body=[stmt], orelse=[])


class _Uses(gast.NodeVisitor):
    """Where each name is allocated with np.empty (the statement and the loops around it, the
    outermost first), how often it is assigned, where it is read (the parent node and the
    loops around), and the block holding each loop."""

    def __init__(self, np_name, types):
        self.allocations, self.assigned, self.reads, self.blocks = {}, {}, {}, {}
        self.statement_blocks = {}
        self._np, self._types, self._loops, self._parents = np_name, types, [], [None]

    def generic_visit(self, node):
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], gast.stmt):
                self._visit_block(node, value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, gast.AST):
                        self._visit_child(node, item)
            elif isinstance(value, gast.AST):
                self._visit_child(node, value)

    def _visit_block(self, parent, stmts):
        for stmt in list(stmts):
            if isinstance(stmt, (gast.For, gast.While)):
                self.blocks[stmt] = stmts
            if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and self._loops and \
                    isinstance(stmt.targets[0], gast.Name) and self._is_empty(stmt.value):
                self.allocations.setdefault(stmt.targets[0].id, (stmt, list(self._loops)))
                self.statement_blocks[stmt] = stmts
            self._visit_child(parent, stmt)

    def _visit_child(self, parent, node):
        looping = isinstance(node, (gast.For, gast.While)) and not _is_prange(node)
        if looping:
            self._loops.append(node)
        self._parents.append(parent)
        self.visit(node)
        self._parents.pop()
        if looping:
            self._loops.pop()

    def visit_Name(self, node):
        if isinstance(node.ctx, (gast.Store, gast.Del)):
            self.assigned[node.id] = self.assigned.get(node.id, 0) + 1
        else:
            self.reads.setdefault(node.id, []).append((self._parents[-1], self._parents[-2],
                                                       node, list(self._loops)))

    def stays_in_trip(self, name, loop, rank=None):
        """Is `name` assigned once, read only inside `loop`, and never kept: read as an element
        (or, a view of the array with `rank` None, within an expression), an operand of array
        arithmetic, stored into or copied into another array, asked its shape, or bound to another name, or made a view with
        np.broadcast_to held by one, that stays too?"""
        if self.assigned.get(name) != 1:
            return False
        for parent, grandparent, node, loops in self.reads.get(name, ()):
            if not any(enclosing is loop for enclosing in loops):
                return False
            if isinstance(parent, gast.Assign) and parent.value is node and \
                    self._copied_into_an_array(parent.targets[0]):
                continue
            if isinstance(parent, gast.Assign) and parent.value is node:  # (another name)
                if not (_binds_name(parent) and
                        self.stays_in_trip(parent.targets[0].id, loop, rank)):
                    return False
            elif self._is_broadcast(parent, node):
                if not (_binds_name(grandparent) and
                        self.stays_in_trip(grandparent.targets[0].id, loop)):
                    return False
            elif isinstance(parent, (gast.BinOp, gast.UnaryOp, gast.Compare)):
                continue  # (an operand of array arithmetic, whose result is a new array)
            elif not _element_use(parent, grandparent, node, rank):
                return False
        return True

    def only_read(self, name, rank):
        """Does every read of `name`, wherever it is, use the array without keeping it: an
        element, its shape, an operand of array arithmetic, or copied (into another array's
        elements, or saved by rt.save_array)?"""
        for parent, grandparent, node, _ in self.reads.get(name, ()):
            copied = isinstance(parent, gast.Assign) and parent.value is node and \
                self._copied_into_an_array(parent.targets[0])
            saved = isinstance(parent, gast.Call) and len(parent.args) == 4 and \
                parent.args[3] is node and templates.to_source(parent.func) == "rt.save_array"
            arithmetic = isinstance(parent, (gast.BinOp, gast.UnaryOp, gast.Compare))
            if not (copied or saved or arithmetic or self._keeps_nothing(parent, node) or
                    _element_use(parent, grandparent, node, rank)):
                return False
        return True

    def handed_over(self, name, alloc, rank):
        """The statement `other = name` that hands the array of `name` (assigned once, by the
        allocation `alloc`, and otherwise used by elements) over to `other` later in the same
        block, with nothing between that may leave it, where `other` is only read (the LSTM's
        `bx = bx_new` after the loop filling bx_new from bx): each allocation may take the
        array of the one before last, which `other` no longer holds. Else None."""
        if self.assigned.get(name) != 1:
            return None
        handovers, kept = [], False
        for parent, grandparent, node, _ in self.reads.get(name, ()):
            if isinstance(parent, gast.Assign) and parent.value is node and _binds_name(parent):
                handovers.append(parent)
            elif not _element_use(parent, grandparent, node, rank):
                kept = True
        block = self.statement_blocks[alloc]
        if kept or len(handovers) != 1 or not any(s is handovers[0] for s in block):
            return None
        start, end = block.index(alloc), block.index(handovers[0])
        other = handovers[0].targets[0].id
        if end < start or other == name or any(_may_leave(s) for s in block[start:end]) or \
                not self.only_read(other, rank):
            return None
        return handovers[0]

    def _keeps_nothing(self, call, node):
        """Is `node` an argument of a call that reads only its shape (`kn.sum_adjoint(g, a,
        None)`, `np.zeros_like(a)`) or reduces it to a number (`np.sum(a)`)?"""
        if not isinstance(call, gast.Call) or node not in call.args:
            return False
        func = templates.to_source(call.func)
        if func == "kn.sum_adjoint":
            return call.args.index(node) == 1
        module, _, name = func.partition(".")
        return module == self._np and call.args[0] is node and \
            (name in _SHAPE_ONLY or name in _REDUCTIONS and len(call.args) == 1 and
             not call.keywords)

    def _copied_into_an_array(self, target):
        """Is `target` an array's elements (y[1:-1] = t copies t; a list's would keep it)?"""
        base = target.value if isinstance(target, gast.Subscript) else None
        return isinstance(base, gast.Name) and \
            getattr(self._types.get(base.id), "is_array", False)

    def _is_broadcast(self, parent, node):
        return isinstance(parent, gast.Call) and parent.args and parent.args[0] is node and \
            templates.to_source(parent.func) == f"{self._np}.broadcast_to"

    def _is_empty(self, value):
        return isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
            isinstance(value.func.value, gast.Name) and value.func.value.id == self._np and \
            value.func.attr == "empty" and len(value.args) in (1, 2)


# NumPy functions of an array that keep no reference to it (a reduction: of the whole array)
_SHAPE_ONLY = {"zeros_like", "empty_like", "ones_like", "full_like", "shape", "size", "ndim"}
_REDUCTIONS = {"sum", "max", "min", "amax", "amin", "mean", "prod", "all", "any"}


def _is_prange(loop):
    """A parallel loop's trips run at once: they cannot share one array."""
    return isinstance(loop, gast.For) and isinstance(loop.iter, gast.Call) and \
        "prange" in templates.to_source(loop.iter.func)


def _may_leave(stmt):
    """Can running `stmt` leave the block it is in (a break, continue or return not inside a
    loop of its own)?"""
    if isinstance(stmt, (gast.Break, gast.Continue, gast.Return)):
        return True
    if isinstance(stmt, (gast.For, gast.While)):
        return any(isinstance(n, gast.Return) for n in templates.walk(stmt))
    inner = [s for field in ("body", "orelse", "finalbody") for s in getattr(stmt, field, ())]
    inner += [s for handler in getattr(stmt, "handlers", ()) for s in handler.body]
    return any(_may_leave(s) for s in inner)


def _binds_name(stmt):
    return isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and \
        isinstance(stmt.targets[0], gast.Name)


def _element_use(parent, grandparent, node, rank):
    """A use that keeps no reference to the array: its shape, a store into it, or a read of an
    element (as many indices as `rank`, none a slice) or, `rank` None, of anything within an
    arithmetic expression."""
    if isinstance(parent, gast.Attribute):
        return parent.attr == "shape"
    if not isinstance(parent, gast.Subscript) or parent.value is not node:
        return False
    if isinstance(parent.ctx, gast.Store):
        return True
    if templates.is_sliced(parent.slice):
        return False
    if rank is None:
        return isinstance(grandparent, (gast.BinOp, gast.UnaryOp, gast.Compare))
    index = parent.slice
    return (len(index.elts) if isinstance(index, gast.Tuple) else 1) == rank


def _rank(call, name, types):
    shape = call.args[0]
    if isinstance(shape, gast.Tuple):
        return len(shape.elts)
    ty = types.get(name)
    return ty.ndim if ty is not None and ty.is_array else None


def _zeros_shape(rank):
    return gast.Tuple(elts=[templates.make_const(0)] * rank, ctx=gast.Load())
