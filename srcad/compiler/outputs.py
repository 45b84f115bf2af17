"""Outputs: what the differentiated function returns, checked before it is lowered.

Input: `frontend.Parsed` and `has_aux`. Output: the same function (a new tree) where, with
`has_aux=True`, every `return value, aux` has become `aux_name = aux; return value`, and the
name chosen for the auxiliary output. Without `has_aux`, returning a tuple literal is an
error naming the return statement (the tuple would otherwise reach the transform as a value
it cannot differentiate).
"""

import builtins
import dataclasses

import gast

from . import anno, templates
from ..errors import UserCodeError
from .frontend import local_names
from .names import Namer


# what a function differentiated must return, by transform (for the messages)
RETURNS = {"grad": "srcad differentiates a function returning a number (or an array, with "
                   "vjp); to return auxiliary values as well, pass has_aux=True and return "
                   "(value, aux)",
           "jvp": "srcad.jvp differentiates a function returning a number or an array",
           "jacobian": "srcad.jacobian differentiates a function returning a number or an "
                       "array (stack several outputs into one array)",
           "tangent": "hvp, hessian and grad of grad take a function returning a number "
                      "(srcad.jacobian takes one returning an array)"}


def split_aux(parsed, has_aux, kind="grad"):
    """Returns (Parsed, the name holding the auxiliary output or None).

    Raises:
        UserCodeError: a return statement returns a tuple without has_aux, or, with has_aux,
            something other than a pair `value, aux`; the message names its file:line.
    """
    name = parsed.tree.name
    returns = list(_returns(parsed.tree.body))
    suspends = next(_own_nodes(parsed.tree.body, (gast.Yield, gast.YieldFrom, gast.Await)), None)
    if suspends is not None:
        raise _error(suspends, f"{name} is a generator (yield): calling it returns a generator; "
                     f"{RETURNS[kind]}")
    if not any(ret.value is not None for ret in returns) and \
            next(_own_nodes(parsed.tree.body, gast.Raise), None) is None:  # (raises, as asked)
        raise _error(parsed.tree, f"{name} returns nothing (no `return` of a value); "
                     f"{RETURNS[kind]}")
    if not has_aux:
        for ret in returns:
            if isinstance(ret.value, gast.Tuple):
                raise _error(ret, f"{name} returns a tuple; {RETURNS[kind]}")
        return parsed, None
    tree = anno.deepcopy(parsed.tree)
    aux = Namer(local_names(tree) | set(parsed.scope) | set(dir(builtins))).fresh("aux")
    tree.body = _split_returns(tree.body, aux, name)
    return dataclasses.replace(parsed, tree=tree), aux


def _returns(stmts):
    """The function's own return statements (not those of nested functions)."""
    for stmt in stmts:
        if isinstance(stmt, gast.Return):
            yield stmt
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(stmt, (gast.FunctionDef, gast.ClassDef)):
                yield from _returns(getattr(stmt, field, []))


def _own_nodes(stmts, kinds):
    """The nodes of `kinds` in the function's own statements (not in nested functions)."""
    for stmt in stmts:
        stack = [stmt]
        while stack:
            node = stack.pop()
            if isinstance(node, kinds):
                yield node
            if not isinstance(node, (gast.FunctionDef, gast.ClassDef, gast.Lambda,
                                     gast.AsyncFunctionDef)):
                stack.extend(gast.iter_child_nodes(node))


def _split_returns(stmts, aux, name):
    out = []
    for stmt in stmts:
        if isinstance(stmt, gast.Return):
            value = stmt.value
            if not (isinstance(value, gast.Tuple) and len(value.elts) == 2 and
                    not any(isinstance(e, gast.Starred) for e in value.elts)):
                raise _error(stmt, f"with has_aux=True, {name} must return a pair: return "
                             "value, aux")
            out.append(anno.copy_loc(templates.make_assign(aux, value.elts[1]), stmt))
            out.append(anno.copy_loc(gast.Return(value=value.elts[0]), stmt))
            continue
        if not isinstance(stmt, (gast.FunctionDef, gast.ClassDef)):
            for field in ("body", "orelse", "finalbody"):
                if isinstance(getattr(stmt, field, None), list):
                    setattr(stmt, field, _split_returns(getattr(stmt, field), aux, name))
        out.append(stmt)
    return out


def _error(stmt, what):
    loc = anno.getanno(stmt, "loc")
    text = f"\n    {loc.text.strip()}" if loc is not None and loc.text.strip() else ""
    return UserCodeError(f"{loc}: {what}{text}" if loc is not None else what)


def returned_apart(fn_def, first, types, inputs, custom=()):
    """`fn_def`'s final return with each derivative array it hands back (its elements from
    `first` on: names or items of tuples that `types` says are arrays) as
    `rt.apart(rt.apart(b, a), ...)`: copied if it shares memory with one handed back before it
    (the value and aux too) or with one of `inputs` (the arrays the generated function takes
    that a derivative may share). One adjoint array serves both operands of `a + b`, the
    tangent of `x + 1.0` is the caller's own, and a custom rule may return its argument, its
    result, a global array or one array twice (its adjoints, the names in `custom` or their
    items, handed back as they are: copied)."""
    ret = fn_def.body[-1]
    if not (isinstance(ret, gast.Return) and isinstance(ret.value, gast.Tuple)):
        return
    seen = [templates.make_name(name) for name in inputs] + \
        [item for item in ret.value.elts[:first] if _is_array(item, types)]
    for k, item in enumerate(ret.value.elts[first:], first):
        if not _is_array(item, types):
            continue
        source = templates.to_source(item)
        if (item.value if isinstance(item, gast.Subscript) else item).id in custom:
            ret.value.elts[k] = templates.fill("rt.apart(_a, _a)", _a=item)  # (a copy)
        elif any(templates.to_source(other) == source for other in seen):  # (the same twice)
            ret.value.elts[k] = templates.fill("_a.copy()", _a=item)
        else:
            for other in seen:
                ret.value.elts[k] = templates.fill("rt.apart(_a, _o)", _a=ret.value.elts[k],
                                                   _o=anno.deepcopy(other))
        seen.append(item)


def _is_array(item, types):
    """May `item` (a name, or an item `t[k]` of a tuple) be an array, by `types`? (An item of
    a tuple of unknown type may: rt.apart hands back anything else as it is.)"""
    if isinstance(item, gast.Subscript) and isinstance(item.value, gast.Name) and \
            isinstance(item.slice, gast.Constant) and type(item.slice.value) is int:
        ty = types.get(item.value.id)
        return ty is None or ty.kind == "unknown" or ty.kind == "tuple" and \
            -len(ty.items) <= item.slice.value < len(ty.items) and \
            ty.items[item.slice.value].is_array
    return isinstance(item, gast.Name) and item.id in types and types[item.id].is_array
