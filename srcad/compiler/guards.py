"""Guards: the checks Python makes implicitly, made explicit in the forward sweep.

Input: the gradient FunctionDef from `reverse` and the variables' types. Output: the same
function with `rt.check_index(index, size, axis, where)` before every element access of a
user's array (Numba reads and writes out of bounds silently), `rt.check_indices` /
`rt.check_mask` for integer-array and boolean indices, and `rt.check_divisor` before an
integer `//` or `%` of Python integers (Numba gives 0 where Python raises ZeroDivisionError;
NumPy's integers give 0, with a warning).

Only the forward sweep needs them: the reverse sweep indexes the same arrays (and their
adjoints, of the same shapes) with the same index values; so does the reversal of a trip run
right after it (a fused loop: transforms/reverse.py marks its statements "reversal").

A check of an index that is affine in the index of an enclosing `for i in range(a, b)` loop
(`x[i + 1]`, `A[j, 2 * i]`), on an array the loop does not rebind, is hoisted before the loop
and made at the loop's first and last trip: an affine index takes every value between those
two, and Python's valid indices [-n, n) are an interval. So is an index affine in a counter
the loop steps by a constant once per trip (`x[idx]` ... `idx += 1` at the loop's top level):
at trip t the counter is its value before the loop plus t steps (t + 1 after the step).
Hoisting repeats outwards while it can. A check under an `if` (or in a loop with a `break`
or a `raise`) stays where it is: a trip that does not reach the access must not fail, nor fail
otherwise than Python would.
"""

import os
from dataclasses import dataclass, field

import gast

from . import anno, lists, templates, typeinfer
from .. import runtime
from ..errors import DerivedLoc, UnsupportedError
from .templates import COMMENT

_name, _const, _expr = templates.make_name, templates.make_const, templates.fill


@dataclass
class _Check:
    helper: str  # the runtime helper: check_index, check_indices, check_mask, check_divisor
    points: list  # the index expressions to check (one, or a hoisted check's loop ends)
    args: list  # the helper's other arguments (size, axis, where)
    guards: list = field(default_factory=list)  # conditions under which the points are reached


def guard(fn_def, types, origins=None, unchecked=()):
    """Insert the checks into the forward sweep of `fn_def` (in place); returns it. `origins`
    (temporary -> the user's expression) writes the messages in the user's terms. Indexing
    the arrays `unchecked` (tangents, indexed as their primals are) is not checked."""
    body = fn_def.body
    start = next((k for k, s in enumerate(body) if _is_comment(s, "forward sweep") or
                  _is_comment(s, "forward sweep: each trip, then its reversal")), None)
    if start is None:
        return fn_def  # (a parallel loop's reverse chunk)
    end = next((k for k, s in enumerate(body) if _is_comment(s, "reverse sweep")),
               len(body) - 1 if isinstance(body[-1], gast.Return) else len(body))
    checked = {k: v for k, v in types.items() if k not in set(unchecked)}
    guarder = _Guarder(checked, origins or {}, _list_slots(fn_def))
    guarder.elements = _elements(fn_def, checked)
    body[start + 1:end] = guarder.block(body[start + 1:end], [])
    return fn_def


def _elements(fn_def, types):
    """The names only ever assigned an array's element (NumPy scalars)."""
    values = {}
    for node in templates.walk(fn_def):
        if isinstance(node, (gast.Assign, gast.AugAssign, gast.AnnAssign, gast.For)):
            targets = node.targets if isinstance(node, gast.Assign) else [node.target]
            for t in targets:
                for name in (n.id for n in gast.walk(t) if isinstance(n, gast.Name)):
                    values.setdefault(name, []).append(
                        node.value if isinstance(node, gast.Assign) and t is targets[0] and
                        isinstance(t, gast.Name) else None)
    return {name for name, assigned in values.items() if all(
        isinstance(v, gast.Subscript) and isinstance(v.value, gast.Name) and
        types.get(v.value.id, typeinfer.UNKNOWN).is_array and
        not types.get(name, typeinfer.UNKNOWN).is_array for v in assigned)}


def _list_slots(fn_def):
    """The indices into a list's array that are in its bounds by construction
    (compiler/lists.py): those rt.list_index and rt.list_slot check against its length, and
    its count where it appends (after rt.list_full grew it)."""
    checked = {node.targets[0].id for node in templates.walk(fn_def)
               if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and
               isinstance(node.value, gast.Call) and anno.getanno(node.value.func, "func") in
               (runtime.list_index, runtime.list_slot)}
    return checked | set(lists.appends(fn_def).values())


