"""Type inference: the kind (float / int / bool) and rank of every variable, for one call
signature.

Input: a core-form tree and the types of the call's arguments. Output: `{name: Ty}`.
Knowing statically which values are scalars, arrays (and of what rank) or integers is what
lets the generated gradient be plain code with no runtime type dispatch: a scalar adjoint
starts at `0.0`, an array's at `np.zeros_like(x)`; a broadcast adjoint is summed back only
where ranks say it can be; loop saves go into preallocated arrays of the right dtype. A
gradient is generated per signature, as Numba's dispatcher compiles per signature.

Calls of library functions are typed by evaluating the callee once on tiny stand-in values
of the argument types (shape (1, ..., 1) arrays, scalar 1), which covers NumPy's own
promotion and rank rules without a table; functions with side effects (random draws, files)
and user code are never run: a custom_vjp function is typed from its own source, anything
else is unknown. Subscripts, attributes and the operators are typed here directly.
"""

import inspect
import math
import operator
import re
import types
import warnings

import gast
import numpy as np

from .. import runtime
from ..kernels import arrays as _arrays
from . import anno, frontend, templates
from ..errors import UnsupportedError
from .normalize import BINOPS, UNARYOPS
from .valuetypes import BOOL, FLOAT, INT, NONE, STR, UNKNOWN, Ty, array, of_value  # noqa: F401

_RANK = {"b": 0, "i": 1, "f": 2}
_DTYPES = {"f": np.float64, "i": np.int64, "b": np.bool_}


def join(a, b):
    if a is None:
        return b
    if b is None or a == b:
        return a
    if a.kind in _RANK and b.kind in _RANK and a.ndim == b.ndim:
        return a if _RANK[a.kind] >= _RANK[b.kind] else b
    if a.kind == "tuple" and b.kind == "tuple" and len(a.items) == len(b.items):
        return Ty("tuple", items=tuple(join(x, y) for x, y in zip(a.items, b.items,
                                                                   strict=True)))
    return UNKNOWN


def stand_in(ty):
    """A tiny value of type `ty`, for typing a call by running it."""
    if ty.kind == "tuple":
        return tuple(stand_in(t) for t in ty.items)
    if ty.kind == "none":
        return None
    dtype = _DTYPES.get(ty.kind)
    if dtype is None:
        raise TypeError("no stand-in for an unknown type")
    if ty.ndim == 0:
        return {"f": 0.5, "i": 1, "b": True}[ty.kind]
    # (an integer array holds 0, an index valid along any axis of another stand-in)
    return np.full((1,) * ty.ndim, {"f": 0.5, "i": 0, "b": True}[ty.kind], dtype=dtype)


