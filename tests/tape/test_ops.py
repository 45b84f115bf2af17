"""Walks every entry of the tape's op table and checks its vjps against central differences.

CASES gives each op its input shapes (scalars, vectors, broadcast shapes), params and input
domain. An op without a row fails: a new entry in srcad/tape/ops.py needs one here.
"""

import numpy as np
import pytest

from srcad.tape import tensor
from srcad.tape.ops import OPS
from srcad.tape.tensor import _apply

from .numeric import numerical_grad


def anywhere(rng, shape):
    return rng.uniform(-2, 2, shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2, shape)


def nonzero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2, shape)


def inside_unit(rng, shape):
    return rng.uniform(-0.9, 0.9, shape)


def above_one(rng, shape):
    return rng.uniform(1.2, 3, shape)


def above_minus_one(rng, shape):
    return rng.uniform(-0.5, 2, shape)


def well_conditioned(rng, shape):
    return np.eye(*shape) * 2 + rng.uniform(-0.5, 0.5, shape)


def near(value):
    return lambda rng, shape: value + rng.uniform(-0.2, 0.2, shape)


UNARY = [(((),), {}), (((3,),), {}), (((2, 3),), {})]
BINARY = [
    (((), ()), {}),
    (((3,), (3,)), {}),
    (((2, 3), (3,)), {}),
    (((3, 1), (1, 4)), {}),
    (((), (2, 2)), {}),
]
REDUCTIONS = [
    (((4,),), {"axis": None, "keepdims": False}),
    (((2, 3),), {"axis": 0, "keepdims": False}),
    (((2, 3),), {"axis": -1, "keepdims": True}),
    (((2, 3, 2),), {"axis": (0, 2), "keepdims": False}),
]
MATMUL = [
    (((3,), (3,)), {}),
    (((2, 3), (3,)), {}),
    (((3,), (3, 2)), {}),
    (((2, 3), (3, 4)), {}),
]

