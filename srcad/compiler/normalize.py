"""Normalize: lower a parsed function to srcad's small core form (three-address code).

Input: `frontend.Parsed`. Output: `Core(tree, namer, ...)`, where every statement of `tree`
is one of

    name = expr                         expr: one primitive applied to atoms (below)
    name[index] = atom                  element / slice store
    name[index] += atom                 element / slice accumulate
    if name: ... else: ...              (or `if not name:`)
    for name in range(i, i, i): ...     the body may end with `if flag: break`
    while name: ...                     the body recomputes `name` at its end; no break inside
    return atom                         the last statement, once
    raise E(atom, ...)                  E a builtin exception (from `raise` and `assert`);
                                        the primal's alone: no derivative, no save

    expr  := atom | atom <binop> atom | <unaryop> atom | atom <cmpop> atom | (atom, ...)
           | f(atom, ..., kw=atom)      f a resolved callable (anno "func")
           | name[index] | name.attr | name.shape[k]
    atom  := name | constant
    index := iexpr | slice of iexprs | tuple of those     iexpr: names, constants, + - * // %

`break`, `continue` and early `return` are lowered to flags and structured `if`s, `while`
conditions and `and`/`or`/ternaries to statements, `for v in x` / `enumerate` / `zip` to range
loops, and method calls on arrays (`x.sum()`) to their NumPy functions (`np.sum(x)`).
Each statement keeps the source location of the statement it came from (anno "loc").

Raises UnsupportedError, naming the construct and its file:line, for anything else.
"""

import builtins
import inspect
import math
import operator
import os
import random
import sys
import types
from dataclasses import dataclass, field

import gast
import numpy as np
import scipy.linalg

from .. import rules, runtime
from ..errors import UnsupportedError, UserCodeError
from ..kernels import arrays as array_kernels
from ..kernels import einsum as einsum_kernel
from ..kernels import linalg as linalg_kernels
from ..kernels import namespace as kernel_namespace
from . import anno, compositions, inlining, jumps, lists, templates, unassigned, valuetypes
from .frontend import (Ref, is_data, is_derivative, is_library, local_names, resolve,
                       shadows_builtin)
from .names import Namer

BINOPS = {
    gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
    gast.Div: operator.truediv, gast.FloorDiv: operator.floordiv, gast.Mod: operator.mod,
    gast.Pow: operator.pow, gast.MatMult: operator.matmul,
    gast.BitAnd: operator.and_, gast.BitOr: operator.or_, gast.BitXor: operator.xor,
}
UNARYOPS = {gast.USub: operator.neg, gast.UAdd: operator.pos, gast.Not: operator.not_,
            gast.Invert: operator.invert}
CMPOPS = {gast.Lt: operator.lt, gast.LtE: operator.le, gast.Gt: operator.gt,
          gast.GtE: operator.ge, gast.Eq: operator.eq, gast.NotEq: operator.ne}
INDEX_BINOPS = (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)

# Array methods and attributes lowered to the NumPy function of the same meaning.
METHODS = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "dot": np.dot, "copy": np.copy, "reshape": np.reshape, "ravel": np.ravel,
    "flatten": np.ravel, "transpose": np.transpose, "std": np.std, "var": np.var,
    "cumsum": np.cumsum, "cumprod": np.cumprod, "argmax": np.argmax, "argmin": np.argmin,
    "any": np.any, "all": np.all, "squeeze": np.squeeze, "trace": np.trace, "clip": np.clip,
    "round": np.round, "swapaxes": np.swapaxes, "diagonal": np.diagonal, "take": np.take,
    "argsort": np.argsort,
}
ARRAY_ATTRS = ("shape", "ndim", "size", "dtype")
# reductions whose dtype= is a conversion of their argument first
IN_DTYPE = {np.sum, np.mean, np.prod, np.cumsum, np.cumprod}
# builtins that reach variables or code by name, which a source transform cannot follow
DYNAMIC = {eval, exec, compile, locals, globals, vars, getattr, hasattr, setattr, delattr,
           __import__}
# NumPy functions that write into an argument (out= aside)
WRITES_INTO_ARGUMENTS = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal,
                         np.put_along_axis, random.shuffle}


@dataclass
class Core:
    tree: gast.FunctionDef
    namer: Namer
    scope: dict  # free name -> object (the user's globals and cells, helpers', NumPy)
    refs: dict  # free name -> frontend.Ref to read its value again at each call
    checks: dict  # Ref -> the object it held when this was generated (inlined helpers, ...)
    parsed: object
    files: set  # every source file read: the function's and its inlined helpers'
    renamed: dict  # a user's name that generated code reserves -> the name it has there
    origins: dict  # temporary -> the user's expression it holds (for messages)
    # argument -> an earlier argument the caller guarantees has its shape (api.same_shapes:
    # also each tangent of a tangent function, which srcad calls with its primal's shape)
    same_shapes: dict = field(default_factory=dict)
    # assume that arrays the code combines elementwise have one shape, checking it as the
    # gradient runs (typeinfer.assumed_shape_classes; the reverse transform's alone)
    assume_shapes: bool = False


def normalize(parsed, none=frozenset(), not_none=frozenset()):
    """Lower `parsed.tree` to core form; `none` / `not_none`: parameters that hold None / hold
    something else throughout (a helper's test `p is None` of them is decided: optional.py).

    Returns:
        Core: the lowered FunctionDef (a new tree), the Namer that knows every name in it,
        and the scope extended with the NumPy module the lowering refers to.
    Raises:
        UnsupportedError: for a construct outside what srcad lowers, with its file:line.
    """
    tree = anno.deepcopy(parsed.tree)
    scope, refs = dict(parsed.scope), dict(parsed.refs)
    namer = Namer(local_names(tree) | set(scope) | set(dir(builtins)) | set(RESERVED))
    renamed = _rename_reserved(tree, scope, refs, namer)
    if lists.lower(tree, scope):
        namer.taken |= local_names(tree) | set(scope)
    np_name = _numpy_name(scope, namer)
    lowering = _Lowering(scope, refs, namer, np_name, stack=(parsed.fn,))
    lowering.none, lowering.not_none = set(none), set(not_none)
    _check_signature(tree)
    body = lowering.block(tree.body)
    params = [a.id for a in tree.args.posonlyargs + tree.args.args + tree.args.kwonlyargs]
    body = unassigned.check_reads(jumps.lower(body, namer), params, namer)
    _tests_kept_through_the_branch(body, namer)
    tree.body = body
    return Core(tree, namer, scope, lowering.refs, lowering.checks, parsed, lowering.files,
                renamed, lowering.origins)


# the names generated code gives srcad's runtime helpers and kernels
RESERVED = ("rt", "kn")


def _rename_reserved(tree, scope, refs, namer):
    """A user's variable or global named like one of srcad's modules (not a global that is that
    module: generated code transformed again, for an hvp) or like a builtin (`len = 2.0`, a
    module's own `max`: the generated code calls len, range and max) gets a fresh name."""
    used = {n.id for n in gast.walk(tree) if isinstance(n, gast.Name)} | set(scope)
    modules = {"rt": runtime, "kn": kernel_namespace}
    local = local_names(tree)
    renamed = {name: namer.fresh(name) for name in RESERVED if name in used and
               not (scope.get(name) is modules[name] and name not in local)}
    renamed |= {name: namer.fresh(name) for name in sorted(used) if hasattr(builtins, name) and
                (name in local or name in scope and shadows_builtin(name, scope[name]))}
    for node in gast.walk(tree):
        if isinstance(node, gast.Name) and node.id in renamed:
            node.id = renamed[node.id]
    for old, new in renamed.items():
        for table in (scope, refs):
            if old in table:
                table[new] = table.pop(old)
    return renamed


def _numpy_name(scope, namer):
    for name, obj in scope.items():
        if obj is np:
            return name
    name = "np" if "np" not in namer.taken else namer.fresh("np")
    namer.taken.add(name)
    scope[name] = np
    return name


def _check_signature(tree):
    args = tree.args
    loc = anno.getanno(tree, "loc")
    if args.vararg is not None or args.kwarg is not None:
        raise UnsupportedError("*args / **kwargs parameters are not supported: name the "
                               "parameters (a decorator's wrapper too: srcad differentiates a "
                               "wrapper as the function it is)", loc)


def _folded(call):
    """`f(a, b, c, ...)` as `f(f(a, b), c)...`: Python's max and min take their arguments left
    to right, keeping the first of equal ones."""
    folded = call.args[0]
    for arg in call.args[1:]:
        folded = anno.copy_loc(gast.Call(func=anno.deepcopy(call.func), args=[folded, arg],
                                          keywords=[]), call)
    return folded


def _writes_into_an_argument(target, call):
    """np.exp(x, out=y), np.multiply(a, b, c), np.dot(a, b, out), np.copyto(y, x), np.add.at."""
    if target in WRITES_INTO_ARGUMENTS or any(k.arg == "out" for k in call.keywords):
        return True
    if getattr(target, "__name__", None) == "shuffle" and isinstance(  # (rng.shuffle(y))
            getattr(target, "__self__", None), (np.random.Generator, np.random.RandomState)):
        return True
    if isinstance(target, np.ufunc):
        return len(call.args) > target.nin
    if isinstance(getattr(target, "__self__", None), np.ufunc):
        return target.__name__ == "at"
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = []
    for p in params:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break  # (after *operands, nothing is positional)
        positional.append(p.name)
    return "out" in positional[:len(call.args)]


