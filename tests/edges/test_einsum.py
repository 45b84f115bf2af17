"""np.einsum with constant subscripts (implicit output too), lowered to a kernel of srcad.kernels.einsum (a loop nest
per subscripts when compiled); its numbers are walked with every rule (tests/rule_cases.py)."""

import numpy as np
import pytest

import srcad
from srcad import check


@pytest.mark.parametrize("subscripts,what", [("ii->i", "repeats an index"),
                                             ("...i->i", "'...' are not supported")])
def test_einsum_forms_srcad_cannot_compile_are_refused_by_name(make_module, subscripts, what):
    module = make_module("einsum_forms", f"""
        import numpy as np

        def f(A):
            return np.sum(np.einsum("{subscripts}", A{', A' if ',' in subscripts else ''}))
    """)
    with pytest.raises(srcad.UnsupportedError, match=what):
        srcad.grad(module.f, mode="source")(np.ones((3, 3)))


def contractions(A, B, v):
    M = np.einsum("ij,jk", A, B)  # (implicit: "ij,jk->ik")
    return np.einsum("ik,ik->", M, M) + np.sum(np.einsum("ij,j->i", A, v) ** 3) + \
        np.einsum("ij,j,ij->", A, v, A)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_chained_contractions_match_finite_differences(mode, jit, rng):
    args = (rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=4))
    grads = srcad.grad(contractions, wrt=(0, 1, 2), mode=mode, jit=jit)(*args)
    check.compare(contractions, args, [0, 1, 2], grads)
