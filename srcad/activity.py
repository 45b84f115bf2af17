"""Activity analysis: which variables carry derivatives.

Input: a core-form tree, its types, and the names differentiated. Output: the set of active
names. A variable is active when it depends on a differentiated input through
differentiable operations (varied) AND the returned value depends on it (useful). Integers,
booleans, shapes and indices are never active, whatever they are computed from.
"""

import gast
import numpy as np

from . import anno, rules
from .errors import AliasingError, UnsupportedError
from .normalize import BINOPS, UNARYOPS
from .typeinfer import UNKNOWN


def diff_inputs(expr):
    """Names whose derivative flows into the value of the core expression `expr`."""
    if isinstance(expr, gast.Name):
        return [expr.id]
    if isinstance(expr, gast.BinOp):
        func, args = BINOPS[type(expr.op)], [expr.left, expr.right]
    elif isinstance(expr, gast.UnaryOp):
        func, args = UNARYOPS[type(expr.op)], [expr.operand]
    elif isinstance(expr, gast.Call):
        func = anno.getanno(expr.func, "func")
        args = list(expr.args) + [k.value for k in expr.keywords]
    elif isinstance(expr, gast.Subscript):
        return [expr.value.id] if isinstance(expr.value, gast.Name) else []
    elif isinstance(expr, gast.Tuple):
        return [e.id for e in expr.elts if isinstance(e, gast.Name)]
    else:  # constants, comparisons, attributes such as x.shape
        return []
    rule = rules.lookup(func)
    if rule is not None and rule.nondiff:
        return []
    names = []
    for a in args:
        if isinstance(a, gast.Name):
            names.append(a.id)
        elif isinstance(a, gast.Tuple):
            names.extend(e.id for e in a.elts if isinstance(e, gast.Name))
    return names


def _flows(tree):
    """(target, [inputs], node) for every statement that moves derivatives."""
    flows = []
    for node in gast.walk(tree):
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name):
                flows.append((target.id, diff_inputs(node.value), node))
            else:  # y[index] = atom
                flows.append((target.value.id, diff_inputs(node.value), node))
        elif isinstance(node, gast.AugAssign):
            flows.append((node.target.value.id, diff_inputs(node.value), node))
    return flows


VIEWS = (np.transpose, np.reshape, np.ravel, np.asarray, np.ascontiguousarray,
         np.asfortranarray, np.atleast_1d, np.atleast_2d)


def views(tree, types):
    """{view: base} for array variables assigned a view of (or another name for) an array."""
    out = {}
    reads = {}
    for n in gast.walk(tree):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            reads[n.id] = reads.get(n.id, 0) + 1
    assigns = [node for node in gast.walk(tree)
               if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name)]
    changed = True
    while changed:  # until chains of names (`y = w; z = y`) are followed
        changed = False
        for node in assigns:
            target = node.targets[0].id
            if target in out:
                continue
            if isinstance(node.value, gast.Name) and reads[node.value.id] == 1 and \
                    node.value.id not in out:
                continue  # `x = _t1`, the only use of a new array: nothing else sees it
            base = _view_base(node.value, types)
            if base is not None and base != target and types.get(target, UNKNOWN).is_array:
                out[target] = base
                changed = True
    return out


def bases(view_of, view):
    """The arrays `view` shares memory with: its base, that one's base, ... (each once: names
    swapped in a loop make a cycle)."""
    out = []
    while view in view_of and view_of[view] not in out:
        view = view_of[view]
        out.append(view)
    return out


def check_aliasing(tree, types):
    """Refuse code whose values srcad's by-name tracking would get wrong: a write into an array
    through a second name for it (a view or alias), or a read of a view after its array was
    written (the view would see the write, which srcad does not model)."""
    view_of = views(tree, types)
    if not view_of:
        return
    renames = {n.targets[0].id for n in gast.walk(tree) if isinstance(n, gast.Assign) and
               isinstance(n.targets[0], gast.Name) and isinstance(n.value, gast.Name)}
    _Staleness(view_of, renames).block(tree.body, frozenset())


