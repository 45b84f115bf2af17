"""Elementwise statements that broadcast arrays of different shapes, as loop nests (issue #12).

Fusion (fusion.py) turns statements over arrays of one shape into loops. What it leaves, such
as the vectorised GMM's `xc = x[:, None, :] - means[None, :, :]` and, in a loop over columns,
`z[:, :, c + 1:] += icf[None, :, a:b] * xc[:, :, c:c + 1]`, Numba evaluates as array
expressions: into a temporary, testing every operand's every axis for broadcasting at every
element. Here each array operand is given the statement's shape with `np.broadcast_to` (a view
whose broadcast axes have stride 0, which raises NumPy's error where the shapes do not
broadcast) and the statement becomes one loop nest:

    _shape = rt.broadcast_shape(x[:, None, :].shape, _t2.shape)
    x_b = np.broadcast_to(x[:, None, :], _shape)
    _t2_b = np.broadcast_to(_t2, _shape)
    xc = np.empty(_shape)
    for _i in range(_shape[0]):
        for _i1 in range(_shape[1]):
            for _i2 in range(_shape[2]):
                xc[_i, _i1, _i2] = x_b[_i, _i1, _i2] - _t2_b[_i, _i1, _i2]

An update `t op= e` or a store `t[s] = e` loops over its target's shape, and only where no
array of `e` may share memory with the target (NumPy evaluates `e` whole first); forward mode's
`rt.broadcast_tangent(e, ans)` (a tangent spread to its result's shape) over `ans`'s. Float
arrays only, in a float64 gradient (the result is allocated float64, as NumPy's would be).
"""

import gast

from . import aliasing, anno, templates
from .cleanup import _is_runtime
from .fusion import ARITHMETIC, alias_groups, is_elementwise_call, is_integer_expression
from .templates import make_const, make_name
from .valuetypes import INT, UNKNOWN, Ty

MIN_RANK, MAX_RANK = 2, 4  # (rank 1 rarely broadcasts; fusion takes most of it)
UPDATES = (gast.Add, gast.Sub, gast.Mult, gast.Div)


def lower(fn_def, types, np_name, namer):
    """Lower the broadcasting statements of every block of `fn_def` in place (`types`: name ->
    Ty, which learns the names added)."""
    lowering = _Lowering(types, np_name, namer, alias_groups(fn_def, types))
    for block in _blocks_outside_fused_loops(fn_def.body):
        block[:] = [out for stmt in block for out in _located(lowering.statement(stmt), stmt)]


def _located(stmts, lowered):
    """`stmts`, which stand for the statement `lowered`, at its place in the user's source
    (an error raised in them names its line)."""
    if stmts != [lowered]:
        for node in templates.walk(stmts):
            if isinstance(node, gast.stmt) and not anno.hasanno(node, "loc"):
                anno.copy_loc(node, lowered)
    return stmts


def _blocks_outside_fused_loops(stmts):
    """Every statement list in `stmts` and nested in it, but those of fusion's loops (where
    names of arrays stand for their elements)."""
    out = []

    def visit(block):
        out.append(block)
        for s in block:
            if not anno.getanno(s, "fused_loop", False):
                for inner in (getattr(s, "body", None), getattr(s, "orelse", None)):
                    if isinstance(inner, list):
                        visit(inner)
    visit(stmts)
    return out


