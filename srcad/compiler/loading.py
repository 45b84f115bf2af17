"""Running generated code: the module srcad generated, loaded from its text, and compiled with
Numba. Kept apart from the compiler (codegen renders the module), so that a gradient taken from
the disk cache (reuse.py) imports neither the compiler nor the rules (nor SciPy through them)."""

import linecache
import math
import re
import sys
import types
from pathlib import Path

import numpy as np

from .. import runtime


def load(text, filename, scope):
    """Run the generated module `text` (never a file read back: what runs is what srcad
    generated) with `scope` as its initial globals; `filename` is where tracebacks, `inspect`
    and `pdb` find its lines."""
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    module = types.ModuleType("srcad_generated." + re.sub(r"\W", "_", Path(filename).stem))
    module.__file__ = filename
    module.__dict__.update(scope)
    sys.modules[module.__name__] = module
    exec(compile(text, filename, "exec"), module.__dict__)
    return module


# Math functions that raise where NumPy returns inf or nan (math.sqrt(-1.0), math.log(0.0)),
# and the NumPy functions the generated Python calls instead, so that it computes what the
# compiled code computes (numba follows NumPy here, with error_model="numpy").
def _float64_result(builtin):
    """`builtin` (max, min) giving a Python float result as a NumPy float: `max(x, 0.0)` is
    the Python float 0.0 for a negative x, and 0.0 ** -0.5 raises where compiled code gives
    inf."""
    def call(*args, **kwargs):
        result = builtin(*args, **kwargs)
        return np.float64(result) if type(result) is float else result
    call.__name__ = builtin.__name__
    return call


def _in_float64(ufunc):
    """`ufunc` of its arguments as float64, as math's function computes (np.sqrt of an int8
    is a float16)."""
    def call(*args):
        return ufunc(*(np.float64(a) for a in args))
    call.__name__ = ufunc.__name__
    return call


_NUMPY_SEMANTICS = {
    **{getattr(math, name): _in_float64(ufunc) for name, ufunc in (
        ("sqrt", np.sqrt), ("exp", np.exp), ("expm1", np.expm1), ("log", np.log),
        ("log1p", np.log1p), ("log10", np.log10), ("log2", np.log2), ("pow", np.float_power),
        ("sin", np.sin), ("cos", np.cos), ("tan", np.tan), ("acos", np.arccos),
        ("asin", np.arcsin), ("atan", np.arctan), ("atan2", np.arctan2), ("sinh", np.sinh),
        ("cosh", np.cosh), ("tanh", np.tanh), ("asinh", np.arcsinh), ("acosh", np.arccosh),
        ("atanh", np.arctanh), ("hypot", np.hypot), ("fmod", np.fmod), ("fabs", np.fabs),
        ("copysign", np.copysign))},
    float: np.float64, max: _float64_result(max), min: _float64_result(min),
}


class _NumpyMath:
    """The `math` module as the generated Python sees it: NumPy's functions where math's
    would raise, math's own everywhere else."""

    def __getattr__(self, name):
        fn = getattr(math, name)
        return _NUMPY_SEMANTICS.get(fn, fn)


def numpy_semantics(scope):
    """`scope` with math's raising functions (and `float`) replaced by NumPy's."""
    out = {}
    for name, obj in scope.items():
        if obj is math:
            out[name] = _NumpyMath()
        else:
            try:
                out[name] = _NUMPY_SEMANTICS.get(obj, obj)
            except TypeError:  # unhashable
                out[name] = obj
    return out


