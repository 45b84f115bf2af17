"""Codegen: a gradient FunctionDef -> readable source in a real module file -> callables.

The module's text is run as generated (with `cache=True` it is also written to the disk
cache, for Numba's cache and later processes), and registered with `linecache`, so tracebacks,
`inspect` and `pdb` show its lines. Names the function reads from the user's scope (numpy,
math, constants, helpers) are put in the module's namespace before it runs; Numba reads them
from there as compile-time constants. Rendering uses the standard library's `ast.unparse`
(astunparse renders multi-dimensional subscripts as `x[(1:, ::2)]`, which is not valid
Python, and wraps every sub-expression in parentheses).
"""

import ast
import math
import re

import gast
import numpy as np

from .. import rules
from ..errors import DerivedLoc
from ..kernels import namespace
from . import anno, templates, typeinfer
from .aliasing import is_fresh
from .cleanup import _is_runtime
from .templates import COMMENT

_COMMENT_LINE = re.compile(r"^(\s*)(\"\"\"|'''|'|\")" + COMMENT + r"(.*)\2$")


def render(fn_def):
    """Source text of `fn_def`, with srcad's comment markers turned into `#` comments."""
    _fill_empty_blocks(fn_def)
    lines = []
    for line in templates.to_source(fn_def).splitlines():
        m = _COMMENT_LINE.match(line)
        if m:
            text = ast.literal_eval(m.group(2) + COMMENT + m.group(3) + m.group(2))
            line = m.group(1) + "# " + text[len(COMMENT):]
        lines.append(line)
    return "\n".join(lines) + "\n"


def statement_locations(fn_def, source, first_line):
    """{line: DerivedLoc} of `source`, `fn_def` rendered (by `render`) and placed at line
    `first_line`: for each statement of it with a place in the user's source."""
    locations = {}

    def pair(made, parsed):
        # (a statement with no place of its own, the reverse sweep's, has that of the
        # `# line N: ...` comment before it in its block)
        commented, latest = [], None
        for s in made:
            if templates.is_comment(s):
                latest = anno.getanno(s, "loc", latest)
            else:
                commented.append((s, latest))
        if len(commented) != len(parsed):
            return
        for (stmt, latest), line in zip(commented, parsed, strict=True):
            loc = anno.getanno(stmt, "loc", latest)
            if loc is not None:
                last = line.lineno if hasattr(stmt, "body") else line.end_lineno or line.lineno
                for k in range(line.lineno, last + 1):
                    locations[k + first_line - 1] = DerivedLoc(loc.file, loc.line, loc.text)
            for field in ("body", "orelse"):
                if isinstance(getattr(stmt, field, None), list):
                    pair(getattr(stmt, field), getattr(line, field))

    pair(fn_def.body, ast.parse(source).body[0].body)
    return locations


def _formatted_messages(fn_def):
    """`raise E(f"x = {v:.3f}")` -> `raise rt.E_formatted("x = {:.3f}", v)`: the values are
    formatted outside compiled code (see runtime.py)."""
    for node in templates.walk(fn_def):
        if not (isinstance(node, gast.Raise) and len(node.exc.args) == 1 and
                isinstance(node.exc.args[0], gast.JoinedStr)):
            continue
        template, values = "", []
        for part in node.exc.args[0].values:
            if isinstance(part, gast.Constant):
                template += part.value.replace("{", "{{").replace("}", "}}")
                continue
            spec = part.format_spec
            if spec is not None and not (len(spec.values) == 1 and
                                         isinstance(spec.values[0], gast.Constant)):
                break  # (a computed format spec: left to Numba, or its fallback)
            template += "{" + ("!" + chr(part.conversion) if part.conversion >= 0 else "") + \
                (":" + spec.values[0].value if spec is not None else "") + "}"
            values.append(part.value)
        else:
            node.exc = templates.fill(f"rt.{node.exc.func.id}_formatted(t)",
                                      t=gast.Constant(value=template, kind=None))
            node.exc.args.extend(values)


def numba_compatible(fn_def, types, single=False):
    """Replace calls Numba cannot compile by ones that compute the same: a call whose rule has
    a `forward` form (`np.var(x, axis=0)` -> `kn.var_along(x, 0, 0, False)`),
    `np.matmul` -> `np.dot`, `np.array((x, y))` of arrays -> `np.stack((x, y))`, a piece of
    `np.vstack` not certainly 2-D -> `np.atleast_2d(piece)`, `np.atleast_1d(x)` ->
    `rt.at_least_1d(x)` (a number too),
    `np.float64(x)` of an array -> `rt.float64_array(x)`, `math.fmod` and `np.fmod` ->
    `rt.fmod` (Numba's of integers is wrong), builtin `abs` of an array -> `rt.absolute`,
    `rt.unbroadcast(a * b, x)` of arrays -> `rt.unbroadcast_product(a, b, x)` (no array of the
    product); `x ** -1` by
    `x ** -1.0` (inf at 0, not an exception); `x[...]` by `x[:]`; `A[rows, cols]` of two
    index arrays by `rt.take_pairs(A, rows, cols)` (Numba indexes with one array); `y[s] += v`
    of a slice by `y[s] = y[s] + v` unless v is certainly new memory."""
    def ty(name):
        return types.get(name, typeinfer.UNKNOWN)
    _IntegerPowers(types, single).visit(fn_def)
    _formatted_messages(fn_def)
    _buffer_slice_updates(fn_def, types)
    todo = [fn_def]
    while todo:
        node = todo.pop()
        _compatible_node(node, ty)
        todo.extend(gast.iter_child_nodes(node))  # (after: a replaced call's arguments are new)


