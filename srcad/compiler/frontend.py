"""Frontend: a Python function -> its gast tree, its scope, and source locations.

Input: a plain Python function (or a numba dispatcher, whose `.py_func` is read).
Output: `Parsed(tree, scope, file, first_line, fn)` where `tree` is the `gast.FunctionDef`
with every node tagged with its absolute `SourceLoc` (anno "loc"), and `scope` maps every
free name the body reads (globals, closure cells, builtins) to the object it refers to.

The source is found through the function's code object (never through `__wrapped__`, which
a decorator sets to the function it wraps), and what is parsed is checked to be the code
that runs: the definition is compiled again and its code compared with `fn.__code__`. A file
edited after it was imported, or two lambdas on one line, can therefore never make srcad
differentiate another function than the one called.
"""

import ast
import builtins
import copy
import dis
import functools
import inspect
import io
import linecache
import re
import sys
import tokenize
import types
from dataclasses import dataclass

import gast
import numpy as np

from . import anno, valuetypes
from .templates import walk
from ..errors import SourceLoc, SourceUnavailableError, UnsupportedError, UserCodeError

# compile flags a function's code keeps from `from __future__ import ...`
_FUTURE_FLAGS = 0
for _feature in ("annotations", "generator_stop", "barry_as_FLUFL"):
    _FUTURE_FLAGS |= getattr(__import__("__future__"), _feature).compiler_flag


ABSENT = object()  # what an "absent" Ref reads while its name is not defined


class Ref:
    """Where a free name's value lives (`how`: "item" of a dict or tuple, "attr" of a module or
    object, "cell" of a closure), so that the value can be read again at every call; or where
    a name must stay undefined ("absent": a module's globals, for a builtin the code calls)."""

    __slots__ = ("container", "key", "how")

    def __init__(self, container, key, how):
        self.container, self.key, self.how = container, key, how

    def read(self):
        how = self.how
        if how == "item":
            return self.container[self.key]
        if how == "cell":
            return self.container.cell_contents
        if how == "attr":
            return getattr(self.container, self.key)
        return self.container.get(self.key, ABSENT)

    def __eq__(self, other):
        return isinstance(other, Ref) and self.container is other.container and \
            self.key == other.key and self.how == other.how

    def __hash__(self):
        return hash((id(self.container), self.key, self.how))

    def __repr__(self):
        return f"Ref({type(self.container).__name__}, {self.key!r}, {self.how})"


@dataclass
class Parsed:
    fn: object
    tree: gast.FunctionDef
    scope: dict  # free name -> the object it refers to now
    refs: dict  # free name -> Ref to read it again (builtins have none)
    file: str
    first_line: int
    lines: list

    def loc(self, node):
        return anno.getanno(node, "loc")


def names_read(code):
    """The names `code` (and the functions defined in it) may read as globals or as
    attributes (`cfg.K`: a module's attribute)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= names_read(const)
    return names


_GLOBAL_ACCESS = {"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"}


def globals_read(code):
    """The global names `code` (and the functions defined in it) may read (`np.exp` reads
    `np`, not a global `exp`)."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in _GLOBAL_ACCESS}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= globals_read(const)
    return names


def unwrap(fn):
    """The Python function behind a numba dispatcher; anything else is returned as it is
    (a decorator's wrapper is differentiated as the wrapper, never as what it wraps)."""
    if type(fn).__module__.startswith("numba.") and hasattr(fn, "py_func"):
        return fn.py_func
    return fn


_COMPILED_DATA = (int, float, complex, np.ndarray)  # (what Numba freezes of a global it reads)


