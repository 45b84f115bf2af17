"""The test cases for every derivative rule, shared by the source-mode walker
(tests/test_rules.py) and the tape walker (tests/tape/test_rules_parity.py): a call for each
primitive on scalars, vectors and broadcast shapes, input domains where the default (-0.9, 0.9)
is wrong, and a writer that turns a case into a function in a real file (srcad reads source).
"""

import builtins
import importlib.util
import itertools
import math
import operator

import numpy as np
import scipy.linalg
import scipy.special

from srcad import rules, runtime
from srcad.kernels import arrays, einsum, linalg, reductions
from srcad.kernels import namespace as kn

OPERATORS = {
    operator.add: "x + y",
    operator.sub: "x - y",
    operator.mul: "x * y",
    operator.truediv: "x / y",
    operator.pow: "x ** y",
    operator.neg: "-x",
    operator.pos: "+x",
    operator.mod: "x % y",
    operator.matmul: "a @ b",
}

POSITIVE = (0.5, 2.0)
# input domains by the primitive's short name, where the default (-0.9, 0.9) is wrong for it
DOMAINS = {
    **{name: {"x": POSITIVE} for name in ("log", "log10", "log2", "sqrt", "cbrt", "reciprocal")},
    **{name: {"x": POSITIVE} for name in ("norm", "prod", "pow", "power", "float_power")},
    **{name: {"y": POSITIVE} for name in ("truediv", "divide", "true_divide")},
    **{name: {"x": (1.2, 3.0)} for name in ("acosh", "arccosh")},
    **{name: {"x": (2.1, 2.9), "y": (1.1, 1.9)} for name in ("mod", "remainder", "fmod")},
    "hypot": {"x": POSITIVE, "y": POSITIVE},
    "clip": {"a_min": (-0.6, -0.2), "a_max": (0.2, 0.6)},
    **{name: {"x": POSITIVE} for name in ("gammaln", "lgamma", "gamma", "digamma", "psi",
                                          "polygamma")},
    "logit": {"x": (0.1, 0.9)},
    "xlogy": {"y": POSITIVE},
    "betaln": {"a": POSITIVE, "b": POSITIVE}, "beta": {"a": POSITIVE, "b": POSITIVE},
    "ndtri": {"x": (0.1, 0.9)}, "erfcinv": {"x": (0.2, 1.8)}, "entr": {"x": POSITIVE},
    "kl_div": {"x": POSITIVE, "y": POSITIVE}, "rel_entr": {"x": POSITIVE, "y": POSITIVE},
    "huber": {"delta": POSITIVE, "r": (-3.0, 3.0)}, "iv": {"x": POSITIVE}, "ive": {"x": POSITIVE},
    "pow_dx": {"x": POSITIVE}, "log_or_zero": {"x": POSITIVE},
    "inverse_or_zero": {"x": POSITIVE}, "xdivy": {"y": POSITIVE},
    "norm_adjoint": {"a": POSITIVE},
    "outer_operand": {"x": POSITIVE},  # (np.power.outer)
}
M34, M33, V3 = {"x": (3, 4)}, (3, 3), (3,)
# calls that are not f(x) / f(x, y) on same-or-broadcast shapes: (expression, shapes)
SPECIAL = {
    np.sum: [("np.sum(x)", {"x": (3, 4)}), ("np.sum(x, axis=0)", {"x": (3, 4)}),
             ("np.sum(x, axis=1)", {"x": (3, 4)}), ("np.sum(x)", {"x": ()}),
             ("np.sum(x, axis=(0, 2), keepdims=True)", {"x": (2, 3, 4)})],
    np.mean: [("np.mean(x)", {"x": (3, 4)}), ("np.mean(x, axis=0)", {"x": (3, 4)}),
              ("np.mean(x, axis=1)", {"x": (3, 4)}),
              ("np.mean(x, axis=-1, keepdims=True)", {"x": (3, 4)})],
    np.nansum: [("np.nansum(x)", {"x": (3, 4)}), ("np.nansum(x)", {"x": ()}),
                ("np.nansum(x, axis=(0, 2), keepdims=True)", {"x": (2, 3, 4)})],
    np.nanmean: [("np.nanmean(x, axis=0)", {"x": (3, 4)}), ("np.nanmean(x)", {"x": ()}),
                 ("np.nanmean(x, axis=-1, keepdims=True)", {"x": (3, 4)})],
    np.prod: [("np.prod(x)", {"x": (5,)}), ("np.prod(x)", {"x": (2, 3)}),
              ("np.prod(x, axis=1)", {"x": (2, 3)}), ("np.prod(x, axis=(0, 1))", {"x": (2, 3)})],
    np.max: [("np.max(x)", {"x": (6,)}), ("np.max(x, axis=0)", {"x": (3, 4)}),
             ("np.max(x, axis=1, keepdims=True)", {"x": (3, 4)})],
    np.amax: [("np.amax(x, axis=1)", {"x": (3, 4)})],
    np.min: [("np.min(x)", {"x": (6,)}), ("np.min(x, axis=1)", {"x": (3, 4)})],
    np.amin: [("np.amin(x, axis=0)", {"x": (3, 4)}), ("np.amin(x)", {"x": (3, 4)})],
    np.var: [("np.var(x)", {"x": (5,)}), ("np.var(x, axis=0, ddof=1)", {"x": (3, 4)}),
             ("np.var(x, axis=(0, 2), keepdims=True)", {"x": (2, 3, 4)})],
    np.std: [("np.std(x)", {"x": (6,)}), ("np.std(x, axis=1, keepdims=True)", M34)],
    np.cumsum: [("np.cumsum(x)", {"x": (5,)}), ("np.cumsum(x)", {"x": (2, 3)}),
                ("np.cumsum(x, axis=1)", M34)],
    np.cumprod: [("np.cumprod(x)", {"x": (5,)}), ("np.cumprod(x, axis=0)", M34)],
    np.linalg.norm: [("np.linalg.norm(x)", {"x": (4,)}), ("np.linalg.norm(x, ord=1)", {"x": (4,)}),
                     ("np.linalg.norm(x, np.inf)", {"x": (5,)}),
                     ("np.linalg.norm(x, axis=1)", M34), ("np.linalg.norm(x, 'fro')", M34),
                     ("np.linalg.norm(x, 2, axis=0, keepdims=True)", M34)],
    scipy.special.logsumexp: [("scipy.special.logsumexp(a)", {"a": (5,)}),
                              ("scipy.special.logsumexp(a, axis=1, keepdims=True)", {"a": (3, 4)})],
    scipy.special.softmax: [("scipy.special.softmax(x)", {"x": (5,)}),
                            ("scipy.special.softmax(x, axis=1)", M34)],
    scipy.special.log_softmax: [("scipy.special.log_softmax(x)", {"x": (5,)}),
                                ("scipy.special.log_softmax(x, axis=0)", M34)],
    np.sort: [("np.sort(x)", {"x": (6,)}), ("np.sort(x, axis=0)", M34)],
    np.median: [("np.median(x)", {"x": (5,)}), ("np.median(x)", {"x": (6,)}),
                ("np.median(x, axis=1)", M34)],
    np.quantile: [("np.quantile(x, 0.3)", {"x": (7,)}), ("np.quantile(x, 0.75, axis=0)", M34)],
    np.percentile: [("np.percentile(x, 40.0)", {"x": (6,)})],
    np.kron: [("np.kron(a, b)", {"a": (2, 3), "b": (2, 2)}), ("np.kron(a, b)", {"a": (3,), "b": (2,)})],
    rules.EINSUM: [("np.einsum('ij,jk->ik', a, b)", {"a": (3, 4), "b": (4, 2)}),
                   ("np.einsum('ij->ji', a)", {"a": (3, 4)}),
                   ("np.einsum('ij,k->ijk', a, b)", {"a": (2, 3), "b": (2,)}),
                   ("np.einsum('ij,j,ij->i', a, b, c)", {"a": (3, 4), "b": (4,), "c": (3, 4)}),
                   ("np.einsum('ij->i', a)", {"a": (3, 4)})],
    np.tensordot: [("np.tensordot(a, b)", {"a": (2, 3, 4), "b": (3, 4, 2)}),
                   ("np.tensordot(a, b, axes=1)", {"a": (3, 4), "b": (4, 2)})],
    np.cov: [("np.cov(x)", {"x": (3, 5)}), ("np.cov(x, rowvar=False, ddof=0)", {"x": (5, 3)}),
             ("np.cov(x)", {"x": (6,)}), ("np.cov(x, None, True, True)", {"x": (2, 4)})],
    np.cross: [("np.cross(a, b)", {"a": (3,), "b": (3,)}),
               ("np.cross(a, b)", {"a": (2, 3), "b": (3,)})],
    np.convolve: [("np.convolve(a, v)", {"a": (5,), "v": (3,)}),
                  ("np.convolve(a, v, 'same')", {"a": (3,), "v": (5,)}),
                  ("np.convolve(a, v, mode='valid')", {"a": (6,), "v": (4,)})],
    np.linalg.matrix_power: [("np.linalg.matrix_power(a, 3)", {"a": M33}),
                             ("np.linalg.matrix_power(a + 3.0 * np.eye(3), -2)", {"a": M33}),
                             ("np.linalg.matrix_power(a, 5)", {"a": (2, 2)}),
                             ("np.linalg.matrix_power(a, 0)", {"a": M33})],
    np.trace: [("np.trace(x)", {"x": (4, 4)}), ("np.trace(x, 1)", M34)],
    np.diag: [("np.diag(v)", {"v": (4,)}), ("np.diag(v)", {"v": (3, 4)}), ("np.diag(v, 1)", {"v": V3})],
    np.linalg.solve: [("np.linalg.solve(a + 3.0 * np.eye(3), b)", {"a": M33, "b": V3}),
                      ("np.linalg.solve(a + 3.0 * np.eye(3), b)", {"a": M33, "b": (3, 2)})],
    np.linalg.inv: [("np.linalg.inv(a + 3.0 * np.eye(3))", {"a": M33})],
    np.linalg.pinv: [("np.linalg.pinv(a)", {"a": (4, 3)}), ("np.linalg.pinv(a)", {"a": (2, 3)}),
                     ("np.linalg.pinv(a + 3.0 * np.eye(3))", {"a": M33})],
    np.linalg.det: [("np.linalg.det(a)", {"a": M33})],
    np.linalg.cholesky: [("np.linalg.cholesky(a @ a.T + 3.0 * np.eye(3))", {"a": M33}),
                         ("np.linalg.cholesky(a + 3.0 * np.eye(3))", {"a": M33})],
    runtime.logabsdet: [("np.linalg.slogdet(a)[1]", {"a": M33}),
                        ("np.linalg.slogdet(a)[1]", {"a": (2, 2)})],
    runtime.eigenvalues: [("np.linalg.eigh(a + a.T)[0]", {"a": M33}),
                          ("np.linalg.eigh(a)[0]", {"a": M33})],
    runtime.singular_values: [("np.linalg.svd(a, compute_uv=False)", {"a": (3, 4)}),
                              ("np.linalg.svd(a, full_matrices=False)[1]", {"a": (4, 2)})],
    # (no derivative in a: a constant matrix with distinct singular values)
    linalg.singular_values_adjoint: [
        ("kn.singular_values_adjoint(gy, np.eye(4, 3) * 3.0 + np.arange(12.0).reshape(4, 3))",
         {"gy": (3,)})],
    linalg.lstsq_solution: [("np.linalg.lstsq(a, b)[0]", {"a": (4, 3), "b": (4,)}),
                            ("np.linalg.lstsq(a, b)[0]", {"a": (2, 3), "b": (2, 2)})],
    scipy.linalg.expm: [("scipy.linalg.expm(a)", {"a": M33}),
                        ("scipy.linalg.expm(A=2.0 * a)", {"a": (4, 4)})],
    linalg.expm_frechet: [("kn.expm_frechet(a, e)", {"a": M33, "e": M33})],
    np.gradient: [("np.gradient(f)", {"f": (5,)}),
                  ("np.gradient(f, h, axis=0)", {"f": (4, 3), "h": ()}),
                  ("np.gradient(f, h, axis=-1, edge_order=2)", {"f": (2, 4), "h": ()})],
    arrays.gradient_adjoint: [("kn.gradient_adjoint(gy, h, 1, 2)", {"gy": (2, 4), "h": ()})],
    arrays.diff_padding: [("kn.diff_padding(v, x, 1)", {"v": (), "x": (3, 4)}),
                          ("kn.diff_padding(v, x, 0)", {"v": (1, 4), "x": (3, 4)})],
    runtime.qr_q: [("np.linalg.qr(a)[0] * np.arange(12.0).reshape(4, 3)", {"a": (4, 3)}),
                   ("np.linalg.qr(a)[0]", {"a": M33})],
    runtime.qr_r: [("np.linalg.qr(a)[1]", {"a": (4, 3)})],
    runtime.eigenvectors: [("np.linalg.eigh(a + a.T)[1] ** 2", {"a": M33})],
    runtime.sigmoid: [("1.0 / (1.0 + np.exp(-x))", {"x": V3}), ("1 / (np.exp(-x) + 1)", {"x": ()})],
    runtime.sigmoid_math: [("1.0 / (1.0 + math.exp(-x))", {"x": ()})],
    scipy.special.polygamma: [("scipy.special.polygamma(1, x)", {"x": V3}),
                              ("scipy.special.polygamma(2, x)", {"x": ()})],
    scipy.special.iv: [("scipy.special.iv(1.5, x)", {"x": V3}),
                       ("scipy.special.iv(0, x)", {"x": ()}), ("scipy.special.iv(3, x)", {"x": V3})],
    scipy.special.ive: [("scipy.special.ive(2.5, x)", {"x": V3}),
                        ("scipy.special.ive(1.0, x)", {"x": ()})],
    # helpers of generated derivative code
    runtime.checked_tangent: [("rt.checked_tangent(x, y, 'the tangent')", {"x": V3, "y": V3})],
    runtime.broadcast_tangent: [("rt.broadcast_tangent(x, y)", {"x": (), "y": V3}),
                                ("rt.broadcast_tangent(x, y)", {"x": (1, 3), "y": (2, 3)})],
    runtime.list_grown: [("rt.list_grown(x, 3, y[0])", {"x": V3, "y": V3}),
                         ("rt.list_grown(a, 3, b[0])", {"a": M33, "b": M33})],
    runtime.list_grown_adjoint: [("rt.list_grown_adjoint(x, y)", {"x": (8,), "y": V3}),
                                 ("rt.list_grown_adjoint(a, b)", {"a": (8, 3), "b": M33})],
    runtime.pow_dx: [("rt.pow_dx(x, y)", {"x": V3, "y": V3}), ("rt.pow_dx(x, 3.0)", {"x": ()}),
                     ("rt.pow_dx(x, y, 2)", {"x": V3, "y": V3}),
                     ("rt.pow_dx(x, 3.0 + y, 3)", {"x": (), "y": ()})],
    runtime.falling: [("rt.falling(y, 3)", {"y": V3}), ("rt.falling(y, 4, 2)", {"y": ()}),
                      ("rt.falling(y, 2, 3)", {"y": V3})],
    runtime.log_or_zero: [("rt.log_or_zero(x)", {"x": V3})],
    runtime.inverse_or_zero: [("rt.inverse_or_zero(x)", {"x": V3})],
    runtime.xdivy: [("rt.xdivy(x, y)", {"x": V3, "y": V3})],
    runtime.sinc_dx: [("rt.sinc_dx(x)", {"x": V3}), ("rt.sinc_dx(2.0 * x, 3)", {"x": ()})],
    runtime.masked: [("rt.masked(x, y > 0.0)", {"x": V3, "y": V3}),
                     ("rt.masked(x, y > 0.0)", {"x": (), "y": ()})],
    reductions.sum_along: [("kn.sum_along(x, 0, True)", {"x": (3, 4)}),
                           ("kn.sum_along(x, None, False)", {"x": (3, 4)})],
    reductions.extremum_adjoint: [("kn.extremum_adjoint(1.0, x, np.max(x), None)", {"x": (4,)}),
                                  ("kn.extremum_adjoint(np.ones(3), x, np.max(x, axis=1), 1)",
                                   {"x": (3, 4)})],
    reductions.extremum_tangent: [("kn.extremum_tangent(u, x, np.max(x), None)",
                                   {"u": (4,), "x": (4,)}),
                                  (("kn.extremum_tangent(u, x, np.min(x, 1, keepdims=True), "
                                    "1, True)"), {"u": (3, 4), "x": (3, 4)})],
    reductions.sum_like: [("kn.sum_like(v, np.ones((3, 1)), 1)", {"v": (3, 4)}),
                          ("kn.sum_like(v, 1.0, None)", {"v": (3, 4)})],
    reductions.sum_adjoint: [("kn.sum_adjoint(gy, x, 1)", {"gy": V3, "x": (3, 4)})],
    reductions.var_adjoint: [("kn.var_adjoint(gy, x, None, 1)", {"gy": (), "x": (5,)}),
                             ("kn.var_adjoint(gy, x, 1, 0)", {"gy": V3, "x": (3, 4)})],
    reductions.std_adjoint: [("kn.std_adjoint(gy, x, np.std(x, axis=0), 0, 1)",
                              {"gy": (4,), "x": (3, 4)})],
    reductions.logsumexp_adjoint: [("kn.logsumexp_adjoint(gy, x, m, 1)",
                                    {"gy": V3, "x": (3, 4), "m": V3})],
    reductions.prod_adjoint: [("kn.prod_adjoint(gy, x, 1)", {"gy": V3, "x": (3, 4)})],
    reductions.softmax_adjoint: [("kn.softmax_adjoint(gy, s, 1)", {"gy": (3, 4), "s": (3, 4)}),
                                 ("kn.softmax_adjoint(gy, s, None)", {"gy": (5,), "s": (5,)})],
    reductions.log_softmax_adjoint: [("kn.log_softmax_adjoint(gy, ls, 0)",
                                      {"gy": (3, 4), "ls": (3, 4)})],
    reductions.cumprod_adjoint: [("kn.cumprod_adjoint(gy, x, None)", {"gy": (6,), "x": (2, 3)}),
                                 ("kn.cumprod_adjoint(gy, x, 1)", {"gy": (3, 4), "x": (3, 4)})],
    linalg.slogdet_adjoint: [("kn.slogdet_adjoint(gy, a + 3.0 * np.eye(3))", {"gy": (), "a": M33})],
    linalg.norm_adjoint: [("kn.norm_adjoint(gy, x, a, None, None)", {"gy": (), "x": (5,), "a": ()}),
                          ("kn.norm_adjoint(gy, x, np.linalg.norm(x, 3, 1), 3, 1)",
                           {"gy": V3, "x": (3, 4)})],
    reductions.cov_adjoint: [("kn.cov_adjoint(gy, x)", {"gy": (3, 3), "x": (3, 5)}),
                             ("kn.cov_adjoint(gy, x, None, False, True)",
                              {"gy": (2, 2), "x": (4, 2)}),
                             ("kn.cov_adjoint(gy, x, ddof=0)", {"gy": (), "x": (5,)})],
    reductions.cov_tangent: [("kn.cov_tangent(u, x)", {"u": (3, 5), "x": (3, 5)}),
                             ("kn.cov_tangent(u, x, None, False)", {"u": (4, 2), "x": (4, 2)}),
                             ("kn.cov_tangent(u, x, bias=True)", {"u": (5,), "x": (5,)})],
    arrays.convolve: [("kn.convolve(a, v, 'valid')", {"a": (3,), "v": (5,)})],
    arrays.convolve_adjoint: [("kn.convolve_adjoint(gy, x, o, 'same')",
                               {"gy": (5,), "x": (5,), "o": (3,)}),
                              ("kn.convolve_adjoint(gy, x, o)",
                               {"gy": (6,), "x": (2,), "o": (5,)})],
    arrays.sort_tangent: [("kn.sort_tangent(u, x, np.sort(x, axis=0), 0)",
                           {"u": (3, 4), "x": (3, 4)})],
    arrays.sort_adjoint: [("kn.sort_adjoint(gy, x, 1)", {"gy": (3, 4), "x": (3, 4)}),
                          ("kn.sort_adjoint(gy, x, None)", {"gy": (5,), "x": (5,)})],
    arrays.median_adjoint: [("kn.median_adjoint(gy, x, 1)", {"gy": V3, "x": (3, 4)})],
    arrays.quantile_tangent: [("kn.quantile_tangent(u, x, 0.3, 1, False)",
                               {"u": (3, 4), "x": (3, 4)})],
    arrays.percentile_tangent: [("kn.percentile_tangent(u, x, 30.0, None, False)",
                                 {"u": (5,), "x": (5,)})],
    arrays.interp_adjoint_x: [
        ("kn.interp_adjoint_x(gy, x, np.linspace(-1.0, 1.0, 4), np.cos(np.arange(4.0)), None, None)",
         {"gy": (5,), "x": (5,)})],
    linalg.det_tangent: [("kn.det_tangent(u, a, np.linalg.det(a))", {"u": M33, "a": M33})],
    linalg.lower_symmetric: [("kn.lower_symmetric(t)", {"t": M33})],
    linalg.lower_triangle_adjoint: [("kn.lower_triangle_adjoint(s)", {"s": M33})],
    linalg.lower_half_diagonal: [("kn.lower_half_diagonal(a)", {"a": M33})],
    linalg.lower_form: [("kn.lower_form(x, True)", {"x": M33}),
                        ("kn.lower_form(x, False)", {"x": (2, 3)})],
    linalg.cholesky_solve: [
        ("kn.cholesky_solve(np.tril(c) + 3.0 * np.eye(3), b, True)", {"c": M33, "b": V3}),
        ("kn.cholesky_solve(c + 3.0 * np.eye(3), b, False)", {"c": M33, "b": (3, 2)})],
    scipy.linalg.cholesky: [("scipy.linalg.cholesky(a @ a.T + 3.0 * np.eye(3))", {"a": M33}),
                            ("scipy.linalg.cholesky(a + 3.0 * np.eye(3), lower=True)",
                             {"a": M33})],
    linalg.gaps: [("kn.gaps(w)", {"w": V3})],
    linalg.gaps_adjoint: [("kn.gaps_adjoint(d)", {"d": M33})],
    linalg.gap_divide: [("kn.gap_divide(m, w + np.array([0.0, 2.0, 4.0]))", {"m": M33, "w": V3})],
    linalg.triangle_operand: [("kn.triangle_operand(u, 1, True, False)", {"u": M33}),
                              ("kn.triangle_operand(u, 0, False, True)", {"u": M33})],
    linalg.triangle_operand_adjoint: [("kn.triangle_operand_adjoint(u, 1, False, True)", {"u": M33}),
                                      ("kn.triangle_operand_adjoint(u, 0, True, False)", {"u": M33})],
    reductions.cumprod_cross_tangent: [
        ("kn.cumprod_cross_tangent(u, s, x, np.cumprod(x), None)",
         {"u": (2, 3), "s": (2, 3), "x": (2, 3)}),
        ("kn.cumprod_cross_tangent(u, s, x, np.cumprod(x, axis=0), 0)",
         {"u": (3, 2), "s": (3, 2), "x": (3, 2)})],
    einsum.collapsed_diagonal: [("kn.collapsed_diagonal(x)", {"x": M33})],
    reductions.cumprod_tangent_adjoint_x: [
        ("kn.cumprod_tangent_adjoint_x(gy, u, x, None)", {"gy": (6,), "u": (2, 3), "x": (2, 3)}),
        ("kn.cumprod_tangent_adjoint_x(gy, u, x, 1)", {"gy": (3, 4), "u": (3, 4), "x": (3, 4)})],
    reductions.cumprod_tangent: [("kn.cumprod_tangent(u, x, np.cumprod(x), None)",
                                  {"u": (2, 3), "x": (2, 3)}),
                                 ("kn.cumprod_tangent(u, x, np.cumprod(x, axis=1), 1)",
                                  {"u": (3, 4), "x": (3, 4)})],
    np.linalg.eigvalsh: [("np.linalg.eigvalsh(a)", {"a": M33})],
    scipy.linalg.solve_triangular: [
        ("scipy.linalg.solve_triangular(a + 3.0 * np.eye(3), b, lower=True)", {"a": M33, "b": V3}),
        ("scipy.linalg.solve_triangular(a + 3.0 * np.eye(3), b, trans=1)", {"a": M33, "b": (3, 2)})],
    scipy.linalg.cho_solve: [
        ("scipy.linalg.cho_solve((np.linalg.cholesky(np.eye(3) * 2.0), True), b)", {"b": V3})],
    np.expand_dims: [("np.expand_dims(a, 1)", {"a": V3}), ("np.expand_dims(a, 0)", {"a": (2, 3)})],
    np.squeeze: [("np.squeeze(a, axis=1)", {"a": (3, 1)}), ("np.squeeze(a, (0, 2))", {"a": (1, 4, 1)})],
    np.diff: [("np.diff(x)", {"x": (5,)}), ("np.diff(x, 2, axis=0)", {"x": (4, 3)})],
    np.roll: [("np.roll(x, 2)", {"x": (5,)}), ("np.roll(x, -1, axis=1)", M34),
              ("np.roll(x, (1, 2), (0, 1))", M34)],  # (an attack: its adjoint raised)
    np.flip: [("np.flip(x)", {"x": (5,)}), ("np.flip(x, 0)", M34)],
    np.tril: [("np.tril(x)", {"x": (4, 4)}), ("np.tril(x, -1)", M34)],
    np.triu: [("np.triu(x)", {"x": (4, 4)}), ("np.triu(x, 1)", M34)],
    np.tile: [("np.tile(x, 3)", {"x": (4,)}), ("np.tile(x, (2, 1))", {"x": (2, 3)})],
    np.pad: [("np.pad(x, 2)", {"x": (4,)}), ("np.pad(x, ((1, 0), (2, 1)), constant_values=c)",
                                               {"x": (2, 3), "c": ()}),
             ("np.pad(x, (1, 6), mode='reflect')", {"x": (4,)}),
             ("np.pad(x, ((2, 0), (1, 5)), 'wrap')", {"x": (2, 3)}),
             ("np.pad(x, 3, mode='symmetric') + np.pad(x, (0, 6), mode='edge')", {"x": (3,)})],
    np.repeat: [("np.repeat(x, 3)", {"x": (4,)}), ("np.repeat(x, 2, axis=1)", {"x": (2, 3)})],
    np.take: [("np.take(x, np.array([0, 2, 2, 1]))", {"x": (4,)}),
              ("np.take(x, np.array([1, 0]), axis=1)", M34)],
    np.take_along_axis: [
        ("np.take_along_axis(x, np.array([[1, 0, -1], [3, 3, 0], [2, 1, 0]]), axis=1)", M34),
        ("np.take_along_axis(x, np.array([4, 0, 4, 1]), None)", {"x": (5,)})],
    np.interp: [("np.interp(x, np.array([-1.0, 0.0, 0.5, 1.0]), fp)", {"x": (5,), "fp": (4,)}),
                ("np.interp(x, np.array([-1.0, 0.2, 1.0]), fp)", {"x": (), "fp": V3})],
    np.trapezoid: [("np.trapezoid(y)", {"y": (5,)}), ("np.trapezoid(y, x)", {"y": (5,), "x": (5,)}),
                   ("np.trapezoid(y, dx=dx)", {"y": (5,), "dx": ()}),
                   ("np.trapezoid(y, axis=0)", {"y": (4, 3)})],
    np.dot: [("np.dot(a, b)", {"a": (4,), "b": (4,)}), ("np.dot(a, b)", {"a": (3, 4), "b": (4,)}),
             ("np.dot(a, b)", {"a": (4,), "b": (4, 3)}),
             ("np.dot(a, b)", {"a": (3, 4), "b": (4, 2)})],
    operator.matmul: [("a @ b", {"a": (3, 4), "b": (4,)}), ("a @ b", {"a": (2, 3), "b": (3, 4)})],
    np.matmul: [("np.matmul(a, b)", {"a": (4,), "b": (4, 3)})],
    np.outer: [("np.outer(a, b)", {"a": (3,), "b": (4,)})],
    np.transpose: [("np.transpose(x)", {"x": (3, 4)}),
                   ("np.transpose(x, (1, 2, 0))", {"x": (2, 3, 4)}),
                   ("np.transpose(x, axes=(0, -1, 1))", {"x": (2, 3, 4)}),
                   ("x.transpose(2, 0, 1)", {"x": (2, 3, 4)}),
                   ("x.transpose((1, 0))", {"x": (3, 4)})],
    np.diagonal: [("np.diagonal(x)", {"x": (3, 4)}), ("np.diagonal(x, 1)", {"x": (3, 4)}),
                  ("x.diagonal(offset=-1)", {"x": (4, 3)})],
    np.broadcast_to: [("np.broadcast_to(x, (3, 4))", {"x": (4,)}),
                      ("np.broadcast_to(x, (2, 3))", {"x": (2, 1)}),
                      ("np.broadcast_to(x, (3,))", {"x": ()})],
    arrays.outer_operand: [("np.multiply.outer(x, y)", {"x": (3,), "y": (4,)}),
                           ("np.subtract.outer(x, y)", {"x": (2, 3), "y": (4,)}),
                           ("np.add.outer(x, y)", {"x": (), "y": (2, 2)}),
                           ("np.power.outer(x, y)", {"x": (3,), "y": (2, 1)}),
                           ("np.arctan2.outer(x, y)", {"x": (3,), "y": ()})],
    arrays.flat: [("np.append(x, y)", {"x": (2, 3), "y": ()}),
                  ("np.append(x, y)", {"x": (3,), "y": (2, 2)}),
                  ("np.append(x, y, axis=0)", {"x": (2, 3), "y": (1, 3)}),
                  ("np.append(x, y, 1)", {"x": (2, 3), "y": (2, 2)}),
                  ("kn.flat(x)", {"x": ()})],
    np.reshape: [("np.reshape(a, (4, 3))", {"a": (3, 4)}), ("np.reshape(a, -1)", {"a": (3, 4)})],
    np.ravel: [("np.ravel(x)", {"x": (3, 4)}), ("np.ravel(x.T)", {"x": (3, 4)})],
    np.copy: [("np.copy(x)", {"x": (4,)}), ("np.copy(x)", {"x": ()})],
    np.full_like: [("np.full_like(x, y) * x", {"x": V3, "y": ()}),
                   ("np.full_like(x, y) * x", {"x": (2, 3), "y": ()})],
    np.ascontiguousarray: [("np.ascontiguousarray(x)", {"x": (3, 4)}),
                           ("np.ascontiguousarray(x.T)", {"x": (3, 4)}),
                           ("np.ascontiguousarray(x)", {"x": ()})],
    np.real: [("np.real(x)", {"x": (3,)})],
    np.atleast_1d: [("np.atleast_1d(x)", {"x": (3,)}), ("np.r_[x, y, x[0]]", {"x": (3,), "y": ()}),
                    ("np.atleast_1d(x) * 2.0", {"x": ()})],
    np.atleast_2d: [("np.atleast_2d(x)", {"x": (3,)})],
    np.atleast_3d: [("np.atleast_3d(x)", {"x": (2, 3)})],
    np.swapaxes: [("np.swapaxes(a, 0, 2)", {"a": (2, 3, 4)})],
    np.moveaxis: [("np.moveaxis(a, 0, -1)", {"a": (2, 3, 4)})],
    np.nan_to_num: [("np.nan_to_num(x)", {"x": (4,)})],
    runtime.item: [("x.item()", {"x": (1,)}), ("x.T.item()", {"x": (1, 1)})],
    np.sinc: [("np.sinc(x)", {"x": (4,)})],
    np.asarray: [("np.asarray(x.T, np.float64)", {"x": (2, 3)})],
    np.linspace: [("np.linspace(start, stop, 5)", {"start": (), "stop": ()}),
                  ("np.linspace(start, stop, 4, endpoint=False)", {"start": (), "stop": ()}),
                  ("np.linspace(start, stop, 1)", {"start": (), "stop": ()})],
    np.full: [("np.full((3, 2), fill_value)", {"fill_value": ()}),
              ("np.full(4, fill_value * 2.0)", {"fill_value": ()})],
    np.clip: [("np.clip(a, a_min, a_max)", {"a": (6,), "a_min": (), "a_max": ()}),
              ("np.clip(a, a_min, a_max)", {"a": (6,), "a_min": (6,), "a_max": (6,)}),
              ("np.clip(a, a_min, a_max)", {"a": (3, 4), "a_min": (4,), "a_max": ()}),
              ("np.clip(a, -0.3, 0.4)", {"a": (6,)})],
    np.where: [("np.where(x > 0.1, x, y)", {"x": (6,), "y": (6,)}),
               ("np.where(x > 0.1, x * y, 0.5)", {"x": (3, 4), "y": (4,)})],
    # rules of a tuple of arrays or numbers (rules.pieces)
    np.stack: [("np.stack((x, y * 2.0))", {"x": (4,), "y": (4,)}),
               ("np.stack([x, y], axis=1)", {"x": (3,), "y": (3,)}),
               ("np.stack((x, y), axis=-1)", {"x": (2, 3), "y": (2, 3)})],
    np.array: [("np.array((x, y * y, 0.5))", {"x": (), "y": ()}),
               ("np.array([x, y])", {"x": (3,), "y": (3,)})],
    np.concatenate: [("np.concatenate((x, y, x[:2]))", {"x": (4,), "y": (3,)}),
                     ("np.concatenate((x, y), axis=1)", {"x": (2, 3), "y": (2, 1)}),
                     ("np.concatenate((x, y * 2.0), axis=-1)", {"x": (2, 3), "y": (2, 3)})],
    np.hstack: [("np.hstack((x, y))", {"x": (3,), "y": (2,)}),
                ("np.hstack((x, y))", {"x": (), "y": (2,)}),
                ("np.hstack((x, y))", {"x": (2, 3), "y": (2, 1)})],
    np.vstack: [("np.vstack((x, y))", {"x": (3,), "y": (3,)}),
                ("np.vstack((x, y))", {"x": (2, 3), "y": (1, 3)})],
    max: [("max(x, y)", {"x": (), "y": ()})],
    min: [("min(x, y)", {"x": (), "y": ()})],
    float: [("float(x)", {"x": ()})],
    np.float64: [("np.float64(x)", {"x": ()}), ("np.float64(x)", {"x": (2, 3)})],
    math.atan2: [("math.atan2(y, x)", {"y": (), "x": ()})],
    np.arctan2: [("np.arctan2(y, x)", {"y": (5,), "x": (5,)}),
                 ("np.arctan2(y, x)", {"y": (3, 4), "x": (4,)})],
}
def short_name(key):
    """The name a primitive is spelled with after its module: 'sin' for np.sin and math.sin."""
    name = spell(key)
    return key.__name__ if name is None else name.rpartition(".")[2].partition("(")[0]