def _compatible_node(node, ty):
    """One node of `numba_compatible`."""
    if isinstance(node, gast.Assign) and isinstance(node.value, gast.Subscript) and \
            typeinfer.is_pair_of_index_arrays(node.value, ty):
        sub = node.value
        node.value = templates.fill("rt.take_pairs(x, i, j)", x=sub.value,
                                    i=sub.slice.elts[0], j=sub.slice.elts[1])
    if isinstance(node, gast.Subscript) and isinstance(node.slice, gast.Constant) and \
            node.slice.value is Ellipsis:  # x[...] (numba cannot lower it on 1-D arrays)
        node.slice = gast.Slice(lower=None, upper=None, step=None)
    if isinstance(node, gast.Subscript) and _certainly_a_number(node.value, ty) and \
            all(isinstance(i, gast.Constant) and i.value is None for i in _indices(node)):
        node.value = templates.fill("rt.as_array(s)", s=node.value)  # s[None] of a number
    if not isinstance(node, gast.Call):
        return
    func = anno.getanno(node.func, "func")
    if func is np.dot and len(node.args) == 2 and not node.keywords and \
            any(_certainly_a_number(a, ty) for a in node.args):  # (Numba's takes arrays only)
        node.func = templates.fill("rt.product")
        return
    numpy_attribute = isinstance(node.func, gast.Attribute)  # (np.f, not f imported)
    if func is np.atleast_1d and len(node.args) == 1:  # (Numba's takes arrays only)
        node.func = templates.fill("rt.at_least_1d")
        return
    if func is np.matmul and numpy_attribute:  # same as np.dot for 1-D and 2-D
        node.func.attr = "dot"
        return
    if func is abs and len(node.args) == 1 and _is_array(node.args[0], ty):
        node.func = templates.fill("rt.absolute")
        return
    if func is math.fmod or func is np.fmod and len(node.args) == 2 and not node.keywords:
        node.func = templates.fill("rt.fmod")
        return
    if func is np.float64 and len(node.args) == 1 and _is_array(node.args[0], ty):
        node.func = templates.fill("rt.float64_array")  # (Numba converts only numbers with it)
        return
    if func is np.array and numpy_attribute and len(node.args) == 1 and \
            isinstance(node.args[0], gast.Tuple) and \
            any(_is_array(e, ty) for e in node.args[0].elts):
        node.func.attr = "stack"
        return
    if func is np.vstack and numpy_attribute and len(node.args) == 1 and \
            isinstance(node.args[0], gast.Tuple):  # (NumPy's takes each at least 2-D, Numba's
        node.args[0].elts = [  # stacks pieces of one rank only)
            e if isinstance(e, gast.Name) and ty(e.id).ndim >= 2 else
            templates.fill("np.atleast_2d(v)", np=node.func.value, v=e) for e in node.args[0].elts]
        return
    if _is_runtime(node, "unbroadcast") and isinstance(node.args[0], gast.BinOp) and \
            isinstance(node.args[0].op, gast.Mult) and \
            all(_is_array(side, ty) for side in (node.args[0].left, node.args[0].right)):
        product = node.args[0]  # (its sums taken without the product's array)
        node.func.attr, node.args = "unbroadcast_product", [product.left, product.right,
                                                            node.args[1]]
        return
    compiled = _forward_form(node, func, ty)
    if compiled is not None:
        node.func, node.args, node.keywords = compiled.func, compiled.args, compiled.keywords


def _is_number(node, ty):
    """Is `node` a float variable (a 0-d array argument is given to the code as one)?"""
    return isinstance(node, gast.Name) and ty(node.id).kind == "f" and not ty(node.id).ndim


def _indices(subscript):
    return subscript.slice.elts if isinstance(subscript.slice, gast.Tuple) else [subscript.slice]


def _certainly_a_number(node, ty):
    """Is `node` a numeric constant, a variable typed as a number, an element `x[i, j]` of an
    array variable?"""
    if isinstance(node, gast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, gast.Name):
        return ty(node.id).kind in ("f", "i") and ty(node.id).ndim == 0
    return isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) and \
        ty(node.value.id).is_array and not templates.is_sliced(node.slice) and \
        len(_indices(node)) == ty(node.value.id).ndim