def changed_since_compiled(fn):
    """For a numba dispatcher whose compiled code holds a global or closure number, or array,
    that has changed since Numba compiled it (rebound, or a number assigned anew): why it
    cannot be differentiated; else None. srcad differentiates the Python source, which reads
    the value of now; the compiled helper that runs keeps the old one."""
    if not (type(fn).__module__.startswith("numba.") and hasattr(fn, "overloads")):
        return None
    from numba.core import ir
    py = fn.py_func
    cells = dict(zip(py.__code__.co_freevars, py.__closure__ or (), strict=True))
    for annotation in _cached_annotations(fn):
        why = _changed_since_cached(py, cells, annotation)
        if why is not None:
            return why
    for result in list(fn.overloads.values()):
        blocks = getattr(result.type_annotation, "blocks", None) or {}
        for block in blocks.values():
            for stmt in block.body:
                try:
                    value = getattr(stmt, "value", None)
                except KeyError:  # (a parallel loop's statement: ir.Expr raises KeyError)
                    continue
                if not isinstance(value, (ir.Global, ir.FreeVar)) or \
                        not isinstance(value.value, _COMPILED_DATA):
                    continue
                if isinstance(value, ir.Global):
                    now = py.__globals__.get(value.name, value.value)
                else:
                    cell = cells.get(value.name)
                    now = value.value if cell is None else cell.cell_contents
                same = now is value.value if isinstance(value.value, np.ndarray) else \
                    type(now) is type(value.value) and now == value.value
                if not same:
                    return _stale(py, "", value.name, _shown(value.value),
                                  _shown(now, value.value))
    return None


def _stale(py, where, name, was, now):
    """Why numba function `py`, compiled (`where`: in its disk cache) when global `name` was
    `was`, cannot be differentiated now that it is `now`."""
    return (f"the numba function '{py.__name__}' was compiled{where} when '{name}' was {was} "
            f"(Numba keeps that value in its machine code); it is {now} now, and srcad "
            "differentiates the source, which reads that (pass it as an argument, or recompile "
            f"it: {py.__name__}.recompile())")


def _cached_annotations(fn):
    """The text of the typed code of what `fn` has loaded from Numba's disk cache (cache=True)
    and of what its disk cache holds for it, which a later call loads."""
    loaded = [r.type_annotation for r in list(fn.overloads.values())
              if isinstance(r.type_annotation, str)]
    cache_file = getattr(getattr(fn, "_cache", None), "_cache_file", None)
    if cache_file is None:
        return loaded
    try:  # (Numba's own reading of its cache, without building the code)
        return loaded + [cache_file._load_data(name)[6]
                         for name in cache_file._load_index().values()]
    except Exception:  # (another Numba's layout, or an entry being written: Numba rebuilds it)
        return loaded


_BAKED = re.compile(r"= (?:global|freevar)\((\w+): (.*?)\)\s+::", re.DOTALL)


def _changed_since_cached(py, cells, annotation):
    """`changed_since_compiled` for machine code in Numba's disk cache (cache=True), maybe
    written by another process: of its typed code only the text is kept, where a number it read
    appears as `global(NAME: VALUE)`, compared by its text (exact for a number; an array's is
    rounded to NumPy's print precision, and cut short when long: refused then)."""
    for name, text in _BAKED.findall(annotation):
        cell = cells.get(name)
        now = cell.cell_contents if cell is not None else py.__globals__.get(name)
        if isinstance(now, np.ndarray) and ("..." in text or str(now) != text):
            return (f"the numba function '{py.__name__}' (cache=True) has machine code in "
                    f"Numba's disk cache that holds the array '{name}' as it was when compiled, "
                    "printed there cut short or other than the array of now, which its source "
                    f"reads (pass it as an argument, or recompile it: {py.__name__}.recompile())")
        if isinstance(now, (int, float, complex)) and str(now) != text:
            return _stale(py, " into Numba's disk cache (cache=True)", name, text, _shown(now))
    return None


def compiled_data(fn):
    """(Ref, value) of each global or closure number or array a numba dispatcher's code reads,
    which Numba keeps in its machine code ([] for anything else)."""
    if not (type(fn).__module__.startswith("numba.") and hasattr(fn, "py_func")):
        return []
    py = fn.py_func
    refs = [(Ref(py.__globals__, name, "item"), py.__globals__[name])
            for name in globals_read(py.__code__) if name in py.__globals__]
    refs += [(Ref(cell, None, "cell"), cell.cell_contents)
             for cell in py.__closure__ or () if cell.cell_contents is not None]
    return [(ref, value) for ref, value in refs if isinstance(value, _COMPILED_DATA)]


def _shown(value, before=None):
    if isinstance(value, np.ndarray):
        return f"{'another' if isinstance(before, np.ndarray) else 'an'} array of shape " \
            f"{value.shape}"
    return repr(value)


