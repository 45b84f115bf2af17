"""srcad: source-transformation automatic differentiation for Python/NumPy, compiled with Numba.

    import srcad
    g = srcad.grad(f, wrt=0)       # the gradient, generated as Python source, run with numba
    print(srcad.source(g))         # read the generated adjoint code
"""

from .api import explain, grad, gradcheck, source, value_and_grad, vjp
from .errors import FallbackWarning, UnsupportedError

__version__ = "0.1.0"

__all__ = ["grad", "value_and_grad", "vjp", "source", "explain", "gradcheck",
           "UnsupportedError", "FallbackWarning"]
