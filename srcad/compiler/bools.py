"""Scalar bools in arithmetic, with the meaning they have where the user's code runs.

A comparison of Python numbers is a Python bool, an int in arithmetic: `(a > 0) + (b > 0)`
is 2 and `~(a > 0)` is -2. A comparison involving a NumPy scalar (an array's element, what
a NumPy function returns) is a NumPy bool: `+` is logical or, `*` logical and, `~` logical
not, and `-` raises. The generated code cannot leave this to the values: Numba computes
`True + True` as 2 and `~True` as False, and a bool saved for the reverse sweep comes back
as NumPy's. So, on the core form, after type inference:

- of NumPy bools, `a + b` becomes `a | b` and `a * b` becomes `a & b` (and `~a` stays, which
  Numba and NumPy both read as logical not); `a - b`, `-a` and `+a` raise as NumPy does;
- Python bools in arithmetic are made ints first (`_t = int(a)`), so `~` and `+` act on ints
  whatever the value turns into later;
- where it is not known (a bool from a scalar argument when the call is not known, from a
  name given both kinds, from an unknown call) and the two meanings differ, the transform
  refuses, naming the line.
"""

import gast
import numpy as np

from . import anno, templates, typeinfer
from .valuetypes import BOOL
from ..errors import UnsupportedError, UserCodeError

PYTHON, NUMPY, EITHER = "python", "numpy", "either"
_PYTHON_CALLS = {int, float, bool, len, round, range}


def follow_python_and_numpy(tree, types, scope, namer, numpy_args=None):
    """Rewrite the bool arithmetic of `tree` (core form) in place; True if anything changed
    (types must then be inferred again). `numpy_args`: the parameters given NumPy scalars (the
    others Python numbers or arrays), or None when the call is not known."""
    origins = _origins(tree, types, scope, numpy_args)
    values = templates.assignments(tree)
    bools = _bool_names(values, types, origins,
                        {a.id for a in tree.args.args if types.get(a.id) != BOOL})

    def is_bool(node):
        if isinstance(node, gast.Constant):
            return type(node.value) is bool
        return node.id in bools if node.id in values else types.get(node.id) == BOOL
    changed = False
    for body in templates.blocks(tree.body):
        out = []
        for stmt in body:
            new = _rewrite(stmt, is_bool, origins, namer)
            changed |= new is not None
            out.extend(new or [stmt])
        body[:] = out
    return changed


def scalar_views(tree, types, scope, numpy_args=None):
    """`t = s[...]` of a NumPy scalar `s` (a 0-d array of its value, which computes as the
    scalar does) becomes `t = s`; True if anything changed. Of a Python number it is an error,
    as in Python; of a name that may hold either (`s = 0.0`, then `s += x[i]` in a loop), the
    NumPy scalar's value."""
    views = [stmt for stmt in templates.walk(tree) if isinstance(stmt, gast.Assign) and
             isinstance(stmt.value, gast.Subscript) and isinstance(stmt.value.value, gast.Name)
             and isinstance(stmt.value.slice, gast.Constant) and
             stmt.value.slice.value is Ellipsis]
    if not views:
        return False
    origins = _origins(tree, types, scope, numpy_args)
    changed = False
    for stmt in views:
        value = stmt.value
        name = value.value.id
        ty = types.get(name)
        if ty is None or ty.is_array or ty.kind not in "fib":
            continue
        if origins.get(name) == PYTHON:
            raise UserCodeError(f"{anno.getanno(stmt, 'loc')}: [...] indexes a Python "
                                "number, which is not subscriptable")
        stmt.value = value.value  # (of a name that may hold either, as if NumPy's)
        changed = True
    return changed


def numpy_scalars(tree, types, scope, numpy_args=None):
    """The names certainly holding NumPy's scalars (as opposed to Python's numbers)."""
    return {name for name, origin in _origins(tree, types, scope, numpy_args).items()
            if origin == NUMPY}


def _rewrite(stmt, is_bool, origins, namer):
    """The statements replacing `stmt`, or None to keep it as it is."""
    if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Call) and \
            anno.getanno(stmt.value.func, "func") is round and stmt.value.args and \
            is_bool(stmt.value.args[0]) and _origin(stmt.value.args[0], origins) == NUMPY:
        raise UserCodeError(f"{anno.getanno(stmt, 'loc')}: NumPy's bools have no round() (an "
                            f"array element's comparison is a NumPy bool); use int(...)")
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.value, (gast.BinOp, gast.UnaryOp))):
        return None
    value = stmt.value
    operands = [value.left, value.right] if isinstance(value, gast.BinOp) else [value.operand]
    if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.Not) or \
            not all(map(is_bool, operands)):
        return None
    origin = _join(*(_origin(o, origins) for o in operands))
    op = type(value.op)
    symbol = {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Invert: "~", gast.USub: "-",
              gast.UAdd: "+"}.get(op)
    loc = anno.getanno(stmt, "loc")
    if origin == NUMPY:
        if op in (gast.Sub, gast.USub, gast.UAdd):
            raise UserCodeError(f"{loc}: NumPy does not support `{symbol}` on bools (an array "
                                f"element's comparison is a NumPy bool); use `^` or `~`, or "
                                f"int(...) for arithmetic")
        if op not in (gast.Add, gast.Mult):
            return None
        value.op = gast.BitOr() if op is gast.Add else gast.BitAnd()
        return [stmt]
    if origin == EITHER and op in (gast.Add, gast.Sub, gast.Invert):
        raise UnsupportedError(
            f"`{symbol}` of bools that may be Python's or NumPy's means one thing for Python "
            f"numbers (an int: True + True == 2, ~True == -2) and another for NumPy scalars "
            f"(logical: True, False); write int(...), `not`, `|` or np.logical_* to say which",
            loc)
    ints = []
    for k, operand in enumerate(operands):
        if isinstance(operand, gast.Name):
            tmp = namer.temp("_i")
            call = templates.fill("int(b)", b=anno.deepcopy(operand))
            anno.setanno(call.func, "func", int)
            ints.append(anno.copy_loc(templates.make_assign(tmp, call), stmt))
            operands[k] = templates.make_name(tmp, gast.Load())
        else:  # (`~True` is -2: the constant as the int it is, once)
            operands[k] = templates.make_const(int(operand.value))
    if isinstance(value, gast.BinOp):
        value.left, value.right = operands
    else:
        value.operand = operands[0]
    return ints + [stmt]