def _undecodable(file):
    """The lines of a file linecache could not decode (bytes that are not UTF-8 in a comment,
    which Python itself reads past), with such bytes replaced; [] if there is no such file."""
    try:
        with open(file, "rb") as handle:
            data = handle.read()
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding, errors="replace").splitlines(keepends=True)
    except (OSError, SyntaxError, LookupError):
        return []


def parse(fn):
    """Read and parse `fn`'s source and resolve the free names its body reads.

    Raises:
        SourceUnavailableError: the source cannot be read (builtin, C function, REPL lambda),
            or the source in the file is not the code that runs (edited since imported).
        UnsupportedError: the source is not a function definition srcad can read.
    """
    fn = unwrap(fn)
    name = getattr(fn, "__qualname__", None) or repr(fn)
    code = getattr(fn, "__code__", None)
    if code is None or getattr(code, "co_name", None) is None:
        raise SourceUnavailableError(f"{name} is not a Python function (srcad differentiates "
                                     "functions defined with def or lambda)")
    file = code.co_filename
    linecache.checkcache(file)
    lines = linecache.getlines(file, getattr(fn, "__globals__", None)) or _undecodable(file)
    if not lines:
        raise SourceUnavailableError(
            f"cannot read the source of {name} ({printable(file)} is not available) (srcad "
            "differentiates functions whose source is in a file; give it a rule with "
            "srcad.custom_vjp, or use mode='tape')")
    loc = SourceLoc(file, code.co_firstlineno, _line(lines, code.co_firstlineno))
    try:
        module = _module_index(file, "".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise SourceUnavailableError(f"cannot parse the file holding {name}", loc) from None
    if "__class__" in code.co_freevars:
        raise UnsupportedError(f"{name} calls super() or reads __class__, which srcad's source "
                               "transform does not follow (call the method of the class by "
                               "name, or use mode='tape')", loc)
    node, fn_name = _matching_definition(module, code, loc, name)
    tree = gast.ast_to_gast(node)
    if isinstance(tree, gast.Lambda):
        tree = _lambda_to_def(tree, fn_name)
    tree.decorator_list = []
    # every parameter becomes a plain one: calls are bound (defaults included) before the
    # generated code runs, so the gradient takes them all positionally, in this order
    args = tree.args
    args.args = args.posonlyargs + args.args + args.kwonlyargs
    args.posonlyargs, args.kwonlyargs, args.kw_defaults, args.defaults = [], [], [], []
    _tag_locations(tree, file, lines)
    _check_assignment_expressions(tree)
    bound = _bound_instance(fn, tree, name, loc)
    scope, refs = _resolve_free_names(fn, tree, bound)
    return Parsed(fn, tree, scope, refs, file, tree.lineno, lines)


def _bound_instance(fn, tree, name, loc):
    """For a bound method (`obj.loss`, a classmethod), its first parameter leaves the
    parameters and becomes a free name reading `__self__`: its attributes are then read at
    every call like a module's (`self.scale`), and calls bind the parameters the method's
    signature shows."""
    if not isinstance(fn, types.MethodType):
        return {}
    if not tree.args.args:
        raise UnsupportedError(f"{name} is a bound method without a first parameter to "
                               "take its instance", loc)
    first = tree.args.args.pop(0).id
    return {first: Ref(fn, "__self__", "attr")}


def is_derivative(obj):
    """Is `obj` a srcad derivative (srcad.grad(f), srcad.hvp(f), ...)? Asked of its class: an
    object's permissive `__getattr__` must not make it one (nor run)."""
    return getattr(type(obj), "__srcad_gradient__", False)


def is_custom_vjp(obj):
    """Is `obj` a srcad.custom_vjp function (asked of its class, as is_derivative)?"""
    return hasattr(type(obj), "__srcad_vjp__")


def python_call(obj):
    """For an object whose class has a Python `__call__`, that method bound to it; else
    None."""
    method = inspect.getattr_static(type(obj), "__call__", None)
    return types.MethodType(method, obj) if isinstance(method, types.FunctionType) else None


def shadows_builtin(name, value):
    """Whether `name`, bound to `value`, hides the builtin of that name (a module's own `len`):
    generated code calls len, range and max by name."""
    return hasattr(builtins, name) and getattr(builtins, name) is not value


def same_object(a, b):
    """`a is b`, where reading an attribute that holds a method makes a new bound method at
    every read (`obj.helper`, `sys.stdout.write`): those are the same when their function (its
    name, for a builtin's) and instance are; and a dict is the same as a copy `b` taken earlier
    (`snapshot`) while it holds the same objects (a function's `__kwdefaults__` is changed in
    place)."""
    return a is b or type(a) is types.MethodType and type(b) is types.MethodType and \
        a.__func__ is b.__func__ and a.__self__ is b.__self__ or \
        type(a) is types.BuiltinMethodType and type(b) is types.BuiltinMethodType and \
        a.__self__ is b.__self__ and a.__name__ == b.__name__ or \
        type(b) is _Snapshot and type(a) is dict and a.keys() == b.keys() and \
        all(a[k] is b[k] for k in b)


class _Snapshot(dict):
    """A dict's items when it was read (same_object compares the dict with them)."""


def snapshot(value):
    """What a check of `value` compares with later: a copy of a dict, else `value` itself."""
    return _Snapshot(value) if type(value) is dict else value


@dataclass
class _ModuleIndex:
    parents: dict  # node -> the node it is a child of
    definitions: dict  # (name, line of the def or a decorator) -> [def or lambda nodes]
    imports: list


@functools.lru_cache(maxsize=8)
def _module_index(file, text):
    """The definitions of a module's text, parsed once: a file holding many differentiated
    functions (a test corpus, a user's model file) was parsed and walked again for each. (A few
    texts are kept: an edited file is a new text, and a large file's tree is tens of MB.)"""
    module = ast.parse(text, filename=file)
    parents, definitions = {}, {}
    for node in ast.walk(module):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for line in {node.lineno} | {d.lineno for d in node.decorator_list}:
                definitions.setdefault((node.name, line), []).append(node)
        elif isinstance(node, ast.Lambda):
            definitions.setdefault(("<lambda>", node.lineno), []).append(node)
    return _ModuleIndex(parents, definitions, _module_imports(module))


def _matching_definition(module, code, loc, name):
    """The def or lambda in `module` (a _ModuleIndex) whose compiled code is `code`, and a name
    for it."""
    for node in module.definitions.get((code.co_name, code.co_firstlineno), []):
        owner = module.parents.get(node)
        if isinstance(node, ast.Lambda):
            bound = owner.targets[0].id if isinstance(owner, ast.Assign) and \
                len(owner.targets) == 1 and isinstance(owner.targets[0], ast.Name) else \
                "lambda"
        else:
            bound = node.name
        if _compiles_to(node, owner if isinstance(owner, ast.ClassDef) else None, code,
                        module.imports):
            if isinstance(node, ast.AsyncFunctionDef):
                raise UserCodeError(f"{loc}: {name} is an async function: calling it returns "
                                    "a coroutine, not a number or an array")
            return node, bound
    raise SourceUnavailableError(
        f"the source of {name} in {printable(loc.file)} is not the code that runs (was the "
        "file edited after it was imported? reload the module)", loc)


def _module_imports(module):
    """The import statements at module level (the compiler treats an attribute of an imported
    module differently: `math.sqrt(x)` is not compiled as a method call)."""
    found, todo = [], list(module.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo.extend(n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt))
    return sorted(found, key=lambda n: not (isinstance(n, ast.ImportFrom) and
                                             n.module == "__future__"))


def _compiles_to(node, klass, code, imports):
    """Does compiling `node` (a def or lambda; inside a class named like `klass`, for name
    mangling) with `code`'s free variables in an enclosing function, after the module's
    imports, give `code`?"""
    node = _without_decorators(node)
    inner = node if not isinstance(node, ast.Lambda) else ast.Expr(value=node)
    if klass is not None:
        inner = ast.ClassDef(name=klass.name, bases=[], keywords=[], body=[inner],
                             decorator_list=[])
    body = [inner]
    if code.co_freevars:
        cells = [ast.Assign(targets=[ast.Name(id=v, ctx=ast.Store())],
                            value=ast.Constant(value=None)) for v in code.co_freevars]
        body = [ast.FunctionDef(name="__srcad_outer__", args=_no_args(), body=cells + body,
                                decorator_list=[], returns=None)]
    module = ast.fix_missing_locations(ast.Module(body=imports + body, type_ignores=[]))
    if "@pytest_ar" in code.co_names:  # (a function in a test module: pytest rewrote its asserts)
        module = _rewritten_as_pytest_does(module, code.co_filename)
    try:
        compiled = compile(module, code.co_filename, "exec",
                           flags=code.co_flags & _FUTURE_FLAGS, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    # the node's own code: not one nested in it (`lambda k: (lambda x: x ** k)`), nor that of
    # a lambda among its defaults (compiled before it, so the node's is the last)
    depth = 1 + bool(code.co_freevars) + (klass is not None)
    own = [c for c in _code_objects(compiled, depth) if c.co_name == code.co_name]
    return bool(own) and same_code(own[-1], code)


def _rewritten_as_pytest_does(module, filename):
    from _pytest.assertion.rewrite import rewrite_asserts
    try:
        with open(filename, "rb") as file:
            source = file.read()
    except OSError:
        return module
    module = copy.deepcopy(module)  # (rewrite_asserts edits it: the def's nodes too)
    rewrite_asserts(module, source)
    ast.fix_missing_locations(module)
    for node in ast.walk(module):  # (pytest's new nodes may end before they start)
        if getattr(node, "end_lineno", None) is not None and \
                (node.end_lineno, node.end_col_offset) < (node.lineno, node.col_offset):
            node.end_lineno, node.end_col_offset = node.lineno, node.col_offset
    return module


def _without_decorators(node):
    if isinstance(node, ast.Lambda):
        return node
    copy = type(node)(**{f: getattr(node, f, None) for f in node._fields})
    copy.decorator_list = []
    return ast.copy_location(copy, node)


def _no_args():
    return ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                         kwarg=None, defaults=[])


def _code_objects(code, depth):
    """The code objects `depth` levels inside `code`."""
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            if depth == 1:
                yield const
            else:
                yield from _code_objects(const, depth - 1)


_COMPARED = ("co_code", "co_names", "co_varnames", "co_freevars", "co_cellvars", "co_argcount",
             "co_posonlyargcount", "co_kwonlyargcount")
_KIND_FLAGS = 0x04 | 0x08 | 0x20 | 0x80 | 0x100 | 0x200  # varargs, varkw, generator, coroutine


def same_code(a, b):
    """Do code objects `a` and `b` run the same bytecode on the same names and constants
    (wherever their lines are)?"""
    if any(getattr(a, f) != getattr(b, f) for f in _COMPARED) or \
            (a.co_flags ^ b.co_flags) & _KIND_FLAGS or len(a.co_consts) != len(b.co_consts):
        return False
    for x, y in zip(a.co_consts, b.co_consts, strict=True):
        if hasattr(x, "co_code") or hasattr(y, "co_code"):
            if not (hasattr(x, "co_code") and hasattr(y, "co_code") and same_code(x, y)):
                return False
        elif type(x) is not type(y) or repr(x) != repr(y):
            return False
    return True


def _lambda_to_def(lam, name):
    ret = gast.copy_location(gast.Return(value=lam.body), lam)
    fdef = gast.FunctionDef(name=name, args=lam.args, body=[ret], decorator_list=[],
                            returns=None, type_comment=None, type_params=[])
    return gast.copy_location(fdef, lam)


def _line(lines, number):
    return lines[number - 1].rstrip("\r\n") if 0 < number <= len(lines) else ""


def printable(text):
    """`text` with every character that could end a line or a comment escaped."""
    return re.sub(r"[^\x20-\x7e\u00a0-\u2027\u202a-\uffff]",
                  lambda m: m.group().encode("unicode_escape").decode(), str(text))


# generated code srcad transforms again (its file name) -> {its line: the user's DerivedLoc}
_GENERATED_LOCATIONS = {}


def locate_generated(file, locations):
    """Statements of the generated code in `file` came from the user's at `locations`."""
    _GENERATED_LOCATIONS[file] = locations


def _tag_locations(tree, file, lines):
    derived = _GENERATED_LOCATIONS.get(file, {})
    for node in gast.walk(tree):
        lineno = getattr(node, "lineno", None)
        if lineno is not None:
            anno.setanno(node, "loc", derived.get(lineno) or
                         SourceLoc(file, lineno, _line(lines, lineno)))


def _check_assignment_expressions(tree):
    """`(d := e)` is lowered to an assignment where it stands: refused inside a comprehension
    (whose items are computed in another order than written) and where its statement reads d
    before it (`a + (a := 2)`: the read would see the new value)."""
    for stmt in walk(tree):
        if not isinstance(stmt, gast.stmt):
            continue
        expressions = [v for _, v in gast.iter_fields(stmt) if isinstance(v, gast.expr)] + \
            [e for _, v in gast.iter_fields(stmt) if isinstance(v, list) for e in v
             if isinstance(e, gast.expr)]
        nodes = list(walk(expressions))
        targets = list(walk(getattr(stmt, "targets", [])))  # (computed after the value)
        # (`s += e` reads s before e)
        updated = stmt.target.id if isinstance(stmt, gast.AugAssign) and isinstance(
            stmt.target, gast.Name) else None
        for named in (n for n in nodes if isinstance(n, gast.NamedExpr)):
            where, name = (named.lineno, named.col_offset), named.target.id
            if named in targets:
                raise UnsupportedError(f"'{name} :=' in an assignment's target",
                                       anno.getanno(named, "loc"))
            if any(named in walk(c) for c in nodes if isinstance(
                    c, (gast.ListComp, gast.SetComp, gast.DictComp, gast.GeneratorExp))):
                raise UnsupportedError(f"'{name} :=' inside a comprehension",
                                       anno.getanno(named, "loc"))
            if name == updated or any(
                    isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Load)
                    and (n.lineno, n.col_offset) < where for n in nodes):
                raise UnsupportedError(f"'{name}' read in the statement before '{name} :=' "
                                       "assigns it", anno.getanno(named, "loc"))