def _run_on_stand_ins(func, values, kw):
    """func(*values, **kw); if it raises with an integer array among them, again with those
    holding 1 (np.linalg.solve of an integer matrix: the stand-in of zeros is singular)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return func(*values, **kw)
        except Exception:
            if not any(isinstance(v, np.ndarray) and v.dtype.kind == "i"
                       for v in (*values, *kw.values())):
                raise

            def ones(v):
                return np.ones_like(v) if isinstance(v, np.ndarray) and v.dtype.kind == "i" \
                    else v
            return func(*map(ones, values), **{k: ones(v) for k, v in kw.items()})


def infer(tree, arg_types, scope=None):
    """Types of every variable in `tree` (core form) given `{arg name: Ty}` and the values of
    the free names it reads (`scope`: module constants, closure cells).

    Returns:
        dict name -> Ty; names whose type cannot be inferred map to UNKNOWN.
    """
    env = Types({name: of_value(value) for name, value in (scope or {}).items()
                 if of_value(value).kind != "unknown"})
    env.update(arg_types)
    local = templates.assignments(tree).keys()
    deferred = set()
    for _ in range(20):  # loops: iterate to a fixed point (ranks do not grow)
        before = dict(env)
        _Infer(env, scope, local, deferred).block(tree.body)
        if env == before:
            break
    for name in deferred - env.keys():  # (only ever assigned from itself)
        env[name] = UNKNOWN
    return env


class Types(dict):
    """{name: Ty}, and the names given two types that do not join (`conflicts`: name -> the
    two types), which explain an unknown type in error messages, and those given an int and a
    float (`widened`: name -> the two types), which a float read as an index may not be."""

    def __init__(self, *args):
        super().__init__(*args)
        self.conflicts, self.widened = {}, {}


_NO_VALUE = object()


class _Infer:
    def __init__(self, env, scope=None, local=(), deferred=None):
        self.env, self.scope = env, scope or {}
        self.stmt = None
        # a value of variables not typed yet (`s = s + x[i]` before the `else` assigning
        # `s = x[0]` in a loop's first trip) is typed in a later round, not made unknown
        self.local, self.deferred = local, deferred if deferred is not None else set()

    def block(self, stmts):
        for stmt in stmts:
            self.stmt = stmt
            if isinstance(stmt, gast.Assign):
                target = stmt.targets[0]
                if isinstance(target, gast.Name):
                    ty = self.expr(stmt.value)
                    if ty == UNKNOWN and any(n in self.local and n not in self.env
                                             for n in templates.names_read(stmt.value)):
                        self.deferred.add(target.id)
                        continue
                    self.bind(target.id, ty)
                    widened = getattr(self.env, "widened", {})
                    if isinstance(stmt.value, gast.Name) and stmt.value.id in widened:
                        widened.setdefault(target.id, widened[stmt.value.id])  # (k = _t1)
            elif isinstance(stmt, gast.For):
                self.bind(stmt.target.id, INT)
                self.block(stmt.body)
            elif isinstance(stmt, (gast.If, gast.While)):
                self.block(stmt.body)
                self.block(getattr(stmt, "orelse", []))

    def bind(self, name, ty):
        if ty is None:  # (an empty list: its array takes the type its items give it)
            return
        old = self.env.get(name)
        self.env[name] = join(old, ty)
        if not isinstance(self.env, Types) or old is None:
            return
        if self.env[name] == UNKNOWN and UNKNOWN not in (old, ty):
            self.env.conflicts.setdefault(name, (old, ty))
        elif old.kind != ty.kind and self.env[name].kind == "f":
            self.env.widened.setdefault(name, (old, ty))

    def expr(self, node):
        if isinstance(node, gast.Constant):
            return of_value(node.value)
        if isinstance(node, gast.Name):
            return self.env.get(node.id, UNKNOWN)
        if isinstance(node, gast.Tuple):
            return Ty("tuple", items=tuple(self.expr(e) for e in node.elts))
        if isinstance(node, gast.BinOp):
            return self.apply(BINOPS[type(node.op)], [self.expr(node.left),
                                                      self.expr(node.right)])
        if isinstance(node, gast.UnaryOp):
            if isinstance(node.op, gast.Not):
                return BOOL
            return self.apply(UNARYOPS[type(node.op)], [self.expr(node.operand)])
        if isinstance(node, gast.Compare):
            ranks = [self.expr(node.left).ndim, self.expr(node.comparators[0]).ndim]
            return array("b", max(ranks))
        if isinstance(node, gast.Subscript):
            return self.subscript(node)
        if isinstance(node, gast.Attribute):
            return self.attribute(node)
        if isinstance(node, gast.Call):
            func = anno.getanno(node.func, "func")
            if func is runtime.list_empty:
                return None
            args = [self.expr(a) for a in node.args]
            kwargs = {k.arg: self.expr(k.value) for k in node.keywords}
            consts = {k.arg: self.constant(k.value) for k in node.keywords
                      if self.constant(k.value, None) is not None}
            const_args = [self.constant(a) for a in node.args]
            return self.apply(func, args, kwargs, consts, const_args)
        return UNKNOWN

    def constant(self, node, default=None):
        """The value of `node` when it is a literal, a tuple of literals (`axis=(0, 2)`) or
        names a type (`dtype=float`)."""
        if isinstance(node, gast.Constant):
            return node.value
        if isinstance(node, gast.Tuple):
            items = [self.constant(e, _NO_VALUE) for e in node.elts]
            return default if _NO_VALUE in items else tuple(items)
        found = self.expr(node) if isinstance(node, (gast.Name, gast.Attribute)) else UNKNOWN
        if found.kind == "dtype":  # (dtype=x.dtype: of x's kind)
            return np.dtype(_DTYPES[found.items[0]])
        value = anno.getanno(node, "func") if isinstance(node, gast.Attribute) else \
            self.scope.get(node.id) if isinstance(node, gast.Name) else None
        return value if isinstance(value, (type, np.dtype)) else default

    def attribute(self, node):
        if anno.hasanno(node, "func"):
            return of_value(anno.getanno(node, "func"))
        base = self.expr(node.value)
        if node.attr == "shape" and base.kind in _RANK:
            return Ty("tuple", items=(INT,) * base.ndim)
        if node.attr in ("ndim", "size"):
            return INT
        if node.attr == "dtype" and base.kind in _DTYPES:
            return Ty("dtype", items=(base.kind,))
        return UNKNOWN

    def subscript(self, node):
        base = self.expr(node.value)
        index = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
        if base.kind == "tuple":
            k = node.slice
            if isinstance(k, gast.Constant) and isinstance(k.value, int):
                return base.items[k.value] if -len(base.items) <= k.value < len(base.items) \
                    else UNKNOWN
            return _join_all(base.items)
        if base.kind not in _RANK:
            return UNKNOWN
        # each integer (array) takes an axis, a boolean array as many as it has; together
        # they give the axes of their broadcast shape (x[rows, cols] of two vectors: one)
        ndim, advanced = base.ndim, []
        for item in index:
            ty = self.index_type(item)
            if ty == "slice":
                continue
            if ty == "newaxis":
                ndim += 1
            elif ty.kind == "b" and ty.ndim:
                ndim -= ty.ndim
                advanced.append(1)
            elif ty.kind == "i":
                ndim -= 1
                advanced.append(ty.ndim)
            else:
                return UNKNOWN
        ndim += max(advanced, default=0)
        return array(base.kind, ndim) if ndim >= 0 else UNKNOWN

    def index_type(self, node):
        if isinstance(node, gast.Slice) or \
                isinstance(node, gast.Constant) and node.value is Ellipsis:
            return "slice"  # (an Ellipsis keeps every axis the other items leave)
        if isinstance(node, gast.Constant) and node.value is None:
            return "newaxis"
        if isinstance(node, gast.BinOp) or isinstance(node, gast.UnaryOp):
            ty = self.expr(node)  # (i + 1, or idx + 1 of an index array)
            return ty if ty.kind == "i" else INT
        return self.expr(node)

    def apply(self, func, args, kwargs=None, consts=None, const_args=None):
        kwargs, consts = kwargs or {}, consts or {}
        const_args = const_args or [None] * len(args)
        if func is range:
            return UNKNOWN
        if func in (len, int, runtime.list_index, runtime.list_slot) or \
                func is math.floor or func is math.ceil:
            return INT  # (a list_index of a stand-in list of one item would raise)
        if func is runtime.list_grown and len(args) == 3:  # (items: unknown before the first)
            items, item = args[0], args[2]
            if item.kind not in _RANK:
                return UNKNOWN
            kinds = [t.kind for t in (items, item) if t.kind in _RANK]
            return array(max(kinds, key=_RANK.get), item.ndim + 1)
        if func is float or (getattr(func, "__module__", None) == "math" and
                             func not in (math.floor, math.ceil)):
            return FLOAT
        if func in (abs, min, max) and all(not a.is_array for a in args):
            return _join_all(args)
        if func is runtime.checked_tangent and len(args) == 3:
            return args[1]  # (the result's type: a custom jvp's tangent of another raises)
        if any(a.kind == "unknown" for a in args) or \
                any(v.kind == "unknown" for k, v in kwargs.items() if k not in consts):
            return UNKNOWN
        if frontend.is_custom_vjp(func):
            if kwargs or len(args) != len(inspect.signature(func.fn).parameters):
                raise UnsupportedError(
                    f"a call of the custom_vjp function {func.fn.__name__} with keywords or "
                    "with arguments left at their defaults: srcad passes its vjp every "
                    "argument, so write each in the call, by position",
                    anno.getanno(self.stmt, "loc") if self.stmt is not None else None)
            return returned_type(func.fn, args)  # (inferred from its own source)
        if not safe_to_evaluate(func):
            return UNKNOWN
        if func is np.squeeze and args and args[0].is_array:
            # (its rank depends on the sizes: the stand-ins' size-1 axes would all go)
            axis = consts.get("axis", const_args[1] if len(const_args) > 1 else None)
            axes = axis if isinstance(axis, tuple) else (axis,)
            if axis is None or not all(type(a) is int for a in axes):
                return UNKNOWN
            return array(args[0].kind, args[0].ndim - len(axes))
        if func is np.transpose and len(args) == 2 and args[0].is_array and \
                args[1].kind == "tuple":  # (axes not constants: a stand-in has no such axes)
            return args[0]
        if func is np.linalg.norm and args and args[0].is_array:
            # (the rank is the same for every order, which may not be a constant: a stand-in
            # float is no matrix norm's order)
            axis, keepdims = (consts.get(k, const_args[i] if len(args) > i else default)
                              for k, i, default in (("axis", 2, None), ("keepdims", 3, False)))
            if keepdims is True:
                return array("f", args[0].ndim)
            axes = 0 if axis is None else 1 if type(axis) is int else \
                len(axis) if isinstance(axis, tuple) else None
            return UNKNOWN if axes is None else array("f", args[0].ndim - axes if axes else 0)
        if func is np.take and len(args) >= 2 and args[0].is_array and args[1].kind == "i":
            # (a stand-in has one element: an index other than 0 is out of its bounds)
            axis = consts.get("axis", const_args[2] if len(args) > 2 else None)
            if axis is None and "axis" not in kwargs and len(args) < 3:
                return array(args[0].kind, args[1].ndim)
            if type(axis) is int:
                return array(args[0].kind, args[0].ndim - 1 + args[1].ndim)
        if func is _arrays.weights_shape and len(args) == 3 and args[1].is_array:
            # (stand-in weights of another shape than a's would be refused without an axis)
            return Ty("tuple", items=(INT,) * args[1].ndim)
        if func is np.repeat and len(args) >= 2 and args[0].is_array:
            # (a stand-in's axes have one element: repeats of another length are refused)
            axis = kwargs.get("axis", args[2] if len(args) > 2 else None)
            return array(args[0].kind, 1 if axis is None or axis.kind == "none" else
                         args[0].ndim)
        if func is np.take_along_axis and len(args) >= 2 and args[0].is_array:
            axis = kwargs.get("axis", args[2] if len(args) > 2 else None)
            return array(args[0].kind, 1 if axis is not None and axis.kind == "none" else
                         args[0].ndim)
        if func in (np.gradient, _arrays.gradient, _arrays.gradient_adjoint) and args and \
                args[0].is_array:  # (a stand-in has too few elements for a difference)
            axis = kwargs.get("axis", args[2] if len(args) > 2 else None)
            if len(args) > 1 and args[1].is_array:  # (kn.gradient's h is one spacing too)
                raise UnsupportedError(
                    "np.gradient with coordinates (an array of spacings): srcad takes one "
                    "spacing, a number (the tape takes one per axis)",
                    anno.getanno(self.stmt, "loc") if self.stmt is not None else None)
            if args[0].ndim != 1 and (axis is None or axis.kind == "none"):
                raise UnsupportedError(
                    f"np.gradient of an array of {args[0].ndim} axes without axis= (NumPy gives "
                    "a tuple, one array per axis): write np.gradient(f, h, axis=k) per axis",
                    anno.getanno(self.stmt, "loc") if self.stmt is not None else None)
            return array("f", args[0].ndim)
        if func is np.cov and args and args[0].is_array and args[0].ndim in (1, 2):
            # (a stand-in matrix has one variable, which NumPy squeezes to a number)
            return array("f", 2) if args[0].ndim == 2 else FLOAT
        if func is np.cross and len(args) == 2 and all(a.is_array for a in args):
            # (a stand-in's axes have one element: no vector of 3)
            return array("f" if "f" in (args[0].kind, args[1].kind) else "i",
                         max(args[0].ndim, args[1].ndim))
        if func is np.reshape and len(args) == 2 and args[0].is_array:
            # (a stand-in has one element: it cannot take the new shape)
            shape = args[1]
            if shape.kind == "tuple":
                return array(args[0].kind, len(shape.items))
            if shape.kind == "i" and shape.ndim == 0:
                return array(args[0].kind, 1)
        try:
            values = [c if c is not None and a.ndim == 0 and
                      a.kind in ("i", "b", "str", "tuple") else stand_in(a)
                      for a, c in zip(args, const_args, strict=True)]
            kw = {k: consts[k] if k in consts else stand_in(v) for k, v in kwargs.items()}
            result = _run_on_stand_ins(func, values, kw)
        except TypeError as exc:
            if _SIGNATURE_ERROR.search(str(exc)):  # a wrong call, whatever the values
                name = getattr(func, "__name__", repr(func))
                raise UnsupportedError(f"{name}(): {exc}", anno.getanno(self.stmt, "loc")
                                       if self.stmt is not None else None) from None
            return UNKNOWN
        except Exception as exc:
            if self.stmt is not None:  # (what the stand-ins raised: activity's message says it)
                first = (str(exc).splitlines() or [""])[0]
                anno.setanno(self.stmt, "stand_in_error", f"{type(exc).__name__}: {first}")
            return UNKNOWN
        ty = of_value(result)
        if isinstance(result, np.ndarray) and result.ndim == 0:
            ty = Ty(ty.kind)
        if func is operator.pow and ty == INT:
            return INT
        return ty


# Library functions that are not run on stand-ins to learn a result's type: they have side
# effects (random draws, files, output) or run code given to them.
_IMPURE_MODULES = ("numpy.random", "numpy.lib.npyio", "numpy.testing", "random")
_IMPURE = {print, input, open, exec, eval, compile, __import__, breakpoint, setattr, delattr,
           globals, locals, vars, getattr, iter, next, np.save, np.savez, np.savetxt, np.load,
           np.loadtxt, np.fromfile, np.genfromtxt, np.vectorize, np.frompyfunc,
           np.apply_along_axis, np.apply_over_axes, np.piecewise, np.fromfunction}


def _module_of(func):
    """The module `func` (or, a bound method's, its instance's class: a Generator's normal)
    comes from, or ""."""
    return getattr(func, "__module__", None) or \
        type(getattr(func, "__self__", None)).__module__ or ""


def has_side_effects(func):
    """Does calling the library function `func` draw random numbers, touch files or print?"""
    try:
        return func in _IMPURE or _module_of(func).startswith(_IMPURE_MODULES)
    except TypeError:  # unhashable
        return False


def draws_random(func):
    """Is `func` one of NumPy's or Python's random generators' (a Generator's method too)?"""
    return _module_of(func).startswith(("numpy.random", "random"))


def changes_state(func):
    """Does calling `func` do more than compute its result: draw random numbers, print, touch
    files, change an object (a method of a dict, a list, a file: `d.update`, `f.write`)?"""
    if func is None:
        return False
    owner = getattr(func, "__self__", None)
    return has_side_effects(func) or owner is not None and \
        not isinstance(owner, (np.ndarray, np.generic, types.ModuleType))


def safe_to_evaluate(func):
    """May type inference call `func` on stand-in values? Only for library functions without
    side effects: the transform never runs user code."""
    if not frontend.is_library(func) or isinstance(func, type) and \
            not issubclass(func, (float, int, bool, np.number, np.bool_)):
        return False
    try:
        hash(func)
    except TypeError:
        return False
    return not has_side_effects(func)


def returned_type(fn, args):
    """The type of what the Python function `fn` returns for arguments of types `args`,
    inferred from its source (UNKNOWN when that cannot be read or typed)."""
    from . import normalize
    try:
        core = normalize.normalize(frontend.parse(fn))
    except UnsupportedError:
        return UNKNOWN
    params = [a.id for a in core.tree.args.args]
    if len(args) != len(params):
        return UNKNOWN
    env = infer(core.tree, dict(zip(params, args, strict=True)), core.scope)
    return _Infer(env).expr(core.tree.body[-1].value)


_SIGNATURE_ERROR = re.compile(r"unexpected keyword|multiple values for|missing \d+ required|"
                              r"takes (from )?\d+ (to \d+ )?positional")


def _join_all(types):
    out = None
    for t in types:
        out = join(out, t)
    return out or UNKNOWN


# ---- shape classes ------------------------------------------------------------------------------

SHAPE_PRESERVING = ("zeros_like", "ones_like", "empty_like", "copy", "ascontiguousarray")


def shape_classes(tree, types, elementwise, same_shapes=None):
    """Which array variables certainly have the same shape: {name: class}, where two names with
    the same class have equal shapes whatever the inputs. `elementwise(func)` tells whether a
    callee broadcasts its arguments elementwise; `same_shapes` maps arguments to arguments of
    the same shape (a tangent to its primal). Used to skip summing a broadcast adjoint back
    to its operand's shape where no broadcasting can have happened."""
    classes = {}
    assigned = templates.assignments(tree)
    for name, ty in types.items():
        if ty.is_array and name not in assigned:
            classes[name] = name  # an argument: its own class
    for name, other in (same_shapes or {}).items():
        if name in classes and other in classes and types[name].ndim == types[other].ndim:
            classes[name] = other
    params = {a.id for a in tree.args.args}
    for _ in range(10):
        changed = False
        for name, values in assigned.items():
            if not types.get(name, UNKNOWN).is_array:
                continue
            found = {_class_of(v, classes, types, elementwise) for v in values}
            if name in params:  # (rebound: its argument is one of its values)
                found.add(name)
            new = found.pop() if len(found) == 1 else None
            # a class of its own; VARIES: its values may differ in shape, and so may slices
            # of it taken at different times
            new = new if new is not None else name + ("#" if len(found) < 1 else VARIES)
            if classes.get(name) != new:
                classes[name] = new
                changed = True
        if not changed:
            break
    return classes


