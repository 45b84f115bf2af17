"""Batching: a generated derivative run for a block of K tangents (or seeds) in one sweep.

Input: a jvp's or a gradient's FunctionDef after cleanup (not fused), the parameters that carry
the block (the tangents, the seed, or the direction of a gradient of a jvp, each with a leading
axis of length K), and the types of its variables (typeinfer.Ty: the rank of one tangent,
without the block axis). Output: the same function where every value computed from those
parameters carries the leading axis too; the primal statements (and a gradient's forward
sweep and saves) run once, whatever K is. A Jacobian is this function called with the identity
as the block: of tangents in forward mode, of seeds in reverse mode; a Hessian, the gradient of
a jvp called with the identity as the jvp's direction.

How a statement defining a batched value `t` (one whose value depends on the block) changes:
- an expression NumPy broadcasting already computes for every tangent at once: operators of
  same-shaped or broadcast operands (a batched operand of lower rank than the result gets
  axes after the block axis: `ds[:, None] * x`), `@` with one batched side (a matrix product
  for the block: `dy @ A.T` for `A @ dy`), `np.sum` of a whole array, `.copy()`, a basic index
  of a batched array (`dx[:, 1:]`, a view, as `dx[1:]` is);
- anything else is computed per tangent, `for _k in range(_K): t[_k] = <expression with each
  batched u read as u[_k]>`, into a new block (a block of numbers is never written in place, so
  `t = u` may share it; blocks of arrays alias as their tangents do);
- a value that does not depend on the block, assigned to a batched name, is copied into every
  row (`rt.block_of`).
Statements that do not define batched values read them only for their shape (`u.shape` is
`u.shape[1:]`). What cannot be batched (a tangent deciding control flow or an index, or passed
to a call that may keep or change it) raises NotBatchable, and the caller runs the derivative
once per tangent instead.
"""

import gast

from ..compiler import anno, templates, typeinfer
from ..compiler.names import Namer

_name, _const, _assign, _expr = (templates.make_name, templates.make_const,
                                 templates.make_assign, templates.fill)

# (functions of np and rt whose result may be a view of their first argument)
_VIEWS = {"reshape", "ravel", "transpose", "squeeze", "expand_dims", "atleast_1d", "atleast_2d",
          "atleast_3d", "reshape_like", "swapaxes", "moveaxis", "diagonal", "asarray",
          "flat"}
_ELEMENTWISE = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.Mod, gast.FloorDiv)
# calls that may keep or change what they are given (a save, a shape slot): a batched value
# passed to one cannot be computed per tangent
_KEEPS = {"append", "extend", "insert", "grow", "save_array", "saved_array", "save_shape",
          "saved_shape", "checked_update", "last_writes", "concatenate_piece", "check_inplace",
          "assume_shape", "shape_slot"}


class NotBatchable(Exception):
    """The derivative cannot run a block in one sweep (the reason is the message)."""


def batch(fn_def, params, types, np_name="np"):
    """Rewrite `fn_def` in place so that `params` (names of its parameters) and everything
    computed from them carry a leading block axis; raises NotBatchable."""
    batched = _batched_names(fn_def, set(params))
    others = {a.id for a in fn_def.args.args} - set(params)
    if batched & others:
        raise NotBatchable(f"the argument '{min(batched & others)}' would be batched")
    for name in batched:
        if name not in types:
            raise NotBatchable(f"'{name}' has no type")
    b = _Batcher(batched, types, np_name, {n.id for n in gast.walk(fn_def)
                                          if isinstance(n, gast.Name)})
    body = b.block(fn_def.body)
    fn_def.body = [_assign(b.K, _expr("p.shape[0]", p=_name(params[0])))] + body
    return fn_def


def _batched_names(fn_def, batched):
    """The variables whose values depend on `batched` (and those sharing memory with them)."""
    while True:
        before = len(batched)
        for node in gast.walk(fn_def):
            if isinstance(node, gast.Assign):
                target, value = node.targets[0], node.value
            elif isinstance(node, gast.AugAssign):
                target, value = node.target, node.value
            else:
                continue
            base = _base(target)
            if base is None:
                if _reads(value, batched):
                    raise NotBatchable("a batched value is unpacked")
                continue
            if _reads(value, batched):
                batched.add(base)
            # (a view and its array: one written with a batched value makes both batched)
            source = _view_source(value)
            if source is not None and isinstance(target, gast.Name) and \
                    (source in batched or base in batched):
                batched |= {source, base}
        if len(batched) == before:
            return batched


