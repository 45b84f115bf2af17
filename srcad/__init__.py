"""srcad: source-transformation automatic differentiation for Python/NumPy, compiled with Numba.

    import srcad
    g = srcad.grad(f, wrt=0)       # the gradient, generated as Python source, run with numba
    print(srcad.source(g))         # read the generated adjoint code

What cannot be transformed runs on a PyTorch-style runtime tape (srcad.tensor, backward).
"""

import sys as _sys

from .custom import custom_vjp
from .api import explain, grad, gradcheck, jvp, source, value_and_grad, vjp
from .higher import hessian, hvp, jacobian
from .errors import AliasingError, CacheWarning, FallbackWarning, UnsupportedError
from .tape import *  # noqa: F403 (torch's names: tensor, zeros, exp, autograd, optim, float32, ...)
from .tape import __all__ as _tape_names

# `from torch.autograd import Variable`, `from torch.optim import SGD` in a script that says
# `import srcad as torch` import these
_sys.modules[__name__ + ".autograd"] = autograd  # noqa: F405 (from .tape)
_sys.modules[__name__ + ".optim"] = optim  # noqa: F405
_sys.modules[__name__ + ".optim.lr_scheduler"] = optim.lr_scheduler  # noqa: F405

__version__ = "0.1.0"

__all__ = ["custom_vjp", "grad", "value_and_grad", "vjp", "jvp", "hvp", "hessian", "jacobian",
           "source", "explain", "gradcheck",
           "UnsupportedError", "AliasingError", "FallbackWarning", "CacheWarning", *_tape_names]