def jit(fn, cache=False, fastmath=False, nogil=False):
    """`numba.njit(fn)`; with `cache` (`fn`'s module was written to the disk cache), its machine
    code kept in srcad's disk cache. The other functions of `fn`'s module (the chunk functions
    of parallel loops, which `fn` runs through `rt.run_chunks`; mixed mode's reverse gradient
    and jvp, transforms/mixed.py) are compiled too. `nogil`: the GIL is released while it
    runs."""
    import numba
    _unformatted_slice_errors()
    if "scipy.special" in sys.modules or "scipy.linalg" in sys.modules:
        from .. import special  # noqa: F401  (the Numba forms of SciPy's functions a user's
        # code may call: it can only once they are imported)
    others = [name for name, obj in fn.__globals__.items()
              if isinstance(obj, types.FunctionType) and obj is not fn and
              obj.__module__ == fn.__module__]
    for name, builtin, compiled in (("str", str, runtime.text_of),  # (a float's text)
                                    ("repr", repr, runtime.repr_of),
                                    ("format", format, runtime.format_of),
                                    ("print", print, runtime.print_of)):
        if fn.__globals__.get(name, builtin) is builtin:
            fn.__globals__[name] = compiled
    # error_model="numpy": a float division by zero gives inf or nan, as NumPy does, instead
    # of raising ZeroDivisionError
    for name in others:
        fn.__globals__[name] = numba.njit(fastmath=fastmath, error_model="numpy")(
            fn.__globals__[name])
    dispatcher = numba.njit(fastmath=fastmath, error_model="numpy", nogil=nogil)(fn)
    dispatcher.compile = _with_llvm_options(dispatcher.compile)
    # (Numba cannot cache what runs a parallel region, rt.run_chunks)
    if cache and "run_chunks" not in fn.__code__.co_names:
        from .. import numbacache
        numbacache.enable(dispatcher)
    return dispatcher


def _unformatted_slice_errors():
    """Numba's error for an array assigned to a slice of another shape formats both shapes into
    its message, and compiling that formatting (str of ints, f-strings, join) took 3-8 s per
    pair of ranks, once per process: most of a small vectorised gradient's first call, since
    every `y[s] = v` and `y[s] += v` of an array compiles it. Numba finds the function that
    raises it by its module's name, `raise_with_shape_context`; this puts there one that
    passes the shapes to a ValueError that formats them in Python (NumPy's message), so no
    formatting is compiled."""
    from numba.np import arrayobj
    current = getattr(arrayobj, "raise_with_shape_context", None)
    if current is None or current is _raise_shape_mismatch:  # (another Numba; done already)
        return
    arrayobj.raise_with_shape_context = _raise_shape_mismatch
    from numba.extending import overload

    @overload(_raise_shape_mismatch)
    def _shape_mismatch(src_shapes, index_shape):
        def impl(src_shapes, index_shape):
            raise runtime.SliceShapeMismatch(src_shapes, index_shape)
        return impl


def _raise_shape_mismatch(src_shapes, index_shape):
    raise NotImplementedError  # (only compiled code calls it: its overload is Numba's form)


# LLVM unswitches a loop on a test that does not change in it by copying the loop, one copy per
# outcome, as long as the copies stay under a size threshold (50 by default). Numba's loops for
# array expressions test every operand's every axis for broadcasting, so at the default each
# such loop over 3-D arrays is copied for many combinations of the tests, and every copy is then
# vectorised and unrolled: three statements over 3-D arrays compiled in 5.6 s, and in 0.3 s at
# 10; the vectorised GMM's gradient in 85 s, and in 22 s at 10. LLVM's -O2 instead (which does
# not unswitch on such tests) compiled as fast but slowed the loop GMM's gradient 2.5x.
UNSWITCH_THRESHOLD = 10
LLVM_UNSWITCH_THRESHOLD = 50  # (LLVM's own default, restored after)


def _with_llvm_options(compile):
    """`compile` (a dispatcher's) run with srcad's LLVM options; so is everything compiled inside
    it (the kernels the generated code calls)."""
    import llvmlite.binding as llvm
    from numba.core.compiler_lock import global_compiler_lock

    def compile_generated(sig):
        with global_compiler_lock:  # (LLVM's options are global: no other compile sees them)
            llvm.set_option("", f"-unswitch-threshold={UNSWITCH_THRESHOLD}")
            try:
                return compile(sig)
            finally:
                llvm.set_option("", f"-unswitch-threshold={LLVM_UNSWITCH_THRESHOLD}")
    return compile_generated