def _without_none_defaults(target, call):
    """np.max(x, 1, None, True) as np.max(x, 1, keepdims=True), np.exp(x, None) as np.exp(x):
    an argument of None where the parameter's default is None is left out (the arguments after
    it become keywords), so an `out` of None is no write."""
    if any(isinstance(a, gast.Starred) for a in call.args):
        return call
    if isinstance(target, np.ufunc):
        if all(_is_none(a) for a in call.args[target.nin:]):
            call.args = call.args[:target.nin]
        return call
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return call
    names = [name for name, p in params.items()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    at = next((i for i, (name, arg) in enumerate(zip(names, call.args))
               if _is_none(arg) and params[name].default is None), None)
    if at is not None and all(params[name].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
                              for name in names[at:len(call.args)]):
        call.keywords = [gast.keyword(arg=name, value=arg) for name, arg in
                         zip(names[at:], call.args[at:])] + call.keywords
        call.args = call.args[:at]
    call.keywords = [k for k in call.keywords if not (
        _is_none(k.value) and k.arg in params and params[k.arg].default is None)]
    return call


def _is_none(node):
    return isinstance(node, gast.Constant) and node.value is None


def _concatenated(joined):
    """An f-string as the sum of its parts: f"a{v}b{w:.3f}" is "a" + format(v) + "b" +
    format(w, ".3f") (`!r` repr, `!a` ascii; format(v), not str(v): a NumPy float32's
    differ)."""
    parts = []
    for part in joined.values:
        if not isinstance(part, gast.FormattedValue):
            parts.append(part)
            continue
        convert = {-1: None, 115: "str", 114: "repr", 97: "ascii"}[part.conversion]
        value = part.value if convert is None else templates.fill(f"{convert}(v)", v=part.value)
        parts.append(templates.fill("format(v, spec)", v=value,
                                    spec=_concatenated(part.format_spec))
                     if part.format_spec is not None else
                     templates.fill("format(v)", v=value) if convert is None else value)
    if not parts:
        return gast.Constant(value="", kind=None)
    total = parts[0]
    for part in parts[1:]:
        total = gast.BinOp(left=total, op=gast.Add(), right=part)
    return total


def _refuse_a_write(call):
    _unsupported(f"{templates.SourceText(call)} writes into an argument (out=, or a function "
                 "that fills an array in place), which srcad does not differentiate: compute "
                 "the new value and assign it (y = np.exp(x); b = b - np.diag(np.diag(b)) for "
                 "np.fill_diagonal(b, 0.0)), or use mode='tape'", call)


class _DefinedInABranch:
    """A local function defined in a branch of an if, called after it."""

    def __init__(self, name, if_node):
        loc = anno.getanno(if_node, "loc")
        self.name, self.line = name, loc.line if loc is not None else "?"


# NumPy's objects indexed to build arrays (np.r_[a, b]), not arrays
_INDEX_TRICKS = {name: getattr(np, name) for name in ("r_", "c_", "s_", "index_exp", "mgrid",
                                                       "ogrid")}


def _index_trick(node, scope):
    """The name of the NumPy index object `node` is (np.r_ -> "r_"), or None."""
    obj = resolve(node, scope)
    return next((name for name, trick in _INDEX_TRICKS.items() if obj is trick), None)


def _number_written(node):
    """The int or float `node` writes (`2`, `-0.5`), else None."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
        value = _number_written(node.operand)
        return None if value is None else -value if isinstance(node.op, gast.USub) else value
    if isinstance(node, gast.Constant) and type(node.value) is float or \
            isinstance(node, gast.Constant) and valuetypes.is_int64(node.value):
        return node.value
    return None


def _unsupported(what, node):
    raise UnsupportedError(what, anno.getanno(node, "loc"))


# what a refused construct is called in messages (the syntax tree's names are not the user's)
_CONSTRUCTS = {
    "Try": "a try statement", "TryStar": "a try statement", "With": "a with statement",
    "ClassDef": "a class defined in the function", "Global": "a global statement",
    "Delete": "a del statement", "Match": "a match statement", "AsyncFor": "an async for",
    "AsyncWith": "an async with", "Dict": "a dict display ({...})",
    "Set": "a set display ({...})", "DictComp": "a dict comprehension",
    "SetComp": "a set comprehension", "Lambda": "a lambda other than one called in place",
    "Starred": "a starred expression (*x)", "Attribute": "an attribute (obj.name = ...)",
    "LShift": "<<", "RShift": ">>", "BitOr": "|", "BitXor": "^", "BitAnd": "&",
    "MatMult": "@", "Invert": "~",
}


def _construct(node, kind):
    """How a message names the construct `node`, a `kind` ("statement", "expression")."""
    name = type(node).__name__
    return _CONSTRUCTS.get(name, f"the {kind} '{name}'")


_name, _const = templates.make_name, templates.make_const


def _assign(target, value, loc_from):
    return anno.copy_loc(templates.make_assign(target, value), loc_from)


def _clearing_before_break(stmts, flag):
    """`stmts` (a loop's body) with `flag = False` before each `break` that leaves that loop
    (not those of loops inside it; a nested loop's else clause belongs to the outer loop)."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, gast.Break):
            out += [_assign(flag, _const(False), stmt), stmt]
            continue
        if isinstance(stmt, (gast.For, gast.While)):
            stmt = anno.replaced(stmt, orelse=_clearing_before_break(stmt.orelse, flag))
        elif isinstance(stmt, (gast.If, gast.Try, gast.With)):
            stmt = anno.replaced(stmt, **{f: _clearing_before_break(getattr(stmt, f), flag)
                                          for f in ("body", "orelse", "finalbody")
                                          if hasattr(stmt, f)})
        out.append(stmt)
    return out


def _if(test, body, orelse, loc_from):
    return anno.copy_loc(gast.If(test=test, body=body, orelse=orelse), loc_from)


def call_parts(value):
    """(the function, argument nodes, {keyword: node}) of a core-form call, operator or unary
    operator."""
    if isinstance(value, gast.BinOp):
        return BINOPS[type(value.op)], [value.left, value.right], {}
    if isinstance(value, gast.UnaryOp):
        return UNARYOPS[type(value.op)], [value.operand], {}
    return anno.getanno(value.func, "func"), value.args, {k.arg: k.value for k in value.keywords}


def is_atom(node):
    return isinstance(node, (gast.Name, gast.Constant))


def _svd_options(args, keywords, node):
    """(arguments, values only?) of a call np.linalg.svd(a, full_matrices=True,
    compute_uv=True, hermitian=False): (a,) or (a, full_matrices), by position; the other two
    must be constants (hermitian=True chooses other singular vectors)."""
    params = ("a", "full_matrices", "compute_uv", "hermitian")
    bound = dict(zip(params, args, strict=False))
    bound.update((k.arg, k.value) for k in keywords)
    if len(args) > len(params) or set(bound) - set(params) or "a" not in bound:
        _unsupported("np.linalg.svd other than np.linalg.svd(a, full_matrices, compute_uv, "
                     "hermitian)", node)
    options = {}
    for name, default in (("compute_uv", True), ("hermitian", False)):
        value = bound.get(name, gast.Constant(value=default, kind=None))
        if not isinstance(value, gast.Constant) or value.value not in (True, False, 0, 1):
            _unsupported(f"np.linalg.svd with {name} other than a constant True or False", node)
        options[name] = bool(value.value)
    if options["hermitian"]:
        _unsupported("np.linalg.svd with hermitian=True", node)
    if not options["compute_uv"]:
        return [bound["a"]], True
    return [bound["a"], bound.get("full_matrices", gast.Constant(value=True, kind=None))], False


def _clip_keywords(call, positional):
    """clip's keywords with NumPy 2.1's min= and max= spelled a_min= and a_max=; NumPy raises
    for min= or max= beside a bound of the old spelling (`positional` bounds given)."""
    given = {k.arg for k in call.keywords}
    if given & {"min", "max"} and (positional or given & {"a_min", "a_max"}):
        _unsupported(f"{templates.SourceText(call)}: NumPy raises for min= or max= beside "
                     "a_min or a_max (write the bounds one way)", call)
    return [gast.keyword(arg={"min": "a_min", "max": "a_max"}.get(k.arg, k.arg), value=k.value)
            for k in call.keywords]


def _clip_bounds(args, keywords):
    """clip's (a_min, a_max), given by position or by keyword (one left out is None), or ()
    when other arguments are given."""
    named = {k.arg: k.value for k in keywords}
    if set(named) - {"a_min", "a_max"} or len(args) > 2:
        return ()
    bounds = list(args) + [named.get(name) for name in ("a_min", "a_max")[len(args):]]
    return [gast.Constant(value=None, kind=None) if b is None else b for b in bounds]


def _one_bound(bounds):
    """For clip's (a_min, a_max) with one of them None: (np.maximum, a_min) or (np.minimum,
    a_max); with both None (NumPy 2.1: a copy), (np.positive, None); else None."""
    if len(bounds) != 2:
        return None
    low, high = (isinstance(b, gast.Constant) and b.value is None for b in bounds)
    if low and high:
        return np.positive, None
    if low == high:
        return None
    return (np.minimum, bounds[1]) if low else (np.maximum, bounds[0])


class _Lowering:
    """Statement-by-statement lowering of expressions to three-address form."""

    def __init__(self, scope, refs, namer, np_name, stack):
        self.scope, self.refs, self.namer, self.np_name = scope, refs, namer, np_name
        self.checks = {}  # Ref -> object: what the generated code assumes is still there
        self.stack = stack  # the functions being inlined, outermost first
        self.out = None  # the statement list being filled
        self.stmt = None  # the source statement being lowered (for locations)
        self.lambdas = {}  # local name -> Lambda node assigned to it
        self.origins = {}  # temporary -> the user's expression it holds
        # (id of the statement list, expression) -> the temporary holding it, for reads repeated
        # within a statement (`x[i] * x[i]`): one temporary, one value saved
        self.available = {}
        self.files = {stack[0].__code__.co_filename} if hasattr(stack[0], "__code__") else set()
        self.none, self.not_none = set(), set()  # names that hold None / never hold it
        self.ranges = {}  # temporary holding a range a loop iterates -> (its start, its step)
        # Ref of an object's attribute -> the name the generated code reads it as (one name
        # for every read: `self.buf[0] = ...` then `self.buf * x` is one array)
        self.attribute_names = {}

    # -- statements ---------------------------------------------------------------------
    def block(self, stmts):
        saved, outer = self.out, self.stmt  # (a loop or if takes its own location after it)
        self.out = []
        for stmt in stmts:
            if self.out and isinstance(self.out[-1], gast.Raise):
                break  # (what follows a raise is never reached)
            self.stmt = stmt
            self.available.clear()
            visit = getattr(self, "visit_" + type(stmt).__name__, None)
            if visit is None:
                _unsupported(f"{_construct(stmt, 'statement')} is not supported", stmt)
            visit(stmt)
        result, self.out, self.stmt = self.out, saved, outer
        self.available.clear()
        return result

    def emit(self, stmt):
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and
                stmt.targets[0].id in self.origins and _reuses_nothing_written(stmt.value)):
            self.available.clear()  # (it may write what an available expression reads)
        self.out.append(anno.copy_loc(stmt, self.stmt))

    def visit_Expr(self, node):
        if isinstance(node.value, gast.Constant):  # a docstring
            return
        if isinstance(node.value, (gast.Yield, gast.YieldFrom, gast.Await)):
            _unsupported("a generator or coroutine (yield / await): srcad differentiates "
                         "functions that return a number or an array", node)
        if isinstance(node.value, gast.Call) and isinstance(node.value.func, gast.Attribute) \
                and self.resolve(node.value.func) in (np.add.at, np.subtract.at):
            return self.scatter_add(node.value)
        if isinstance(node.value, gast.Call) and self.calls_user_code(node.value.func):
            return self.call(node.value, unused=True)  # (a helper called for what it writes)
        if isinstance(node.value, gast.Call) and \
                _writes_into_an_argument(self.resolve(node.value.func), node.value):
            _refuse_a_write(node.value)  # (np.fill_diagonal(a, 0.0), np.exp(x, out=y))
        from .typeinfer import changes_state  # (typeinfer imports this module)
        if isinstance(node.value, gast.Call) and changes_state(self.resolve(node.value.func)):
            # (print(s), log.update(...), np.random.seed(0): called for what it does)
            unused = gast.Name(id=self.namer.fresh("_"), ctx=gast.Store(), annotation=None,
                               type_comment=None)
            return self.visit_Assign(anno.copy_loc(gast.Assign(targets=[unused],
                                                               value=node.value), node))
        if isinstance(node.value, gast.Call) and isinstance(node.value.func, gast.Attribute):
            _unsupported(f"a method called for what it changes ('{templates.to_source(node.value)}'"
                         "): srcad's source transform follows values, not the objects a method "
                         "changes (the tape runs it)", node)
        _unsupported("an expression whose value is unused is not supported; assign it or "
                     "remove it", node)

    def calls_user_code(self, func):
        """Is `func` a local function, a lambda or a user function that inlining lowers?"""
        if isinstance(func, gast.Name) and func.id in self.lambdas:
            return True
        if isinstance(func, gast.Attribute) and resolve(func, self.scope) is None:
            return False
        return inlining.is_user_function(self.resolve(func))

    def visit_Pass(self, node):
        pass

    def scatter_add(self, call):
        """np.add.at(y, idx, v) as the loop it is: `y[idx[k]] += v[k]` for each k, in order
        (unbuffered: a repeated index adds every time); np.subtract.at likewise. The loop's
        trips come from rt.scatter_length, which `type_scatter_adds` checks once types are
        known."""
        if len(call.args) != 3 or call.keywords or not isinstance(call.args[0], gast.Name) or \
                isinstance(call.args[1], (gast.Tuple, gast.List, gast.Slice, gast.Constant)):
            _unsupported("np.add.at / np.subtract.at other than (array name, 1-D integer "
                         "index array, values)", call)
        self.require_builtins("np.add.at", call)
        y, indices, values = call.args[0], self.atom(call.args[1]), call.args[2]
        if isinstance(values, gast.Name) and values.id == y.id:  # (NumPy reads y's values
            values = templates.fill("np.copy(v)", v=values)  # as they were before the call)
        values = self.atom(values)
        trips = self.namer.temp("_n")
        length = gast.Call(func=gast.Attribute(value=_name("rt"), attr="scatter_length",
                                               ctx=gast.Load()),
                           args=[indices, values, _const(str(templates.SourceText(call)))],
                           keywords=[])
        anno.setanno(length.func, "func", runtime.scatter_length)
        self.emit(_assign(trips, length, self.stmt))
        each = "v" if isinstance(values, gast.Constant) else "v[k]"  # (np.add.at(y, i, 1.0))
        op = "+=" if call.func.value.attr == "add" else "-="
        loop = templates.fill_stmt(f"for k in range(n):\n    y[i[k]] {op} {each}",
                                   k=self.namer.temp("_k"), y=y.id, i=indices, v=values,
                                   n=trips)
        for node in gast.walk(loop):
            anno.copy_loc(node, call)
        self.visit_For(loop)

    def visit_Assign(self, node):
        if len(node.targets) != 1:
            _unsupported("chained assignment a = b = ... is not supported", node)
        self.assign(node.targets[0], node.value)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.assign(node.target, node.value)

    def assign(self, target, value):
        if isinstance(target, gast.Name) and isinstance(value, gast.Lambda):
            self.snapshot_defaults(value)
            self.lambdas[target.id] = value
            return
        if isinstance(target, gast.Name):
            expr = self.expr(value)
            if isinstance(expr, gast.Name) and expr.id == target.id:
                return  # x = x
            if _reads(expr, target.id) and not is_atom(expr):
                tmp = self.namer.temp()
                self.emit(_assign(tmp, expr, self.stmt))
                expr = _name(tmp)
            self.emit(_assign(_name(target.id, gast.Store()), expr, self.stmt))
        elif isinstance(target, gast.Subscript):
            base = self.subscript_base(target)
            index = self.index(target.slice)
            atom = self.atom(value)
            if isinstance(atom, gast.Name) and isinstance(base, gast.Name) and \
                    atom.id == base.id:  # y[::-1] = y reads all of y first: store a copy
                atom = self.atom(self.numpy_call(np.copy, [atom]), force_temp=True)
            store = gast.Subscript(value=base, slice=index, ctx=gast.Store())
            self.emit(_assign(store, atom, self.stmt))
        elif isinstance(target, (gast.Tuple, gast.List)):
            self.unpack(target, value)
        else:
            _unsupported(f"assignment to {_construct(target, 'target')} is not supported",
                         self.stmt)

    def unpack(self, target, value):
        if any(isinstance(t, gast.Starred) for t in target.elts):
            _unsupported("starred assignment is not supported", self.stmt)
        if isinstance(value, (gast.Tuple, gast.List)):
            if len(value.elts) != len(target.elts):
                _unsupported("tuple unpacking with mismatched lengths", self.stmt)
            atoms = [self.atom(v, force_temp=True) for v in value.elts]
            for t, a in zip(target.elts, atoms, strict=True):
                self.assign(t, a)
            return
        if isinstance(value, gast.Call):
            result = self.expr(value)
            if isinstance(result, gast.Tuple):
                if len(result.elts) != len(target.elts):
                    _unsupported("unpacking a call's result into a different number of names",
                                 self.stmt)
                # (at once, as Python assigns: `y, prev = step(y)` of a helper returning
                # `(s * 3.0, s)` gives prev the y from before, which the first item rebinds)
                items, stored = [], set()
                for t, a in zip(target.elts, result.elts, strict=True):
                    items.append(self.atom(a, force_temp=True)
                                 if templates.names_read(a) & stored else a)
                    stored |= {n.id for n in gast.walk(t) if isinstance(n, gast.Name)}
                for t, a in zip(target.elts, items, strict=True):
                    self.assign(t, a)
                return
            value = result
        if isinstance(value, gast.Attribute) and value.attr == "shape":  # n, m = A.shape
            base = self.atom(value.value)
            for k, t in enumerate(target.elts):
                shape = gast.Attribute(value=anno.deepcopy(base), attr="shape", ctx=gast.Load())
                self.assign(t, gast.Subscript(value=shape, slice=_const(k), ctx=gast.Load()))
            return
        whole = self.atom(value, force_temp=True)
        for k, t in enumerate(target.elts):
            item = gast.Subscript(value=whole, slice=_const(k), ctx=gast.Load())
            self.assign(t, item)

    def visit_AugAssign(self, node):
        op = type(node.op)
        if op not in BINOPS:
            _unsupported(f"augmented assignment with {op.__name__}", node)
        target = node.target
        if isinstance(target, gast.Subscript):
            base = self.subscript_base(target)
            index = self.index(target.slice)
            sliced = templates.is_sliced(index)
            # (`y[1:] += y[:-1]` must read y before writing it, as NumPy does and Numba's
            # in-place slice update does not: a slice is updated in place only by the new
            # array of an arithmetic expression, else through `y[1:] = y[1:] + ...`)
            # (an element's `-= v` is `+= -v`, the same IEEE result, so that a scatter
            # subtracting into bins is an update too, which a parallel loop may reduce)
            value = node.value if op is gast.Add else \
                gast.UnaryOp(op=gast.USub(), operand=node.value)
            if op is gast.Add and (not sliced or isinstance(node.value, gast.BinOp)) or \
                    op is gast.Sub and not sliced:
                store = gast.Subscript(value=base, slice=index, ctx=gast.Store())
                self.emit(anno.copy_loc(gast.AugAssign(
                    target=store, op=gast.Add(),
                    value=self.atom(value, force_temp=sliced)), node))
                anno.setanno(self.out[-1], "augmented", True)
                return
            old = anno.deepcopy(gast.Subscript(value=base, slice=index, ctx=gast.Load()))
            new = gast.BinOp(left=old, op=node.op, right=node.value)
            self.assign(gast.Subscript(value=base, slice=anno.deepcopy(index),
                                       ctx=gast.Store()), new)
            anno.setanno(self.out[-1], "augmented", True)
            return
        if not isinstance(target, gast.Name):
            _unsupported("augmented assignment to this target", node)
        load = _name(target.id)
        self.assign(_name(target.id, gast.Store()),
                    gast.BinOp(left=load, op=node.op, right=node.value))
        # NumPy updates an array in place here; the alias check must see it as a write
        anno.setanno(self.out[-1], "inplace", True)
        anno.setanno(self.out[-1], "augmented", True)

    def visit_Return(self, node):
        if len(self.stack) == 1 and (node.value is None or isinstance(node.value, gast.Constant)
                                     and node.value.value is None):
            loc = anno.getanno(node, "loc")  # (the function's own `return None`: an error
            where = f" at {os.path.basename(loc.file)}:{loc.line}" if loc else ""  # if taken)
            self.emit(gast.Raise(exc=gast.Call(func=_name("TypeError"), args=[_const(
                f"the function returned None{where}, which has no derivative")], keywords=[]),
                cause=None))
            return
        if node.value is None:
            value = _const(None)
        elif isinstance(node.value, gast.Tuple):
            value = gast.Tuple(elts=[self.atom(e) for e in node.value.elts], ctx=gast.Load())
        else:
            value = self.atom(node.value)
        self.emit(gast.Return(value=value))

    def visit_Assert(self, node):
        if sys.flags.optimize:  # (python -O runs no assert)
            return
        message = [] if node.msg is None else [node.msg]
        failure = gast.Call(func=_name("AssertionError"), args=message, keywords=[])
        self.emit(_if(self.condition(gast.UnaryOp(op=gast.Not(), operand=node.test)),
                      self.block([anno.copy_loc(gast.Raise(exc=failure, cause=None), node)]),
                      [], node))

    def visit_Raise(self, node):
        """`raise E(args)` of a builtin exception: the primal checks its input, as in Python."""
        call = node.exc if isinstance(node.exc, gast.Call) else \
            gast.Call(func=node.exc, args=[], keywords=[])  # (`raise ValueError`)
        name = call.func.id if isinstance(call.func, gast.Name) else None  # (None: `raise`)
        builtin = getattr(builtins, name or "", None)
        if node.cause is not None or call.keywords or name is None or \
                self.scope.get(name, builtin) is not builtin or \
                not (isinstance(builtin, type) and issubclass(builtin, Exception)):
            _unsupported("only `raise E(...)` of a builtin exception (ValueError, ...) is "
                         "supported", node)
        self.emit(gast.Raise(exc=gast.Call(func=_name(name), args=[
            self.message(a) for a in call.args], keywords=[]), cause=None))

    def message(self, node):
        """An exception's argument: a constant, an atom, or an f-string of atoms."""
        if isinstance(node, gast.JoinedStr):
            return gast.JoinedStr(values=[
                gast.FormattedValue(value=self.atom(v.value), conversion=v.conversion,
                                    format_spec=v.format_spec)
                if isinstance(v, gast.FormattedValue) else v for v in node.values])
        return self.atom(node)

    def visit_Break(self, node):
        self.emit(gast.Break())

    def visit_Continue(self, node):
        self.emit(gast.Continue())

    def visit_Try(self, node):
        """Refused (the tape runs it), unless a handler waits for an error of arithmetic that
        srcad's NumPy semantics never raise (math.log(-1.0), 1.0 / 0.0): refused in every mode,
        since the handler would not run where Python's does."""
        caught = {self.resolve(t) for h in node.handlers if h.type is not None for t in
                  (h.type.elts if isinstance(h.type, gast.Tuple) else [h.type])}
        nodes = [n for stmt in node.body for n in gast.walk(stmt)]
        # (`/` and `**`: an integer `//` or `%` by zero raises in every mode)
        divides = any(isinstance(n, (gast.BinOp, gast.AugAssign)) and
                      isinstance(n.op, (gast.Div, gast.Pow)) for n in nodes)
        calls_math = any(isinstance(n, gast.Call) and
                         getattr(self.resolve(n.func), "__module__", None) == "math"
                         for n in nodes)
        # (the errors Python raises where NumPy gives inf or nan, when named, or any around a
        # math call: an `except Exception` around a division may wait for a library's own,
        # np.linalg.LinAlgError, which the tape raises)
        broad = any(h.type is None for h in node.handlers) or \
            bool(caught & {Exception, BaseException})
        silenced = [err for err in (ZeroDivisionError, OverflowError, FloatingPointError,
                                    ArithmeticError) if err in caught and (divides or calls_math)]
        silenced += [ValueError] if ValueError in caught and calls_math else []
        silenced += [Exception] if broad and calls_math else []
        if silenced:
            raise UserCodeError(
                f"{anno.getanno(node, 'loc')}: a try statement waiting for {silenced[0].__name__}"
                " from arithmetic: srcad follows NumPy's floating-point semantics in every mode "
                "(a float division by zero, log or sqrt of a negative give inf or nan, never "
                "an exception), so the handler would not run where Python's does; test the value "
                "instead (if x > 0: ...)")
        _unsupported("a try statement is not supported", node)

    def visit_If(self, node):
        if isinstance(node.test, gast.Constant):  # `if True:`: Numba's pruning of the other
            # branch of a constant test could leave a name a jvp reads after it undefined
            self.out += self.block(node.body if node.test.value else node.orelse)
            return
        test = self.condition(node.test)
        before = dict(self.lambdas)
        self.emit(_if(test, self.block(node.body), self.block(node.orelse), node))
        # (a local function defined in a branch: which one a later call means is decided as
        # the function runs, and srcad inlines calls by name as it reads them)
        for name, fn in list(self.lambdas.items()):
            if before.get(name) is not fn:
                self.lambdas[name] = _DefinedInABranch(name, node)

    def visit_While(self, node):
        if node.orelse:
            return self.without_else(node)
        flag = self.namer.temp("_c")
        self.assign_condition(flag, node.test)
        body = self.block(node.body)
        cond = self._lower_in_new_block(lambda: self.assign_condition(flag, node.test))
        loop = gast.While(test=_name(flag), body=body, orelse=[])
        anno.setanno(loop, "cond", cond)  # appended after jump lowering
        self.emit(loop)

    def visit_For(self, node):
        if node.orelse:
            return self.without_else(node)
        it, target = node.iter, node.target
        it = self.unreversed(self.numbers_as_an_array(it))
        func = self.resolve(it.func) if isinstance(it, gast.Call) else None
        prologue = []
        if func is range and isinstance(target, gast.Name):
            bounds = self.range_bounds(it, node.body + [target])
            if it.keywords or not 1 <= len(bounds) <= 3:
                _unsupported("range() with these arguments", node)
            var = target.id
        elif func is enumerate and isinstance(target, gast.Tuple) and len(target.elts) == 2:
            var = target.elts[0].id if isinstance(target.elts[0], gast.Name) else None
            if var is None:
                _unsupported("enumerate() target must be 'i, v'", node)
            start = self.enumerate_start(it)
            if start is not None:  # enumerate(x, start): the loop runs its own index
                index = self.namer.temp("_i")
                prologue.append((_name(var, gast.Store()),
                                 gast.BinOp(left=_name(index), op=gast.Add(), right=start)))
                var = index
            inner = it.args[0]
            if isinstance(inner, gast.Call) and self.resolve(inner.func) is zip and \
                    isinstance(target.elts[1], gast.Tuple):  # enumerate(zip(x, y)): i, (a, b)
                self.check_zip(inner)
                seqs = [self.iterable(a, node.body + [target]) for a in inner.args]
                if len(seqs) != len(target.elts[1].elts):
                    _unsupported("zip() unpacked into a different number of names", node)
                bounds = [self._min_len(seqs)]
                prologue.extend((t, self._item(s, var))
                                for t, s in zip(target.elts[1].elts, seqs, strict=True))
            else:
                seq = self.iterable(inner, node.body + [target])
                bounds = [self._len(seq)]
                prologue.append((target.elts[1], self._item(seq, var)))
        elif func is zip and isinstance(target, gast.Tuple):
            self.check_zip(it)
            seqs = [self.iterable(a, node.body + [target]) for a in it.args]
            if len(seqs) != len(target.elts):
                _unsupported("zip() unpacked into a different number of names", node)
            var = self.namer.temp("_i")
            bounds = [self._min_len(seqs)]
            prologue.extend((t, self._item(s, var)) for t, s in zip(target.elts, seqs,
                                                                      strict=True))
        elif func in (enumerate, zip) and not isinstance(target, gast.Tuple):
            _unsupported(f"a loop over {func.__name__}(...) whose items are not unpacked in "
                         f"the for statement (write: for i, v in {func.__name__}(...))", node)
        elif isinstance(it, (gast.Name, gast.Subscript, gast.Attribute, gast.Call,
                             gast.BinOp, gast.UnaryOp)):
            seq = self.iterable(it, node.body + [target])
            var = self.namer.temp("_i")
            bounds = [self._len(seq)]
            prologue.append((target, self._item(seq, var)))
        else:
            _unsupported(f"a for loop over '{templates.to_source(it)}' (srcad's loops run over "
                         "range(...), an array, numbers written in the loop, or enumerate/zip "
                         "of them)", node)
        if var in _assigned_in(node.body):
            # the body reassigns the loop variable: the loop runs its own index, which the
            # items read (`for k, v in enumerate(x): k = k + 0.5` reads x[k] before the change)
            index = self.namer.temp("_i")
            for _, value in prologue:
                for n in gast.walk(value):
                    if isinstance(n, gast.Name) and n.id == var:
                        n.id = index
            prologue.insert(0, (_name(var, gast.Store()), _name(index)))
            var = index
        saved, self.out = self.out, []
        for tgt, value in prologue:
            self.assign(tgt, value)
        head, self.out = self.out, saved
        body = head + self.block(node.body)
        range_call = gast.Call(func=_name("range"), args=bounds, keywords=[])
        anno.setanno(range_call.func, "func", range)
        loop = gast.For(target=_name(var, gast.Store()), iter=range_call, body=body, orelse=[],
                        type_comment=None)
        self.emit(loop)

    def numbers_as_an_array(self, seq):
        """`(0.5, 2.0)` or `[1, 3]` written in a `for`, as the array np.array([...]) of them,
        whose items are the same numbers (ints beside floats as floats, of the same values)."""
        if not isinstance(seq, (gast.Tuple, gast.List)) or not seq.elts:
            return seq
        numbers = [_number_written(e) for e in seq.elts]
        if None in numbers:
            return seq
        if float in map(type, numbers):  # (ints beside floats: NumPy's array is of floats)
            numbers = [float(v) for v in numbers]
        return self.numpy_call(np.array, [gast.List(elts=[_const(v) for v in numbers],
                                                    ctx=gast.Load())])

    def without_else(self, loop):
        """`for/while ... else: E` is `_nobreak = True`, the loop with each of its own `break`s
        clearing `_nobreak` first, then `if _nobreak: E`."""
        flag = self.namer.temp("_nobreak")
        plain = anno.replaced(loop, body=_clearing_before_break(loop.body, flag), orelse=[])
        stmts = [_assign(flag, _const(True), loop), plain, _if(_name(flag), loop.orelse, [], loop)]
        self.out.extend(self.block(stmts))

    def iterable(self, seq, body):
        """The array a `for` loop iterates, read from a temporary unless it is a name the body
        never rebinds (Python iterates over the array the loop started with). A range (in
        `enumerate(range(a, b))`, `zip(range(n), x)`) is held with its start and step, whose
        item `a + i * step` is arithmetic (a range's item has no type, nor a Numba form)."""
        seq = self.unreversed(self.numbers_as_an_array(seq))
        if isinstance(seq, gast.Call) and self.resolve(seq.func) is range and \
                not seq.keywords and 1 <= len(seq.args) <= 3:
            bounds = self.range_bounds(seq, body)
            call = gast.Call(func=_name("range"), args=bounds, keywords=[])
            anno.setanno(call.func, "func", range)
            held = self.atom(call, force_temp=True)
            self.ranges[held.id] = (bounds[0] if len(bounds) > 1 else _const(0),
                                    bounds[2] if len(bounds) == 3 else _const(1))
            return held
        return self.atom(seq, force_temp=not isinstance(seq, gast.Name) or
                         seq.id in _assigned_in(body))

    def range_bounds(self, call, body):
        """The arguments of `range(...)`, a bound the loop's `body` (or its target) rebinds read
        once, before the loop: the reverse sweep re-reads the bounds after the loop, and an
        item `a + i * step` reads them in it (`for m in range(m + 2)`)."""
        return [self.index_expr(a, lift_if_assigned=body) for a in call.args]

    def unreversed(self, seq):
        """`seq`, or for `reversed(s)` (or `range(...)[::k]`, k a constant) what it iterates
        as the loop lowering knows it."""
        if isinstance(seq, gast.Call) and self.resolve(seq.func) is reversed and \
                len(seq.args) == 1 and not seq.keywords:
            return self.reversed_iterable(seq.args[0])
        if isinstance(seq, gast.Subscript) and isinstance(seq.value, gast.Call) and \
                self.resolve(seq.value.func) is range and isinstance(seq.slice, gast.Slice) and \
                seq.slice.lower is seq.slice.upper is None and \
                type(every := _number_written(seq.slice.step)) is int and every and \
                not seq.value.keywords and 1 <= len(seq.value.args) <= 3:
            # (range(a, b, s)[::k]: range(a, b, s * k) for k > 0, reversed with a step |k|
            # times as long for k < 0)
            call = self.reversed_iterable(seq.value) if every < 0 else seq.value
            args = list(call.args) if len(call.args) > 1 else [_const(0), call.args[0]]
            step = _fold_constant(args[2]) or args[2] if len(args) == 3 else _const(1)
            if not (isinstance(step, gast.Constant) and type(step.value) is int):
                _unsupported("range(...)[::k] of a range whose step is not a constant", seq)
            call = gast.Call(func=call.func, keywords=[],
                             args=args[:2] + [_const(step.value * abs(every))])
            return anno.copy_loc(call, seq)
        return seq

    def reversed_iterable(self, seq):
        """What `reversed(seq)` iterates, as an iterable the loop lowering knows:
        `range(b - 1, a - 1, -1)` for `range(a, b)` (any constant step likewise), `x[::-1]`
        for an array."""
        if not (isinstance(seq, gast.Call) and self.resolve(seq.func) is range):
            return gast.Subscript(value=seq, slice=gast.Slice(lower=None, upper=None,
                                                              step=_const(-1)),
                                  ctx=gast.Load())
        args = list(seq.args)
        start, stop = (args[0], args[1]) if len(args) > 1 else (_const(0), args[0])
        step = (_fold_constant(args[2]) or args[2]) if len(args) == 3 else _const(1)
        if not (isinstance(step, gast.Constant) and type(step.value) is int and step.value):
            _unsupported("reversed(range(...)) with a step that is not a constant", seq)
        if step.value in (1, -1):
            first = gast.BinOp(left=stop, op=gast.Sub(), right=step)
        else:  # the last value it reaches: start + step * ((|stop - start| - 1) // |step|)
            width = gast.BinOp(left=stop, op=gast.Sub(), right=start) if step.value > 0 else \
                gast.BinOp(left=start, op=gast.Sub(), right=stop)
            trips = gast.BinOp(left=gast.BinOp(left=width, op=gast.Sub(), right=_const(1)),
                               op=gast.FloorDiv(), right=_const(abs(step.value)))
            first = gast.BinOp(left=anno.deepcopy(start), op=gast.Add(),
                               right=gast.BinOp(left=step, op=gast.Mult(), right=trips))
        call = gast.Call(func=_name("range"), keywords=[], args=[
            first, gast.BinOp(left=anno.deepcopy(start), op=gast.Sub(), right=step),
            _const(-step.value)])
        anno.setanno(call.func, "func", range)
        return anno.copy_loc(call, seq)

    def enumerate_start(self, call):
        """The atom `enumerate(x, start)` counts from, or None for 0."""
        if len(call.args) not in (1, 2) or any(k.arg != "start" for k in call.keywords) or \
                len(call.args) + len(call.keywords) > 2:
            _unsupported("enumerate() with these arguments", call)
        start = call.args[1] if len(call.args) == 2 else \
            next((k.value for k in call.keywords), None)
        if start is None or isinstance(start, gast.Constant) and start.value == 0:
            return None
        return self.atom(start)

    def check_zip(self, call):
        if call.keywords:  # zip(..., strict=True) raises ValueError on unequal lengths
            _unsupported("zip() with keyword arguments (strict=...)", call)

    def _lower_in_new_block(self, fn):
        saved, self.out = self.out, []
        self.available.clear()
        fn()
        self.available.clear()
        result, self.out = self.out, saved
        return result

    def _len(self, seq):
        tmp = self.namer.temp("_n")
        call = gast.Call(func=_name("len"), args=[seq], keywords=[])
        anno.setanno(call.func, "func", len)
        self.emit(_assign(tmp, call, self.stmt))
        return _name(tmp)

    def _min_len(self, seqs):
        lens = [self._len(s) for s in seqs]
        if len(lens) == 1:
            return lens[0]
        tmp = self.namer.temp("_n")
        call = gast.Call(func=_name("min"), args=lens, keywords=[])
        anno.setanno(call.func, "func", min)
        self.emit(_assign(tmp, call, self.stmt))
        return _name(tmp)

    def _item(self, seq, var):
        if getattr(seq, "id", None) in self.ranges:
            start, step = self.ranges[seq.id]
            item = _name(var) if _is_one(step) else \
                gast.BinOp(left=_name(var), op=gast.Mult(), right=anno.deepcopy(step))
            return item if isinstance(start, gast.Constant) and start.value == 0 else \
                gast.BinOp(left=anno.deepcopy(start), op=gast.Add(), right=item)
        return gast.Subscript(value=anno.deepcopy(seq), slice=_name(var), ctx=gast.Load())

    def visit_Global(self, node):
        _unsupported("a global statement (assigning a module's variable) is not supported",
                     node)

    def visit_Nonlocal(self, node):
        _unsupported("a nonlocal statement (assigning an enclosing function's variable) is "
                     "not supported", node)

    def visit_FunctionDef(self, node):
        """A function defined inside the differentiated one is inlined where it is called,
        as a local lambda is (it reads the enclosing variables then, as Python does)."""
        if node.decorator_list:
            _unsupported("a decorated function defined inside the differentiated function",
                         node)
        for inner in gast.walk(node):
            if isinstance(inner, (gast.Nonlocal, gast.Global)):
                getattr(self, "visit_" + type(inner).__name__)(inner)
        self.snapshot_defaults(node)
        self.lambdas[node.name] = node

    def snapshot_defaults(self, fn):
        """Defaults are evaluated where the def (or lambda) is: `def inner(z, k=x)` takes x's
        value then, held in a name of its own."""
        args = fn.args
        args.defaults = [d if isinstance(d, gast.Constant) else self.atom(d, force_temp=True)
                         for d in args.defaults]
        args.kw_defaults = [d if d is None or isinstance(d, gast.Constant) else
                            self.atom(d, force_temp=True) for d in args.kw_defaults]

    def visit_AsyncFunctionDef(self, node):
        _unsupported("an async function defined inside the differentiated function", node)

    # -- conditions ---------------------------------------------------------------------
    def condition(self, test):
        """A Name (or `not Name`) holding the truth value of `test`."""
        if isinstance(test, gast.UnaryOp) and isinstance(test.op, gast.Not):
            inner = self.condition(test.operand)
            if isinstance(inner, gast.Name):
                return gast.UnaryOp(op=gast.Not(), operand=inner)
            return self.condition_name(test)
        if isinstance(test, gast.Name):
            return _name(test.id)
        return self.condition_name(test)

    def condition_name(self, test):
        flag = self.namer.temp("_c")
        self.assign_condition(flag, test)
        return _name(flag)

    def assign_condition(self, flag, test):
        """flag = test, with `and`/`or`/chained comparisons short-circuited as Python does."""
        if isinstance(test, gast.BoolOp):
            self.assign_condition(flag, test.values[0])
            for value in test.values[1:]:
                rest = self._lower_in_new_block(lambda v=value: self.assign_condition(flag, v))
                guard = _name(flag) if isinstance(test.op, gast.And) else \
                    gast.UnaryOp(op=gast.Not(), operand=_name(flag))
                self.emit(_if(guard, rest, [], self.stmt))
            return
        if isinstance(test, gast.Compare) and len(test.ops) > 1:
            left = self.atom(test.left)
            rights = test.comparators
            for k, (op, right) in enumerate(zip(test.ops, rights, strict=True)):
                r = self.atom(right)
                cmp = gast.Compare(left=left, ops=[op], comparators=[r])
                if k == 0:
                    self.emit(_assign(flag, cmp, self.stmt))
                else:
                    step = _assign(flag, cmp, self.stmt)
                    self.emit(_if(_name(flag), [step], [], self.stmt))
                left = r
            return
        expr = self.expr(test)
        self.emit(_assign(flag, expr, self.stmt))

    # -- expressions --------------------------------------------------------------------
    def atom(self, node, force_temp=False):
        """Lower `node`, emitting statements, and return an atom (Name or Constant)."""
        if isinstance(node, gast.Name) and not force_temp:
            return _name(node.id)
        if isinstance(node, gast.Constant) and not force_temp:
            return _const(node.value)
        folded = _fold_constant(node)
        if folded is not None and not force_temp:
            return folded
        expr = self.expr(node)
        if is_atom(expr) and not force_temp:
            return expr
        key = (id(self.out), gast.dump(expr)) if _reuses_nothing_written(expr) else None
        if key in self.available and not force_temp:
            return _name(self.available[key])
        tmp = self.namer.temp()
        self.origins[tmp] = node
        self.emit(_assign(tmp, expr, self.stmt))
        if key is not None:
            self.available[key] = tmp
        return _name(tmp)

    def expr(self, node):
        """Lower `node` to one core expression over atoms."""
        folded = _fold_constant(node)
        if folded is not None:
            return folded
        if isinstance(node, (gast.Name, gast.Attribute)) and _index_trick(node, self.scope):
            _unsupported(f"'{templates.to_source(node)}' used other than indexed in place "
                         f"(write np.{_index_trick(node, self.scope)}[...] where it is used)",
                         node)
        if isinstance(node, (gast.Name, gast.Constant)):
            return self.atom(node)
        if isinstance(node, gast.BinOp):
            if type(node.op) not in BINOPS:
                _unsupported(f"the operator {_construct(node.op, 'operator')}", node)
            logistic = self.logistic(node)
            if logistic is not None:
                return logistic
            return gast.BinOp(left=self.atom(node.left), op=node.op, right=self.atom(node.right))
        if isinstance(node, gast.UnaryOp):
            return gast.UnaryOp(op=node.op, operand=self.atom(node.operand))
        if isinstance(node, gast.Compare):
            if any(isinstance(e, gast.Constant) and e.value is None
                   for e in [node.left, *node.comparators]) and \
                    any(isinstance(op, (gast.Eq, gast.NotEq)) for op in node.ops):
                _unsupported("a comparison with None by == / != (of an array, NumPy compares "
                             "each element): write `is None` / `is not None`", node)
            if len(node.ops) == 1 and type(node.ops[0]) in CMPOPS:
                return gast.Compare(left=self.atom(node.left), ops=node.ops,
                                    comparators=[self.atom(node.comparators[0])])
            if all(type(op) in CMPOPS for op in node.ops):
                return _name(self.condition_name(node).id)
            if len(node.ops) == 1 and isinstance(node.ops[0], (gast.Is, gast.IsNot)) and \
                    any(isinstance(self.resolve(e) if not isinstance(e, gast.Name) or
                                   e.id in self.scope else getattr(builtins, e.id, None), type)
                        for e in (node.left, node.comparators[0])):  # (typetests decides it)
                return gast.Compare(left=self.atom(node.left), ops=node.ops,
                                    comparators=[self.atom(node.comparators[0])])
            if any(isinstance(op, (gast.Is, gast.IsNot)) for op in node.ops):
                _unsupported("an 'is' test: srcad decides `p is None` / `p is not None` of a "
                             "parameter p, or of a helper's parameter given a constant or an "
                             "argument, where no assignment to p comes before it", node)
            _unsupported("comparison with 'in'", node)
        if isinstance(node, gast.BoolOp):
            return _name(self.condition_name(node).id)
        if isinstance(node, gast.IfExp):
            return self.ifexp(node)
        if isinstance(node, gast.NamedExpr):
            return self.named(node)
        if isinstance(node, gast.Call):
            return self.call(node)
        if isinstance(node, gast.Subscript):
            return self.subscript(node)
        if isinstance(node, gast.Attribute):
            return self.attribute(node)
        if isinstance(node, (gast.Tuple, gast.List)):
            if isinstance(node, gast.List):
                _unsupported("a list written here is not supported (srcad takes a list "
                             "assigned to a name, ys = [a, b] or [v] * n, and np.array([...]) "
                             "of numbers or arrays; not a list of lists)", node)
            return gast.Tuple(elts=[self.atom(e) for e in node.elts], ctx=gast.Load())
        if isinstance(node, gast.JoinedStr):
            self.require_builtins("an f-string", node, ("str", "repr", "ascii", "format"))
            return self.expr(anno.copy_loc(_concatenated(node), node))
        _unsupported(f"{_construct(node, 'expression')} is not supported", node)

    def logistic(self, node):
        """`1 / (1 + exp(-z))` (np.exp or math.exp) as `rt.sigmoid(z)`: the same arithmetic,
        whose derivative needs only its result (see runtime.sigmoid). None for anything else."""
        right = node.right
        if not (isinstance(node.op, gast.Div) and _is_one(node.left) and
                isinstance(right, gast.BinOp) and isinstance(right.op, gast.Add)):
            return None
        call = right.right if _is_one(right.left) else right.left if _is_one(right.right) \
            else None
        if not (isinstance(call, gast.Call) and len(call.args) == 1 and not call.keywords and
                isinstance(call.args[0], gast.UnaryOp) and
                isinstance(call.args[0].op, gast.USub)):
            return None
        exp = resolve(call.func, self.scope)
        helper = runtime.sigmoid if exp is np.exp else \
            runtime.sigmoid_math if exp is math.exp else None
        if helper is None:
            return None
        self.resolve(call.func)  # (valid while that name still means the same function)
        out = gast.Call(func=gast.Attribute(value=_name("rt"), attr=helper.__name__,
                                            ctx=gast.Load()),
                        args=[self.atom(call.args[0].operand)], keywords=[])
        anno.setanno(out.func, "func", helper)
        return out

    def named(self, node):
        """`(d := e)`: d assigned where the expression stands (a `while` test's each time it is
        tested), then read (frontend refuses what that would get wrong)."""
        self.assign(node.target, node.value)
        return _name(node.target.id)

    def ifexp(self, node):
        tmp = self.namer.temp()
        test = self.condition(node.test)
        body = self._lower_in_new_block(lambda: self.emit(_assign(tmp, self.expr(node.body),
                                                                  self.stmt)))
        orelse = self._lower_in_new_block(lambda: self.emit(_assign(tmp, self.expr(node.orelse),
                                                                    self.stmt)))
        self.emit(_if(test, body, orelse, self.stmt))
        return _name(tmp)

    def call(self, node, unused=False):
        """The atom holding the call's result (`unused`: a statement calling user code for what
        it writes, whose result may be None)."""
        func = node.func
        if isinstance(func, gast.Name) and func.id in self.lambdas:
            fn = self.lambdas[func.id]
            if isinstance(fn, _DefinedInABranch):
                _unsupported(f"a call of '{func.id}', a local function defined in an if (line "
                             f"{fn.line}): srcad inlines local functions where they are read; "
                             "define it before the if, or call it inside the branch", node)
            return self.inline(fn, node, None, unused)
        if isinstance(func, gast.Attribute) and resolve(func, self.scope) is None:
            return self.method_call(node)
        target = self.resolve(func)
        if is_derivative(target):
            _unsupported(f"a call of the srcad derivative {target!r} inside a differentiated "
                         "function is not differentiated through (second derivatives are "
                         "srcad.grad(srcad.grad(f)), srcad.hvp and srcad.hessian)", node)
        if hasattr(target, "registry") and hasattr(target, "dispatch"):
            # (no fallback: on the tape its argument is a Tensor, so the tape would pick the
            # implementation for `object` as surely as the source transform would)
            raise UserCodeError(f"{anno.getanno(node, 'loc')}: a call of the "
                                f"functools.singledispatch function '{target.__name__}', whose "
                                "implementation depends on its argument's exact class: srcad "
                                "differentiates it in no mode (call the implementation itself)")
        if inlining.is_user_function(target):
            return self.inline(None, node, target, unused)
        if target is None:
            what = func.id if isinstance(func, gast.Name) else \
                templates.SourceText(func, self.origins)
            _unsupported(f"call of '{what}', which is not a known function (srcad inlines "
                         "functions it can name: a global, an attribute, a closure)", node)
        if target in DYNAMIC:
            _unsupported(f"{target.__name__}(), which reads or runs code by name (srcad's "
                         "source transform sees only the names written in the function)", node)
        if target is pow and len(node.args) == 2 and not node.keywords and \
                not any(isinstance(a, gast.Starred) for a in node.args):  # (Numba's pow of
            # ints is an int: pow(2, -1) was 0 where `2 ** -1` and Python give 0.5)
            return self.atom(anno.copy_loc(gast.BinOp(left=node.args[0], op=gast.Pow(),
                                                      right=node.args[1]), node))
        if target in (min, max) and len(node.args) > 2 and not node.keywords and \
                not any(isinstance(a, gast.Starred) for a in node.args):
            node = _folded(node)  # max(a, b, c) is max(max(a, b), c), ties and NaN included
        if target in (min, max) and len(node.args) == 1 and \
                not isinstance(node.args[0], gast.Starred):
            _unsupported(f"builtin {target.__name__}() of one iterable: srcad differentiates "
                         f"{target.__name__}(a, b, ...) of numbers; for an array, write "
                         f"np.{target.__name__}(x)", node)
        if target is sum and node.args and not any(isinstance(a, gast.Starred)
                                                   for a in node.args):
            if not isinstance(node.args[0], (gast.GeneratorExp, gast.ListComp)):  # sum(x)
                item = self.namer.fresh("_item")
                node = anno.copy_loc(gast.Call(func=node.func, args=[gast.GeneratorExp(
                    elt=_name(item), generators=[gast.comprehension(
                        target=_name(item, gast.Store()), iter=node.args[0], ifs=[],
                        is_async=0)])] + node.args[1:], keywords=node.keywords), node)
            return self.comprehension_sum(node)
        node = _without_none_defaults(target, node)
        if target is math.hypot and len(node.args) != 2 and not node.keywords and \
                not any(isinstance(a, gast.Starred) for a in node.args):
            return self.hypot_of_many(node, node.args)
        if target is math.dist and len(node.args) == 2 and not node.keywords and \
                all(isinstance(a, (gast.Tuple, gast.List)) for a in node.args) and \
                len(node.args[0].elts) == len(node.args[1].elts):
            # math.dist(p, q) of coordinates written in the call: hypot of the differences
            return self.hypot_of_many(node, [gast.BinOp(left=a, op=gast.Sub(), right=b) for a, b
                                             in zip(node.args[0].elts, node.args[1].elts)])
        if target in (math.log, divmod, np.divmod) and len(node.args) == 2 and \
                not node.keywords and \
                not any(isinstance(a, gast.Starred) for a in node.args):
            return self.two_argument_form(target, node)
        if target is np.concatenate:
            node = self.flat_concatenate(node)
        if target in (np.concatenate, np.stack, np.hstack, np.vstack) and node.args and \
                isinstance(node.args[0], (gast.Tuple, gast.List)):
            # np.concatenate(([0.0], x)): a piece written as a list is the array NumPy makes
            node.args[0].elts = [self.numpy_call(np.array, [e]) if isinstance(
                e, (gast.Tuple, gast.List)) else e for e in node.args[0].elts]
        if _writes_into_an_argument(target, node):
            _refuse_a_write(node)
        if target is np.average:
            return self.average(node)
        if target is np.append:
            return self.append(node)
        if getattr(target, "__name__", None) == "outer" and \
                isinstance(getattr(target, "__self__", None), np.ufunc):
            return self.ufunc_outer(target.__self__, node)
        if target is np.pad:
            _refuse_other_pads(node)
        if target is np.polyval:
            return self.polyval(node)
        if target in compositions.COMPOSITIONS and \
                (composed := compositions.COMPOSITIONS[target](self, node)) is not None:
            return composed
        if target is np.clip:
            node.keywords = _clip_keywords(node, len(node.args) - 1)
            one = _one_bound(_clip_bounds(node.args[1:], node.keywords))
            if one is not None:
                return self.clipped(one, self.call_arg(node.args[0]))
        if any(isinstance(a, gast.Starred) for a in node.args) or \
                any(k.arg is None for k in node.keywords):
            _unsupported("*args / **kwargs in a call", node)
        if target in IN_DTYPE and node.args and any(k.arg == "dtype" for k in node.keywords):
            node = self.in_dtype(node)
        given = list(node.args)
        if target in (np.array, np.asarray) and given:  # np.array([[1.0, 0.0], [a, b]])
            given[0] = self.rows_as_arrays(_lists_as_tuples(given[0]))
            if isinstance(given[0], gast.Tuple) and (len(given) > 1 or node.keywords):
                # np.array((a, b), dtype=d) is np.asarray(np.array((a, b)), dtype=d)
                made = gast.Call(func=anno.deepcopy(func), args=[given[0]], keywords=[])
                anno.setanno(made.func, "func", target)
                return self.call(anno.copy_loc(gast.Call(
                    func=gast.Attribute(value=_name(self.np_name), attr="asarray",
                                        ctx=gast.Load()),
                    args=[made] + given[1:], keywords=node.keywords), node))
            if target is np.asarray and isinstance(given[0], gast.Tuple):  # a new array too
                target, func = np.array, self.numpy_call(np.array, []).func
            elif not isinstance(given[0], gast.Tuple):
                return self.array_of(given, node, copy=target is np.array)
        args = [self.call_arg(a) for a in self.literal_arrays(target, given)]
        keywords = [gast.keyword(arg=k.arg, value=self.call_arg(k.value))
                    for k in node.keywords
                    # (einsum's optimize= chooses an order of contraction, not a result)
                    if not (target is np.einsum and k.arg == "optimize")]
        if target is np.linalg.svd:
            args, values_only = _svd_options(args, keywords, node)
            keywords = []
            if values_only:
                call = gast.Call(func=gast.Attribute(value=_name("rt"), attr="singular_values",
                                                     ctx=gast.Load()), args=args, keywords=[])
                anno.setanno(call.func, "func", runtime.singular_values)
                return call
        if target in rules.SEVERAL_RESULTS:
            return self.results_apart(target, args, keywords, node)
        if target is np.einsum:  # kn.einsum((a, b), "ij,jk->ik"): a function of a tuple
            if keywords or len(args) < 2 or not isinstance(args[0], gast.Constant) or \
                    not isinstance(args[0].value, str):
                _unsupported("np.einsum other than with constant subscripts and operands", node)
            subscripts, diagonals = einsum_kernel.diagonal_terms(args[0].value)
            args[0] = gast.Constant(value=subscripts, kind=None)
            for k in diagonals:
                if k + 1 < len(args):  # (too few operands: parse says so below)
                    args[k + 1] = self.kernel_atom(einsum_kernel.collapsed_diagonal,
                                                   [args[k + 1]])
            try:
                einsum_kernel.parse(args[0].value, len(args) - 1)
            except ValueError as exc:
                _unsupported(str(exc), node)
            return self.kernel_call(rules.EINSUM,
                                    [gast.Tuple(elts=args[1:], ctx=gast.Load()), args[0]])
        if target is scipy.linalg.cho_solve and len(args) == 2 and \
                isinstance(args[0], gast.Name):  # (c_and_lower = cho_factor(a): its items)
            args[0] = gast.Tuple(elts=[self.atom(gast.Subscript(
                value=anno.deepcopy(args[0]), slice=_const(k), ctx=gast.Load()))
                for k in (0, 1)], ctx=gast.Load())
        if target is scipy.linalg.cho_solve and len(args) == 2 and \
                isinstance(args[0], gast.Tuple) and len(args[0].elts) == 2 and \
                all(k.arg in ("overwrite_b", "check_finite") for k in keywords):
            # kn.cholesky_solve(c, b, lower): the factor an argument of its own, with a rule
            (c, lower), b = args[0].elts, args[1]
            return self.kernel_call(linalg_kernels.cholesky_solve, [c, b, lower])
        call = gast.Call(func=anno.deepcopy(func), args=args, keywords=keywords)
        anno.setanno(call.func, "func", target)
        return call

    def flat_concatenate(self, call):
        """np.concatenate((a, b), axis=None) as np.concatenate((np.ravel(a), np.ravel(b)))."""
        given = call.args[1:2] + [k.value for k in call.keywords if k.arg == "axis"]
        if not given or not _is_none(given[0]):
            return call
        arrays = call.args[0] if call.args else None
        if not isinstance(arrays, (gast.Tuple, gast.List)):
            _unsupported("np.concatenate(..., axis=None) of arrays not written in the call",
                         call)
        flat = gast.Tuple(elts=[self.numpy_call(np.ravel, [e]) for e in arrays.elts],
                          ctx=gast.Load())
        return anno.copy_loc(gast.Call(func=call.func, args=[flat], keywords=[
            k for k in call.keywords if k.arg != "axis"]), call)

    def literal_arrays(self, target, given):
        """np.sum([a, b]), np.exp((a, b)): a list or tuple written where NumPy reads an array
        is the array NumPy makes of it (a tuple argument carries no derivative)."""
        rule = rules.lookup(target)
        if target in rules.SEVERAL_RESULTS:  # (svd, eigh, slogdet: as their results' rules)
            rule = next(r for r in map(rules.lookup, rules.SEVERAL_RESULTS[target])
                        if r is not None and not r.nondiff)
        if target is np.einsum:  # (its operands, after the subscripts)
            return given[:1] + [self.numpy_call(np.array, [self.rows_as_arrays(
                _lists_as_tuples(a))]) if isinstance(a, (gast.List, gast.Tuple)) else a
                for a in given[1:]]
        if rule is None:
            return given
        return [self.numpy_call(np.array, [self.rows_as_arrays(_lists_as_tuples(a))])
                if rule.reads_as_array(i) and isinstance(a, (gast.List, gast.Tuple)) else a
                for i, a in enumerate(given)]

    def results_apart(self, target, args, keywords, node):
        """A tuple of atoms, one per result of `target`, each computed by its own primitive."""
        if keywords:
            _unsupported(f"keyword arguments to {target.__name__}", node)
        atoms = []
        for part in rules.SEVERAL_RESULTS[target]:
            call = gast.Call(func=gast.Attribute(value=_name("rt"), attr=part.__name__,
                                                 ctx=gast.Load()),
                             args=[anno.deepcopy(a) for a in args], keywords=[])
            anno.setanno(call.func, "func", part)
            atoms.append(_name(self.namer.temp()))
            self.emit(_assign(atoms[-1].id, call, self.stmt))
        return gast.Tuple(elts=atoms, ctx=gast.Load())

    def inline(self, lam, node, target, unused=False):
        """Lower the body of a user function (or a local lambda) in place of a call to it;
        returns the atom (or tuple of atoms) holding its result."""
        args = [self.call_arg(a) for a in node.args]
        keywords = {k.arg: self.call_arg(k.value) for k in node.keywords}
        return inlining.inline(self, lam, target, args, keywords, node, unused)

    def array_of(self, given, node, copy=True):
        """np.array(x, dtype=d): np.copy(np.asarray(x, dtype=d)) (x not a tuple written in the
        call); without the copy for copy=False and np.asarray; x.astype(d) is np.array's."""
        keywords = {k.arg: k.value for k in node.keywords}
        if len(given) > 2 or len(given) == 2 and "dtype" in keywords or \
                set(keywords) - {"dtype", "copy"}:
            _unsupported("an array made of an array with arguments other than dtype= and copy=",
                         node)
        if "copy" in keywords:
            if not isinstance(keywords["copy"], gast.Constant):
                _unsupported("copy=<not a constant>", node)
            copy = keywords.pop("copy").value is True
        dtype = [d for d in given[1:] or list(keywords.values())
                 if not _dtype_of(d, given[0])]  # (x's own dtype: no conversion)
        array = self.numpy_call(np.asarray, [self.call_arg(given[0])])
        array.keywords = [gast.keyword(arg="dtype", value=self.numpy_dtype(d)) for d in dtype]
        return self.numpy_call(np.copy, [self.atom(array)]) if copy else array

    def comprehension_sum(self, call):
        """`sum(e for v in it if c)` (or of a list comprehension, with a start; `sum(x)` is
        `sum(v for v in x)`) as the loop it is: `acc = start; for v in it: if c: acc = acc +
        e`, v renamed to a name of its own."""
        comprehension = call.args[0]
        starts = call.args[1:] + [k.value for k in call.keywords if k.arg == "start"]
        if len(starts) > 1 or any(k.arg != "start" for k in call.keywords) or \
                any(g.is_async for g in comprehension.generators):
            _unsupported("sum() other than sum(e for v in it[, start]) or sum(x[, start])",
                         call)
        total = self.namer.temp("_sum")
        self.origins[total] = call  # (for messages; no expression of it is ever reused)
        self.assign(_name(total, gast.Store()), starts[0] if starts else _const(0))
        (first, *others) = comprehension.generators
        if not others and isinstance(first.iter, (gast.Tuple, gast.List)) and \
                isinstance(first.target, gast.Name):  # sum((a, b)): a term per item
            for item in first.iter.elts:
                put = inlining.Rename({first.target.id: item}).visit
                term = [_assign(_name(total, gast.Store()), gast.BinOp(
                    left=_name(total), op=gast.Add(), right=put(anno.deepcopy(
                        comprehension.elt))), call)]
                for test in reversed(first.ifs):
                    term = [_if(put(anno.deepcopy(test)), term, [], call)]
                for stmt in term:
                    getattr(self, "visit_" + type(stmt).__name__)(stmt)
            return _name(total)
        renames = {n.id: self.namer.fresh(n.id) for g in comprehension.generators
                   for n in gast.walk(g.target) if isinstance(n, gast.Name)}
        for name, renamed in renames.items():
            self.origins[renamed] = _name(name)  # (messages write the user's name)
        rename = inlining.Rename(renames).visit
        body = [anno.copy_loc(templates.make_assign(
            _name(total, gast.Store()), gast.BinOp(left=_name(total), op=gast.Add(),
                                                   right=rename(anno.deepcopy(
                                                       comprehension.elt)))), call)]
        for generator in reversed(comprehension.generators):
            for test in reversed(generator.ifs):
                body = [_if(rename(anno.deepcopy(test)), body, [], call)]
            loop = gast.For(target=rename(anno.deepcopy(generator.target)),
                            iter=generator.iter, body=body, orelse=[], type_comment=None)
            body = [anno.copy_loc(loop, call)]
        # (the first iterable is evaluated where the sum is; a later one may read the
        # variables of those before it, renamed)
        for loop in gast.walk(body[0]):
            if isinstance(loop, gast.For) and loop is not body[0]:
                loop.iter = rename(loop.iter)
        self.visit_For(body[0])
        return _name(total)

    def average(self, node):
        """np.average(a, axis) is np.mean(a, axis); with weights w, np.sum(a * w, axis) /
        np.sum(w, axis) of w reshaped and broadcast to a's shape (1-D weights along the axis)."""
        bound = dict(zip(("a", "axis", "weights"), node.args, strict=False))
        bound.update((k.arg, k.value) for k in node.keywords)
        if set(bound) - {"a", "axis", "weights"}:
            _unsupported("np.average with returned= or keepdims=", node)
        axis = [self.call_arg(bound["axis"])] if "axis" in bound else []
        if "weights" not in bound:
            return self.numpy_call(np.mean, [self.call_arg(bound["a"])] + axis)
        if axis and not isinstance(axis[0], (gast.Name, gast.Constant)):
            _unsupported("np.average with weights over several axes", node)
        a, w = self.atom(bound["a"]), self.atom(bound["weights"])
        shape = self.kernel_atom(array_kernels.weights_shape, [
            w, a, anno.deepcopy(axis[0]) if axis else _const(None)])
        weights = self.atom(self.numpy_call(np.broadcast_to, [
            self.atom(self.numpy_call(np.reshape, [anno.deepcopy(w), shape])),
            self.atom(gast.Attribute(value=anno.deepcopy(a), attr="shape", ctx=gast.Load()))]))
        sums = [self.atom(self.numpy_call(np.sum, [v] + anno.deepcopy(axis))) for v in (
            self.atom(gast.BinOp(left=anno.deepcopy(a), op=gast.Mult(), right=weights)),
            anno.deepcopy(weights))]
        self.visit_If(anno.copy_loc(templates.fill_stmt(
            "if np.any(total == 0.0): raise ZeroDivisionError(\"Weights sum to zero, can't be "
            "normalized\")", np=self.np_name, total=sums[1]), node))
        return gast.BinOp(left=sums[0], op=gast.Div(), right=anno.deepcopy(sums[1]))

    def two_argument_form(self, target, node):
        """math.log(x, base) as log(x) / log(base) and divmod(x, y) as (x // y, x % y): what
        CPython computes for floats, NumPy for arrays (Numba has neither form)."""
        x, y = (self.atom(a) for a in node.args)
        if target in (divmod, np.divmod):
            return gast.Tuple(elts=[self.atom(gast.BinOp(left=x, op=op, right=anno.deepcopy(y)))
                                    for op in (gast.FloorDiv(), gast.Mod())], ctx=gast.Load())
        logs = []
        for arg in (x, y):
            call = gast.Call(func=anno.deepcopy(node.func), args=[arg], keywords=[])
            anno.setanno(call.func, "func", math.log)
            logs.append(self.atom(call))
        return gast.BinOp(left=logs[0], op=gast.Div(), right=logs[1])

    def hypot_of_many(self, node, coordinates):
        """math.hypot(a, b, c) as math.hypot(math.hypot(a, b), c), and math.hypot(x) as
        math.hypot(x, 0.0): the rule is of two coordinates (math.hypot() is 0.0; np.hypot
        where math is not named in the call)."""
        parts = [self.atom(a) for a in coordinates]
        if not parts:
            return gast.Constant(value=0.0, kind=None)
        if len(parts) == 1:
            parts.append(gast.Constant(value=0.0, kind=None))
        total = parts[0]
        for part in parts[1:]:
            if isinstance(node.func, gast.Attribute):  # (math.hypot: a float, of any floats)
                func = gast.Attribute(value=anno.deepcopy(node.func.value), attr="hypot",
                                      ctx=gast.Load())
                anno.setanno(func, "func", math.hypot)
                call = gast.Call(func=func, args=[total, part], keywords=[])
            else:
                call = self.numpy_call(np.hypot, [total, part])
            total = self.atom(call)
        return total

    def ufunc_outer(self, ufunc, node):
        """np.multiply.outer(a, b) is np.multiply(kn.outer_operand(a, np.shape(b)), b): a
        given a trailing axis of length 1 per axis of b."""
        if len(node.args) != 2 or node.keywords or ufunc.nin != 2 or \
                getattr(np, ufunc.__name__, None) is not ufunc:
            _unsupported(f"np.{ufunc.__name__}.outer other than of two arguments", node)
        a, b = (self.call_arg(arg) for arg in node.args)
        shape = self.atom(self.numpy_call(np.shape, [anno.deepcopy(b)]))
        return self.numpy_call(ufunc, [self.kernel_atom(array_kernels.outer_operand,
                                                        [a, shape]), b])

    def kernel_call(self, kernel, args):
        """`kn.<kernel>(*args)`, a kernel of srcad.kernels with a rule of its own."""
        call = gast.Call(func=gast.Attribute(value=_name("kn"), attr=kernel.__name__,
                                             ctx=gast.Load()), args=args, keywords=[])
        anno.setanno(call.func, "func", kernel)
        return call

    def kernel_atom(self, kernel, args):
        """A name for `kn.<kernel>(*args)`, assigned here."""
        atom = _name(self.namer.temp())
        self.emit(_assign(atom.id, self.kernel_call(kernel, args), self.stmt))
        return atom

    def in_dtype(self, node):
        """np.sum(x, axis, dtype=d) as np.sum(np.asarray(x, dtype=d), axis): NumPy adds (or
        multiplies) in d, the elements converted first."""
        keywords = [k for k in node.keywords if k.arg != "dtype"]
        dtype = next(k.value for k in node.keywords if k.arg == "dtype")
        array = self.numpy_call(np.asarray, [self.call_arg(node.args[0])])
        array.keywords = [gast.keyword(arg="dtype", value=self.numpy_dtype(dtype))]
        return anno.copy_loc(gast.Call(func=node.func, args=[self.atom(array)] + node.args[1:],
                                       keywords=keywords), node)

    def append(self, node):
        """np.append(a, v) is np.concatenate((kn.flat(a), kn.flat(v))) (both flattened, a
        number too); np.append(a, v, axis) is np.concatenate((a, v), axis)."""
        params = ("arr", "values", "axis")
        bound = dict(zip(params, node.args, strict=False))
        bound.update((k.arg, k.value) for k in node.keywords)
        if len(node.args) > 3 or set(bound) - set(params) or {"arr", "values"} - set(bound):
            _unsupported("np.append other than np.append(arr, values[, axis])", node)
        parts = [self.call_arg(bound["arr"]), self.call_arg(bound["values"])]
        axis = bound.get("axis")
        if axis is None or isinstance(axis, gast.Constant) and axis.value is None:
            parts = [self.kernel_atom(array_kernels.flat, [part]) for part in parts]
            return self.numpy_call(np.concatenate, [gast.Tuple(elts=parts, ctx=gast.Load())])
        return self.numpy_call(np.concatenate, [gast.Tuple(elts=parts, ctx=gast.Load()),
                                                self.call_arg(axis)])

    def require_builtins(self, what, node, names=("range", "len")):
        """`what`, lowered to a loop (or an f-string to calls of str and format), needs these
        builtins under their names."""
        for name in names:
            builtin = getattr(builtins, name)
            if self.scope.setdefault(name, builtin) is not builtin:
                _unsupported(f"{what} in a function that rebinds '{name}'", node)

    def polyval(self, call):
        """np.polyval(p, x) as Horner's loop: `y = 0.0 * x; for k in range(len(p)): y = y * x +
        p[k]` (differentiable in the coefficients and in x)."""
        if len(call.args) != 2 or call.keywords:
            _unsupported("np.polyval other than np.polyval(p, x)", call)
        self.require_builtins("np.polyval", call)
        coefficients, x = call.args[0], self.atom(call.args[1])
        y = self.namer.temp("_poly")  # (not in origins: a variable, assigned per term)
        self.assign(_name(y, gast.Store()), gast.BinOp(left=_const(0.0), op=gast.Mult(),
                                                       right=x))
        if isinstance(coefficients, (gast.Tuple, gast.List)):  # (a term per coefficient)
            for c in coefficients.elts:
                self.assign(_name(y, gast.Store()), gast.BinOp(
                    left=gast.BinOp(left=_name(y), op=gast.Mult(), right=x), op=gast.Add(),
                    right=c))
            return _name(y)
        p = self.atom(coefficients)
        loop = templates.fill_stmt("for k in range(len(p)):\n    y = y * x + p[k]",
                                   k=self.namer.fresh("_k"), y=y, p=p, x=x)
        for node in gast.walk(loop):
            anno.copy_loc(node, call)
        self.visit_For(loop)
        return _name(y)

    def numpy_dtype(self, node):
        """A dtype as Numba takes it: `float`, `int`, `bool` or a name ("float32") written as
        the NumPy type (np.float64, np.int64, np.bool, np.float32)."""
        obj = node.value if isinstance(node, gast.Constant) and isinstance(node.value, str) \
            else self.resolve(node) if isinstance(node, (gast.Name, gast.Attribute)) else None
        if obj not in (float, int, bool) and not isinstance(obj, str):
            return self.call_arg(node)
        try:
            name = np.dtype(obj).type.__name__
        except TypeError:
            _unsupported(f"dtype {obj!r}", node)
        return self.call_arg(gast.Attribute(value=_name(self.np_name), attr=name,
                                            ctx=gast.Load()))

    def method_call(self, node):
        func = node.func
        if func.attr == "astype":  # x.astype(d): np.copy(np.asarray(x, dtype=d))
            return self.array_of([func.value] + node.args, node)
        if func.attr == "item" and not node.keywords:
            # x.item(k) is the k-th element of x flattened, x.item(i, j) (or ((i, j))) x[i, j]
            value, index = func.value, node.args[0] if len(node.args) == 1 else \
                gast.Tuple(elts=node.args, ctx=gast.Load()) if node.args else None
            if index is not None and not isinstance(index, gast.Tuple):
                value = self.numpy_call(np.ravel, [self.atom(value)])
            if index is not None:
                value = gast.Subscript(value=self.atom(value), slice=index, ctx=gast.Load())
            call = templates.fill("rt.item(x)", x=self.atom(anno.copy_loc(value, node)))
            anno.setanno(call.func, "func", runtime.item)
            return call
        method = METHODS.get(func.attr)
        if method is None:
            _unsupported(f"the method '.{func.attr}()'", node)
        if any(k.arg == "out" for k in node.keywords):
            _refuse_a_write(node)
        receiver = self.atom(func.value)
        if method in IN_DTYPE and any(k.arg == "dtype" for k in node.keywords):
            # (x.sum(dtype=d) is np.sum(np.asarray(x, dtype=d)))
            node = self.in_dtype(anno.copy_loc(gast.Call(func=func, args=[receiver] + node.args,
                                                         keywords=node.keywords), node))
            receiver, node = node.args[0], anno.copy_loc(gast.Call(
                func=func, args=node.args[1:], keywords=node.keywords), node)
        stripped = _without_none_defaults(method, gast.Call(  # (x.sum(0, None, None, True))
            func=func, args=[func.value] + node.args, keywords=node.keywords))
        node = anno.copy_loc(gast.Call(func=func, args=stripped.args[1:],
                                       keywords=stripped.keywords), node)
        if method is np.clip:
            node.keywords = _clip_keywords(node, len(node.args))
        if method is np.clip and (one := _one_bound(_clip_bounds(node.args,
                                                                 node.keywords))) is not None:
            return self.clipped(one, receiver)
        if func.attr == "flatten":  # a copy, never a view: np.ravel of a fresh copy
            copy = self.numpy_call(np.copy, [receiver])
            receiver = _name(self.namer.temp())
            self.emit(_assign(receiver.id, copy, self.stmt))
        args = [receiver] + [self.call_arg(a) for a in self.literal_arrays(
            method, [receiver] + node.args)[1:]]
        if method in (np.reshape, np.transpose) and len(args) > 2:
            # x.reshape(n, m) -> np.reshape(x, (n, m)); x.transpose(1, 0, 2) likewise
            args = [receiver, gast.Tuple(elts=args[1:], ctx=gast.Load())]
        keywords = [gast.keyword(arg=k.arg, value=self.call_arg(k.value))
                    for k in node.keywords]
        call = self.numpy_call(method, args)
        call.keywords = keywords
        return call

    def numpy_call(self, fn, args, keywords=()):
        """`np.<fn>(*args)`, NumPy named as the function's module names it, resolved to `fn`."""
        return self.library_call(fn, fn.__name__, args, keywords)

    def clipped(self, one, operand):
        """np.clip of `operand` with at most one bound (`_one_bound`'s (function, bound))."""
        bound = [] if one[1] is None else [self.call_arg(one[1])]
        return self.numpy_call(one[0], [operand] + bound)

    def library_call(self, fn, path, args, keywords=()):
        """`np.<path>(*args)` (`path`: 'linalg.solve', say), resolved to `fn`."""
        func = _name(self.np_name)
        for attr in path.split("."):
            func = gast.Attribute(value=func, attr=attr, ctx=gast.Load())
        call = gast.Call(func=func, args=args, keywords=list(keywords))
        anno.setanno(call.func, "func", fn)
        return call

    def rows_as_arrays(self, rows):
        """((a, b), (c, d)) -> (np.array((a, b)), np.array((c, d))): each row an array of its
        own (a tuple of tuples would be a tuple variable, which carries no derivative)."""
        if not isinstance(rows, gast.Tuple):
            return rows
        elts = []
        for row in rows.elts:
            if isinstance(row, gast.Tuple):
                row = self.numpy_call(np.array, [self.rows_as_arrays(row)])
            elts.append(row)
        return gast.Tuple(elts=elts, ctx=gast.Load())

    def call_arg(self, node):
        obj = resolve(node, self.scope) if isinstance(node, gast.Attribute) else None
        if obj is not None and is_library(obj) and not is_data(obj):  # dtype=np.float64
            return self.attribute(node)
        if isinstance(node, (gast.Tuple, gast.List)) and \
                all(not isinstance(e, gast.Starred) for e in node.elts):
            # (a list where NumPy reads no array, axes=([1], [0]), reads as a tuple)
            return gast.Tuple(elts=[self.call_arg(e) for e in node.elts], ctx=gast.Load())
        return self.atom(node)

    def subscript(self, node):
        if isinstance(node.slice, gast.Tuple) and not node.slice.elts:  # x[()] is x
            return self.atom(node.value)
        trick = _index_trick(node.value, self.scope)
        if trick is not None:
            return self.index_trick(trick, node)
        if isinstance(node.value, gast.Attribute) and node.value.attr == "shape":
            base = self.atom(node.value.value)
            shape = gast.Attribute(value=base, attr="shape", ctx=gast.Load())
            return gast.Subscript(value=shape, slice=self.index(node.slice), ctx=gast.Load())
        if isinstance(node.value, gast.Call) and isinstance(node.slice, gast.Constant) and \
                type(node.slice.value) is int:  # f(x)[1], where f may give a tuple of atoms
            result = self.expr(node.value)
            if isinstance(result, gast.Tuple):
                return result.elts[node.slice.value]
            base = _name(self.namer.temp())
            self.emit(_assign(base.id, result, self.stmt))
            return gast.Subscript(value=base, slice=self.index(node.slice), ctx=gast.Load())
        base = self.subscript_base(node)
        return gast.Subscript(value=base, slice=self.index(node.slice), ctx=gast.Load())

    def index_trick(self, trick, node):
        """np.r_[a, b, ...] of arrays and numbers is np.concatenate((np.atleast_1d(a), ...))
        (no slices, no strings); NumPy's other index objects are refused by name."""
        items = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
        if trick != "r_" or any(isinstance(item, gast.Slice) or isinstance(item, gast.Constant)
                                and isinstance(item.value, str) for item in items):
            _unsupported(f"np.{trick}[...] is not supported" + (
                " with slices or strings (write np.concatenate((a, np.arange(...))))"
                if trick == "r_" else " (write np.concatenate, np.stack or np.meshgrid)"), node)
        self.resolve(node.value)  # (valid while that name still means np.r_)
        pieces = [self.atom(self.numpy_call(np.atleast_1d, [
            self.numpy_call(np.array, [item]) if isinstance(item, (gast.List, gast.Tuple))
            else item])) for item in items]  # (a piece written as a list: its array)
        return self.numpy_call(np.concatenate, [gast.Tuple(elts=pieces, ctx=gast.Load())])

    def subscript_base(self, node):
        if isinstance(node.slice, gast.Tuple) and not node.slice.elts and \
                isinstance(node.ctx, gast.Store):
            _unsupported("a store through an empty index (y[()] = ...): write y = ...", node)
        if isinstance(node.value, gast.Name):
            held = self.scope.get(node.value.id)
            if isinstance(node.ctx, gast.Store) and isinstance(held, (list, dict)):
                _unsupported(f"a store into the {type(held).__name__} '{node.value.id}', which "
                             "the function reads from outside (srcad differentiates stores "
                             "into arrays; mode='auto' runs it on the tape)", node)
            return _name(node.value.id)
        if isinstance(node.value, gast.Attribute):  # `self.buf[0] = ...`: into the name read
            base = self.attribute(node.value)
            if isinstance(base, gast.Name):
                return base
        return self.atom(node.value, force_temp=True)

    def resolve(self, node):
        """`resolve(node)`, remembering where each part of the chain came from: the generated
        code is valid while every one still holds the same object."""
        obj = resolve(node, self.scope)
        if isinstance(node, gast.Name) and node.id in self.refs:
            self.checks[self.refs[node.id]] = obj
        elif isinstance(node, gast.Attribute) and obj is not None:
            base = self.resolve(node.value)
            # (a library module's too: `np.sin = np.tanh` is seen; not a library object's, whose
            # attributes are its own: `np.add.at` is a new method at every read)
            if not is_library(base) or isinstance(base, types.ModuleType):
                self.checks[Ref(base, node.attr, "attr")] = obj
        return obj

    def attribute(self, node):
        obj = resolve(node, self.scope)
        if obj is not None:
            base = resolve(node.value, self.scope)
            if is_data(obj) and not is_library(base):  # a user module's constant: read live
                ref = Ref(base, node.attr, "attr")
                name = self.attribute_names.get(ref)
                if name is None:
                    name = self.attribute_names[ref] = \
                        self.namer.fresh(f"{templates.to_source(node.value)}_{node.attr}")
                    self.scope[name], self.refs[name] = obj, ref
                self.resolve(node.value)
                return _name(name)
            obj = self.resolve(node)
            if isinstance(obj, (int, float, bool)):
                return _const(obj)
            return anno.setanno(anno.deepcopy(node), "func", obj)
        limit = self.machine_limit(node)
        if limit is not None:
            return _const(limit)
        if node.attr == "T":
            return self.numpy_call(np.transpose, [self.atom(node.value)])
        if node.attr == "newaxis" and resolve(node.value, self.scope) is np:
            return _const(None)
        if node.attr in ARRAY_ATTRS:
            return gast.Attribute(value=self.atom(node.value), attr=node.attr, ctx=gast.Load())
        _unsupported(f"the attribute '.{node.attr}'", node)

    def machine_limit(self, node):
        """`np.finfo(np.float32).eps`, `np.iinfo(int).max`: the number, of a dtype written as
        a constant (None for an attribute of anything else; refused otherwise)."""
        call = node.value
        if not (isinstance(call, gast.Call) and
                resolve(call.func, self.scope) in (np.finfo, np.iinfo)):
            return None
        arg = call.args[0] if len(call.args) == 1 and not call.keywords else None
        value = None
        if isinstance(arg, gast.Constant) and isinstance(arg.value, str) or \
                isinstance(arg, gast.Attribute) and resolve(arg.value, self.scope) is np or \
                isinstance(arg, gast.Name) and resolve(arg, self.scope) in (float, int):
            dtype = arg.value if isinstance(arg, gast.Constant) else resolve(arg, self.scope)
            try:  # (np.float32, float, "float32": not a variable's dtype)
                value = getattr(resolve(call.func, self.scope)(dtype), node.attr)
            except (TypeError, ValueError, AttributeError):
                pass
        value = value.item() if isinstance(value, np.generic) else value
        if type(value) not in (int, float):
            _unsupported(f"'{templates.to_source(node)}' (srcad reads np.finfo and np.iinfo of a "
                         "dtype written as a constant: np.finfo(np.float64).eps)", node)
        if type(value) is int and not valuetypes.is_int64(value):
            _unsupported(f"'{templates.to_source(node)}' ({value} does not fit the 64-bit "
                         "integers compiled code computes with)", node)
        return value

    # -- indices ------------------------------------------------------------------------
    def index(self, node):
        if isinstance(node, gast.Tuple):
            return gast.Tuple(elts=[self.index_item(e) for e in node.elts], ctx=gast.Load())
        return self.index_item(node)

    def index_item(self, node):
        if isinstance(node, gast.Slice):
            return gast.Slice(
                lower=None if node.lower is None else self.index_expr(node.lower),
                upper=None if node.upper is None else self.index_expr(node.upper),
                step=None if node.step is None else self.index_expr(node.step))
        if isinstance(node, gast.Constant) and node.value is None:
            return node  # np.newaxis spelled None
        if isinstance(node, gast.Constant) and node.value is Ellipsis:
            return node
        if isinstance(node, gast.Constant) and isinstance(node.value, bool):
            _unsupported(f"indexing with {node.value!r}", self.stmt)
        if isinstance(node, gast.List):  # x[[0, 2, 2]] is x[np.array((0, 2, 2))]
            return self.atom(self.numpy_call(np.array, [_lists_as_tuples(node)]))
        return self.index_expr(node)

    def index_expr(self, node, lift_if_assigned=None):
        """An integer index expression, kept inline when it is plain arithmetic on names."""
        if _is_index_arith(node):
            expr = anno.deepcopy(node)
            if lift_if_assigned is not None and _names_in(expr) & _assigned_in(lift_if_assigned):
                return self.atom(node, force_temp=True)
            return _fold_constant(expr) or expr
        return self.atom(node)


def _refuse_other_pads(call):
    """np.pad is differentiated in mode 'constant' with one number as constant_values, or in a
    mode that copies the array's entries (edge, reflect, symmetric, wrap) written in the call (a
    mode or constant_values written otherwise is refused here; others when it runs)."""
    given = dict(zip(("array", "pad_width", "mode"), call.args)) | \
        {k.arg: k.value for k in call.keywords}
    mode, values = given.get("mode"), given.get("constant_values")
    if mode is not None and not (isinstance(mode, gast.Constant) and mode.value in (
            "constant", "edge", "reflect", "symmetric", "wrap")) or \
            isinstance(values, (gast.Tuple, gast.List)):
        _unsupported("np.pad other than in mode 'constant' with one number as constant_values "
                     "or in mode 'edge', 'reflect', 'symmetric' or 'wrap'", call)


def _is_one(node):
    return isinstance(node, gast.Constant) and type(node.value) in (int, float) and \
        node.value == 1


def _lists_as_tuples(node):
    """A (nested) list literal as the tuple literal NumPy reads the same way."""
    if isinstance(node, (gast.List, gast.Tuple)):
        return gast.Tuple(elts=[_lists_as_tuples(e) for e in node.elts], ctx=gast.Load())
    return node


def square_roots(tree, types, np_name):
    """`a ** 0.5` and `np.power(a, 0.5)` of a float array become `np.sqrt(a)`, as NumPy computes
    them (NaN at -inf and -0.0 at -0.0, where the power function gives inf and 0.0; found by a
    helper's attack, helper-144). A number's keeps Python's power."""
    for stmt in templates.walk(tree):
        value = getattr(stmt, "value", None) if isinstance(stmt, gast.Assign) else None
        if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Pow):
            base, exponent = value.left, value.right
        elif isinstance(value, gast.Call) and anno.getanno(value.func, "func") is np.power \
                and len(value.args) == 2 and not value.keywords:
            base, exponent = value.args
        else:
            continue
        ty = types.get(base.id) if isinstance(base, gast.Name) else None
        if isinstance(exponent, gast.Constant) and exponent.value == 0.5 and \
                ty is not None and ty.is_array and ty.kind == "f":
            sqrt = gast.Attribute(value=_name(np_name), attr="sqrt", ctx=gast.Load())
            anno.setanno(sqrt, "func", np.sqrt)
            stmt.value = gast.Call(func=sqrt, args=[base], keywords=[])


def type_scatter_adds(tree, types):
    """Check the np.add.at loops against the types of their operands: a 1-D integer index
    array, and values that are one scalar (the loop adds it at every index: `v[k]` becomes
    `v`) or an array with one item per index (of y's rank). Returns whether a loop changed
    (its temporaries are then typed again)."""
    changed = False
    for block in templates.blocks(tree.body):
        for k, stmt in enumerate(block):
            call = stmt.value if isinstance(stmt, gast.Assign) else None
            if not (isinstance(call, gast.Call) and
                    anno.getanno(call.func, "func") is runtime.scatter_length):
                continue
            indices, values = call.args[0], call.args[1]
            loop = next(s for s in block[k + 1:] if isinstance(s, gast.For))
            store = loop.body[-1]  # y[i[k]] += v[k] (y[i[k]] = y[i[k]] - v[k] for subtract)
            target = store.target if isinstance(store, gast.AugAssign) else store.targets[0]
            index_ty = types.get(indices.id) if isinstance(indices, gast.Name) else None
            where, loc = call.args[2].value, anno.getanno(stmt, "loc")
            if index_ty is None or index_ty.kind != "i" or index_ty.ndim != 1:
                raise UnsupportedError(f"{where}: srcad lowers np.add.at with a 1-D integer "
                                       f"index array, not {index_ty or 'this index'}", loc)
            if isinstance(values, gast.Constant):
                continue
            values_ty, array_ty = types.get(values.id), types.get(target.value.id)
            if values_ty is not None and values_ty.ndim == 0 and values_ty.kind in "fi":
                for node in gast.walk(loop):  # one scalar added at every index
                    if isinstance(node, (gast.Assign, gast.AugAssign)) and \
                            isinstance(node.value, gast.Subscript) and \
                            isinstance(node.value.value, gast.Name) and \
                            node.value.value.id == values.id:
                        node.value = _name(values.id)
                        changed = True
            elif values_ty is None or array_ty is None or values_ty.ndim != array_ty.ndim:
                raise UnsupportedError(f"{where}: srcad lowers np.add.at with one value per "
                                       "index (an array of the target's rank) or one scalar; "
                                       "these values are broadcast against y[idx]", loc)
    return changed


def pair_stores_as_loops(tree, types, namer, origins):
    """`A[rows, cols] = v` (two 1-D integer index arrays; Numba stores through one) as the loop
    it is, `A[rows[k], cols[k]] = v[k]` (or `v`, one number) in order, so a repeated pair keeps
    the last write as in NumPy; `A[rows, cols] += v` reads the old values first, as NumPy's
    buffered update: `t = A[rows, cols] + v`, then that loop storing t. Returns whether any
    store changed (its temporaries are then typed)."""
    def pair_store(stmt):
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else \
            getattr(stmt, "target", None)
        if not (isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name) and
                isinstance(target.slice, gast.Tuple) and len(target.slice.elts) == 2):
            return None
        ranks = [types.get(e.id) if isinstance(e, gast.Name) else None
                 for e in target.slice.elts]
        array = types.get(target.value.id)
        if array is None or array.ndim != 2 or \
                not all(t is not None and t.kind == "i" and t.ndim == 1 for t in ranks):
            return None
        return target

    changed = False
    for block in templates.blocks(tree.body):
        k = 0
        while k < len(block):
            stmt = block[k]
            target = pair_store(stmt) if isinstance(stmt, (gast.Assign, gast.AugAssign)) \
                else None
            if target is None:
                k += 1
                continue
            (rows, cols), values, before = target.slice.elts, stmt.value, []
            if isinstance(stmt, gast.AugAssign):  # (NumPy's: old values read first)
                old = namer.temp()
                before.append(_assign(old, gast.Subscript(
                    value=_name(target.value.id), slice=anno.deepcopy(target.slice),
                    ctx=gast.Load()), stmt))
                values = _name(namer.temp())
                before.append(_assign(values.id, gast.BinOp(left=_name(old), op=stmt.op,
                                                            right=anno.deepcopy(stmt.value)),
                                      stmt))
            trips, index = namer.temp("_n"), namer.temp("_k")
            where = str(templates.SourceText(stmt, origins))
            before.append(_assign(trips, templates.fill(
                "rt.pair_count(r, c, v, w)", r=rows, c=cols, v=values, w=_const(where)), stmt))
            anno.setanno(before[-1].value.func, "func", runtime.pair_count)
            ty = types.get(values.id) if isinstance(values, gast.Name) else None
            each = values.id if ty is not None and ty.ndim == 0 and \
                isinstance(stmt, gast.Assign) else None  # (one number stored at every pair)
            body = []
            for name, source in (("row", rows), ("col", cols)) + \
                    ((("value", values),) if each is None and
                     not isinstance(values, gast.Constant) else ()):
                item = gast.Subscript(value=anno.deepcopy(source), slice=_name(index),
                                      ctx=gast.Load())
                body.append(_assign(namer.temp(f"_{name}"), item, stmt))
                origins[body[-1].targets[0].id] = anno.deepcopy(item)  # (for messages)
            stored = values if isinstance(values, gast.Constant) or each is not None else \
                _name(body[2].targets[0].id)
            body.append(anno.copy_loc(gast.Assign(targets=[gast.Subscript(
                value=_name(target.value.id), ctx=gast.Store(), slice=gast.Tuple(
                    elts=[_name(body[0].targets[0].id), _name(body[1].targets[0].id)],
                    ctx=gast.Load()))], value=anno.deepcopy(stored), type_comment=None), stmt))
            loop = templates.fill_stmt("for k in range(n):\n    pass", k=index, n=trips)
            loop.body = body
            anno.copy_loc(loop, stmt)
            anno.setanno(loop.iter.func, "func", range)
            block[k:k + 1] = before + [loop]
            k += len(before) + 1
            changed = True
    return changed


