"""Type tests of the arguments, decided when the gradient is generated.

Input: a core-form tree, its scope, and for each parameter the Python classes its argument may
have. Output: the tree with `isinstance(p, C)` and `type(p) == C` (`!=`, `is`, `is not`) of
a parameter `p` that is never assigned replaced by the constant they are.

Compiled code cannot tell a Python float from a NumPy float64 (Numba's `isinstance(x,
np.floating)` is True for both) and the generated Python is given each number as one kind, so
such tests were answered for the wrong class. The classes come from the specialisation's key
(the argument's kind and rank, and the class of a NumPy scalar); where that class is not
known, a test the possible classes do not all answer alike is refused by name.
"""

import builtins

import gast
import numpy as np

from . import anno
from .frontend import resolve
from ..errors import UnsupportedError

_PYTHON = {"f": (float,), "i": (int,), "b": (bool,)}
_EITHER = {"f": (float, np.float64, np.float32), "i": (int, np.int64, np.int32),
           "b": (bool, np.bool_)}
_COMPARISONS = {gast.Eq: True, gast.Is: True, gast.NotEq: False, gast.IsNot: False}


def classes(arg_types, numpy_args):
    """{parameter: the classes its argument may have} from the specialisation's types and
    `numpy_args` ({parameter: the NumPy scalar class it is given}; None: not known)."""
    out = {}
    for name, ty in arg_types.items():
        if ty.is_array:
            out[name] = (np.ndarray,)
        elif ty.kind in "fib" and ty.ndim == 0:
            out[name] = _EITHER[ty.kind] if numpy_args is None else \
                (numpy_args[name],) if name in numpy_args else _PYTHON[ty.kind]
    return out


def fold(tree, scope, arg_classes):
    """Replace the type tests of never-assigned parameters in `tree` by constants."""
    assigned = {n.id for n in gast.walk(tree)
                if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del))}
    known = {p: c for p, c in arg_classes.items() if p not in assigned}
    type_of, named = {}, {}  # temporary -> the parameter whose type(p) it holds / the class
    stores = [n.id for n in gast.walk(tree) if isinstance(n, gast.Name) and
              isinstance(n.ctx, gast.Store)]
    for node in gast.walk(tree):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            target = node.targets[0].id
            if _builtin_call(node.value, scope, type) and _parameter(node.value, known):
                type_of[target] = node.value.args[0].id
            elif stores.count(target) == 1 and isinstance(_class(node.value, scope), type):
                named[target] = _class(node.value, scope)  # (`_t2 = np.ndarray`)
    scope = {**scope, **named}
    for node in gast.walk(tree):
        for field, value in gast.iter_fields(node):
            if isinstance(value, gast.AST):
                setattr(node, field, _folded(value, scope, known, type_of))
            elif isinstance(value, list):
                setattr(node, field, [_folded(v, scope, known, type_of) if
                                      isinstance(v, gast.AST) else v for v in value])
    still = {n.id for n in gast.walk(tree) if isinstance(n, gast.Name) and
             isinstance(n.ctx, gast.Load) and n.id in type_of}
    if still:
        raise UnsupportedError(f"type({type_of[min(still)]}) other than compared with a class "
                               "(srcad decides `type(p) == C` and isinstance(p, C) of a parameter "
                               "p when it generates the gradient)")
    read = {n.id for n in gast.walk(tree) if isinstance(n, gast.Name) and
            isinstance(n.ctx, gast.Load)}
    _drop_assignments(tree, set(type_of) | (set(named) - read))
    _prune(tree)
    for node in gast.walk(tree):  # (of a value that is no parameter: Numba's answer may be
        if _builtin_call(node, scope, isinstance) and len(node.args) == 2:  # another's)
            cls = _class(node.args[1], scope)
            if any(issubclass(c, np.generic) for c in (cls if isinstance(cls, tuple) else
                                                       (cls,)) if isinstance(c, type)):
                raise UnsupportedError("isinstance(..., <a NumPy scalar class>) of a value that "
                                       "is not an argument: compiled code does not keep a "
                                       "Python float apart from a NumPy float64",
                                       anno.getanno(node, "loc"))
    for node in gast.walk(tree):  # (normalize let `a is C` of a class C through for this)
        if isinstance(node, gast.Compare) and isinstance(node.ops[0], (gast.Is, gast.IsNot)) \
                and not any(isinstance(e, gast.Constant) and e.value is None
                            for e in (node.left, *node.comparators)):
            raise UnsupportedError("an 'is' test of a class: srcad decides `type(p) is C` of a "
                                   "parameter p that is never assigned",
                                   anno.getanno(node, "loc"))


