"""Precision: a gradient for float32 arguments computes in float32, as NumPy would.

Input: the gradient FunctionDef after cleanup, for a call whose float arguments are all float32
(or Python floats). Output: the same function with its float constants written `np.float32(c)`,
except in allocations, and its integer arrays meeting floats in arithmetic converted to
float64.

NumPy treats a Python float as weak (`x32 * 2.0` is float32) but Numba types it as float64,
which would promote the whole computation; a float32 constant keeps it in float32 in both.
Arrays allocated without a dtype (`np.zeros(n)`, `np.full(n, 0.5)`) stay float64 and promote
what they meet, as in NumPy; so do the buffers loops save scalars into (a restore is exact),
conversions to float64 and global float64 arrays; a constant meeting them stays a Python float,
exact as NumPy's. Python numbers (`float(v)`, `v.item()`, `math.sqrt(v)`, a global float, a
Python int argument, what is computed from these alone) are computed in float64 and rounded to
float32 where they meet a float32 value, as NumPy's weak scalars are; `math`'s functions take
their float32 arguments as float64, as Python's do (Numba's would compute in float32). NumPy
computes a float32 array times an int64 array in float64 (times an int8 or a boolean one in
float32), Numba all in float32: the integer array is converted first to NumPy's type. NumPy's
linear algebra (np.linalg.solve, inv, det, eigh, svd, ...) computes float32 arrays in float64
and rounds the results to float32, Numba's in float32: their arguments are converted. The empty
array a loop's first save of a float array reads, and the rows it saves such arrays into, are
float32 (if the array is float64 after all, Numba cannot unify the two, or refuses to save it
in float32, and the generated Python runs instead).
"""

import gast
import numpy as np

from . import anno, templates

# NumPy functions whose float32 and integer array operands meet as in arithmetic
MIXING = {name for name in dir(np) if isinstance(getattr(np, name), np.ufunc) and
          getattr(np, name).nin == 2} | {"where"}
# NumPy's linear algebra computes float32 arrays in float64 (rounding the results), Numba's
# in float32: the functions of np.linalg, and srcad's primitives for one result of several
LAPACK = {"inv", "solve", "det", "pinv", "cholesky", "eigvalsh"}
LAPACK_PARTS = {"eigenvalues", "eigenvectors", "singular_values", "logabsdet", "det_sign",
                "qr_q", "qr_r"}
ALLOCATIONS = {"full", "array", "asarray", "arange", "linspace", "ones", "zeros", "empty",
               "full_like", "eye", "identity"}


def single(fn_def, np_name, types, given=None):
    """Rewrite `fn_def` (in place, its body only: defaults stay) to compute in float32;
    `types` maps its variables to their types (typeinfer.Ty); `given` its parameters (and the
    globals it reads) that hold Python numbers ("python": a Python int argument, a global float)
    or float64 values (a global float64 array): "float64"."""
    widths = _Widths(fn_def, np_name, types, given or {})
    for stmt in fn_def.body:
        _Single(np_name, types, widths).visit(stmt)
    return fn_def


class _Widths:
    """Which expressions of a float32 call are float64: `of(expr)` is "float64" (a value that
    makes float64 values, `_makes_float64`, or reads one), "python" (a Python number: `float(v)`,
    `math.sqrt(v)`, a constant, what is computed from these alone) or None (float32, integer or
    not known). NumPy takes a Python number beside a float32 value as float32 (`math.cos(x) * x`
    is float32), Numba as float64. `wide`: the variables that may hold a float64 value or a
    Python number, `python` those of them that only ever hold Python numbers."""

    def __init__(self, fn_def, np_name, types, given):
        self.np_name, self.types = np_name, types
        assigned = [(node.targets[0], node.value) for node in gast.walk(fn_def)
                    if isinstance(node, gast.Assign)]
        # (a name bound otherwise, `for v in ...`, `v += ...`, may hold anything)
        bound_otherwise = {t.id for node in gast.walk(fn_def) if isinstance(
            node, (gast.For, gast.AugAssign, gast.comprehension, gast.AnnAssign)) for t in
            gast.walk(node.target) if isinstance(t, gast.Name)}
        bound = bound_otherwise | {t.id for target, _ in assigned for t in gast.walk(target)
                                   if isinstance(t, gast.Name)}
        given = {name: width for name, width in given.items() if name not in bound}
        self.wide = set(given)
        self.python = given_python = {name for name, width in given.items() if width == "python"}
        while True:  # (the Python numbers: every assignment one, given the others)
            python = given_python | \
                {t.id for t, _ in assigned if isinstance(t, gast.Name)} - bound_otherwise
            python -= {t.id for target, value in assigned for t in gast.walk(target)
                       if isinstance(t, gast.Name) and
                       not (isinstance(target, gast.Name) and self.of(value) == "python")}
            found = {t.id for target, value in assigned if self.of(value) is not None
                     for t in gast.walk(target) if isinstance(t, gast.Name)}
            if found <= self.wide and python == self.python:
                return
            self.wide |= found
            self.python = python

    def of(self, expr):
        if isinstance(expr, gast.Name):
            return "python" if expr.id in self.python else \
                "float64" if expr.id in self.wide else None
        if isinstance(expr, gast.Constant):
            return "python" if type(expr.value) in (float, int) else None
        if _is_python_float(expr):
            return "python"
        if isinstance(expr, gast.UnaryOp):
            return self.of(expr.operand)
        if isinstance(expr, gast.BinOp):
            left, right = self.of(expr.left), self.of(expr.right)
            # (a Python number beside a float32 value is float32, beside an integer one not
            # a float64)
            return left if left == right else "float64" if "float64" in (left, right) else None
        return "float64" if any(
            isinstance(n, gast.Name) and n.id in self.wide or _makes_float64(n, self.np_name)
            for n in gast.walk(expr)) else None