def updated_parameters(tree, types):
    """A helper's `g += v` on an array it was given updates the caller's array, as in NumPy:
    the inlined parameter `g_helper` is a copy of the caller's name (`g_helper = g`), so
    `g = g_helper` follows each such update. Only where the parameter is never rebound (every
    other store into it also updates in place); a scalar's `+=` rebinds the helper's name
    alone. Returns whether a statement was added."""
    copies, rebound = {}, set()
    for node in gast.walk(tree):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            name = node.targets[0].id
            if anno.hasanno(node, "parameter_of"):
                copies[name] = anno.getanno(node, "parameter_of")
            elif not anno.getanno(node, "inplace"):
                rebound.add(name)
        elif isinstance(node, (gast.For, gast.AugAssign)):
            rebound.update(n.id for n in gast.walk(node.target) if isinstance(n, gast.Name))
    changed = False
    for block in templates.blocks(tree.body):
        for k in range(len(block) - 1, -1, -1):
            stmt = block[k]
            name = stmt.targets[0].id if isinstance(stmt, gast.Assign) and \
                isinstance(stmt.targets[0], gast.Name) else None
            if anno.getanno(stmt, "inplace") and name in copies and name not in rebound and \
                    getattr(types.get(name), "is_array", False):
                block.insert(k + 1, anno.copy_loc(
                    gast.Assign(targets=[_name(copies[name], gast.Store())],
                                value=_name(name), type_comment=None), stmt))
                changed = True
    return changed


