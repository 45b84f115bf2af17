"""What generated code sees as `kn`: every public kernel of `reductions`, `linalg` and
`arrays`, and the SciPy functions the rules' partials and tangents call (their Numba forms are
registered by `srcad.special`, imported here).
"""

from scipy.linalg import solve_triangular  # noqa: F401
from scipy.special import digamma, expit, polygamma  # noqa: F401

from .. import special  # noqa: F401  (Numba forms of SciPy's functions)
from . import arrays, einsum, linalg, reductions


def _public(module):
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and callable(obj) and
            getattr(obj, "__module__", None) == module.__name__}


for _module in (reductions, linalg, arrays, einsum):
    globals().update(_public(_module))