# op name -> (cases, domain); a case is (input shapes, params); the domain draws every input,
# or is a tuple with one sampler per input
CASES = {
    "add": (BINARY, anywhere),
    "sub": (BINARY, anywhere),
    "neg": (UNARY, anywhere),
    "mul": (BINARY, anywhere),
    "div": (BINARY, (anywhere, nonzero)),
    "pow": (BINARY, (positive, anywhere)),
    "mod": (BINARY, (near(2.5), near(1.5))),
    "square": (UNARY, anywhere),
    "reciprocal": (UNARY, nonzero),
    "abs": (UNARY, nonzero),
    "maximum": (BINARY, anywhere),
    "minimum": (BINARY, anywhere),
    "clip": (
        [(((5,), (), ()), {}), (((2, 3), (3,), ()), {})],
        (anywhere, near(-0.5), near(0.5)),
    ),
    "where": (
        [(((3,), (3,)), {"cond": np.array([True, False, True])}), (((), (3,)), {"cond": True})],
        anywhere,
    ),
    "exp": (UNARY, anywhere),
    "exp2": (UNARY, anywhere),
    "expm1": (UNARY, anywhere),
    "log": (UNARY, positive),
    "log2": (UNARY, positive),
    "log10": (UNARY, positive),
    "log1p": (UNARY, above_minus_one),
    "logaddexp": (BINARY, anywhere),
    "sqrt": (UNARY, positive),
    "cbrt": (UNARY, nonzero),
    "sin": (UNARY, anywhere),
    "cos": (UNARY, anywhere),
    "tan": (UNARY, inside_unit),
    "arcsin": (UNARY, inside_unit),
    "arccos": (UNARY, inside_unit),
    "arctan": (UNARY, anywhere),
    "arctan2": (BINARY, nonzero),
    "hypot": (BINARY, nonzero),
    "sinh": (UNARY, anywhere),
    "cosh": (UNARY, anywhere),
    "tanh": (UNARY, anywhere),
    "arcsinh": (UNARY, anywhere),
    "arccosh": (UNARY, above_one),
    "arctanh": (UNARY, inside_unit),
    "erf": (UNARY, anywhere),
    "sum": (REDUCTIONS, anywhere),
    "mean": (REDUCTIONS, anywhere),
    "prod": (REDUCTIONS, nonzero),
    "max": (REDUCTIONS, anywhere),
    "min": (REDUCTIONS, anywhere),
    "cumsum": ([(((4,),), {"axis": None}), (((2, 3),), {"axis": 1})], anywhere),
    "matmul": (MATMUL, anywhere),
    "inv": ([(((3, 3),), {})], well_conditioned),
    "det": ([(((3, 3),), {})], well_conditioned),
    "solve": ([(((3, 3), (3,)), {}), (((2, 2), (2, 3)), {})], (well_conditioned, anywhere)),
    "transpose": (
        [(((2, 3),), {"axes": None}), (((2, 3, 4),), {"axes": (1, 2, 0)})],
        anywhere,
    ),
    "reshape": ([(((2, 3),), {"shape": (3, 2)}), (((6,),), {"shape": (2, -1)})], anywhere),
    "broadcast_to": ([(((3,),), {"shape": (2, 3)}), (((2, 1),), {"shape": (2, 3)})], anywhere),
    "clone": (UNARY, anywhere),
    "getitem": (
        [
            (((5,),), {"index": 2}),
            (((5,),), {"index": slice(1, 4)}),
            (((5,),), {"index": np.array([0, 2, 2, 4])}),
            (((5,),), {"index": np.array([True, False, True, True, False])}),
            (((3, 4),), {"index": (slice(None), 1)}),
            (((3, 4),), {"index": 1}),
        ],
        anywhere,
    ),
    "index_put": (
        [
            (((5,), ()), {"index": 2}),
            (((5,), (2,)), {"index": slice(1, 3)}),
            (((5,), ()), {"index": slice(1, 3)}),
            (((3, 4), (4,)), {"index": 1}),
            (((5,), (2,)), {"index": np.array([0, 3])}),
        ],
        anywhere,
    ),
    "stack": (
        [(((3,), (3,)), {"axis": 0}), (((2, 3), (2, 3)), {"axis": 1}), (((), ()), {"axis": 0})],
        anywhere,
    ),
    "concatenate": (
        [(((2,), (3,)), {"axis": 0}), (((2, 3), (2, 1)), {"axis": 1})],
        anywhere,
    ),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_vjps_match_central_differences(name):
    if name not in CASES:
        pytest.fail(f"tape op {name!r} has no row in CASES: give it input shapes and a domain")
    cases, domain = CASES[name]
    op = OPS[name]
    rng = np.random.default_rng(5)
    for shapes, params in cases:
        samplers = domain if isinstance(domain, tuple) else (domain,) * len(shapes)
        inputs = [draw(rng, shape) for draw, shape in zip(samplers, shapes, strict=True)]

        def forward(*values, params=params):
            # copies: index_put writes into its first input
            return op.forward(*[np.array(v, dtype=np.float64) for v in values], **params)

        expected = forward(*inputs)
        cotangent = rng.normal(size=np.shape(expected))
        leaves = [tensor(x, requires_grad=True) for x in inputs]
        out = _apply(name, *leaves, **params)
        assert out.grad_fn.name() == op.label
        np.testing.assert_allclose(out.detach().numpy(), expected)
        out.backward(cotangent)
        for i, leaf in enumerate(leaves):
            np.testing.assert_allclose(
                leaf.grad.numpy(),
                numerical_grad(forward, [np.asarray(x) for x in inputs], i, cotangent),
                rtol=1e-5,
                atol=1e-7,
                err_msg=f"{name}: input {i} of shapes {shapes}, params {params}",
            )


def test_every_table_ufunc_is_reached_through_numpy():
    x = tensor([0.3, 0.6], requires_grad=True)
    for name, op in OPS.items():
        if isinstance(op.forward, np.ufunc):
            with np.errstate(invalid="ignore"):  # arccosh(0.3): only the label matters here
                out = op.forward(*(x,) * op.forward.nin)
            assert out.grad_fn.name() == op.label, name