def _folded(node, scope, known, type_of):
    if _builtin_call(node, scope, isinstance) and len(node.args) == 2 and \
            _parameter(node, known):
        cls = _class(node.args[1], scope)
        if cls is not None:
            return _constant({issubclass(c, cls) for c in known[node.args[0].id]}, node)
    if isinstance(node, gast.Compare) and len(node.ops) == 1 and \
            type(node.ops[0]) in _COMPARISONS:
        sides = [node.left, node.comparators[0]]
        for held, other in (sides, sides[::-1]):
            if isinstance(held, gast.Name) and held.id in type_of:
                cls = _class(other, scope)
                if isinstance(cls, type):
                    same = _COMPARISONS[type(node.ops[0])]
                    return _constant({(c is cls) == same for c in known[type_of[held.id]]},
                                     node)
    return node


def _constant(answers, node):
    if len(answers) != 1:
        raise UnsupportedError("a test of an argument's class, which this call of the "
                               "pipeline does not know", anno.getanno(node, "loc"))
    return anno.setanno(anno.copy_loc(gast.Constant(value=answers.pop(), kind=None), node),
                        "decided", True)


def _builtin_call(node, scope, function):
    return isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and \
        scope.get(node.func.id, getattr(builtins, node.func.id, None)) is function and \
        not node.keywords


def _parameter(call, known):
    return call.args and isinstance(call.args[0], gast.Name) and call.args[0].id in known and \
        (len(call.args) == 2 or call.func.id == "type" and len(call.args) == 1)


def _class(node, scope):
    """The class, or tuple of classes, `node` names, or None."""
    if isinstance(node, gast.Tuple):
        items = tuple(_class(e, scope) for e in node.elts)
        return items if all(isinstance(c, type) for c in items) else None
    obj = resolve(node, scope)
    if obj is None and isinstance(node, gast.Name):
        obj = getattr(builtins, node.id, None)
    return obj if isinstance(obj, type) else None


def _drop_assignments(tree, names):
    for node in gast.walk(tree):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                block[:] = [s for s in block if not (
                    isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and
                    s.targets[0].id in names)]


def _prune(tree):
    """`if c:` of a condition decided here runs one of its branches (the other may not type:
    `math.exp(x)` of an array where `isinstance(x, float)` is False). Only conditions this
    module decided: a flag assigned True once may still be unassigned where it is tested."""
    stores = [n for n in gast.walk(tree)
              if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)]
    once = {n.id for n in stores if sum(m.id == n.id for m in stores) == 1}
    decided = {s.targets[0].id: s.value.value for s in gast.walk(tree)
               if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and
               s.targets[0].id in once and anno.getanno(s.value, "decided")}

    def block(stmts):
        out = []
        for s in stmts:
            test = s.test.id if isinstance(s, gast.If) and isinstance(s.test, gast.Name) \
                else None
            if test in decided:
                out.extend(block(s.body if decided[test] else s.orelse))
                continue
            for field in ("body", "orelse"):
                if isinstance(getattr(s, field, None), list):  # (core form may leave one empty)
                    setattr(s, field, block(getattr(s, field)))
            out.append(s)
        return out
    tree.body = block(tree.body)
