"""Frontend: a Python function -> its gast tree, its scope, and source locations.

Input: a plain Python function (or a numba dispatcher, whose `.py_func` is read).
Output: `Parsed(tree, scope, file, first_line, fn)` where `tree` is the `gast.FunctionDef`
with every node tagged with its absolute `SourceLoc` (anno "loc"), and `scope` maps every
free name the body reads (globals, closure cells, builtins) to the object it refers to.
"""

import builtins
import inspect
import textwrap
from dataclasses import dataclass

import gast

from . import anno
from .errors import SourceLoc, SourceUnavailableError, UnsupportedError


@dataclass
class Parsed:
    fn: object
    tree: gast.FunctionDef
    scope: dict
    file: str
    first_line: int
    lines: list

    def loc(self, node):
        return anno.getanno(node, "loc")


def unwrap(fn):
    """The Python function behind a numba dispatcher or a srcad gradient object."""
    fn = getattr(fn, "py_func", fn)
    return getattr(fn, "__srcad_wrapped__", fn)


def parse(fn):
    """Read and parse `fn`'s source and resolve the free names its body reads.

    Raises:
        SourceUnavailableError: the source cannot be read (builtin, C function, REPL lambda).
        UnsupportedError: the source is not a single `def` (e.g. a lambda inside an expression).
    """
    fn = unwrap(fn)
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        lines, first_line = inspect.getsourcelines(fn)
        file = inspect.getsourcefile(fn) or inspect.getfile(fn)
    except (OSError, TypeError) as exc:
        raise SourceUnavailableError(
            f"cannot read the source of {name}: {exc} (srcad differentiates functions whose "
            "source is in a file; give it a rule with srcad.custom_vjp, or use mode='tape')"
        ) from None
    source = textwrap.dedent("".join(lines))
    try:
        module = gast.parse(source)
    except SyntaxError:
        raise UnsupportedError(
            f"cannot parse the source of {name} on its own (a lambda inside an expression?); "
            "define it with def", SourceLoc(file, first_line, lines[0] if lines else "")) from None
    tree = module.body[0] if module.body else None
    if isinstance(tree, gast.Assign) and isinstance(tree.value, gast.Lambda):
        tree = _lambda_to_def(tree, fn.__name__)
    if not isinstance(tree, gast.FunctionDef):
        raise UnsupportedError(f"{name} is not defined by a def statement",
                               SourceLoc(file, first_line, lines[0] if lines else ""))
    tree.decorator_list = []
    all_lines = _file_lines(file, lines, first_line)
    _tag_locations(tree, file, first_line, all_lines)
    scope = _resolve_free_names(fn, tree)
    return Parsed(fn, tree, scope, file, first_line, all_lines)


def _lambda_to_def(assign, name):
    lam = assign.value
    fdef = gast.FunctionDef(name=name, args=lam.args, body=[gast.Return(value=lam.body)],
                            decorator_list=[], returns=None, type_comment=None, type_params=[])
    return gast.copy_location(fdef, assign)


def _file_lines(file, lines, first_line):
    try:
        with open(file) as fh:
            return fh.read().splitlines()
    except OSError:
        return [""] * (first_line - 1) + [ln.rstrip("\n") for ln in lines]


def _tag_locations(tree, file, first_line, all_lines):
    for node in gast.walk(tree):
        lineno = getattr(node, "lineno", None)
        if lineno is not None:
            line = first_line + lineno - 1
            text = all_lines[line - 1] if 0 < line <= len(all_lines) else ""
            anno.setanno(node, "loc", SourceLoc(file, line, text))


def local_names(tree):
    """Names bound inside the function: parameters and every assignment target."""
    names = {a.id for a in tree.args.args + tree.args.kwonlyargs}
    for extra in (tree.args.vararg, tree.args.kwarg):
        if extra is not None:
            names.add(extra.id)
    for node in gast.walk(tree):
        if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del)):
            names.add(node.id)
        elif isinstance(node, gast.Lambda):
            names.update(a.id for a in node.args.args)
    return names


def _resolve_free_names(fn, tree):
    local = local_names(tree)
    closure = {}
    if fn.__closure__:
        for cell_name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
            try:
                closure[cell_name] = cell.cell_contents
            except ValueError:  # an empty cell: the captured name is assigned later
                pass
    scope = {}
    for node in gast.walk(tree):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            if node.id in local or node.id in scope:
                continue
            if node.id in closure:
                scope[node.id] = closure[node.id]
            elif node.id in fn.__globals__:
                scope[node.id] = fn.__globals__[node.id]
            elif hasattr(builtins, node.id):
                scope[node.id] = getattr(builtins, node.id)
            else:
                raise UnsupportedError(f"name '{node.id}' is not defined",
                                       anno.getanno(node, "loc"))
    return scope


def resolve(node, scope):
    """The object a Name or dotted Attribute chain of free names refers to, or None."""
    if isinstance(node, gast.Name):
        return scope.get(node.id)
    if isinstance(node, gast.Attribute):
        base = resolve(node.value, scope)
        # a global array's attributes and methods stay expressions on it, like a local's
        if base is not None and not _is_array_like(base):
            return getattr(base, node.attr, None)
    return None


def _is_array_like(obj):
    return hasattr(obj, "__array__") or isinstance(obj, (int, float, complex))