def _is_python_float(node):
    return isinstance(node, gast.Call) and (
        isinstance(node.func, gast.Name) and node.func.id == "float" or
        isinstance(node.func, gast.Attribute) and isinstance(node.func.value, gast.Name) and
        (node.func.value.id == "math" or node.func.value.id == "rt" and node.func.attr == "item"))


def _is_float(node, types):
    """Whether `node` is known to be a float (scalar or array)."""
    if isinstance(node, gast.Name):
        return getattr(types.get(node.id), "kind", None) == "f"
    if isinstance(node, gast.Constant):
        return type(node.value) is float
    if isinstance(node, gast.BinOp):
        return _is_float(node.left, types) or _is_float(node.right, types)
    if isinstance(node, gast.UnaryOp):
        return _is_float(node.operand, types)
    if isinstance(node, gast.Subscript):
        return _is_float(node.value, types)
    return _is_float32_call(node)


def _is_float32_call(node):
    return isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
        node.func.attr == "float32"


def _makes_float64(node, np_name):
    """An allocation without a dtype, a conversion to float64 (`np.asarray(x, dtype=
    np.float64)`, `np.float64(v)`), or a Python float (`float(v)`, `math.sqrt(v)`)."""
    if not isinstance(node, gast.Call):
        return False
    func = node.func
    return _is_float64_allocation(node, np_name) or \
        any(k.arg == "dtype" and _is_float64_type(k.value, np_name) for k in node.keywords) or \
        _is_float64_type(func, np_name) or isinstance(func, gast.Attribute) and \
        isinstance(func.value, gast.Name) and func.value.id == "math"


def _is_float64_type(node, np_name):
    return isinstance(node, gast.Name) and node.id == "float" or \
        isinstance(node, gast.Attribute) and node.attr in ("float64", "double") and \
        isinstance(node.value, gast.Name) and node.value.id == np_name


_DTYPE_POSITION = {"zeros": 1, "ones": 1, "empty": 1, "full": 2, "identity": 1, "eye": 3,
                   "arange": 3, "linspace": 5}


def _is_float64_allocation(node, np_name):
    return _is_numpy_call(node, np_name, _DTYPE_POSITION) and \
        len(node.args) <= _DTYPE_POSITION[node.func.attr] and \
        not any(k.arg == "dtype" for k in node.keywords) and not _is_placeholder(node)


def _is_numpy_call(node, np_name, names):
    return isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
        node.func.attr in names and isinstance(node.func.value, gast.Name) and \
        node.func.value.id == np_name