def assumed_shape_classes(tree, types, elementwise, classes):
    """`classes` joined where the code would broadcast arrays of one rank elementwise (or bind
    one to a name that holds another): ({name: class}, {name: class} of the names whose class
    is assumed, {class of `classes`: the class it joined}). An assumption is what almost every
    program means, and what the generated code checks as it runs (rt.assume_shape): where it is
    wrong the caller runs the gradient generated from `classes` alone. Only names bound by
    `name = value` alone, and arguments never rebound, join; two arguments' classes never do
    (arguments of one shape at the call share a class already: api.same_shapes)."""
    assigned = templates.assignments(tree)
    params = {a.id for a in tree.args.args}
    simple = {id(node.targets[0]) for node in gast.walk(tree)
              if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name)}
    other = {n.id for n in gast.walk(tree) if isinstance(n, gast.Name) and
             isinstance(n.ctx, gast.Store) and id(n) not in simple}  # (bound otherwise too)
    varying = _bound_in_loops(tree)
    joinable = {n for n in classes if types.get(n, UNKNOWN).is_array and n not in other and
                (n in assigned) != (n in params) and  # (a rebound argument may be None)
                not any(_shape_varies(v, varying, types) or _adds_axes(v)
                        for v in assigned.get(n, ()))}
    while True:  # (nor may a name bound to such names alone: `a[None] + b[None]`)
        others = {n for n in joinable for v in assigned.get(n, ())
                  if _arrays_of(v, elementwise, classes) and
                  not _arrays_of(v, elementwise, classes) & joinable}
        if not others:
            break
        joinable -= others
    parent = {}
    arguments = {classes[p] for p in params if p in classes}  # (a root holding one holds it)

    def find(c):
        while parent.get(c, c) != c:
            c = parent[c]
        return c

    for name, values in assigned.items():
        if name not in joinable:
            continue
        rank = types[name].ndim
        for value in values:
            for a in elementwise_operands(value, elementwise):
                if isinstance(a, gast.Name) and a.id in joinable and \
                        types[a.id].ndim == rank:
                    one, two = find(classes[name]), find(classes[a.id])
                    if one != two and not (one in arguments and two in arguments):
                        parent[max(one, two)] = min(one, two)
                        if max(one, two) in arguments:
                            arguments.add(min(one, two))
    joined = {n: find(c) for n, c in classes.items()}
    sizes = {}
    for n, c in classes.items():
        sizes.setdefault(joined[n], set()).add(c)
    assumed = {n: c for n, c in joined.items() if len(sizes[c]) > 1}
    return joined, assumed, {c: find(c) for c in set(classes.values())}


