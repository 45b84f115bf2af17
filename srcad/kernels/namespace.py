"""What generated code sees as `kn`: every public kernel of `reductions`, `arrays` and
`einsum`, and, imported at their first use (they import SciPy: 0.2-0.4 s that a gradient read
from the disk cache need not pay), the kernels of `linalg` and the SciPy functions the rules'
partials and tangents call, whose Numba forms `srcad.special` registers.
"""

import importlib

from . import arrays, einsum, reductions

_SCIPY = {"digamma": "scipy.special", "expit": "scipy.special", "polygamma": "scipy.special",
          "solve_triangular": "scipy.linalg",
          **{bessel: "scipy.special" for bessel in ("i0", "i0e", "i1", "i1e", "iv", "ive")}}


def _public(module):
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and callable(obj) and
            getattr(obj, "__module__", None) == module.__name__}


for _module in (reductions, arrays, einsum):
    globals().update(_public(_module))
EAGER = frozenset(globals())  # (the names of kn that import no SciPy)


def __getattr__(name):
    importlib.import_module("srcad.special")
    globals().update(_public(importlib.import_module("srcad.kernels.linalg")))
    for function, module in _SCIPY.items():
        globals()[function] = getattr(importlib.import_module(module), function)
    if name not in globals():
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return globals()[name]
