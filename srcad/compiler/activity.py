"""Activity analysis: which variables carry derivatives.

Input: a core-form tree, its types, and the names differentiated. Output: the set of active
names. A variable is active when it depends on a differentiated input through
differentiable operations (varied) AND the returned value depends on it (useful). Integers,
booleans, shapes and indices are never active, whatever they are computed from.
"""

import gast
import numpy as np

from . import anno, templates, typeinfer
from .. import rules
from ..errors import UnsupportedError
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
    # (the names at any depth of a tuple argument: a derivative a rule cannot take through a
    # nested tuple is then refused, never dropped)
    return [n.id for a in args if isinstance(a, (gast.Name, gast.Tuple))
            for n in gast.walk(a) if isinstance(n, gast.Name)]


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


def can_carry(ty):
    return ty.kind in ("f", "unknown")


def analyze(tree, types, wrt, origins=None):
    """The active variables of `tree` (core form) when differentiating w.r.t. `wrt` names."""
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
        for target, inputs, _ in reversed(flows):  # (backwards: a chain of n takes one pass)
            if target in useful:
                new = set(inputs) - useful
                if new:
                    useful |= new
                    changed = True
    active = varied & useful
    for target, inputs, node in flows:
        if target in useful and types.get(target, UNKNOWN).kind == "tuple" and \
                any(i in varied for i in inputs):
            if isinstance(node.value, gast.Call) and \
                    rules.lookup(anno.getanno(node.value.func, "func")) is None:
                what = templates.SourceText(node.value, origins or {})
                raise UnsupportedError(rules.missing(anno.getanno(node.value.func, "func"), what),
                                       anno.getanno(node, "loc"))
            raise UnsupportedError("a tuple variable holding values that carry derivatives, "
                                   "read other than by constant indices (t[0]) or unpacking",
                                   anno.getanno(node, "loc"))
    for name in sorted(active):
        if types.get(name).kind == "unknown":
            node = next((n for t, _, n in flows if t == name), None)
            raise UnsupportedError(_unknown_type(name, node, types, origins, flows),
                                   anno.getanno(node, "loc") if node else None)
    return active


def _unknown_type(name, node, types, origins, flows):
    """Why srcad cannot type `name`, in the user's terms (a temporary by its expression)."""
    what = f"'{templates.SourceText(node.value, origins)}'" if name.startswith("_") and \
        node is not None else f"'{name}'"
    conflicts = getattr(types, "conflicts", {})
    if name in conflicts and isinstance(origins.get(name), gast.Call):  # (sum(e for v in x))
        a, b = conflicts[name]
        return (f"cannot infer the type of '{templates.SourceText(origins[name], origins)}': "
                f"it starts as a {a} and adds {b} terms (srcad gives each variable one type: "
                f"give it a start that is a {b}, e.g. sum(..., np.zeros(n)))")
    suspects = [name] + (sorted(templates.names_read(node.value)) if node is not None else [])
    for suspect in suspects:
        if suspect in conflicts and not suspect.startswith("_"):
            a, b = conflicts[suspect]
            if any(t == suspect and anno.getanno(n, "inplace") for t, _, n in flows):
                return (f"'{suspect}' is a {a} updated in place by a {b} value (x op= y, where "
                        "y has more axes than x): NumPy raises ValueError for that, as an "
                        "update in place never changes an array's shape")
            return (f"cannot infer the type of {what}: '{suspect}' is a {a} at one point and a "
                    f"{b} at another (srcad gives each variable one type: make it {b} from the "
                    "start, e.g. with np.zeros_like)")
    axis = _axis_out_of_bounds(node.value if node is not None else None, types)
    if axis is not None:
        return (f"{what}: axis {axis[0]} is out of bounds for array of dimension {axis[1]} "
                "(NumPy raises AxisError)")
    drawn = _untyped_side_effects(name, types, flows, origins)
    if drawn:
        return (f"cannot infer the type of {what}, which carries a derivative: it is computed "
                f"from {drawn}, a call with side effects (random draws, files) that srcad "
                "does not run to learn its type: for a number write float(...) around the "
                "call, or use mode='tape'")
    outside = _untyped_free_names(name, types, flows)
    if outside:
        return (f"cannot infer the type of {what}, which carries a derivative: it reads "
                f"{', '.join(map(repr, outside))} from outside the function, which is not a "
                "number, an array or a tuple of them (a dict or list there is neither: pass "
                "it as an argument, or make it an array or a tuple)")
    call, func, raised = _untyped_call(name, types, flows, origins)
    if func is np.squeeze:
        return (f"cannot infer the type of {what}, which carries a derivative: np.squeeze "
                f"without constant axes ({call}) removes whichever axes have length 1, so its "
                "rank depends on sizes srcad does not know when it compiles: give the axes to "
                "remove as constants (np.squeeze(x, axis=0)) or write a reshape")
    if call:
        refusal = f"where it raised {raised}" if raised else "which this one refuses"
        return (f"cannot infer the type of {what}, which carries a derivative: it is computed "
                f"from {call}, whose result srcad cannot type (it learns a library call's "
                f"type by running it on small stand-in values, {refusal})")
    return f"cannot infer the type of {what}, which carries a derivative"