def _bound_in_loops(tree):
    """The names a loop binds (its target, names assigned in its body)."""
    found = set()
    for loop in gast.walk(tree):
        if isinstance(loop, (gast.For, gast.While)):
            found.update(n.id for n in gast.walk(loop) if isinstance(n, gast.Name) and
                         isinstance(n.ctx, gast.Store))
    return found


def _shape_varies(value, varying, types):
    """Is the shape of `value` likely to change from one trip of a loop to the next: a slice
    whose bounds a loop changes (`x[k:]`), an array made with a size a loop changes? (Then
    assuming it keeps one shape would only make the gradient generated twice.)"""
    if isinstance(value, gast.Subscript):
        parts = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
        return any(n.id in varying for p in parts for n in gast.walk(p)
                   if isinstance(n, gast.Name) and
                   (isinstance(p, gast.Slice) or types.get(n.id, UNKNOWN).is_array))
    if isinstance(value, gast.Call):  # (np.zeros(k), np.concatenate((y, t)) of loop names)
        joins = isinstance(value.func, gast.Attribute) and value.func.attr in JOINING
        return any(isinstance(n, gast.Name) and n.id in varying and
                   (types.get(n.id, UNKNOWN).kind == "i" and not types[n.id].ndim or joins)
                   for a in value.args for n in gast.walk(a))
    return False