class _Staleness:
    """Forward dataflow over structured code: which views have seen their base written."""

    def __init__(self, view_of, renames):
        self.view_of, self.renames = view_of, renames

    def error(self, name):
        """The tape handles a second name for the same array, not a view (its slices are
        copies): with a view in the chain, mode="auto" must not fall back to it."""
        chain = [name] + bases(self.view_of, name)[:-1]
        return UnsupportedError if all(v in self.renames for v in chain) else AliasingError

    def block(self, stmts, stale):
        for stmt in stmts:
            stale = self.stmt(stmt, stale)
        return stale

    def stmt(self, s, stale):
        if isinstance(s, gast.If):
            self.use({s.test.operand.id if isinstance(s.test, gast.UnaryOp) else s.test.id},
                     stale, s)
            return self.block(s.body, stale) | self.block(s.orelse, stale)
        if isinstance(s, (gast.For, gast.While)):
            entry = stale
            for _ in range(len(self.view_of) + 2):
                after = self.block(s.body, entry)
                if after <= entry:
                    break
                entry = entry | after
            return entry
        self.use({n.id for n in gast.walk(s.value) if isinstance(n, gast.Name)}, stale, s)
        if isinstance(s, gast.Return):
            return stale
        target = s.targets[0] if isinstance(s, gast.Assign) else s.target
        if isinstance(target, gast.Subscript) or anno.getanno(s, "inplace"):
            name = target.value.id if isinstance(target, gast.Subscript) else target.id
            if name in self.view_of:
                base = self.shared_with(name)
                raise self.error(name)(
                    f"a write into '{name}', which shares memory with the array '{base}': "
                    f"srcad cannot follow a write through another name (use {base}.copy())",
                    anno.getanno(s, "loc"))
            stale = stale | {v for v in self.view_of if name in bases(self.view_of, v)}
            return stale if isinstance(target, gast.Subscript) else stale - {name}
        return stale - {target.id}

    def shared_with(self, name):
        """The user's array `name` shares memory with: the last of its bases that is neither a
        temporary nor `name` itself (names swapped in a loop make a cycle)."""
        named = [b for b in bases(self.view_of, name) if b != name and not b.startswith("_t")]
        return named[-1] if named else bases(self.view_of, name)[-1]

    def use(self, names, stale, s):
        for name in names & stale:
            base = self.shared_with(name)
            raise self.error(name)(
                f"'{name}' shares memory with the array '{base}', which was written in place "
                f"after '{name}' was taken; srcad cannot follow that write (take a .copy() of "
                f"it instead)", anno.getanno(s, "loc"))


def _view_base(value, types):
    if isinstance(value, gast.Name):
        return value.id
    if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name):
        index = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
        basic = not any(isinstance(i, gast.Name) and types.get(i.id, UNKNOWN).is_array
                        for i in index)
        return value.value.id if basic else None
    if isinstance(value, gast.Call) and anno.getanno(value.func, "func") in VIEWS and \
            value.args and isinstance(value.args[0], gast.Name):
        return value.args[0].id
    return None


def can_carry(ty):
    return ty.kind in ("f", "unknown")


def analyze(tree, types, wrt):
    """The active variables of `tree` (core form) when differentiating w.r.t. `wrt` names."""
    check_aliasing(tree, types)
    flows = _flows(tree)
    varied = {w for w in wrt if can_carry(types.get(w))}
    changed = True
    while changed:
        changed = False
        for target, inputs, _ in flows:
            if target not in varied and can_carry(types.get(target)) and \
                    any(i in varied for i in inputs):
                varied.add(target)
                changed = True
    ret = tree.body[-1].value
    useful = {ret.id} if isinstance(ret, gast.Name) else set()
    changed = True
    while changed:
        changed = False
        for target, inputs, _ in flows:
            if target in useful:
                new = set(inputs) - useful
                if new:
                    useful |= new
                    changed = True
    active = varied & useful
    for target, inputs, node in flows:
        if target in useful and types.get(target, UNKNOWN).kind == "tuple" and \
                any(i in varied for i in inputs):
            raise UnsupportedError("a tuple variable holding values that carry derivatives "
                                   "(unpack it: a, b = ...)", anno.getanno(node, "loc"))
    for name in active:
        if types.get(name).kind == "unknown":
            node = next((n for t, _, n in flows if t == name), None)
            raise UnsupportedError(f"cannot infer the type of '{name}', which carries a "
                                   "derivative", anno.getanno(node, "loc") if node else None)
    return active
