"""Inlining: the body of a user function called by the differentiated one, lowered in place.

A call to a plain Python function from the user's own code (also a numba dispatcher, via its
`py_func`; a `functools.partial` of one; a lambda assigned to a module-level or local name)
is replaced by that function's body, lowered by the same `normalize` machinery:

- parameters the body never assigns are replaced by the call's arguments; the others become
  local copies;
- the body's other locals are renamed `<name>_<function>` so they collide with nothing;
- names the body reads from its own module join the generated module's scope (renamed if the
  caller binds the same name to something else);
- its returns assign the call's result, one variable per element for a tuple result.

Inlining, rather than calling a separately generated adjoint, keeps the whole gradient in one
Numba function (no call overhead in loops, one listing for `srcad.source`), and each call site
is specialised on its own arguments' activity for free. Recursion cannot be inlined: it raises
UnsupportedError (mode="auto" then runs the tape).
"""

import functools
import sys
import types

import gast

from . import anno, frontend, jumps, lists, optional, unassigned
from .frontend import Ref
from .templates import make_name as _name
from ..errors import SourceUnavailableError, StaleCompiledValue, UnsupportedError

def is_user_function(obj):
    """True for a Python function from user code (not NumPy, SciPy, math, srcad, ...)."""
    if isinstance(obj, functools.partial):
        return is_user_function(obj.func)
    obj = _as_method(obj)
    if isinstance(obj, types.MethodType):  # self.helper(x): its instance is bound by parse
        obj = obj.__func__
    return isinstance(obj, types.FunctionType) and not frontend.is_library(obj) and \
        str(getattr(obj, "__module__", "")).partition(".")[0] not in sys.stdlib_module_names


def _as_method(obj):
    """The function to inline for `obj`: a numba dispatcher's Python function; for an object
    of user code with a Python `__call__`, that method bound to it."""
    obj = frontend.unwrap(obj)
    method = frontend.python_call(obj)
    return method if method is not None and not frontend.is_library(method.__func__) else obj