JOINING = ("concatenate", "append", "hstack", "vstack", "stack", "column_stack", "insert",
           "delete", "repeat", "tile", "pad", "resize")


def _arrays_of(value, elementwise, classes):
    """The arrays `value` is (a name), or combines elementwise."""
    return {a.id for a in elementwise_operands(value, elementwise)
            if isinstance(a, gast.Name) and a.id in classes}


def _adds_axes(value):
    """Does `value` add an axis of length 1 (`x[:, None]`, `np.sum(x, 1, keepdims=True)`), made
    to broadcast against another array? (Assuming it has the other's shape would only make the
    gradient generated twice.)"""
    if isinstance(value, gast.Subscript):
        parts = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
        return any(isinstance(p, gast.Constant) and p.value is None or
                   isinstance(p, gast.Attribute) and p.attr == "newaxis" for p in parts)
    return isinstance(value, gast.Call) and (
        any(k.arg == "keepdims" for k in value.keywords) or
        isinstance(value.func, gast.Attribute) and value.func.attr in ("expand_dims", "reshape"))


def elementwise_operands(value, elementwise):
    """The operands of `value` if it is a name, or an operation acting elementwise."""
    if isinstance(value, gast.Name):
        return [value]
    if isinstance(value, gast.BinOp) and not isinstance(value.op, gast.MatMult):
        return [value.left, value.right]
    if isinstance(value, gast.UnaryOp):
        return [value.operand]
    if isinstance(value, gast.Call) and not value.keywords and \
            elementwise(anno.getanno(value.func, "func", None)):
        return value.args
    return []