def _is_comment(stmt, text):
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant) and \
        stmt.value.value == COMMENT + text


class _Guarder:
    def __init__(self, types, origins, list_slots=frozenset()):
        self.types, self.origins, self.list_slots = types, origins, list_slots
        self.elements = set()  # (names only ever assigned an array's element)

    def block(self, stmts, loops):
        """`stmts` with their checks; `loops` are the enclosing loops a check may still be
        hoisted out of, innermost last (a loop the checks cannot leave ends the list)."""
        out, made = [], {}  # made: call text -> names it reads, of the checks made above
        for stmt in stmts:
            if isinstance(stmt, gast.If):
                stmt.body = self.block(stmt.body, [])
                stmt.orelse = self.block(stmt.orelse, [])
                new = [stmt]
            elif anno.getanno(stmt, "reversal"):
                new = [stmt]  # (a trip's reversal, run at once, indexes what the trip did)
            elif isinstance(stmt, (gast.For, gast.While)):
                new = self.loop(stmt, loops)
            else:
                new = self.place(self.checks_of(stmt), loops) + [stmt]
            if loops and loops[-1].body is stmts:
                loops[-1].stepped |= loops[-1].counters.keys() & _assigned(stmt)
            for s in new:
                if _is_check(s) and _what_is_checked(s) in made:
                    continue  # made already, and nothing it reads has changed since
                out.append(s)
                if _is_check(s):
                    made[_what_is_checked(s)] = _names(s)
                else:
                    assigned = _assigned(s)
                    made = {k: v for k, v in made.items() if not v & assigned}
        return out

    def loop(self, stmt, loops):
        """The loop, preceded by the checks hoisted out of it."""
        info = _LoopInfo(stmt)
        hoistable = info.runs is not None and not _has_exit(stmt)
        stmt.body = self.block(stmt.body, loops + [info] if hoistable else [])
        return self.place(info.hoisted, loops) + [stmt]

    def place(self, checks, loops):
        """Statements making `checks` here; those that can leave the innermost of `loops` are
        handed to it instead."""
        here = []
        for check in checks:
            loop = loops[-1] if loops else None
            hoisted = loop.hoist(check) if loop is not None else None
            if hoisted is not None:
                loop.hoisted.append(hoisted)
            else:
                here.append(check)
        return _statements(here)

    # ---- what a statement checks ---------------------------------------------------------
    def checks_of(self, stmt):
        out = []
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
        updated = anno.getanno(stmt, "inplace") and \
            self.types.get(target.id, typeinfer.UNKNOWN).is_array or \
            anno.getanno(stmt, "augmented") and isinstance(target, gast.Subscript)
        if updated and typeinfer._Infer(self.types).expr(stmt.value).is_array:
            # (x op= e and x[s] op= e, lowered to x = x op e and x[s] = x[s] op e: NumPy keeps
            # the target's shape, which the result has only if it broadcasts to it)
            old = anno.deepcopy(target)
            old.ctx = gast.Load()
            out.append(_Check("check_inplace", [stmt.value],
                              [old, _const(_where(target, stmt, self.origins))]))
        for node in gast.walk(stmt):
            if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) and \
                    self.types.get(node.value.id) is not None and \
                    self.types[node.value.id].is_array:
                out.extend(self.subscript_checks(node, stmt))
            elif isinstance(node, gast.BinOp) and isinstance(node.op, (gast.FloorDiv, gast.Mod)):
                if self.is_int(node.left) and self.is_int(node.right) and \
                        not (isinstance(node.right, gast.Constant) and node.right.value) and \
                        not any(self.is_element(n) for n in (node.left, node.right)):
                    out.append(_Check("check_divisor", [node.right],
                                      [_const(_where(node, stmt, self.origins))]))
        return out

    def is_element(self, node):
        """An array's element: a NumPy integer, whose division by zero is 0 (NumPy warns), not
        Python's ZeroDivisionError."""
        return isinstance(node, gast.Name) and node.id in self.elements or \
            isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) and \
            self.types.get(node.value.id, typeinfer.UNKNOWN).is_array

    def subscript_checks(self, sub, stmt):
        base = sub.value.id
        items = sub.slice.elts if isinstance(sub.slice, gast.Tuple) else [sub.slice]
        where = _const(_where(sub, stmt, self.origins))
        out, axis = [], 0
        for k, item in enumerate(items):
            if isinstance(item, gast.Constant) and item.value is None:  # np.newaxis
                continue
            if isinstance(item, gast.Constant) and item.value is Ellipsis:
                # the items after it index the last axes
                after = sum(1 for i in items[k + 1:] if not (isinstance(i, gast.Constant) and
                                                             i.value is None))
                axis = self.types[base].ndim - after
                continue
            size = _expr("x.shape[k]", x=_name(base), k=_const(axis))
            ty = self.types.get(item.id) if isinstance(item, gast.Name) else \
                typeinfer._Infer(self.types).expr(item) if isinstance(
                    item, (gast.BinOp, gast.UnaryOp)) else None  # (idx + 1: an index array)
            _refuse_index(ty, sub, stmt, self.origins)
            if isinstance(item, gast.Slice) or \
                    isinstance(item, gast.Name) and item.id in self.list_slots:
                pass  # slices are clipped, never out of bounds
            elif ty is not None and ty.is_array and ty.kind == "b":
                out.append(_Check("check_mask", [item], [_name(base), _const(axis), where]))
                axis += ty.ndim
                continue
            elif ty is not None and ty.is_array:
                out.append(_Check("check_indices", [item], [size, _const(axis), where]))
            else:
                out.append(_Check("check_index", [anno.deepcopy(item)],
                                  [size, _const(axis), where]))
            axis += 1
        return out

    def is_int(self, node):
        """An integer scalar (NumPy's integer arrays divide by zero to 0, with a warning)."""
        if isinstance(node, gast.Constant):
            return type(node.value) is int
        ty = self.types.get(node.id) if isinstance(node, gast.Name) else None
        return ty is not None and ty.kind == "i" and ty.ndim == 0