def _bool_names(values, types, origins, not_bools):
    """The names that hold a scalar bool once NumPy's bool sums are `or`s: every assignment
    (`values`: name -> what its assignments give it) gives a bool (type inference, which adds
    bools as Python does, says `seen = seen + (x[i] > 0)` is an int). The largest such set: a
    loop's `seen` is a bool if the loop keeps it one. `not_bools`: the arguments given other
    values (one rebound in a loop, `da = d_t4; d_t4 = da`, was a bool by that rule alone)."""
    infer = typeinfer._Infer(types)
    bools = set(values) - not_bools

    def is_bool(node):
        if isinstance(node, gast.Constant):
            return type(node.value) is bool
        if isinstance(node, gast.Name) and node.id in values:
            return node.id in bools
        if isinstance(node, gast.BinOp):
            both = is_bool(node.left) and is_bool(node.right)
            if isinstance(node.op, (gast.Add, gast.Mult)):
                return both and _join(_origin(node.left, origins),
                                      _origin(node.right, origins)) == NUMPY
            return both and isinstance(node.op, (gast.BitOr, gast.BitAnd, gast.BitXor))
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.Invert):
            return is_bool(node.operand) and _origin(node.operand, origins) == NUMPY
        return infer.expr(node) == BOOL
    while True:
        kept = {name for name in bools if all(map(is_bool, values[name]))}
        if kept == bools:
            return bools
        bools = kept


def _join(*origins):
    origins = {o for o in origins if o is not None}
    if NUMPY in origins:
        return NUMPY  # (NumPy's wins: np.True_ + True is np.True_)
    return EITHER if EITHER in origins else PYTHON if origins else None


def _origin(node, origins):
    if isinstance(node, gast.Constant):
        return PYTHON
    return origins.get(node.id) if isinstance(node, gast.Name) else None


def _origins(tree, types, scope, numpy_args):
    """{name: PYTHON | NUMPY | EITHER}: whether each scalar holds Python's numbers or
    NumPy's, joined over its assignments."""
    origins = {a.id: EITHER if numpy_args is None else NUMPY if a.id in numpy_args else PYTHON
               for a in tree.args.args}
    for name, value in scope.items():
        if isinstance(value, (bool, int, float, np.generic)):
            origins[name] = NUMPY if isinstance(value, np.generic) else PYTHON
    assigns = [n for n in gast.walk(tree) if isinstance(n, (gast.Assign, gast.For))]
    for _ in range(len(assigns) + 1):
        before = dict(origins)
        for node in assigns:
            target = node.target if isinstance(node, gast.For) else node.targets[0]
            if isinstance(target, gast.Name):
                found = PYTHON if isinstance(node, gast.For) else \
                    _expr_origin(node.value, origins, types)
                if found is not None:
                    old = origins.get(target.id)
                    origins[target.id] = found if old in (None, found) else EITHER
        if origins == before:
            break
    return origins


def _expr_origin(node, origins, types):
    if isinstance(node, (gast.Constant, gast.Name)):
        return _origin(node, origins)
    if isinstance(node, gast.Subscript):
        base = node.value
        if isinstance(base, gast.Attribute) and base.attr == "shape":
            return PYTHON
        if isinstance(base, gast.Name) and types.get(base.id) is not None and \
                types[base.id].is_array:
            return NUMPY
        if isinstance(base, gast.Name) and base.id in origins:  # (a tuple: its items' join)
            return origins[base.id]
        return EITHER
    if isinstance(node, gast.Tuple):
        return _join(*(_expr_origin(e, origins, types) for e in node.elts))
    if isinstance(node, gast.Attribute):
        return PYTHON if node.attr in ("ndim", "size") else None
    if isinstance(node, gast.Compare):
        return _join(*(_expr_origin(n, origins, types) for n in [node.left, *node.comparators]))
    if isinstance(node, gast.BinOp):
        if any(isinstance(n, gast.Name) and types.get(n.id) is not None and types[n.id].is_array
               for n in (node.left, node.right)):
            return NUMPY  # (with an array, `x @ x` included: NumPy's values)
        return _join(_expr_origin(node.left, origins, types),
                     _expr_origin(node.right, origins, types))
    if isinstance(node, gast.UnaryOp):
        return PYTHON if isinstance(node.op, gast.Not) else \
            _expr_origin(node.operand, origins, types)
    if isinstance(node, gast.IfExp):
        return _join(_expr_origin(node.body, origins, types),
                     _expr_origin(node.orelse, origins, types))
    if isinstance(node, gast.Call):
        func = anno.getanno(node.func, "func")
        if func in _PYTHON_CALLS or getattr(func, "__module__", None) == "math":
            return PYTHON
        if func in (abs, min, max):
            return _join(*(_expr_origin(a, origins, types) for a in node.args))
        module = getattr(func, "__module__", None) or ""
        if isinstance(func, np.ufunc) or module.split(".")[0] in ("numpy", "scipy"):
            return NUMPY
        return EITHER
    return None

