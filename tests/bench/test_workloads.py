"""Every workload file in bench/workloads/ at its tiny "test" size: the primal runs the same
in Python and under numba.njit, the hand-written adjoint matches central finite differences
(random projections), `check` passes on ADBench's expected values, and each installed peer
agrees with the hand adjoint."""

import importlib
import importlib.util
from pathlib import Path

import numba
import numpy as np
import pytest

from bench.workloads import _adbench
from srcad import check

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p.stem for p in (ROOT / "bench" / "workloads").glob("*.py")
               if not p.name.startswith("_"))
ADBENCH = {"gmm", "gmm_vec", "ba", "lstm"}


def load(name):
    return importlib.import_module(f"bench.workloads.{name}")


def tiny_inputs(W):
    size = (W.SIZES.get("test") or W.SIZES["quick"])[0]
    return tuple(W.make_inputs(size))


_PRIMALS = {}


def primal(W):
    if W.NAME not in _PRIMALS:
        _PRIMALS[W.NAME] = numba.njit(W.f, cache=True)
    return _PRIMALS[W.NAME]


def test_suite_is_complete():
    expected = {"scalar_loop", "rosenbrock_loop", "rosenbrock_vec", "logistic", "euler_ode",
                "rk4_ode", "newton", "verlet", "gmm", "ba", "lstm", "gmm_vec", "mlp", "heat"}
    assert expected <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_protocol(name):
    W = load(name)
    for attr in ("NAME", "DESCRIPTION", "SIZES", "WRT", "make_inputs", "f", "hand_adjoint"):
        assert hasattr(W, attr), f"{name} lacks {attr}"
    assert W.NAME == name
    assert W.SIZES["quick"] and W.SIZES["full"]
    for peer in getattr(W, "PEERS", {}):
        assert peer in ("jax", "autograd", "torch")


@pytest.mark.parametrize("name", FILES)
def test_primal_python_equals_numba(name):
    W = load(name)
    args = tiny_inputs(W)
    assert np.isclose(W.f(*args), primal(W)(*args), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", FILES)
def test_hand_adjoint_matches_finite_differences(name):
    W = load(name)
    args = tiny_inputs(W)
    f = primal(W)
    value, grads = W.hand_adjoint(*args)
    assert np.isclose(value, f(*args), rtol=1e-12)
    assert len(grads) == len(W.WRT)
    rng = np.random.default_rng(0)
    for g, i in zip(grads, W.WRT, strict=True):
        x = np.asarray(args[i], dtype=float)
        assert np.shape(g) == x.shape
        for _ in range(2):
            d = rng.standard_normal(x.shape)
            h = 1e-6 * max(1.0, float(np.max(np.abs(x))))
            plus, minus = list(args), list(args)
            plus[i], minus[i] = x + h * d, x - h * d
            fd = (f(*plus) - f(*minus)) / (2 * h)
            an = float(np.sum(g * d))
            assert abs(fd - an) <= 1e-5 * max(abs(fd), abs(an), 1e-3), (i, fd, an)


@pytest.mark.parametrize("name", [n for n in FILES if n in ADBENCH])
def test_hand_adjoint_passes_adbench_check(name):
    W = load(name)
    keys = getattr(W, "CHECK_SIZE", "test")
    for key in keys if isinstance(keys, list) else [keys]:
        value, grads = W.hand_adjoint(*W.make_inputs(key))
        if W.check.__code__.co_argcount >= 3:
            W.check(value, grads, key)
        else:
            W.check(value, grads)


@pytest.mark.parametrize("name", [n for n in FILES if n in ADBENCH])
def test_check_rejects_a_wrong_gradient(name):
    W = load(name)
    keys = getattr(W, "CHECK_SIZE", "test")
    key = keys[0] if isinstance(keys, list) else keys
    value, grads = W.hand_adjoint(*W.make_inputs(key))
    bad = tuple(np.asarray(g) * 1.001 + 1e-6 for g in grads)
    with pytest.raises(AssertionError):
        if W.check.__code__.co_argcount >= 3:
            W.check(value, bad, key)
        else:
            W.check(value, bad)


def test_gmm_hand_adjoint_on_a_random_instance():
    # ADBench's test instance has one point, gamma = 1 and m = 0: check the rest too
    W = load("gmm")
    rng = np.random.default_rng(0)
    args = (rng.standard_normal(3), rng.standard_normal((3, 4)),
            0.3 * rng.standard_normal((3, 10)), rng.standard_normal((9, 4)), 1.3, 2)
    value, grads = W.hand_adjoint(*args)
    assert np.isclose(value, W.f(*args), rtol=1e-12)
    assert check.compare(W.f, args, W.WRT, grads, rtol=1e-6, atol=1e-8)
    assert np.isclose(load("gmm_vec").f(*args), value, rtol=1e-12)


def test_newton_hand_adjoint_agrees_with_implicit_function_theorem():
    W = load("newton")
    args = W.make_inputs(200)
    _, grads = W.hand_adjoint(*args)
    _, ift = W.hand_adjoint_ift(*args)
    for g, r in zip(grads, ift, strict=True):
        assert np.allclose(g, r, rtol=1e-9, atol=1e-12)


def test_newton_hand_adjoint_grows_its_buffers():
    W = load("newton")
    args = W.make_inputs(50)
    expected = W.hand_adjoint(*args)
    overflow = W._reverse_newton(*args, 2)[3]
    assert overflow
    assert np.allclose(W.hand_adjoint(*args)[1][0], expected[1][0])


def test_ba_rows_assemble_the_expected_jacobian_values():
    W = load("ba")
    exp = _adbench.expected("ba", "test.txt")
    rows = [W.hand_adjoint(*W.make_inputs(k))[1] for k in ("test", "test/row1")]
    p = rows[0][2].shape[0]
    blocks = np.stack([np.concatenate([g[0], g[1], g[2][:, None]], axis=1) for g in rows], 1)
    vals = np.array(exp["J_vals"])
    assert np.allclose(blocks.reshape(-1), vals[: 30 * p], rtol=0, atol=1e-8)
    w = W.make_inputs("test")[2]
    assert np.allclose(-2 * w, vals[30 * p:], atol=1e-8)  # the weight rows need no AD


PEER_CASES = [(n, p) for n in FILES for p in ("jax", "autograd", "torch")]


@pytest.mark.parametrize("name,peer", PEER_CASES)
def test_peer_agrees_with_hand_adjoint(name, peer):
    if importlib.util.find_spec(peer) is None:
        pytest.skip(f"{peer} not installed")
    W = load(name)
    make = getattr(W, "PEERS", {}).get(peer)
    if make is None:
        pytest.skip("no formulation")
    args = tiny_inputs(W)
    try:
        grad = make(*args)
    except Exception as e:
        assert type(e).__name__ == "CannotExpress" and str(e)
        return
    out = grad()
    out = out if isinstance(out, (tuple, list)) else (out,)
    _, ref = W.hand_adjoint(*args)
    for g, r in zip(out, ref, strict=True):
        g = g.detach().numpy() if hasattr(g, "detach") else np.asarray(g)
        assert np.allclose(g, r, rtol=1e-7, atol=1e-9 * max(1.0, np.max(np.abs(r))))
