"""Walks every entry of the tape's op table and checks its vjps against central differences,
and their second derivatives (backward(create_graph=True)) against central differences of the
first derivatives.

CASES gives each op its input shapes (scalars, vectors, broadcast shapes), params and input
domain. An op without a row fails: a new entry in srcad/tape/ops.py needs one here.
"""

import functools

import numpy as np
import pytest

from srcad.tape import autograd, tensor
from srcad.tape.ops import OPS
from srcad.tape.tensor import apply

from .numeric import numerical_grad

F64 = np.dtype(np.float64)


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
SPREADS = [
    (((4,),), {"axis": None, "ddof": 0, "keepdims": False}),
    (((2, 3),), {"axis": 1, "ddof": 1, "keepdims": False}),
    (((2, 3),), {"axis": 0, "ddof": 1, "keepdims": True}),
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
    "rsub": ([(((3,),), {"other": 2.5}), (((),), {"other": -1.0})], anywhere),
    "neg": (UNARY, anywhere),
    "mul": (BINARY, anywhere),
    "div": (BINARY, (anywhere, nonzero)),
    "pow": (
        [(((3,),), {"exponent": 3}), (((2, 2),), {"exponent": -1.5}), (((),), {"exponent": 0})],
        positive,
    ),
    "rpow": ([(((3,),), {"base": 2.0}), (((),), {"base": 0.5})], anywhere),
    "pow_tensors": (BINARY, (positive, anywhere)),
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
    "clamp": (
        [(((5,),), {"lo": -0.5, "hi": 0.5}), (((2, 3),), {"lo": None, "hi": 0.3})],
        anywhere,
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
    "sigmoid": (UNARY, anywhere),
    "relu": (UNARY, nonzero),
    "sum": (REDUCTIONS, anywhere),
    "mean": (REDUCTIONS, anywhere),
    "prod": (REDUCTIONS, nonzero),
    "max": (REDUCTIONS, anywhere),
    "min": (REDUCTIONS, anywhere),
    "cumsum": ([(((4,),), {"axis": None}), (((2, 3),), {"axis": 1})], anywhere),
    "floor": (UNARY, anywhere),
    "ceil": (UNARY, anywhere),
    "round": (UNARY, anywhere),
    "trunc": (UNARY, anywhere),
    "sign": (UNARY, nonzero),
    "frac": (UNARY, anywhere),
    "zero_derivative": ([(((3,), (3,), (2,)), {})], anywhere),
    "take_at": (
        [(((4,),), {"indices": np.array([2, 0, 3, 1]), "axis": 0, "keepdims": True,
                    "label": "SortBackward0"}),
         (((2, 3),), {"indices": np.array([[2], [0]]), "axis": 1, "keepdims": False,
                      "label": "MaxBackward0"})],
        anywhere,
    ),
    "var": (SPREADS, anywhere),
    "std": (SPREADS, anywhere),
    "norm": (REDUCTIONS, nonzero),
    "pnorm": (
        [(((4,),), {"p": 3.0, "axis": None, "keepdims": False}),
         (((2, 3),), {"p": 0.5, "axis": 1, "keepdims": True})],
        nonzero,
    ),
    "matmul": (MATMUL, anywhere),
    "inv": ([(((3, 3),), {})], well_conditioned),
    "det": ([(((3, 3),), {})], well_conditioned),
    "solve": ([(((3, 3), (3,)), {}), (((2, 2), (2, 3)), {})], (well_conditioned, anywhere)),
    "permute": (
        [(((2, 3),), {"axes": None}), (((2, 3, 4),), {"axes": (1, 2, 0)})],
        anywhere,
    ),
    "t": ([(((2, 3),), {}), (((3,),), {})], anywhere),
    "transpose": ([(((2, 3, 4),), {"dim0": 0, "dim1": 2})], anywhere),
    "view": ([(((2, 3),), {"shape": (3, 2)}), (((6,),), {"shape": (2, -1)})], anywhere),
    "unsqueeze": ([(((3,),), {"axis": 0}), (((2, 3),), {"axis": (0, 2)})], anywhere),
    "squeeze": ([(((2, 1, 3),), {"axis": 1}), (((1, 3),), {"axis": None})], anywhere),
    "expand": ([(((3,),), {"shape": (2, 3)}), (((2, 1),), {"shape": (2, 3)})], anywhere),
    "flip": ([(((4,),), {"axis": None}), (((2, 3, 2),), {"axis": (0, 2)})], anywhere),
    "diagonal": (
        [
            (((3, 3),), {"offset": 0, "axis1": 0, "axis2": 1}),
            (((3, 4),), {"offset": 1, "axis1": 0, "axis2": 1}),
            (((4, 3),), {"offset": -2, "axis1": 0, "axis2": 1}),
            (((2, 3, 4),), {"offset": -1, "axis1": 2, "axis2": 0}),
        ],
        anywhere,
    ),
    "clone": (UNARY, anywhere),
    "grad_copy": (UNARY, anywhere),
    "convert": (
        [
            (((3,),), {"convert": functools.partial(np.array, order="F"), "source": F64}),
            (((2, 3),), {"convert": functools.partial(np.array, ndmin=3), "source": F64}),
            (((2, 3),), {"convert": np.asfortranarray, "source": F64}),
        ],
        anywhere,
    ),
    # float64 both ways: differences in float32 are too coarse (test_tensor checks float32)
    "to": ([(((3,),), {"dtype": np.dtype(np.float64), "source": np.dtype(np.float64)})], anywhere),
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
            # NumPy keeps the last of repeated writes: earlier ones get no gradient
            (((5,), (4,)), {"index": np.array([1, 3, 1, 1])}),
            (((5,), ()), {"index": np.array([2, 2])}),
            (((3, 4), (3, 2)), {"index": (slice(None), np.array([2, 2]))}),
            (((3, 4), (3,)), {"index": (np.array([0, 2, 0]), np.array([1, 1, 1]))}),
        ],
        anywhere,
    ),
    "view_put": (
        [
            (((5,), (2,)), {"view": "getitem", "params": {"index": slice(1, 3)}}),
            (((2, 3), (3, 2)), {"view": "permute", "params": {"axes": None}}),
            (((2, 3), ()), {"view": "view", "params": {"shape": (6,)}}),
            (((2, 3), (3,)), {"view": "getitem", "params": {"index": 1}}),
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
    "scatter": (
        [
            (((),), {"shape": (5,), "index": 2}),
            (((3,),), {"shape": (5,), "index": np.array([0, 2, 2])}),
            (((3,),), {"shape": (3, 4), "index": (slice(None), 1)}),
        ],
        anywhere,
    ),
}


# srcad.custom_vjp adds ops named custom_* when a module defining one is imported
# (ops built from srcad.rules are walked with the rules, in tests/tape/test_rules_parity.py)
TABLE = sorted(name for name in OPS if not name.startswith(("custom_", "rule:")))


def draw_case(name, rng):
    """Each case of op `name`: (inputs, params, forward on NumPy values)."""
    if name not in CASES:
        pytest.fail(f"tape op {name!r} has no row in CASES: give it input shapes and a domain")
    cases, domain = CASES[name]
    for shapes, params in cases:
        samplers = domain if isinstance(domain, tuple) else (domain,) * len(shapes)
        inputs = [draw(rng, shape) for draw, shape in zip(samplers, shapes, strict=True)]

        def forward(*values, params=params):
            # copies: index_put writes into its first input
            return OPS[name].forward(*[np.array(v, dtype=np.float64) for v in values], **params)

        yield inputs, params, forward


def first_derivatives(name, inputs, params, cotangent):
    """The vjp of op `name` by a plain backward(): one array per input."""
    leaves = [tensor(x, requires_grad=True) for x in inputs]
    apply(name, *leaves, **params).backward(cotangent)
    return [leaf.grad.numpy() for leaf in leaves]


@pytest.mark.parametrize("name", TABLE)
def test_vjps_match_central_differences(name):
    op = OPS[name]
    rng = np.random.default_rng(5)
    for inputs, params, forward in draw_case(name, rng):
        expected = forward(*inputs)
        cotangent = rng.normal(size=np.shape(expected))
        leaves = [tensor(x, requires_grad=True) for x in inputs]
        out = apply(name, *leaves, **params)
        assert out.grad_fn.name() == op.label([np.shape(x) for x in inputs], params)
        np.testing.assert_allclose(out.detach().numpy(), expected)
        grads = first_derivatives(name, inputs, params, cotangent)
        for i, grad in enumerate(grads):
            np.testing.assert_allclose(
                grad,
                numerical_grad(forward, [np.asarray(x) for x in inputs], i, cotangent),
                rtol=1e-5,
                atol=1e-7,
                err_msg=f"{name}: input {i} of case {params}",
            )


@pytest.mark.parametrize("name", TABLE)
def test_second_derivatives_match_central_differences_of_the_first(name):
    """s = sum_i <w_i, vjp_i(x, cotangent)>, taken with create_graph=True, differentiated again
    with respect to the inputs and the cotangent: against central differences of s computed by
    plain backward()s. Linear ops have a zero second derivative in x, but s still depends on
    the cotangent, so every op's recorded vjp is checked."""
    rng = np.random.default_rng(7)
    for inputs, params, forward in draw_case(name, rng):
        cotangent = rng.normal(size=np.shape(forward(*inputs)))
        weights = [rng.normal(size=np.shape(x)) for x in inputs]

        def s(*values, params=params, weights=weights):
            *xs, cot = values
            grads = first_derivatives(name, xs, params, cot)
            return sum(np.sum(w * g) for w, g in zip(weights, grads, strict=True))

        leaves = [tensor(x, requires_grad=True) for x in [*inputs, cotangent]]
        out = apply(name, *leaves[:-1], **params)
        grads = autograd.grad(out, leaves[:-1], leaves[-1], create_graph=True)
        total = sum((g * w).sum() for g, w in zip(grads, weights, strict=True))
        second = autograd.grad(total, leaves, allow_unused=True)
        points = [np.asarray(x, dtype=np.float64) for x in [*inputs, cotangent]]
        for i, grad in enumerate(second):
            got = np.zeros(np.shape(points[i])) if grad is None else grad.numpy()
            np.testing.assert_allclose(
                got,
                numerical_grad(s, points, i),
                rtol=1e-5,
                atol=1e-6,
                err_msg=f"{name}: d/d input {i} of the vjp, case {params}",
            )


def test_every_table_ufunc_is_reached_through_numpy():
    x = tensor([0.3, 0.6], requires_grad=True)
    for name, op in OPS.items():
        if isinstance(op.forward, np.ufunc):
            with np.errstate(invalid="ignore"):  # arccosh(0.3): only the label matters here
                out = op.forward(*(x,) * op.forward.nin)
            assert out.grad_fn.name() == op.label([(2,)] * op.forward.nin, {}), name