class _Single(gast.NodeTransformer):
    def __init__(self, np_name, types, widths):
        self.np_name, self.types, self.widths = np_name, types, widths
        self.exact = set()  # (constants meeting float64 values: NumPy keeps them float64)

    def visit_Constant(self, node):
        if type(node.value) is not float or id(node) in self.exact:
            return node
        return gast.Call(func=self.float32(), args=[node], keywords=[])

    def keep_exact_beside_float64(self, operands):
        if any(self.widths.of(e) is not None for e in operands
               if not isinstance(e, gast.Constant)):
            self.exact.update(id(e) for e in operands if isinstance(e, gast.Constant))

    def visit_Compare(self, node):
        self.keep_exact_beside_float64([node.left, *node.comparators])
        return self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.keep_exact_beside_float64([node.target, node.value])
        return self.generic_visit(node)

    def visit_Assign(self, node):  # (y[0] = 0.1 into a float64 y)
        if isinstance(node.targets[0], gast.Subscript):
            self.keep_exact_beside_float64([node.targets[0].value, node.value])
        return self.generic_visit(node)

    def visit_Call(self, node):
        if _is_numpy_call(node, self.np_name, {"sum", "mean"}) and len(node.args) == 1 and \
                not node.keywords:  # (np.sum(x) of float32 elements, as NumPy adds them)
            node.func = templates.fill(f"kn.{node.func.attr}_blocked")
            return self.generic_visit(node)
        if _is_numpy_call(node, self.np_name, {"var", "std"}) and len(node.args) == 1 and \
                not node.keywords:  # (Numba's np.var takes its mean as np.mean does)
            node.func = templates.fill(f"kn.{node.func.attr}_along")
            return self.generic_visit(node)
        # what NumPy allocates from Python floats is float64 (np.full(n, 0.5), np.arange(1.0))
        if _is_numpy_call(node, self.np_name, ALLOCATIONS):
            if _is_placeholder(node):  # (most arrays a float32 gradient saves are float32)
                node.args[1].attr = "float32"
            elif anno.getanno(node, "saves") not in self.widths.wide | {None}:
                # (a float32 number's saves: restored as float64, it met float32 arrays)
                node.args[1].attr = "float32"
            return node
        if _is_float64_type(node.func, self.np_name):  # (np.float64(0.1), float(0.1))
            self.exact.update(id(a) for a in node.args if isinstance(a, gast.Constant))
        self.keep_exact_beside_float64(node.args)
        self.generic_visit(node)
        if _is_numpy_call(node, self.np_name, MIXING):  # (np.maximum(x32, k64) is float64)
            operands = node.args[1:] if node.func.attr == "where" else node.args
            if any(_is_float(a, self.types) for a in operands):
                node.args = [templates.fill("rt.floats_beside_float32(a)", a=a)
                             if a in operands and self.is_integer_array(a) else a
                             for a in node.args]
        if self.is_lapack_call(node):  # (NumPy's linalg computes float32 arrays in float64)
            node.args = [templates.fill("np.asarray(a, np.float64)", np=self.np_name, a=a)
                         if _is_float(a, self.types) else a for a in node.args]
            return templates.fill("np.float32(r)" if self.is_scalar_result(node) else
                                  "r.astype(np.float32)", np=self.np_name, r=node)
        # (Python's math computes in float64, Numba's in float32 for float32 arguments)
        if isinstance(node.func, gast.Attribute) and isinstance(node.func.value, gast.Name) and \
                node.func.value.id == "math":
            node.args = [gast.Call(func=self.np_attr("float64"), args=[a], keywords=[])
                         if _is_float(a, self.types) and not isinstance(a, gast.Constant) else a
                         for a in node.args]
        return node

    def visit_BinOp(self, node):
        self.keep_exact_beside_float64([node.left, node.right])
        widths = {"left": self.widths.of(node.left), "right": self.widths.of(node.right)}
        self.generic_visit(node)
        for side, other, other_side in (("left", node.right, "right"),
                                        ("right", node.left, "left")):
            operand = getattr(node, side)
            if self.is_integer_array(operand) and _is_float(other, self.types):
                setattr(node, side, templates.fill("rt.floats_beside_float32(a)", a=operand))
            elif widths[side] == "python" and widths[other_side] is None and \
                    _is_float(other, self.types) and not _is_float32_call(operand):
                # (a Python float beside a float32 value: NumPy rounds it to float32 first)
                setattr(node, side, gast.Call(func=self.float32(), args=[operand], keywords=[]))
        return node

    def is_lapack_call(self, node):
        func = node.func
        if not isinstance(func, gast.Attribute) or not isinstance(func.value, (gast.Name,
                                                                               gast.Attribute)):
            return False
        if isinstance(func.value, gast.Name):
            return func.value.id == "rt" and func.attr in LAPACK_PARTS
        return func.attr in LAPACK and func.value.attr == "linalg" and \
            isinstance(func.value.value, gast.Name) and func.value.value.id == self.np_name

    @staticmethod
    def is_scalar_result(call):
        return call.func.attr in ("det", "logabsdet", "det_sign")

    def is_integer_array(self, node):
        ty = self.types.get(node.id) if isinstance(node, gast.Name) else None
        return ty is not None and ty.kind in ("i", "b") and ty.ndim > 0

    def float32(self):
        return self.np_attr("float32")

    def np_attr(self, attr):
        return gast.Attribute(value=templates.make_name(self.np_name), attr=attr, ctx=gast.Load())


def _is_placeholder(call):
    """`np.empty((0,), np.float64)`: the value reverse.py gives a float array first defined in
    a loop, for that loop's first save to read; `np.empty((n, 0), np.float64)`: the rows a
    loop saves a float array into."""
    shape, dtype = (call.args + [None, None])[:2]
    if call.func.attr != "empty" or not isinstance(shape, gast.Tuple) or \
            not (isinstance(dtype, gast.Attribute) and dtype.attr == "float64"):
        return False
    zeros = [isinstance(e, gast.Constant) and e.value == 0 for e in shape.elts]
    return all(zeros) or len(zeros) == 2 and zeros[1]