class _Lowering:
    def __init__(self, types, np_name, namer, groups):
        self.types, self.np, self.namer, self.groups = types, np_name, namer, groups

    def ty(self, name):
        return self.types.get(name, UNKNOWN)

    def statement(self, stmt):
        if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], gast.Name):
            return self.assignment(stmt.targets[0].id, stmt.value) or [stmt]
        if isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, UPDATES):
            return self.update(stmt.target, stmt.op, stmt.value, in_place=True) or [stmt]
        if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], gast.Subscript):
            target, value = stmt.targets[0], stmt.value
            if isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Add, gast.Sub)) \
                    and templates.to_source(value.left) == templates.to_source(target):
                return self.update(target, value.op, value.right) or [stmt]  # (t[s] += e)
            return self.update(target, None, value) or [stmt]
        return [stmt]

    def assignment(self, name, value):
        """`name = e` of two arrays or more broadcast together, or a tangent spread to its
        result's shape (`rt.broadcast_tangent(e, ans)`), as a new array and a loop."""
        ty = self.ty(name)
        if ty.kind != "f" or not MIN_RANK <= ty.ndim <= MAX_RANK or \
                name in templates.names_read(value):
            return None
        spread = _is_runtime(value, "broadcast_tangent", "rt") and \
            self.array_rank(value.args[1]) == ty.ndim
        if spread:
            value, result = value.args
        operands = self.operands(value, ty.ndim)
        if operands is None or not spread and (len(operands) < 2 or max(
                map(self.array_rank, operands.values())) != ty.ndim):
            return None
        shape = self.fresh("_shape", Ty("tuple", 0, (INT,) * ty.ndim))
        shapes = [gast.Attribute(value=anno.deepcopy(o), attr="shape", ctx=gast.Load())
                  for o in ([result] if spread else operands.values())]
        out = [templates.make_assign(shape, shapes[0] if spread else gast.Call(
            func=gast.Attribute(value=make_name("rt"), attr="broadcast_shape", ctx=gast.Load()),
            args=shapes, keywords=[]))]
        out += self.views(operands, make_name(shape), ty.ndim)
        out.append(templates.make_assign(name, gast.Call(
            func=self.np_attr("empty"), args=[make_name(shape)], keywords=[])))
        target = gast.Assign(targets=[make_name(name, gast.Store())], value=None,
                             type_comment=None)
        out.append(self.loop(target, value, operands, make_name(shape), ty.ndim))
        return out

    def update(self, target, op, value, in_place=False):
        """`t op= e` (`t = e` for op None) of a float array `t` (or a basic index of one) and
        arrays broadcast to its shape, none of which may share memory with it; `in_place`
        (`t op= e` in the code), also by a new array (`e` computed whole first, as NumPy does:
        a store would drop its leading axes of length 1, an update in place raises)."""
        if _is_runtime(value, "checked_update", "rt"):  # (broadcast_to checks the same)
            value = value.args[1]
        rank = self.array_rank(target)
        if rank is None or not MIN_RANK <= rank <= MAX_RANK:
            return None
        out = []
        operands = self.operands(value, rank)
        if operands is None and in_place and aliasing.is_fresh(value):
            held = self.namer.fresh("_update")  # (a new array: computed whole first)
            out.append(templates.make_assign(held, value))
            value = make_name(held)
            operands = {held: value}
        base = target.id if isinstance(target, gast.Name) else target.value.id
        if not operands or isinstance(target, gast.Name) and all(
                isinstance(o, gast.Name) and self.ty(o.id).ndim == rank
                for o in operands.values()):
            return None  # (`a += b` of two names of one rank: most likely of one shape)
        if any(self.groups.get(n, n) == self.groups.get(base, base)
               for o in operands.values() for n in templates.names_read(o)):
            return None
        if isinstance(target, gast.Subscript):
            view = self.fresh("_view", Ty("f", rank))
            out.append(templates.make_assign(view, anno.deepcopy(target)))
            target = make_name(view)
        shape = gast.Attribute(value=make_name(target.id), attr="shape", ctx=gast.Load())
        out += self.views(operands, shape, rank)
        into = gast.Assign(targets=[make_name(target.id, gast.Store())], value=None,
                           type_comment=None) if op is None else \
            gast.AugAssign(target=make_name(target.id, gast.Store()), op=op, value=None)
        out.append(self.loop(into, value, operands, shape, rank))
        return out

    # ---- operands ---------------------------------------------------------------------------
    def operands(self, expr, rank):
        """{source: node} of the float arrays elementwise expression `expr` combines (names and
        basic indexes of names, of rank 1 to `rank`), or None if it is not one such."""
        found = {}

        def visit(node):
            if isinstance(node, gast.Constant):
                return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
            if isinstance(node, gast.BinOp):
                return isinstance(node.op, ARITHMETIC) and visit(node.left) and visit(node.right)
            if isinstance(node, gast.UnaryOp):
                return isinstance(node.op, (gast.USub, gast.UAdd)) and visit(node.operand)
            if self.elementwise_call(node):
                return all(visit(a) for a in node.args)
            if isinstance(node, gast.Name) and self.ty(node.id).ndim == 0:
                return self.ty(node.id).kind in ("f", "i")
            operand_rank = self.array_rank(node)
            if operand_rank is None or not 1 <= operand_rank <= rank:
                return False
            found.setdefault(templates.to_source(node), node)
            return True
        return found if visit(expr) else None

    def array_rank(self, node):
        """The rank of a float array name, or of a basic index of one (slices, None, integer
        scalars), else None."""
        if isinstance(node, gast.Name):
            ty = self.ty(node.id)
            return ty.ndim if ty.kind == "f" and ty.is_array else None
        if not (isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name)):
            return None
        ty = self.ty(node.value.id)
        items = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
        if ty.kind != "f" or not ty.is_array or \
                sum(not _is_none(i) for i in items) > ty.ndim:
            return None
        rank = ty.ndim
        for item in items:
            if _is_none(item):
                rank += 1
            elif isinstance(item, gast.Slice):
                if not all(b is None or self.integer(b) for b in (item.lower, item.upper,
                                                                  item.step)):
                    return None
            elif self.integer(item):
                rank -= 1
            else:
                return None
        return rank

    def integer(self, node):
        return is_integer_expression(node, lambda name: self.ty(name) == INT)

    def elementwise_call(self, node):  # (np.copy of an element is not Numba's)
        return is_elementwise_call(node, self.np) and node.func.attr != "copy"

    # ---- the loop ---------------------------------------------------------------------------
    def views(self, operands, shape, rank):
        """`_b = np.broadcast_to(operand, shape)` for each operand; renames `operands`' values
        to the views' names."""
        out = []
        for source, node in operands.items():
            stem = node.id if isinstance(node, gast.Name) else \
                node.value.id if isinstance(node.value, gast.Name) else "_b"
            view = self.fresh(f"{stem}_b", Ty("f", rank))
            out.append(templates.make_assign(view, gast.Call(
                func=self.np_attr("broadcast_to"), args=[anno.deepcopy(node), anno.deepcopy(shape)],
                keywords=[])))
            operands[source] = view
        return out

    def loop(self, stmt, value, views, shape, rank):
        """`stmt` (its target a whole array, its value None) at every index of `shape`, its
        value `value` with each operand read from its view at the index."""
        indices = [self.fresh("_i", INT) for _ in range(rank)]

        def element(name, ctx):
            return gast.Subscript(value=make_name(name), slice=gast.Tuple(
                elts=[make_name(i) for i in indices], ctx=gast.Load()), ctx=ctx)

        class Elements(gast.NodeTransformer):
            def visit(self, node):
                if isinstance(node, (gast.Name, gast.Subscript)):
                    view = views.get(templates.to_source(node))
                    if view is not None:
                        return element(view, gast.Load())
                return super().visit(node)

        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target
        element_stmt = anno.deepcopy(stmt)
        if isinstance(stmt, gast.Assign):
            element_stmt.targets = [element(target.id, gast.Store())]
        else:
            element_stmt.target = element(target.id, gast.Store())
        element_stmt.value = Elements().visit(anno.deepcopy(value))
        body = [element_stmt]
        for k in reversed(range(rank)):
            size = gast.Subscript(value=anno.deepcopy(shape), slice=make_const(k),
                                  ctx=gast.Load())
            body = [gast.For(target=make_name(indices[k], gast.Store()),
                             iter=gast.Call(func=make_name("range"), args=[size], keywords=[]),
                             body=body, orelse=[], type_comment=None)]
        return body[0]

    def fresh(self, stem, ty):
        name = self.namer.fresh(stem)
        self.types[name] = ty
        return name

    def np_attr(self, attr):
        return gast.Attribute(value=make_name(self.np), attr=attr, ctx=gast.Load())


def _is_none(node):
    return isinstance(node, gast.Constant) and node.value is None