def name_index_arrays(tree, types, namer, origins):
    """`x[idx - 1]` -> `t = idx - 1; x[t]`: index arithmetic the lowering keeps inline (for
    `x[i + 1]`) that makes an integer array is named, so that every later stage sees the
    fancy index it is (repeated indices add up in the reverse sweep); `x[idx, :]` is `x[idx]`;
    and `x[t]` of a tuple variable of integer indices is `x[t[0], t[1]]`, each item named.
    Returns whether any changed (the new names are then typed)."""
    def of_arrays(item):
        return isinstance(item, (gast.BinOp, gast.UnaryOp)) and any(
            isinstance(n, gast.Name) and types.get(n.id) is not None and types[n.id].is_array
            for n in gast.walk(item))

    def named(expr, stmt, before):
        """A temporary assigned `expr` (in core form: an operation of atoms each)."""
        expr = anno.deepcopy(expr)
        for part_name in ("left", "right", "operand"):
            part = getattr(expr, part_name, None)
            if isinstance(part, (gast.BinOp, gast.UnaryOp)):
                setattr(expr, part_name, _name(named(part, stmt, before)))
        name = namer.temp()
        before.append(_assign(name, expr, stmt))
        return name

    def is_tuple_of_indices(index):
        ty = types.get(index.id) if isinstance(index, gast.Name) else None
        return ty is not None and ty.kind == "tuple" and len(ty.items) > 0 and \
            all(item.kind == "i" for item in ty.items)

    changed, index_arrays = False, set()
    for block in templates.blocks(tree.body):
        k = 0
        while k < len(block):
            stmt, before = block[k], []
            if not isinstance(stmt, (gast.If, gast.For, gast.While)):
                for sub in [n for n in gast.walk(stmt) if isinstance(n, gast.Subscript)]:
                    if is_tuple_of_indices(sub.slice):  # a[iu], iu = np.triu_indices(n)
                        items = [gast.Subscript(value=_name(sub.slice.id), slice=_const(j),
                                                ctx=gast.Load())
                                 for j in range(len(types[sub.slice.id].items))]
                        names = [named(item, stmt, before) for item in items]
                        origins.update(zip(names, items, strict=True))  # (for messages)
                        sub.slice = _name(names[0]) if len(names) == 1 else \
                            gast.Tuple(elts=[_name(n) for n in names], ctx=gast.Load())
                        changed = True
                    items = sub.slice.elts if isinstance(sub.slice, gast.Tuple) else [sub.slice]
                    for i, item in enumerate(items):
                        if of_arrays(item):
                            name = named(item, stmt, before)
                            origins[name] = item  # (messages write the user's expression)
                            index_arrays.add(name)
                            if isinstance(sub.slice, gast.Tuple):
                                sub.slice.elts[i] = _name(name)
                            else:
                                sub.slice = _name(name)
                            changed = True
                    first = sub.slice.elts[0] if isinstance(sub.slice, gast.Tuple) else None
                    if isinstance(first, gast.Name) and (first.id in index_arrays or (
                            first.id in types and types[first.id].is_array)) and \
                            all(templates.is_whole_slice(item) for item in sub.slice.elts[1:]):
                        sub.slice = first  # y[idx, :] is y[idx]
                        changed = True
            block[k:k] = before
            k += len(before) + 1
    return changed