def spell(key):
    """The Python spelling of a primitive, e.g. 'np.sin', 'math.exp', 'abs'; None for operators."""
    if key in OPERATORS:
        return None
    for module, prefix in ((np, "np"), (math, "math"), (builtins, ""),
                           (scipy.special, "scipy.special")):
        for name in sorted(dir(module)):
            if getattr(module, name) is key:
                return f"{prefix}.{name}" if prefix else name
    return None


def cases_for(key, rule):
    if key in SPECIAL:
        return SPECIAL[key]
    params = [p for p in rule.params if p in rule.partials]
    expr = OPERATORS.get(key)
    if expr is None:
        name = spell(key)
        if name is None:
            return []
        expr = f"{name}({', '.join(params)})"
    scalar_only = expr.startswith("math.") or expr.partition("(")[0] in ("abs", "pow")
    cases = [(expr, {p: () for p in params})]
    if not scalar_only:
        cases.append((expr, {p: (5,) for p in params}))
        if len(params) == 2:
            cases.append((expr, {params[0]: (3, 4), params[1]: (4,)}))
            cases.append((expr, {params[0]: (), params[1]: (3, 1)}))
    return cases


def rule_cases():
    """(key, expression, shapes) for every differentiable rule; (key, None, None) when this
    table has no case for it."""
    out = []
    for key, rule in rules.REGISTRY.items():
        if not rule.nondiff:
            out.extend((key, expr, shapes) for expr, shapes in cases_for(key, rule) or
                       [(None, None)])
    return out


