"""Optional arguments: `if w is None: w = default` specialised on the call.

Input: a parsed function (its gast FunctionDef), the parameters whose argument is None and
those whose argument is known not to be. Output: the function with every test `p is None` /
`p is not None` of such a parameter replaced by its outcome, and each `if` (or `a if c else b`)
so decided replaced by the branch taken.

srcad generates code per call signature and a None argument is part of it, so the test has one
outcome per generated gradient. It is decided only where the parameter still holds its argument:
every test of it comes before (in the text) every assignment to it, and none is inside a loop
that assigns it; otherwise the test is left alone (and refused by name, as any `is`). A None
parameter assigned afterwards is a variable of its own from that assignment on (its None is
never read): `parameters_rebound` names them, for type inference to start them there.
"""

from dataclasses import replace

import gast

from . import anno
from .valuetypes import NONE


def decide(parsed, arg_types):
    """(parsed, its None parameters, those it assigns before reading) with the tests
    `p is None` of its parameters decided for these argument types."""
    params = [a.id for a in parsed.tree.args.args]
    if len(params) != len(arg_types):  # (*args / **kwargs: normalize refuses them)
        return parsed, set(), set()
    none = {p for p, ty in zip(params, arg_types, strict=True) if ty == NONE}
    if any(isinstance(n, (gast.Is, gast.IsNot)) for n in gast.walk(parsed.tree)):
        parsed = replace(parsed, tree=specialize(anno.deepcopy(parsed.tree), none,
                                                 set(params) - none))
    return parsed, none, parameters_rebound(parsed.tree, none)


def specialize(fn_def, none, not_none):
    """Decide the None tests of `fn_def`'s parameters in `none` / `not_none` (in place)."""
    decided = {p: True for p in none} | {p: False for p in not_none}
    decided = {p: v for p, v in decided.items() if _holds_its_argument_where_tested(fn_def, p)}
    if decided:
        fn_def.body = _Decide(decided).block(fn_def.body)
    return fn_def


def parameters_rebound(fn_def, none):
    """The parameters in `none` the (specialised) function assigns before anything reads
    them: in a statement of its body's top level, before (in the text) every read."""
    rebound = set()
    for p in none:
        first = next((stmt for stmt in fn_def.body if isinstance(stmt, gast.Assign) and
                      any(isinstance(t, gast.Name) and t.id == p for t in stmt.targets)), None)
        reads = [_position(n) for n in gast.walk(fn_def) if isinstance(n, gast.Name) and
                 n.id == p and isinstance(n.ctx, gast.Load)]
        if first is not None and all(r > _position(first) for r in reads) and \
                not any(isinstance(n, gast.Name) and n.id == p
                        for n in gast.walk(first.value)):
            rebound.add(p)
    return rebound


def parameters_kept(fn_def):
    """The parameters the function never assigns."""
    return {a.id for a in fn_def.args.args} - {
        n.id for n in gast.walk(fn_def) if isinstance(n, gast.Name) and
        isinstance(n.ctx, gast.Store)}


def _test_of(node, decided):
    """The outcome of `node` if it is `p is None` / `p is not None` for p in `decided`."""
    if not (isinstance(node, gast.Compare) and len(node.ops) == 1 and
            isinstance(node.ops[0], (gast.Is, gast.IsNot))):
        return None
    sides = [node.left, node.comparators[0]]
    names = [s.id for s in sides if isinstance(s, gast.Name)]
    if len(names) != 1 or names[0] not in decided or \
            not any(isinstance(s, gast.Constant) and s.value is None for s in sides):
        return None
    return decided[names[0]] == isinstance(node.ops[0], gast.Is)


def _is_bool(node):
    return isinstance(node, gast.Constant) and type(node.value) is bool


def _holds_its_argument_where_tested(fn_def, name):
    tests, stores = [], []

    def visit(node, loops):
        if _test_of(node, {name: True}) is not None:
            tests.append((_position(node), loops))
        if isinstance(node, (gast.Assign, gast.AugAssign, gast.AnnAssign)) and \
                _assigns(node, name):  # (after its value: `w = 1.0 if w is None else w`)
            stores.append((node.end_lineno, node.end_col_offset))
        elif isinstance(node, (gast.For, gast.With, gast.NamedExpr)) and _assigns(node, name):
            stores.append(_position(node))
        inner = loops + (node,) if isinstance(node, (gast.For, gast.While)) else loops
        for child in gast.iter_child_nodes(node):
            visit(child, inner)
    for stmt in fn_def.body:
        visit(stmt, ())
    if not stores:
        return True
    first_store = min(stores)
    return all(position < first_store and not any(_assigns(loop, name) for loop in loops)
               for position, loops in tests)


def _position(node):
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _assigns(tree, name):
    return any(isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Store)
               for n in gast.walk(tree))


class _Decide(gast.NodeTransformer):
    def __init__(self, decided):
        self.decided = decided

    def block(self, stmts):
        out = []
        for stmt in stmts:  # (what follows a raise spliced here, normalize drops)
            if isinstance(stmt, gast.If):
                stmt.test = self.visit(stmt.test)
                if _is_bool(stmt.test):
                    out.extend(self.block(stmt.body if stmt.test.value else stmt.orelse))
                    continue
            if isinstance(stmt, gast.Assert):
                stmt.test = self.visit(stmt.test)
                if _is_bool(stmt.test):  # (`assert w is not None, "..."`)
                    out.extend([] if stmt.test.value else [anno.copy_loc(gast.Raise(
                        exc=gast.Call(func=gast.Name(id="AssertionError", ctx=gast.Load(),
                                                     annotation=None, type_comment=None),
                                      args=[stmt.msg] if stmt.msg else [], keywords=[]),
                        cause=None), stmt)])
                    continue
            for field in ("body", "orelse", "finalbody"):
                if isinstance(getattr(stmt, field, None), list):
                    setattr(stmt, field, self.block(getattr(stmt, field)))
            out.append(self.visit_expressions(stmt))
        return out

    def visit_expressions(self, stmt):
        """`stmt` with its expressions' tests decided (its statement lists are done)."""
        for field, value in gast.iter_fields(stmt):
            if isinstance(value, gast.expr):
                setattr(stmt, field, self.visit(value))
        return stmt

    def visit_IfExp(self, node):
        node.test = self.visit(node.test)
        if _is_bool(node.test):
            return self.visit(node.body if node.test.value else node.orelse)
        return self.generic_visit(node)

    def visit_BoolOp(self, node):
        """`and` / `or` with a decided operand: `True and c` is c, `True or c` is True."""
        self.generic_visit(node)
        absorbing = isinstance(node.op, gast.Or)  # (the value that decides the whole)
        values = []
        for k, value in enumerate(node.values):
            if _is_bool(value) and value.value == absorbing:
                return value if not values else gast.BoolOp(op=node.op, values=values + [value])
            if not _is_bool(value) or k + 1 == len(node.values):  # (the last one is the value)
                values.append(value)
        return values[0] if len(values) == 1 else gast.BoolOp(op=node.op, values=values)

    def visit_UnaryOp(self, node):
        """`not (w is None)`."""
        self.generic_visit(node)
        if isinstance(node.op, gast.Not) and _is_bool(node.operand):
            return anno.copy_loc(gast.Constant(value=not node.operand.value, kind=None), node)
        return node

    def visit_Compare(self, node):
        outcome = _test_of(node, self.decided)
        if outcome is not None:
            return anno.copy_loc(gast.Constant(value=outcome, kind=None), node)
        return self.generic_visit(node)