VARIES = "#varies"


def _slice_class(value, classes, types):
    """`x[a:b, c:d, ...]` with constants a >= 0 (or none) and b < 0 (or none) on each axis
    sliced has length max(n - a - |b|, 0) along it: x[1:] and x[:-1] are one class, as are
    u[2:, 1:-1] and u[1:-1, :-2]. And `x[i]`, `x[i, j]` with integer scalars: every such row
    of x has x.shape[1:] (`x[2:]`)."""
    base = value.value
    if not (isinstance(base, gast.Name) and types.get(base.id, UNKNOWN).is_array and
            classes.get(base.id) is not None and not classes[base.id].endswith(VARIES)):
        return None
    rank = types[base.id].ndim
    items = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
    if len(items) < rank and all(
            _int_const(i, None) is not None or
            isinstance(i, gast.Name) and types.get(i.id, UNKNOWN) == INT for i in items):
        return f"{classes[base.id]}[rows{len(items)}]"
    found = constant_slices(value.slice, rank)
    if found is None:
        return None
    root, outer = split_slice_class(classes[base.id], rank)
    cuts = [a + b for a, b in zip(outer, found[1], strict=True)]
    return root if not any(cuts) else f"{root}[{','.join(map(str, cuts))}]"


def constant_slices(index, rank):
    """For an index of slices `a:b` with constants a >= 0 (or none) and b < 0 (or none), into
    an array of rank `rank`: (where each axis starts, how much shorter each axis is), else
    None."""
    items = index.elts if isinstance(index, gast.Tuple) else [index]
    if len(items) > rank:
        return None
    starts, cuts = [0] * rank, [0] * rank
    for k, item in enumerate(items):
        if not isinstance(item, gast.Slice) or item.step is not None:
            return None
        start, stop = _int_const(item.lower, 0), _int_const(item.upper, 0)
        if start is None or stop is None or start < 0 or stop > 0 or \
                item.upper is not None and stop == 0:
            return None
        starts[k], cuts[k] = start, start - stop
    return tuple(starts), tuple(cuts)