class _LoopInfo:
    """A loop checks may be hoisted out of: a `for` over a unit-step range (checks of indices
    affine in its index), or a `while` (checks of loop invariants, made if it runs at all)."""

    def __init__(self, loop):
        self.assigned = _assigned(loop)
        self.body = loop.body
        self.hoisted = []
        self.counters = {}  # counter -> its step per trip (_counters)
        self.stepped = set()  # the counters stepped by the statements of the body seen so far
        if isinstance(loop, gast.While):
            self.var, self.first, self.last, self.step = None, None, None, None
            # (just before the loop, its test says whether it runs at all)
            self.runs = loop.test if isinstance(loop.test, gast.Name) else None
            return
        self.var = loop.target.id
        self.first, self.last, self.runs, self.step = _unit_range(loop) or (None,) * 4
        if self.step is not None:
            self.counters = _counters(loop)

    def hoist(self, check):
        """The check made before this loop for every trip, or None when it cannot be."""
        if check.helper != "check_index" or \
                any(_names(a) & self.assigned for a in check.args) or \
                any(_names(g) & self.assigned for g in check.guards):
            return None
        points = []
        for point in check.points:
            point, invariant = self.in_trips(point)
            coefficient = _affine(point, self.var, self.assigned - invariant)
            if coefficient is None or coefficient and self.var is None:
                return None
            if coefficient == 0:
                points.append(point)
            else:
                points += [_substitute(point, self.var, self.first),
                           _substitute(point, self.var, self.last)]
        return _Check(check.helper, points, check.args, check.guards + [self.runs])

    def in_trips(self, point):
        """`point` with each counter it reads written as its value before the loop plus its
        steps so far, and the counters so written (loop invariants in it now)."""
        used = _names(point) & self.counters.keys()
        for counter in used:
            trips = _expr("i - a" if self.step == 1 else "a - i", i=_name(self.var),
                          a=self.first)
            if counter in self.stepped:
                trips = _expr("t + 1", t=trips)
            step = self.counters[counter]
            steps = trips if step == 1 else _expr("c * t", c=_const(step), t=trips)
            point = _substitute(point, counter, _expr("v + t", v=_name(counter), t=steps))
        return point, used


def _is_check(stmt):
    call = stmt.value if isinstance(stmt, gast.Expr) else None
    return isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) and \
        call.func.attr.startswith("check_")


def _what_is_checked(check):
    """A check call's text without its message (the last argument): the same index checked
    against the same size for two expressions is one check, reported for the first."""
    call = check.value
    return templates.to_source(gast.Call(func=call.func, args=call.args[:-1], keywords=[]))