def _untyped_call(name, types, flows, origins):
    """The first call of typed arguments whose untyped result `name` is computed from, as the
    user wrote it and where, the function it calls and what that raised on stand-in values;
    or (None, None, None)."""
    for _, node in _untyped_sources(name, types, flows):
        value = getattr(node, "value", None)
        if not isinstance(value, gast.Call):
            continue
        func = anno.getanno(value.func, "func", None)
        if func is np.squeeze or not any(  # (squeeze: untyped whatever its argument)
                types.get(n, UNKNOWN).kind == "unknown" for n in templates.names_read(value)
                if n in types):
            loc = anno.getanno(node, "loc")
            return f"'{templates.SourceText(value, origins)}'" + \
                (f" (line {loc.line})" if loc is not None else ""), func, \
                anno.getanno(node, "stand_in_error", None)
    return None, None, None


def _axis_out_of_bounds(call, types):
    """(axis, rank) of a NumPy call's constant `axis` its array argument does not have."""
    if not isinstance(call, gast.Call) or not call.args or \
            not isinstance(call.args[0], gast.Name):
        return None
    ty = types.get(call.args[0].id)
    given = [k.value for k in call.keywords if k.arg == "axis"]
    rule = rules.lookup(anno.getanno(call.func, "func"))
    if not given and rule is not None and "axis" in rule.params:  # (by position: its place)
        given = call.args[rule.params.index("axis"):][:1]
    if ty is None or ty.kind not in "fib" or not given:
        return None
    axes = given[0].elts if isinstance(given[0], gast.Tuple) else [given[0]]
    for axis in axes:
        value = axis.value if isinstance(axis, gast.Constant) else \
            -axis.operand.value if isinstance(axis, gast.UnaryOp) and \
            isinstance(axis.op, gast.USub) and isinstance(axis.operand, gast.Constant) else None
        if type(value) is int and not -ty.ndim <= value < ty.ndim:
            return value, ty.ndim
    return None


def _untyped_sources(name, types, flows):
    """(name, the statement defining it or None) of each untyped name `name` is computed from,
    `name` first."""
    defined = {}
    for target, inputs, node in flows:
        defined.setdefault(target, []).append((inputs, node))
    todo, seen = [name], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current not in defined:
            yield current, None
        for inputs, node in defined.get(current, []):
            yield current, node
            todo.extend(n for n in inputs if types.get(n, UNKNOWN).kind == "unknown")


def _untyped_side_effects(name, types, flows, origins):
    """The first call with side effects (np.random.rand()) whose untyped result `name` is
    computed from, as the user wrote it, or None."""
    for _, node in _untyped_sources(name, types, flows):
        value = getattr(node, "value", None)
        if isinstance(value, gast.Call) and \
                typeinfer.has_side_effects(anno.getanno(value.func, "func")):
            return f"'{templates.SourceText(value, origins)}'"
    return None


def _untyped_free_names(name, types, flows):
    """The names `name` is computed from that the function does not assign and that have no
    type (globals and closure values of kinds srcad does not read)."""
    return sorted(n for n, node in _untyped_sources(name, types, flows)
                  if node is None and n not in types)