def local_names(tree):
    """Names bound inside the function: parameters, assignment targets, and the functions and
    classes it defines."""
    names = {a.id for a in tree.args.args + tree.args.kwonlyargs + tree.args.posonlyargs}
    for extra in (tree.args.vararg, tree.args.kwarg):
        if extra is not None:
            names.add(extra.id)
    for node in walk(tree):
        if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del)):
            names.add(node.id)
        elif isinstance(node, (gast.Lambda, gast.FunctionDef, gast.AsyncFunctionDef)) and \
                node is not tree:
            params = node.args
            names.update(a.id for a in params.posonlyargs + params.args + params.kwonlyargs)
            names.update(a.id for a in (params.vararg, params.kwarg) if a is not None)
            if not isinstance(node, gast.Lambda):
                names.add(node.name)
        elif isinstance(node, gast.ClassDef):  # (refused where it is, never a global's name)
            names.add(node.name)
    return names


def _resolve_free_names(fn, tree, bound):
    """{name: object} and {name: Ref} for every free name the body reads (`bound`: {name: Ref}
    of names the call binds that are not parameters)."""
    local = local_names(tree)
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True))
    scope, refs = {}, {}
    for node in gast.walk(tree):
        if isinstance(node, (gast.Import, gast.ImportFrom)):
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "")
                              for a in node.names)
            raise UnsupportedError(f"an import inside the function ({names}): srcad reads the "
                                   "modules a function uses from its globals; import at the "
                                   "top of the module", anno.getanno(node, "loc"))
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            if node.id in local or node.id in scope:
                continue
            if node.id in bound:
                ref = bound[node.id]
            elif node.id in cells:
                ref = Ref(cells[node.id], node.id, "cell")
            elif node.id in fn.__globals__:
                ref = Ref(fn.__globals__, node.id, "item")
            elif hasattr(builtins, node.id):
                scope[node.id] = getattr(builtins, node.id)
                continue
            else:
                raise UnsupportedError(f"name '{node.id}' is not defined",
                                       anno.getanno(node, "loc"))
            try:
                scope[node.id], refs[node.id] = ref.read(), ref
            except ValueError:  # an empty cell: the captured name is assigned later
                raise UnsupportedError(f"'{node.id}' is not assigned yet (a closure variable "
                                       "assigned after this function was defined)",
                                       anno.getanno(node, "loc")) from None
    return scope, refs