def _located(check):
    return " at " in check.value.args[-1].value


def _statements(checks):
    """One call per distinct check, under one `if` per distinct guard."""
    groups = {}  # guard text -> (guard, calls)
    for check in checks:
        test = None if not check.guards else check.guards[0] if len(check.guards) == 1 else \
            gast.BoolOp(op=gast.And(), values=check.guards)
        key = templates.to_source(test) if test is not None else ""
        calls = groups.setdefault(key, (test, {}))[1]  # what is checked -> call
        for point in check.points:
            call = gast.Expr(value=gast.Call(
                func=gast.Attribute(value=_name("rt"), attr=check.helper, ctx=gast.Load()),
                args=[_simplified(point)] + [anno.deepcopy(a) for a in check.args],
                keywords=[]))
            key = _what_is_checked(call)
            if key not in calls or not _located(calls[key]):  # (a user's line, if any)
                calls[key] = call
    out = []
    for test, calls in groups.values():
        if test is None:
            out.extend(calls.values())
        else:
            out.append(gast.If(test=anno.deepcopy(test), body=list(calls.values()), orelse=[]))
    return out


def _simplified(expr):
    """`expr`, an integer sum, with its terms gathered (`n - 1 + 1` -> `n`, `i + 2 * (n - i)`
    -> `2 * n - i`)."""
    terms, constant = {}, 0  # text -> [coefficient, term]

    def collect(e, k):
        nonlocal constant
        if isinstance(e, gast.Constant) and type(e.value) is int:
            constant += k * e.value
        elif isinstance(e, gast.BinOp) and isinstance(e.op, (gast.Add, gast.Sub)):
            collect(e.left, k)
            collect(e.right, k if isinstance(e.op, gast.Add) else -k)
        elif isinstance(e, gast.UnaryOp) and isinstance(e.op, gast.USub):
            collect(e.operand, -k)
        elif isinstance(e, gast.BinOp) and isinstance(e.op, gast.Mult) and \
                _int_constant(e.left) is not None:
            collect(e.right, k * _int_constant(e.left))
        elif isinstance(e, gast.BinOp) and isinstance(e.op, gast.Mult) and \
                _int_constant(e.right) is not None:
            collect(e.left, k * _int_constant(e.right))
        else:
            terms.setdefault(templates.to_source(e), [0, e])[0] += k
    collect(expr, 1)
    out = None
    for k, term in terms.values():
        if k == 0:
            continue
        scaled = term if abs(k) == 1 else gast.BinOp(left=_const(abs(k)), op=gast.Mult(),
                                                     right=term)
        out = (scaled if k > 0 else gast.UnaryOp(op=gast.USub(), operand=scaled)) \
            if out is None else \
            gast.BinOp(left=out, op=gast.Add() if k > 0 else gast.Sub(), right=scaled)
    if out is None:
        return _const(constant)
    if constant:
        out = gast.BinOp(left=out, op=gast.Add() if constant > 0 else gast.Sub(),
                         right=_const(abs(constant)))
    return out


def _int_constant(node):
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        value = _int_constant(node.operand)
        return None if value is None else -value
    return node.value if isinstance(node, gast.Constant) and type(node.value) is int else None


def _refuse_index(ty, sub, stmt, origins):
    """Indices Numba reads otherwise than NumPy (or not at all): a tuple held in a variable,
    a boolean mask of rank 2 or more, a store through an integer array of rank 2 or more."""
    if ty is None or not (ty.kind == "tuple" or ty.is_array and ty.ndim > 1 and (
            ty.kind == "b" or isinstance(sub.ctx, gast.Store) or
            isinstance(stmt, gast.AugAssign) and stmt.target is sub)):
        return
    what, hint = ("a tuple held in a variable", "; write the indices out: A[rows, cols]") \
        if ty.kind == "tuple" else (f"an index array of rank {ty.ndim}", "") \
        if ty.kind == "i" else (f"a boolean mask of rank {ty.ndim}",
                                "; index x.ravel() with mask.ravel()")
    raise UnsupportedError(f"{templates.SourceText(sub, origins)}: indexing with {what} is not "
                           "supported on the compiled path (Numba reads it otherwise than "
                           f"NumPy){hint}", anno.getanno(stmt, "loc"))