def inline(lowering, lam, target, args, keywords, call, unused=False):
    """Emit the lowered body of `target` (or `lam`, a lambda or a def inside the differentiated
    function) through `lowering`; return the atom, or tuple of atoms, holding its result (with
    `unused`, a call for what it writes, which may return None)."""
    loc = anno.getanno(call, "loc")
    if isinstance(target, functools.partial):
        args = [_value_atom(lowering, v, Ref(target.args, k, "item"))
                for k, v in enumerate(target.args)] + list(args)
        keywords = {**{k: _value_atom(lowering, v, Ref(target.keywords, k, "item"))
                       for k, v in target.keywords.items()}, **keywords}
        target = target.func
    if lam is not None and lam in lowering.stack:
        raise UnsupportedError(f"recursive call of the local function "
                               f"'{getattr(lam, 'name', 'lambda')}': srcad's source transform "
                               "cannot inline recursion (mode='tape' differentiates it)", loc)
    if isinstance(lam, gast.FunctionDef):  # a def inside the differentiated function
        name, tree = lam.name, anno.deepcopy(lam)
        params = tree.args
        params.args = params.posonlyargs + params.args + params.kwonlyargs
        defaults = _lambda_defaults(lam)
        params.posonlyargs, params.kwonlyargs, params.kw_defaults, params.defaults = [], [], [], []
        helper_scope, helper_refs = {}, {}
    elif lam is not None:
        name = "lambda"
        tree = gast.FunctionDef(name=name, args=anno.deepcopy(lam.args),
                                body=[anno.copy_loc(gast.Return(value=anno.deepcopy(lam.body)),
                                                    lam)],
                                decorator_list=[], returns=None, type_comment=None,
                                type_params=[])
        helper_scope, helper_refs, defaults = {}, {}, _lambda_defaults(lam)
    else:
        changed = frontend.changed_since_compiled(target)
        if changed is not None:
            raise StaleCompiledValue(changed, loc)
        for ref, value in frontend.compiled_data(target):  # (checked again when one changes)
            lowering.checks[ref] = value
        method = _as_method(target)
        if isinstance(method, types.MethodType) and method.__self__ is target:
            # an object's __call__: valid while the object's class and its __call__ are
            lowering.checks[Ref(target, "__class__", "attr")] = type(target)
            lowering.checks[Ref(type(target), "__call__", "attr")] = method.__func__
        target = method
        lowering.checks[Ref(target, "__code__", "attr")] = target.__code__  # (replaceable)
        name = target.__name__
        if target in lowering.stack:
            raise UnsupportedError(f"recursive call of '{name}': srcad's source transform "
                                   "cannot inline recursion (mode='tape' differentiates it)", loc)
        try:
            parsed = frontend.parse(target)
        except SourceUnavailableError as exc:
            raise UnsupportedError(f"call of '{name}', whose source cannot be read ({exc.what}); "
                                   "give it a derivative with srcad.custom_vjp", loc) from None
        tree, helper_scope, helper_refs = anno.deepcopy(parsed.tree), parsed.scope, \
            parsed.refs
        lowering.files.add(parsed.file)
        defaults = _function_defaults(target)
    helper_scope = dict(helper_scope)
    lists.lower(tree, helper_scope, lowering.scope if lam is not None else None)
    params = [a.id for a in tree.args.args]
    if tree.args.vararg is not None or tree.args.kwarg is not None:
        raise UnsupportedError(f"call of '{name}', which takes *args or **kwargs", loc)
    bound = _bind(name, params, args, keywords, defaults, lowering, loc)
    if lam is None and len(args) + len(keywords) < len(params):  # a default is read:
        for attribute in ("__defaults__", "__kwdefaults__"):  # (valid while they are the same)
            lowering.checks[Ref(target, attribute, "attr")] = \
                frontend.snapshot(getattr(target, attribute))
    none = {p for p, a in bound.items() if _is_none(a, lowering)}
    optional.specialize(tree, none, {p for p, a in bound.items() if _is_not_none(a, lowering)})
    unread = optional.parameters_rebound(tree, none)  # (None, then assigned: never read)
    written = frontend.local_names(tree) - set(params) | _assigned_params(tree, params)
    renames, copies = {}, []
    for p in params:
        arg = bound[p]
        if p in unread:
            renames[p] = lowering.namer.fresh(f"{p}_{name}")
        elif p not in written and isinstance(arg, gast.Name):
            renames[p] = arg.id
        elif p not in written and isinstance(arg, gast.Constant):
            renames[p] = arg
        else:
            renames[p] = lowering.namer.fresh(f"{p}_{name}")
            copies.append((renames[p], arg))
    helper_locals = frontend.local_names(tree) - set(params)
    for local in helper_locals:
        renames[local] = lowering.namer.fresh(f"{local}_{name}")
    _merge_scope(lowering, helper_scope, helper_refs, renames)
    Rename(renames).visit(tree)
    if unused:
        for node in gast.walk(tree):
            if isinstance(node, gast.Return) and node.value is None:
                node.value = gast.Constant(value=None, kind=None)
        tree.body.append(anno.copy_loc(gast.Return(value=gast.Constant(value=None, kind=None)),
                                       call))
    for new, arg in copies:
        lowering.emit(anno.copy_loc(gast.Assign(targets=[_name(new, gast.Store())], value=arg,
                                                type_comment=None), call))
        if isinstance(arg, gast.Name):  # (normalize.updated_parameters reads it)
            anno.setanno(lowering.out[-1], "parameter_of", arg.id)
    saved = lowering.stack, lowering.lambdas, lowering.stmt
    lowering.stack = lowering.stack + ((target,) if lam is None else (lam,))
    lowering.lambdas = dict(lowering.lambdas) if lam is not None else {}
    try:
        body = lowering.block(tree.body)
    finally:
        lowering.stack, lowering.lambdas, lowering.stmt = saved
    if not any(isinstance(n, gast.Return) for s in body for n in gast.walk(s)) and \
            not (body and isinstance(body[-1], gast.Raise)):  # (one that raises: jumps.lower)
        raise UnsupportedError(f"call of '{name}', which has no return statement (it returns "
                               "None: srcad differentiates what a function returns)", loc)
    body = unassigned.check_reads(
        jumps.lower(body, lowering.namer), [renames[p] for p in params if type(renames[p]) is str],
        lowering.namer, {renames[v]: v for v in helper_locals})
    result = body.pop().value
    body, result = _split_tuple_result(body, result, lowering.namer)
    lowering.out.extend(body)
    return result


def _is_none(arg, lowering):
    return isinstance(arg, gast.Constant) and arg.value is None or \
        isinstance(arg, gast.Name) and arg.id in lowering.none


def _is_not_none(arg, lowering):
    """Is `arg` known not to be None: a constant, a parameter given something else, or a
    temporary holding the value of an operation or a slice (an item of a tuple may be None)?"""
    if isinstance(arg, gast.Constant):
        return arg.value is not None
    origin = lowering.origins.get(arg.id) if isinstance(arg, gast.Name) else None
    return isinstance(arg, gast.Name) and (
        arg.id in lowering.not_none or isinstance(origin, (gast.BinOp, gast.UnaryOp,
                                                           gast.Compare)) or
        isinstance(origin, gast.Subscript) and isinstance(origin.slice, gast.Slice))


def _bind(name, params, args, keywords, defaults, lowering, loc):
    if len(args) > len(params):
        raise UnsupportedError(f"call of '{name}' with {len(args)} positional arguments; it "
                               f"takes {len(params)}", loc)
    bound = dict(zip(params, args, strict=False))
    for key, value in keywords.items():
        if key not in params or key in bound:
            raise UnsupportedError(f"call of '{name}' with unexpected keyword '{key}'", loc)
        bound[key] = value
    for p in params:
        if p not in bound:
            if p not in defaults:
                raise UnsupportedError(f"call of '{name}' without a value for '{p}'", loc)
            value, ref = defaults[p]
            bound[p] = _value_atom(lowering, value, ref)
    return bound