def split_rebound(tree, conflicts, namer, origins, kept=()):
    """A name the function rebinds at its top level to a value of another type (`x =
    x.reshape(-1)`, `r = r[i, j]`, given as `conflicts` by type inference) is a name of its own
    from there to the next such rebinding (`x_1`), reads and writes nested in that stretch too:
    each holds one type (an update in place, `y += 1.0`, stays the array it updates). The
    branches of an `if` after which the name is not read are such stretches too (the rest of a
    function after an early return is one: jumps.py moves it into a branch). Not with a local
    function or lambda left, which may read the name later; not for the `kept` names, read by
    code added later. Returns whether any was."""
    names = set(conflicts) - set(kept)
    if not names or any(isinstance(n, (gast.FunctionDef, gast.Lambda))
                        for stmt in tree.body for n in gast.walk(stmt)):
        return False
    changed = False
    for name in sorted(names):
        number = all(ty.ndim == 0 for ty in conflicts[name])  # (`i += 0.25` rebinds a number)
        changed |= _split_stretches(tree.body, name, name, name in {a.id for a in tree.args.args},
                                    namer, origins, number)
    return changed


def _split_stretches(stmts, name, current, defined, namer, origins, number=False):
    """split_rebound of `name` in the block `stmts`, which reads it as `current` from the start
    (`defined`: whether it holds a value there; `number`: an update `name += v` rebinds it).
    Returns whether a rebinding was renamed."""
    changed = False
    for k, stmt in enumerate(stmts):
        if isinstance(stmt, gast.If) and not any(_mentions(s, name) for s in stmts[k + 1:]):
            _rename(stmt.test, name, current)
            for branch in (stmt.body, stmt.orelse):
                changed |= _split_stretches(branch, name, current, defined, namer, origins,
                                            number)
            return changed
        rebinds = isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
            and stmt.targets[0].id == name and (number or not anno.getanno(stmt, "inplace"))
        _rename(stmt.value if rebinds else stmt, name, current)  # (y += 1.0: y's memory)
        if rebinds and defined:
            current = namer.fresh(f"{name}_1")
            stmt.targets[0].id = current
            origins[current] = _name(name)  # (messages write the user's name)
            changed = True
        defined = defined or _mentions(stmt, name)
    return changed