def _is_array(node, ty):
    """Is `node` certainly an array: an array variable, a view of one (`x[1:]`, a row `X[0]`),
    a row of a matrix literal (an np.array call)?"""
    if isinstance(node, gast.Name):
        return ty(node.id).is_array
    if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name):
        return ty(node.value.id).is_array and \
            (templates.is_sliced(node.slice) or ty(node.value.id).ndim > len(_indices(node)))
    return isinstance(node, gast.Call) and anno.getanno(node.func, "func") in (np.array, np.stack)


def _buffer_slice_updates(fn_def, types):
    """The user's `y[1:] += v` (and its tangent) -> `y[1:] = y[1:] + v` where v may share y's
    memory: NumPy reads all of v before writing, Numba's in-place update does not
    (`y[1:] += y[:-1]`). A name every assignment of which is a new array (`v = a * b`), never
    assigned to y, is safe. (The reverse sweep's own updates copy what may overlap.)"""
    assigned = templates.assignments(fn_def)

    def new_memory(value, base):
        if is_fresh(value):
            return True
        return isinstance(value, gast.Name) and value.id != base and value.id in assigned and \
            all(is_fresh(v) for v in assigned[value.id]) and \
            not any(value.id in templates.names_read(v) for v in assigned.get(base, []))

    infer = typeinfer._Infer(types)
    for block in templates.blocks(fn_def.body):
        for k, stmt in enumerate(block):
            target = getattr(stmt, "target", None)
            if isinstance(stmt, gast.AugAssign) and anno.getanno(stmt, "augmented") and \
                    isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name) and \
                    templates.is_sliced(target.slice):
                old = anno.deepcopy(stmt.target)
                old.ctx = gast.Load()
                if not new_memory(stmt.value, target.value.id):
                    block[k] = anno.copy_loc(gast.Assign(
                        targets=[stmt.target],
                        value=gast.BinOp(left=old, op=stmt.op, right=stmt.value)), stmt)
                elif infer.expr(stmt.value).is_array:
                    # (Numba's in-place update does not check the shapes: NumPy's does)
                    stmt.value = templates.fill("rt.checked_update(y, v)", y=old, v=stmt.value)


class _IntegerPowers(gast.NodeTransformer):
    """`a ** b` of integers with a variable exponent -> `rt.int_power(a, b)`, which raises
    for a negative one (Numba's integer power gives 0 for 2 ** -2, where Python gives 0.25);
    of floats with an integer exponent, or of anything with a negative integer constant -> a
    float exponent (Numba's integer power raises ZeroDivisionError for 0.0 ** -1, NumPy gives
    inf)."""

    def __init__(self, types, single):
        self.types, self.single = types, single

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if not isinstance(node.op, gast.Pow):
            return node
        if isinstance(node.right, gast.Constant):  # (x ** -1 -> x ** -1.0, inf at 0)
            if type(node.right.value) is int and node.right.value < 0:
                node.right = gast.Constant(value=float(node.right.value), kind=None)
            return node
        if self._integer(node.left) and isinstance(node.right, gast.Name) and \
                self._integer(node.right):
            return templates.fill("rt.int_power(a, b)", a=node.left, b=node.right)
        if self._of_floats(node.left) and self._integer(node.right):
            node.right = templates.fill("rt.float32_exponent(k)" if self.single else
                                        "rt.float_exponent(k)", k=node.right)
        return node

    def _ty(self, name):
        return self.types.get(name, typeinfer.UNKNOWN)

    def _integer(self, node):
        if isinstance(node, gast.Constant):
            return type(node.value) is int
        if isinstance(node, gast.Subscript):  # (an element of an integer array)
            node = node.value
        return isinstance(node, gast.Name) and self._ty(node.id).kind == "i"

    def _of_floats(self, node):
        return any(isinstance(n, gast.Name) and self._ty(n.id).kind == "f" or
                   isinstance(n, gast.Constant) and type(n.value) is float
                   for n in gast.walk(node))


def _forward_form(call, func, ty):
    """The rule's `forward` form of `call`, or None when the call is Numba's own."""
    rule = rules.lookup(func)
    if rule is None or rule.forward is None or \
            rule.forward_options and len(call.args) + len(call.keywords) <= 1 and \
            not _is_number(call.args[0] if call.args else None, ty):
        return None
    try:
        bound = rule.bind_nodes(list(call.args), {k.arg: k.value for k in call.keywords})
    except TypeError:
        return None  # (the call's own error, from Numba)
    return templates.fill(rule.forward, **bound)


def _fill_empty_blocks(fn_def):
    for node in templates.walk(fn_def):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if field == "body" and isinstance(block, list) and not block:
                block.append(gast.Pass())


def module_text(sources, origin, scope_names):
    body = "\n\n".join(sources)
    header = [f"# Generated by srcad from {origin}. Do not edit: regenerated on change.",
              f"# Names from the function's scope: {', '.join(sorted(scope_names)) or 'none'}.",
              "from srcad import runtime as rt", "from srcad.kernels import namespace as kn"]
    if any(name not in namespace.EAGER for name in re.findall(r"\bkn\.(\w+)", body)):
        # (their Numba forms, registered before Numba loads cached machine code calling them)
        header.append("import srcad.special")
    return "\n".join(header) + "\n\n\n" + body