LIBRARIES = ("numpy", "scipy", "numba", "srcad", "math", "builtins", "operator", "_operator",
             "functools")


def is_library(obj):
    """Is `obj` (a module, function or other object) part of NumPy, SciPy, the standard
    library's math/operator/builtins, numba or srcad itself?"""
    owner = obj.__self__ if isinstance(obj, types.BuiltinMethodType) else None
    if isinstance(obj, np.ufunc) or isinstance(owner, np.ufunc):
        ufunc = obj if isinstance(obj, np.ufunc) else owner  # (np.add.at: a method)
        return any(getattr(namespace, ufunc.__name__, None) is ufunc
                   for namespace in _ufunc_namespaces())
    if isinstance(obj, types.ModuleType):
        module = obj.__name__
    elif isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType,
                          types.MethodType)):
        module = getattr(obj, "__module__", None) or ""
    else:  # (an instance: its class's, never asking the instance's __getattr__)
        module = getattr(type(obj), "__module__", None) or ""
    return isinstance(module, str) and module.split(".")[0] in LIBRARIES


def _ufunc_namespaces():
    """Where library ufuncs live (np.frompyfunc makes ufuncs that run user code)."""
    spaces = [np]
    special = sys.modules.get("scipy.special")
    return spaces + [special] if special is not None else spaces