def split_slice_class(cls, rank):
    """A shape class as (the class it slices, the amount cut off each axis)."""
    found = re.fullmatch(r"(.*)\[([0-9,]+)\]", cls)
    if found is None or found.group(2).count(",") != rank - 1:
        return cls, [0] * rank
    return found.group(1), [int(c) for c in found.group(2).split(",")]


def _int_const(node, default):
    if node is None:
        return default
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        value = _int_const(node.operand, None)
        return None if value is None else -value
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    return None


def _class_of(value, classes, types, elementwise):
    if isinstance(value, gast.Name):
        return classes.get(value.id)
    if isinstance(value, gast.Subscript):
        return _slice_class(value, classes, types)
    if isinstance(value, gast.BinOp) and not isinstance(value.op, gast.MatMult):
        operands = [value.left, value.right]
    elif isinstance(value, gast.UnaryOp):
        operands = [value.operand]
    elif isinstance(value, gast.Call):
        func = anno.getanno(value.func, "func")
        name = getattr(func, "__name__", "")
        if name in SHAPE_PRESERVING and value.args:
            return _class_of(value.args[0], classes, types, elementwise)
        if not elementwise(func) or value.keywords:
            return None
        operands = value.args
    else:
        return None
    found = set()
    for a in operands:
        if isinstance(a, gast.Name) and types.get(a.id, UNKNOWN).is_array:
            found.add(classes.get(a.id))
        elif not (isinstance(a, gast.Constant) or
                  isinstance(a, gast.Name) and not types.get(a.id, UNKNOWN).is_array):
            return None
    return found.pop() if len(found) == 1 and None not in found else None


def is_pair_of_index_arrays(sub, ty):
    """`A[rows, cols]`: a matrix indexed by two 1-D integer arrays (`ty`: name -> Ty)."""
    items = sub.slice.elts if isinstance(sub.slice, gast.Tuple) else ()
    return isinstance(sub.value, gast.Name) and ty(sub.value.id).ndim == 2 and \
        len(items) == 2 and all(isinstance(i, gast.Name) and ty(i.id).kind == "i" and
                                ty(i.id).ndim == 1 for i in items)