def _where(node, stmt, origins):
    loc = anno.getanno(stmt, "loc")
    text = loc.text.strip() if isinstance(loc, DerivedLoc) else \
        str(templates.SourceText(node, origins))  # (not names of generated code)
    return f"{text} at {os.path.basename(loc.file)}:{loc.line}" if loc is not None else text


def _unit_range(loop):
    """(first index, last index, runs-at-all test, step) of `for i in range(a, b[, ±1])`."""
    if not (isinstance(loop.iter, gast.Call) and isinstance(loop.iter.func, gast.Name) and
            loop.iter.func.id == "range" and isinstance(loop.target, gast.Name)):
        return None
    args = loop.iter.args
    start, stop = (args[0], args[1]) if len(args) > 1 else (_const(0), args[0])
    step = args[2].value if len(args) == 3 and isinstance(args[2], gast.Constant) else \
        (1 if len(args) < 3 else None)
    if step == 1:
        return start, _expr("b - 1", b=stop), _expr("a < b", a=start, b=stop), 1
    if step == -1:
        return start, _expr("b + 1", b=stop), _expr("a > b", a=start, b=stop), -1
    return None


def _counters(loop):
    """{name: step} of the integers `loop` steps by a constant once per trip: one assignment
    `v = v + c` (or `c + v`, `v - c`, `v += c`, or `v = t` of a `t = v + c` before it) at the
    top level of its body, and no other."""
    stores = {}
    for node in gast.walk(loop):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            stores[node.id] = stores.get(node.id, 0) + 1
    values, out = {}, {}  # values: name -> the expression a top-level statement gave it
    for stmt in loop.body:
        if isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name):
            name = stmt.target.id
            value = gast.BinOp(left=stmt.target, op=stmt.op, right=stmt.value)
        elif isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], gast.Name):
            name, value = stmt.targets[0].id, stmt.value
            values[name] = value
            if isinstance(value, gast.Name) and stores.get(value.id) == 1:
                value = values.get(value.id)  # (the form normalize gives `v += c`)
        else:
            continue
        step = _step(value, name)
        if step is not None and stores.get(name) == 1:
            out[name] = step
    return out


def _step(value, name):
    """c for a `value` of `name + c`, `c + name` or `name - c` (c an int constant)."""
    if not isinstance(value, gast.BinOp) or not isinstance(value.op, (gast.Add, gast.Sub)):
        return None
    left, right = value.left, value.right
    if isinstance(right, gast.Name) and right.id == name and isinstance(value.op, gast.Add):
        left, right = right, left
    step = _int_constant(right)
    if not (isinstance(left, gast.Name) and left.id == name) or step is None:
        return None
    return step if isinstance(value.op, gast.Add) else -step


def _has_exit(loop):
    """Can a trip of `loop` end early (a break, or a raise of the function's own checks)?"""
    return any(isinstance(n, (gast.Break, gast.Raise)) for n in gast.walk(loop))


def _assigned(stmt):
    """Names `stmt` (re)binds: every assignment target and loop index inside it."""
    return {n.id for n in templates.walk(stmt) if isinstance(n, gast.Name) and
            isinstance(n.ctx, gast.Store)}


def _names(node):
    return {n.id for n in templates.walk(node) if isinstance(n, gast.Name)}


def _affine(expr, var, assigned):
    """The coefficient of `var` in `expr` when `expr` is `c * var + (terms the loop does not
    change)`, else None."""
    if isinstance(expr, gast.Name):
        if expr.id == var:
            return 1
        return None if expr.id in assigned else 0
    if isinstance(expr, gast.Constant):
        return 0 if type(expr.value) is int else None
    if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub):
        c = _affine(expr.operand, var, assigned)
        return None if c is None else -c
    if isinstance(expr, gast.BinOp):
        left, right = _affine(expr.left, var, assigned), _affine(expr.right, var, assigned)
        if left is None or right is None:
            return None
        if isinstance(expr.op, gast.Add):
            return left + right
        if isinstance(expr.op, gast.Sub):
            return left - right
        if left == right == 0:
            return 0  # (any operation on loop invariants)
        if isinstance(expr.op, gast.Mult):
            if left == 0 and isinstance(expr.left, gast.Constant):
                return expr.left.value * right
            if right == 0 and isinstance(expr.right, gast.Constant):
                return left * expr.right.value
    return None


def _substitute(expr, var, value):
    return templates.fill(templates.to_source(expr), **{var: value})