def is_data(value):
    """Numbers, arrays and tuples of them: values the generated code receives as arguments at
    every call (never frozen into the compiled code)."""
    kind = valuetypes.of_value(value).kind
    if kind == "tuple":
        return all(is_data(v) for v in value)
    return kind in ("f", "i", "b")


def resolve(node, scope):
    """The object a Name or dotted Attribute chain of free names refers to, or None."""
    if isinstance(node, gast.Name):
        return scope.get(node.id)
    if isinstance(node, gast.Attribute):
        base = resolve(node.value, scope)
        # a global array's attributes and methods stay expressions on it, like a local's
        if base is not None and not _is_array_like(base):
            return read_attribute(base, node)
    return None


def _is_array_like(obj):
    return hasattr(type(obj), "__array__") or isinstance(obj, (int, float, complex))


# what reading an attribute finds on a class that runs no code of the user's
_PLAIN_DESCRIPTORS = (types.FunctionType, staticmethod, classmethod, types.MemberDescriptorType,
                      types.GetSetDescriptorType, types.MethodDescriptorType,
                      types.WrapperDescriptorType, types.BuiltinFunctionType,
                      types.ClassMethodDescriptorType, types.MethodWrapperType)
_PLAIN_GETATTRIBUTE = (object.__getattribute__, type.__getattribute__,
                       types.ModuleType.__getattribute__)