def _mentions(node, name):
    """Whether `name` appears in `node` (read or written)."""
    return any(isinstance(n, gast.Name) and n.id == name for n in gast.walk(node))


def _rename(node, name, new):
    if new != name:
        for n in gast.walk(node):
            if isinstance(n, gast.Name) and n.id == name:
                n.id = new


def split_tuples(tree, types, namer, kept=()):
    """`t = (a, b); u = t; u[1]` -> `t_0 = a; t_1 = b; u_0 = t_0; u_1 = t_1; u_1`: a tuple
    variable made of numbers and arrays (a literal, or another such variable) and read by
    constant indices and len() alone is a name per item, so that later stages see what it holds
    (`d = divmod(x, y); d[0]`, `r = helper(x); r[1]`). The `kept` names are read by code
    added later (has_aux's output): one assigned such a tuple is the tuple of its items.
    Returns whether any was."""
    assigns, sizes = {}, {}
    for node in gast.walk(tree):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            assigns.setdefault(node.targets[0].id, []).append(node)
    outputs = set(kept)
    kept = {a.id for a in tree.args.args} | outputs
    for name, ty in types.items():
        if ty.kind == "tuple" and name in assigns and name not in kept and \
                all(item.kind in ("f", "i", "b") for item in ty.items):
            sizes[name] = len(ty.items)
    parents = {child: node for node in gast.walk(tree) for child in gast.iter_child_nodes(node)}
    uses = {}
    for node in parents:
        if isinstance(node, gast.Name) and node.id in sizes:
            uses.setdefault(node.id, []).append(node)

    def splittable(name):
        for node in assigns[name]:
            value = node.value
            if isinstance(value, gast.Name) and sizes.get(value.id) == sizes[name]:
                continue
            if not (isinstance(value, gast.Tuple) and len(value.elts) == sizes[name] and
                    all(isinstance(e, (gast.Name, gast.Constant)) for e in value.elts)):
                return False
        return True

    def read_by_items(node):
        parent = parents.get(node)
        if isinstance(parent, gast.Subscript) and parent.value is node:
            k = parent.slice
            return isinstance(k, gast.Constant) and type(k.value) is int and \
                -sizes[node.id] <= k.value < sizes[node.id]
        if _is_len(parent):
            return True
        return isinstance(parent, gast.Assign) and parent.value is node and \
            isinstance(parent.targets[0], gast.Name) and \
            (parent.targets[0].id in sizes or parent.targets[0].id in outputs)

    changed = True
    while changed:  # (a tuple that is not split makes the ones assigned from it unsplit)
        changed = False
        for name in list(sizes):
            if not splittable(name) or any(
                    not read_by_items(n) if isinstance(n.ctx, gast.Load) else
                    parents[n] not in assigns[name] for n in uses[name]):
                del sizes[name]
                changed = True
    items = {name: [namer.fresh(f"{name}_{k}") for k in range(n)] for name, n in sizes.items()}
    for block in templates.blocks(tree.body):
        for k in reversed(range(len(block))):
            stmt = block[k]
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                    stmt.targets[0].id in outputs and isinstance(stmt.value, gast.Name) and \
                    stmt.value.id in items:
                stmt.value = gast.Tuple(elts=[_name(i) for i in items[stmt.value.id]],
                                        ctx=gast.Load())
            elif isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                    stmt.targets[0].id in items:
                value = stmt.value
                parts = [_name(i) for i in items[value.id]] if isinstance(value, gast.Name) \
                    else value.elts
                block[k:k + 1] = [_assign(_name(target, gast.Store()), part, stmt)
                                  for target, part in zip(items[stmt.targets[0].id], parts)]

    class ItemsByName(gast.NodeTransformer):
        def visit_Subscript(self, node):
            if isinstance(node.value, gast.Name) and node.value.id in items:
                return _name(items[node.value.id][node.slice.value])
            return self.generic_visit(node)

        def visit_Call(self, node):
            if _is_len(node) and isinstance(node.args[0], gast.Name) and \
                    node.args[0].id in items:
                return _const(len(items[node.args[0].id]))
            return self.generic_visit(node)

    ItemsByName().visit(tree)
    return bool(items)