def _function_defaults(fn):
    """{parameter: (default value, Ref to read it again)}."""
    code = fn.__code__
    positional = code.co_varnames[:code.co_argcount]
    defaults = fn.__defaults__ or ()
    out = {p: (v, Ref(defaults, k, "item")) for k, (p, v) in
           enumerate(zip(positional[len(positional) - len(defaults):], defaults, strict=True))}
    kwdefaults = fn.__kwdefaults__ or {}
    out.update({p: (v, Ref(kwdefaults, p, "item")) for p, v in kwdefaults.items()})
    return out


def _lambda_defaults(lam):
    """{parameter: (its default, None)} of a lambda or a local def: a number, or the name
    normalize bound a default computed from the enclosing function's variables to."""
    names = [a.id for a in lam.args.posonlyargs + lam.args.args]
    values = lam.args.defaults
    pairs = list(zip(names[len(names) - len(values):], values, strict=False))
    pairs += [(a.id, v) for a, v in zip(lam.args.kwonlyargs, lam.args.kw_defaults, strict=True)
              if v is not None]
    return {n: (v.value if isinstance(v, gast.Constant) else v, None) for n, v in pairs
            if isinstance(v, (gast.Constant, gast.Name))}


def _value_atom(lowering, value, ref=None):
    """An atom for a value bound when the helper was made (a default, a partial's argument):
    a number becomes a constant, checked again (through `ref`) at every call; anything else
    a name in the scope (an array is then read through `ref` at every call)."""
    if isinstance(value, gast.AST):
        return value
    if value is None or type(value) in (bool, int, float):
        if ref is not None:
            lowering.checks[ref] = value
        return gast.Constant(value=value, kind=None)
    name = lowering.namer.fresh("_const")
    lowering.scope[name] = value
    if ref is not None:
        lowering.refs[name] = ref
    return _name(name)


def _assigned_params(tree, params):
    """Parameters the body assigns, or writes into (y[i] = ...)."""
    out = set()
    for n in gast.walk(tree):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store) and n.id in params:
            out.add(n.id)
    return out


def _merge_scope(lowering, helper_scope, helper_refs, renames):
    """The helper's free names join the caller's scope, renamed where the caller's same name
    refers elsewhere, or a builtin's name something else (a module's own `len`: the generated
    code calls len)."""
    for free, obj in helper_scope.items():
        ref = helper_refs.get(free)
        if ref is not None and lowering.scope.get(free) is obj and \
                free not in lowering.refs and isinstance(obj, types.ModuleType):
            lowering.refs[free] = ref  # (numpy, which srcad named for the caller: one name)
        if free in lowering.scope and (lowering.scope[free] is not obj or
                                       lowering.refs.get(free) != ref) or \
                frontend.shadows_builtin(free, obj):
            renames[free] = here = lowering.namer.fresh(free)
        else:
            here = free
            lowering.namer.taken.add(free)
        lowering.scope[here] = obj
        if ref is not None:
            lowering.refs[here] = ref


def _split_tuple_result(body, result, namer):
    """`_ret = (a, b)` assignments become `_ret_0 = a; _ret_1 = b` (a tuple result is never a
    variable of its own, so each element can carry derivatives)."""
    if isinstance(result, gast.Tuple) or not isinstance(result, gast.Name):
        return body, result
    assigns = [n for s in body for n in gast.walk(s) if isinstance(n, gast.Assign) and
               isinstance(n.targets[0], gast.Name) and n.targets[0].id == result.id]
    if not assigns or not all(isinstance(a.value, gast.Tuple) for a in assigns):
        return body, result
    width = len(assigns[0].value.elts)
    if any(len(a.value.elts) != width for a in assigns):
        raise UnsupportedError("a function returning tuples of different lengths",
                               anno.getanno(assigns[0], "loc"))
    names = [namer.fresh(f"{result.id}_{k}") for k in range(width)]
    _ReplaceTupleAssign(result.id, names).visit(gast.Module(body=body, type_ignores=[]))
    return body, gast.Tuple(elts=[_name(n) for n in names], ctx=gast.Load())


class _ReplaceTupleAssign(gast.NodeTransformer):
    def __init__(self, name, names):
        self.name, self.names = name, names

    def visit_Assign(self, node):
        t = node.targets[0]
        if isinstance(t, gast.Name) and t.id == self.name:
            return [anno.copy_loc(gast.Assign(targets=[_name(n, gast.Store())], value=v,
                                              type_comment=None), node)
                    for n, v in zip(self.names, node.value.elts, strict=True)]
        return node


class Rename(gast.NodeTransformer):
    def __init__(self, renames):
        self.renames = renames

    def visit_FunctionDef(self, node):  # (a def nested in an inlined one: its name is local)
        new = self.renames.get(node.name)
        if isinstance(new, str):
            node.name = new
        return self.generic_visit(node)

    def visit_Name(self, node):
        new = self.renames.get(node.id)
        if new is None:
            return node
        if isinstance(new, gast.AST):
            return anno.deepcopy(new)
        return anno.copy_loc(_name(new, node.ctx), node)