_MISSING = object()


def read_attribute(base, node):
    """`base.attr` for the Attribute `node`, or None where there is no such attribute, read
    without running the user's code (the transform runs none): a property, another descriptor
    of the user's or a `__getattribute__` is refused (the tape runs them), and `__getattr__`
    is not asked."""
    if is_library(base):
        return getattr(base, node.attr, None)
    if type(base).__getattribute__ not in _PLAIN_GETATTRIBUTE:
        raise UnsupportedError(f"'{printable_node(node)}': {type(base).__name__} defines "
                               "__getattribute__, which srcad's transform would run",
                               anno.getanno(node, "loc"))
    found = inspect.getattr_static(base, node.attr, _MISSING)
    if found is _MISSING:
        return None
    if hasattr(type(found), "__get__") and not isinstance(found, _PLAIN_DESCRIPTORS):
        raise UnsupportedError(
            f"'{printable_node(node)}' is a {type(found).__name__} of "
            f"{getattr(base, '__name__', None) or type(base).__name__}: reading it runs code, "
            "which srcad's transform does not (read it into an argument, or use mode='tape')",
            anno.getanno(node, "loc"))
    return getattr(base, node.attr)


def printable_node(node):
    return ast.unparse(gast.gast_to_ast(node)) if isinstance(node, gast.AST) else str(node)