def _base(target):
    while isinstance(target, gast.Subscript):
        target = target.value
    return target.id if isinstance(target, gast.Name) else None


def _view_source(value):
    """The array `value` may be a view of (x for x, x[i], x.T, x.reshape(...)), or None."""
    while True:
        if isinstance(value, gast.Name):
            return value.id
        if isinstance(value, gast.Subscript):
            value = value.value
        elif isinstance(value, gast.Attribute):
            value = value.value
        elif isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                value.func.attr in _VIEWS and value.args and \
                isinstance(value.func.value, gast.Name) and value.func.value.id in ("np", "rt"):
            value = value.args[0]
        elif isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                value.func.attr in _VIEWS | {"view"}:
            value = value.func.value
        else:
            return None


def _reads(node, names):
    return any(isinstance(n, gast.Name) and n.id in names for n in gast.walk(node))


class _Batcher:
    def __init__(self, batched, types, np_name, taken):
        self.batched, self.types, self.np = batched, types, np_name
        self.namer = Namer(taken)
        self.K, self.k = self.namer.fresh("_K"), self.namer.fresh("_k")  # (its length, a row)

    def block_of(self, value):
        return _expr("rt.block_of(K, v)", K=_name(self.K), v=value)

    def rows(self, start=None):
        """`range(start, K)` over the block's rows (all of them without `start`)."""
        if start is None:
            return _expr("range(K)", K=_name(self.K))
        return _expr("range(s, K)", s=start, K=_name(self.K))

    def rank(self, name):
        ty = self.types.get(name, typeinfer.UNKNOWN)
        return ty.ndim if ty.is_array else 0

    # ---- statements ------------------------------------------------------------------------
    def block(self, stmts):
        out = []
        for stmt in stmts:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt):
        if isinstance(stmt, (gast.For, gast.While, gast.If)):
            head = stmt.iter if isinstance(stmt, gast.For) else stmt.test
            self.unbatched_read(head)
            stmt.body, stmt.orelse = self.block(stmt.body), self.block(stmt.orelse)
            return [stmt]
        if isinstance(stmt, gast.Assign) and _base(stmt.targets[0]) in self.batched:
            target = stmt.targets[0]
            if isinstance(target, gast.Name):
                return self.define(target.id, stmt.value)
            return self.store(target, stmt.value, None)
        if isinstance(stmt, gast.AugAssign) and _base(stmt.target) in self.batched:
            target = stmt.target
            if isinstance(target, gast.Name) and self.rank(target.id) == 0:
                value = gast.BinOp(left=_name(target.id), op=stmt.op, right=stmt.value)
                return self.define(target.id, value)
            return self.store(target, stmt.value, stmt.op)
        if isinstance(stmt, gast.Return):
            before = []
            parts = stmt.value.elts if isinstance(stmt.value, gast.Tuple) else [stmt.value]
            parts = [self.returned(part, before) for part in parts]
            if isinstance(stmt.value, gast.Tuple):
                stmt.value.elts = parts
            else:
                stmt.value = parts[0]
            return [*before, stmt]
        if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Expr)):
            self.unbatched_read(stmt)
            return [stmt]
        if _reads(stmt, self.batched):
            raise NotBatchable(f"a {type(stmt).__name__} statement reads a batched value")
        return [stmt]

    def unbatched_read(self, node):
        """Let `node` read batched values only for their shape (`u.shape` -> `u.shape[1:]`)."""
        batcher = self

        class Shapes(gast.NodeTransformer):
            def visit_Attribute(self, n):
                if n.attr == "shape" and batcher.is_batched(n.value):
                    return gast.Subscript(value=n, slice=gast.Slice(
                        lower=_const(1), upper=None, step=None), ctx=gast.Load())
                return self.generic_visit(n)
        Shapes().visit(node)
        if _reads(_without_shapes(node), self.batched):
            raise NotBatchable(f"'{templates.to_source(node).strip()}' reads a batched value "
                               "for more than its shape")

    def is_batched(self, node):
        return isinstance(node, gast.Name) and node.id in self.batched

    def define(self, name, value):
        """`name = value` for a batched `name`."""
        if not _reads(value, self.batched):
            if _reads(value, _KEEPS):
                raise NotBatchable(f"'{name}' is given by a call that keeps its arguments")
            return [_assign(name, self.block_of(value))]
        self.check_calls(value)
        if isinstance(value, gast.Subscript) and self.is_batched(value.value) and \
                self.basic(value.slice):
            view = self.prefixed(value)
            if self.rank(name) == 0:  # (a number read from a block of arrays: its own copy)
                view = _expr("v.copy()", v=view)
            return [_assign(name, view)]
        whole = self.whole(value)
        if whole is not None:
            return [_assign(name, whole[0])]
        new = self.namer.fresh("_block")
        if self.rank(name) == 0:
            first, start = _expr(f"{self.np}.empty(K)", K=_name(self.K)), None
        else:
            first = _expr("rt.block_from(K, v)", K=_name(self.K),
                          v=self.per_tangent(value, _const(0)))
            start = _const(1)
        row = gast.Subscript(value=_name(new), slice=_name(self.k), ctx=gast.Store())
        loop = gast.For(target=_name(self.k, gast.Store()), iter=self.rows(start),
                        body=[_assign(row, self.per_tangent(value, _name(self.k)))],
                        orelse=[], type_comment=None)
        return [_assign(new, first), loop, _assign(name, _name(new))]

    def store(self, target, value, op):
        """`target = value` (or `target op= value`) into a batched array."""
        self.check_calls(value)
        if isinstance(target, gast.Subscript):
            self.unbatched_read(target.slice)
            rank = self.indexed_rank(target)
            whole = self.whole(value) if rank is not None else None
            if whole is not None and whole[1] <= rank:
                new_target = self.prefixed(target)
                new_target.ctx = gast.Store()
                return [self.assign_op(new_target, self.lifted(whole, rank), op)]
            row = self.prefixed(target, _name(self.k))
        else:
            whole = self.whole(value)
            if whole is not None and whole[1] <= self.rank(target.id):
                return [self.assign_op(_name(target.id, gast.Store()),
                                       self.lifted(whole, self.rank(target.id)), op)]
            row = gast.Subscript(value=_name(target.id), slice=_name(self.k), ctx=gast.Load())
        row.ctx = gast.Store()
        loop = gast.For(target=_name(self.k, gast.Store()), iter=self.rows(),
                        body=[self.assign_op(row, self.per_tangent(value, _name(self.k)), op)],
                        orelse=[], type_comment=None)
        return [loop]

    @staticmethod
    def assign_op(target, value, op):
        if op is None:
            return _assign(target, value)
        return gast.AugAssign(target=target, op=op, value=value)

    def returned(self, value, before):
        """A part of the return statement: an expression of batched values computed first
        into a name of its own (by a statement added to `before`)."""
        if not _reads(value, self.batched) or self.is_batched(value):
            return value
        whole = self.whole(value)
        if whole is None:
            raise NotBatchable("the return statement computes a batched value")
        name = self.namer.fresh("_out")
        before.append(_assign(name, whole[0]))
        return _name(name)

    def check_calls(self, value):
        for node in gast.walk(value):
            if isinstance(node, gast.Call):
                func = node.func
                name = func.attr if isinstance(func, gast.Attribute) else getattr(func, "id", "")
                if name in _KEEPS:
                    raise NotBatchable(f"a batched value is passed to {name}")
            if isinstance(node, (gast.Lambda, gast.NamedExpr, gast.IfExp, gast.Compare,
                                 gast.BoolOp)) and _reads(node, self.batched):
                raise NotBatchable(f"a batched value in {type(node).__name__}")

    # ---- expressions -----------------------------------------------------------------------
    def per_tangent(self, value, k):
        """`value` for one tangent: each batched `u` read as `u[k]`."""
        batched = self.batched

        class Rows(gast.NodeTransformer):
            def visit_Name(self, n):
                if n.id in batched and isinstance(n.ctx, gast.Load):
                    return gast.Subscript(value=n, slice=anno.deepcopy(k), ctx=gast.Load())
                return n
        return Rows().visit(anno.deepcopy(value))

    def whole(self, value):
        """(`value` computed for the whole block at once, its rank without the block axis), or
        None; for a value that reads no batched variable, (value, its rank) when known."""
        if not _reads(value, self.batched):
            rank = self.plain_rank(value)
            return None if rank is None else (value, rank)
        if self.is_batched(value):
            return value, self.rank(value.id)
        if isinstance(value, gast.UnaryOp) and isinstance(value.op, (gast.USub, gast.UAdd)):
            inner = self.whole(value.operand)
            return None if inner is None else (gast.UnaryOp(op=value.op, operand=inner[0]),
                                               inner[1])
        if isinstance(value, gast.BinOp) and isinstance(value.op, _ELEMENTWISE):
            left, right = self.whole(value.left), self.whole(value.right)
            if left is None or right is None:
                return None
            rank = max(left[1], right[1])
            return gast.BinOp(left=self.lifted(left, rank, value.left),
                              op=value.op,
                              right=self.lifted(right, rank, value.right)), rank
        if isinstance(value, gast.BinOp) and isinstance(value.op, gast.MatMult):
            return self.matmul(value)
        if isinstance(value, gast.Call) and _is_call(value, self.np, "sum") and \
                len(value.args) == 1 and not value.keywords:
            inner = self.whole(value.args[0])
            if inner is None or not self.batched_expr(value.args[0]):
                return None
            total = inner[0]
            for axis in range(inner[1], 0, -1):
                total = _expr(f"{self.np}.sum(a, axis={axis})", a=total)
            return total, 0
        helper = _helper(value)
        if helper in ("matmul_adjoint_a", "matmul_adjoint_b"):
            same = self.as_product(value)
            return None if same is None else self.whole(same)
        if helper == "broadcast_tangent":  # (t + np.zeros_like(ans))
            same = gast.BinOp(left=value.args[0], op=gast.Add(), right=_expr(
                f"{self.np}.zeros_like(a)", a=value.args[1]))
            return self.whole(same)
        if helper == "sum_adjoint" and not self.batched_expr(value.args[0]) and \
                self.is_batched(value.args[1]):  # (the same for every tangent: x's shape)
            one = anno.deepcopy(value)
            one.args[1] = gast.Subscript(value=one.args[1], slice=_const(0), ctx=gast.Load())
            return self.block_of(one), self.rank(value.args[1].id)
        if isinstance(value, gast.Call) and _is_call(value, self.np, "zeros_like") and \
                len(value.args) == 1 and self.is_batched(value.args[0]):
            return value, self.rank(value.args[0].id)
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                value.func.attr == "copy" and not value.args and self.is_batched(value.func.value):
            return value, self.rank(value.func.value.id)
        return None

    def as_product(self, call):
        """`rt.matmul_adjoint_a/b(g, a, b)` (the adjoint of a or b in `a @ b`) as the product it
        computes, where that is `*` or `@` of vectors and matrices, else None."""
        g, a, b = call.args
        ranks = [self.whole(e) for e in (a, b)]
        if None in ranks:
            return None
        ra, rb = ranks[0][1], ranks[1][1]
        if ra == 1 and rb == 1:
            return gast.BinOp(left=g, op=gast.Mult(), right=b if call.func.attr.endswith("a")
                              else a)
        if call.func.attr.endswith("a") and ra == 1 and rb == 2:
            return gast.BinOp(left=b, op=gast.MatMult(), right=g)
        if call.func.attr.endswith("b") and ra == 2 and rb == 1:
            return gast.BinOp(left=g, op=gast.MatMult(), right=a)
        return None

    def batched_expr(self, node):
        return _reads(node, self.batched)

    def lifted(self, part, rank, original=None):
        """A whole-block expression of lower rank than `rank` given axes after the block axis,
        so that it broadcasts as its tangent does; plain values broadcast as they are."""
        expr, own = part
        if own >= rank or not self.batched_expr(original if original is not None else expr):
            return expr
        index = gast.Tuple(elts=[gast.Slice(lower=None, upper=None, step=None)] +
                           [_const(None)] * (rank - own), ctx=gast.Load())
        return gast.Subscript(value=expr, slice=index, ctx=gast.Load())

    def matmul(self, value):
        left, right = self.whole(value.left), self.whole(value.right)
        if left is None or right is None:
            return None
        left_batched, right_batched = self.batched_expr(value.left), \
            self.batched_expr(value.right)
        (a, ra), (b, rb) = left, right
        if left_batched and right_batched:
            return None
        if right_batched and rb == 1 and ra == 2:  # A @ dy: (K, n) @ A.T
            return _expr("b @ a.T", a=a, b=b), 1
        if right_batched and rb == 1 and ra == 1:  # a @ dy
            return _expr("b @ a", a=a, b=b), 0
        if left_batched and ra == 1 and rb in (1, 2):  # dy @ B, dy @ b
            return _expr("a @ b", a=a, b=b), rb - 1
        return None

    def plain_rank(self, node):
        """The rank of an expression reading no batched value, where simply known."""
        if isinstance(node, gast.Constant):
            return 0 if isinstance(node.value, (int, float)) else None
        if isinstance(node, gast.Name):
            ty = self.types.get(node.id)
            return None if ty is None else ty.ndim if ty.is_array else 0
        if isinstance(node, gast.UnaryOp):
            return self.plain_rank(node.operand)
        if isinstance(node, gast.BinOp) and isinstance(node.op, _ELEMENTWISE):
            left, right = self.plain_rank(node.left), self.plain_rank(node.right)
            return None if left is None or right is None else max(left, right)
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
                isinstance(node.func.value, gast.Name) and node.func.value.id in ("math",):
            return 0
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
                isinstance(node.func.value, gast.Name) and node.func.value.id == self.np and \
                node.func.attr in _UFUNCS and node.args and not node.keywords:
            ranks = [self.plain_rank(a) for a in node.args]
            return None if None in ranks else max(ranks)
        if isinstance(node, gast.Call) and _is_call(node, self.np, "zeros_like") and \
                len(node.args) == 1:
            return self.plain_rank(node.args[0])
        return None

    def basic(self, index):
        """Is `index` made of integers and slices of values that are not batched?"""
        elts = index.elts if isinstance(index, gast.Tuple) else [index]
        for e in elts:
            if _reads(e, self.batched):
                return False
            if isinstance(e, gast.Slice):
                continue
            if self.plain_rank(e) != 0 or not self.integer(e):
                return False
        return True

    def integer(self, node):
        if isinstance(node, gast.Constant):
            return type(node.value) is int
        if isinstance(node, gast.Name):
            return getattr(self.types.get(node.id), "kind", None) == "i"
        if isinstance(node, gast.BinOp):
            return self.integer(node.left) and self.integer(node.right) and \
                not isinstance(node.op, gast.Div)
        if isinstance(node, gast.UnaryOp):
            return self.integer(node.operand)
        return False

    def indexed_rank(self, target):
        """The rank of `u[index]` for a batched u and a basic index, else None."""
        if not self.basic(target.slice):
            return None
        elts = target.slice.elts if isinstance(target.slice, gast.Tuple) else [target.slice]
        ints = sum(not isinstance(e, gast.Slice) for e in elts)
        rank = self.rank(_base(target)) - ints
        return rank if rank >= 0 and isinstance(target.value, gast.Name) else None

    def prefixed(self, subscript, first=None):
        """`u[index]` of a batched u as `u[:, index]` (or `u[first, index]`)."""
        first = first if first is not None else gast.Slice(lower=None, upper=None, step=None)
        elts = subscript.slice.elts if isinstance(subscript.slice, gast.Tuple) \
            else [subscript.slice]
        return gast.Subscript(value=subscript.value,
                              slice=gast.Tuple(elts=[first, *elts], ctx=gast.Load()),
                              ctx=subscript.ctx)


_UFUNCS = {"sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "arctan", "arcsin",
           "arccos", "log1p", "expm1", "abs", "absolute", "sign", "square", "negative",
           "reciprocal", "exp2", "log2", "log10", "cbrt", "arctanh", "arcsinh", "arccosh"}


def _helper(node):
    """The name of the srcad runtime helper `node` calls (`rt.f(...)`, `kn.f(...)`), or None."""
    if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
            isinstance(node.func.value, gast.Name) and \
            node.func.value.id.rstrip("0123456789") in ("rt", "kn"):
        return node.func.attr
    return None


def _is_call(node, module, attr):
    return isinstance(node.func, gast.Attribute) and node.func.attr == attr and \
        isinstance(node.func.value, gast.Name) and node.func.value.id == module


def _without_shapes(node):
    """`node` without its `u.shape` reads (copied)."""
    node = anno.deepcopy(node)

    class Drop(gast.NodeTransformer):
        def visit_Attribute(self, n):
            return _const(0) if n.attr in ("shape", "dtype") else self.generic_visit(n)
    return Drop().visit(node)