def _tests_kept_through_the_branch(body, namer):
    """`if flag: ...; flag = False` -> `_c = flag; if _c: ...`: the reverse sweep tests a
    branch's condition after undoing the branch, so a test the branch assigns (a user's flag,
    the `if not _done:` that jump lowering puts around what follows a loop that may return)
    is a name of its own."""
    for block in templates.blocks(body):
        for k in reversed(range(len(block))):
            stmt = block[k]
            if not isinstance(stmt, gast.If):
                continue
            negated = isinstance(stmt.test, gast.UnaryOp)
            test = stmt.test.operand if negated else stmt.test
            if test.id in _assigned_in(stmt.body + stmt.orelse):
                kept = namer.temp("_c")
                block.insert(k, _assign(kept, _name(test.id), stmt))
                stmt.test = _name(kept)
                if negated:
                    stmt.test = gast.UnaryOp(op=gast.Not(), operand=stmt.test)


def _is_len(node):
    return isinstance(node, gast.Call) and anno.getanno(node.func, "func") is len and \
        len(node.args) == 1 and not node.keywords


def _reuses_nothing_written(expr):
    """An expression over atoms that computes the same value when evaluated again, as long as
    nothing is written in between (no call: a library call may draw random numbers)."""
    return isinstance(expr, (gast.BinOp, gast.UnaryOp, gast.Subscript, gast.Attribute,
                             gast.Compare)) and \
        not any(isinstance(n, gast.Call) for n in gast.walk(expr))


def _fold_constant(node):
    """-3 -> Constant(-3); other constant expressions are left alone."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)) and \
            isinstance(node.operand, gast.Constant) and \
            isinstance(node.operand.value, (int, float)) and \
            not isinstance(node.operand.value, bool):
        value = node.operand.value
        return _const(-value if isinstance(node.op, gast.USub) else value)
    return None


def _is_index_arith(node):
    if isinstance(node, gast.Name):
        return True
    if isinstance(node, gast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool)
    if isinstance(node, gast.BinOp):
        return isinstance(node.op, INDEX_BINOPS) and _is_index_arith(node.left) and \
            _is_index_arith(node.right)
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        return _is_index_arith(node.operand)
    return False


def _names_in(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def _reads(node, name):
    return any(isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Load)
               for n in gast.walk(node))


def _dtype_of(node, array):
    """Is `node` `array.dtype` (of the name `array`)?"""
    return isinstance(node, gast.Attribute) and node.attr == "dtype" and \
        isinstance(node.value, gast.Name) and isinstance(array, gast.Name) and \
        node.value.id == array.id


def _assigned_in(stmts):
    names = set()
    for stmt in stmts:
        for n in gast.walk(stmt):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                names.add(n.id)
    return names