def make_args(key, expr, shapes, seed):
    """Random inputs from the rule's domain, then the weights contracting its result."""
    rng = np.random.default_rng(seed)
    domain = DOMAINS.get(short_name(key), {})
    args = []
    for name, shape in shapes.items():
        lo, hi = domain.get(name, (-0.9, 0.9))
        value = rng.uniform(lo, hi, shape)
        args.append(float(value) if shape == () else value)
    probe = eval(expr, {"np": np, "math": math, "scipy": scipy, "rt": runtime, "kn": kn},
                 dict(zip(shapes, args, strict=True)))
    args.append(rng.uniform(0.5, 1.5, np.shape(probe)) if np.ndim(probe) else 1.3)
    return args


_counter = itertools.count()


def write_module(tmp_path, expr, names, weighted=True, curved=False):
    """f(*names, weights) = sum(r * weights) for r the expression (with `curved`,
    sum(sin(r) * weights): a second derivative through a linear expression too)."""
    args = list(names) + (["weights"] if weighted else [])
    r = "np.sin(r_)" if curved else "r_"  # (r_: scipy.special.huber has a parameter r)
    result = f"np.sum({r} * weights)" if weighted else f"np.sum({r})"
    source = ("import math\nimport operator\n\nimport numpy as np\nimport scipy.linalg\n"
              "import scipy.special\n\nfrom srcad import runtime as rt\n"
              "from srcad.kernels import namespace as kn\n\n\n"
              f"def f({', '.join(args)}):\n"
              f"    r_ = {expr}\n"
              f"    return {result}\n")
    path = tmp_path / "rule_case.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"rule_case_{next(_counter)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f
