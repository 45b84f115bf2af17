"""bench/hessians.py's hand-written Hessians and Hessian-vector products are right (against
differences of the hand adjoints' gradients), and srcad's agree with them; JAX's, when
installed, too. Never a timing."""

import importlib.util

import numpy as np
import pytest

import srcad
from bench import hessians
from bench.workloads import logistic, rosenbrock_loop


def _difference_hessian(hand_adjoint, args, eps=1e-6):
    x = args[0]
    columns = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = eps
        plus = hand_adjoint(x + e, *args[1:])[1][0]
        minus = hand_adjoint(x - e, *args[1:])[1][0]
        columns.append((plus - minus) / (2 * eps))
    return np.stack(columns, axis=1)


CASES = {"rosenbrock": (rosenbrock_loop, lambda: rosenbrock_loop.make_inputs(7),
                        hessians.rosenbrock_hvp, hessians.rosenbrock_hessian),
         "logistic": (logistic, lambda: logistic.make_inputs((30, 6)), hessians.logistic_hvp,
                      hessians.logistic_hessian)}


@pytest.mark.parametrize("case", CASES)
def test_hand_written_hessians_and_srcads_agree(case, rng):
    W, inputs, hand_hvp, hand_hessian = CASES[case]
    args = tuple(inputs())
    v = rng.normal(size=args[0].shape)
    H = hand_hessian(*args)
    np.testing.assert_allclose(H, _difference_hessian(W.hand_adjoint, args), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(hand_hvp(*args, v), H @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(srcad.hessian(W.f)(*args), H, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(srcad.hvp(W.f)(*args, v), H @ v, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
@pytest.mark.parametrize("case", CASES)
def test_jax_formulations_agree(case, rng):
    import jax
    jax.config.update("jax_enable_x64", True)
    _, inputs, hand_hvp, hand_hessian = CASES[case]
    args = tuple(inputs())
    v = rng.normal(size=args[0].shape)
    loss = rosenbrock_loop.jax_loss() if case == "rosenbrock" else hessians.jax_logistic()
    jax_hvp, jax_hessian = hessians.jax_second_order(loss, args)
    np.testing.assert_allclose(np.asarray(jax_hessian()), hand_hessian(*args), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(jax_hvp(v)), hand_hvp(*args, v), rtol=1e-10,
                               atol=1e-12)
