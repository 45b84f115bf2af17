"""Precision: a gradient for float32 arguments computes in float32, as NumPy would.

Input: the gradient FunctionDef after cleanup, for a call whose float arguments are all
float32 (or Python floats). Output: the same function with its float constants written
`np.float32(c)`, except in allocations.

NumPy treats a Python float as weak (`x32 * 2.0` is float32) but Numba types it as float64,
which would promote the whole computation; a float32 constant keeps it in float32 in both.
Arrays allocated without a dtype (`np.zeros(n)`, `np.full(n, 0.5)`) stay float64 and promote
what they meet, as in NumPy; so do the buffers loops save scalars into (a restore is exact).
The empty array a loop's first save of a float array reads, and the rows it saves such arrays
into, are float32 (if the array is float64 after all, Numba cannot unify the two, or refuses to
save it in float32, and the generated Python runs instead).
"""

import gast

from . import templates

ALLOCATIONS = {"full", "array", "asarray", "arange", "linspace", "ones", "zeros", "empty",
               "full_like", "eye", "identity"}


def single(fn_def, np_name):
    """Rewrite `fn_def` (in place, its body only: defaults stay) to compute in float32."""
    for stmt in fn_def.body:
        _Single(np_name).visit(stmt)
    return fn_def


class _Single(gast.NodeTransformer):
    def __init__(self, np_name):
        self.np_name = np_name

    def visit_Constant(self, node):
        if type(node.value) is not float:
            return node
        return gast.Call(func=self.float32(), args=[node], keywords=[])

    def visit_Call(self, node):
        # what NumPy allocates from Python floats is float64 (np.full(n, 0.5), np.arange(1.0))
        if isinstance(node.func, gast.Attribute) and node.func.attr in ALLOCATIONS and \
                isinstance(node.func.value, gast.Name) and node.func.value.id == self.np_name:
            if _is_placeholder(node):  # (most arrays a float32 gradient saves are float32)
                node.args[1].attr = "float32"
            return node
        return self.generic_visit(node)

    def float32(self):
        return gast.Attribute(value=templates.make_name(self.np_name), attr="float32",
                              ctx=gast.Load())


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
