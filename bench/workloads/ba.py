"""ADBench bundle adjustment (shared/data/adbench/README.md section 2): the per-observation
2 x 15 Jacobian blocks, vectorised over observations, by reverse mode.

Observation i's reprojection residual depends only on its camera (11 parameters), its point
(3) and its weight (1). So `f` takes per-observation copies of those (`cam_obs[i]` is the
camera of observation i, `X_obs[i]` its point) and returns the SUM over observations of one
residual component (`row` 0 = x, 1 = y). The gradient of that sum w.r.t. `cam_obs[i]`,
`X_obs[i]` and `w[i]` is exactly row `row` of observation i's Jacobian block, so two
gradient calls (row 0 and row 1) give every block; the weight residual 1 - w_i^2 has the
constant derivative -2 w_i and needs no AD. The table times one call (half the Jacobian).

Size keys: "ba1" ... "ba20" (row 0), or "ba1/row1" for the y component; "test" is
ba/test.txt, which has ADBench's expected Jacobian.
"""

import math

import numba
import numpy as np

from bench.workloads import _adbench

NAME = "ba"
DESCRIPTION = "ADBench BA, one residual row of every 2x15 Jacobian block per gradient call"
SIZES = {"quick": ["ba1"], "full": ["ba1", "ba2", "ba3", "ba4", "ba5"], "test": ["test"]}
WRT = (0, 1, 2)
CHECK_SIZE = ["test", "test/row1"]


def make_inputs(size):
    name, _, row = size.partition("/")
    cams, X, w, feats, obs = _adbench.read_ba(_adbench.ba_file(name))
    cam_obs = np.ascontiguousarray(cams[obs[:, 0]])
    X_obs = np.ascontiguousarray(X[obs[:, 1]])
    return cam_obs, X_obs, w, feats, 1 if row == "row1" else 0


def f(cam_obs, X_obs, w, feats, row):
    total = 0.0
    for i in range(w.shape[0]):
        r0 = cam_obs[i, 0]
        r1 = cam_obs[i, 1]
        r2 = cam_obs[i, 2]
        # the point in the camera frame: rotate X - C by the angle-axis vector r
        y0 = X_obs[i, 0] - cam_obs[i, 3]
        y1 = X_obs[i, 1] - cam_obs[i, 4]
        y2 = X_obs[i, 2] - cam_obs[i, 5]
        theta2 = r0 * r0 + r1 * r1 + r2 * r2
        if theta2 != 0.0:
            theta = math.sqrt(theta2)
            costh = math.cos(theta)
            sinth = math.sin(theta)
            v0 = r0 / theta
            v1 = r1 / theta
            v2 = r2 / theta
            vdoty = (v0 * y0 + v1 * y1 + v2 * y2) * (1.0 - costh)
            p0 = y0 * costh + (v1 * y2 - v2 * y1) * sinth + v0 * vdoty
            p1 = y1 * costh + (v2 * y0 - v0 * y2) * sinth + v1 * vdoty
            p2 = y2 * costh + (v0 * y1 - v1 * y0) * sinth + v2 * vdoty
        else:
            p0 = y0 + r1 * y2 - r2 * y1
            p1 = y1 + r2 * y0 - r0 * y2
            p2 = y2 + r0 * y1 - r1 * y0
        # perspective division, radial distortion, projection
        u0 = p0 / p2
        u1 = p1 / p2
        s = u0 * u0 + u1 * u1
        distortion = 1.0 + cam_obs[i, 9] * s + cam_obs[i, 10] * s * s
        if row == 0:
            e = w[i] * (cam_obs[i, 6] * u0 * distortion + cam_obs[i, 7] - feats[i, 0])
        else:
            e = w[i] * (cam_obs[i, 6] * u1 * distortion + cam_obs[i, 8] - feats[i, 1])
        total = total + e
    return total


@numba.njit(cache=True)
def hand_adjoint(cam_obs, X_obs, w, feats, row):
    # Observations are independent, so forward and reverse are fused per observation and
    # nothing is saved across observations: each iteration computes the residual, then
    # back-propagates its seed 1 through distortion, division, rotation and translation
    # into that observation's 11 + 3 + 1 gradient entries (written once, never summed).
    p = w.shape[0]
    gcam = np.empty((p, 11))
    gX = np.empty((p, 3))
    gw = np.empty(p)
    total = 0.0
    for i in range(p):
        r0, r1, r2 = cam_obs[i, 0], cam_obs[i, 1], cam_obs[i, 2]
        y0 = X_obs[i, 0] - cam_obs[i, 3]
        y1 = X_obs[i, 1] - cam_obs[i, 4]
        y2 = X_obs[i, 2] - cam_obs[i, 5]
        theta2 = r0 * r0 + r1 * r1 + r2 * r2
        rotated = theta2 != 0.0
        if rotated:
            theta = math.sqrt(theta2)
            ct = math.cos(theta)
            st = math.sin(theta)
            v0, v1, v2 = r0 / theta, r1 / theta, r2 / theta
            c0 = v1 * y2 - v2 * y1
            c1 = v2 * y0 - v0 * y2
            c2 = v0 * y1 - v1 * y0
            dvy = v0 * y0 + v1 * y1 + v2 * y2
            om = 1.0 - ct
            p0 = y0 * ct + c0 * st + v0 * dvy * om
            p1 = y1 * ct + c1 * st + v1 * dvy * om
            p2 = y2 * ct + c2 * st + v2 * dvy * om
        else:
            p0 = y0 + r1 * y2 - r2 * y1
            p1 = y1 + r2 * y0 - r0 * y2
            p2 = y2 + r0 * y1 - r1 * y0
        u0 = p0 / p2
        u1 = p1 / p2
        s = u0 * u0 + u1 * u1
        k1, k2, fl = cam_obs[i, 9], cam_obs[i, 10], cam_obs[i, 6]
        dist = 1.0 + k1 * s + k2 * s * s
        # ---- reverse, seed 1 on e = w (f u_row dist + x0_row - feat_row)
        wi = w[i]
        u = u0 if row == 0 else u1
        res = fl * u * dist + cam_obs[i, 7 + row] - feats[i, row]
        total += wi * res
        gw[i] = res
        gcam[i, 6] = wi * u * dist            # focal length
        gcam[i, 7] = wi if row == 0 else 0.0  # principal point x0
        gcam[i, 8] = 0.0 if row == 0 else wi  # principal point y0
        bu = wi * fl * dist
        bdist = wi * fl * u
        gcam[i, 9] = bdist * s
        gcam[i, 10] = bdist * s * s
        bs = bdist * (k1 + 2.0 * k2 * s)
        bu0 = 2.0 * u0 * bs
        bu1 = 2.0 * u1 * bs
        if row == 0:
            bu0 += bu
        else:
            bu1 += bu
        # u = p[0:2] / p2
        bp0 = bu0 / p2
        bp1 = bu1 / p2
        bp2 = -(bu0 * u0 + bu1 * u1) / p2
        if rotated:
            # p = y ct + (v x y) st + v (v.y) om
            by0, by1, by2 = bp0 * ct, bp1 * ct, bp2 * ct
            bct = bp0 * y0 + bp1 * y1 + bp2 * y2
            bst = bp0 * c0 + bp1 * c1 + bp2 * c2
            bpv = bp0 * v0 + bp1 * v1 + bp2 * v2
            bdvy = bpv * om
            bct -= bpv * dvy  # om = 1 - ct
            bv0 = bp0 * dvy * om + bdvy * y0
            bv1 = bp1 * dvy * om + bdvy * y1
            bv2 = bp2 * dvy * om + bdvy * y2
            by0 += bdvy * v0
            by1 += bdvy * v1
            by2 += bdvy * v2
            # c = v x y:  bv += y x bc,  by += bc x v,  with bc = bp st
            bc0, bc1, bc2 = bp0 * st, bp1 * st, bp2 * st
            bv0 += y1 * bc2 - y2 * bc1
            bv1 += y2 * bc0 - y0 * bc2
            bv2 += y0 * bc1 - y1 * bc0
            by0 += bc1 * v2 - bc2 * v1
            by1 += bc2 * v0 - bc0 * v2
            by2 += bc0 * v1 - bc1 * v0
            # v = r / theta, ct = cos(theta), st = sin(theta), theta = sqrt(r.r)
            btheta = -bct * st + bst * ct - (bv0 * r0 + bv1 * r1 + bv2 * r2) / theta2
            scale = btheta / theta
            gcam[i, 0] = bv0 / theta + scale * r0
            gcam[i, 1] = bv1 / theta + scale * r1
            gcam[i, 2] = bv2 / theta + scale * r2
        else:
            # p = y + r x y:  by = bp + bp x r,  br = y x bp
            by0 = bp0 + bp1 * r2 - bp2 * r1
            by1 = bp1 + bp2 * r0 - bp0 * r2
            by2 = bp2 + bp0 * r1 - bp1 * r0
            gcam[i, 0] = y1 * bp2 - y2 * bp1
            gcam[i, 1] = y2 * bp0 - y0 * bp2
            gcam[i, 2] = y0 * bp1 - y1 * bp0
        # y = X - C
        gX[i, 0], gX[i, 1], gX[i, 2] = by0, by1, by2
        gcam[i, 3], gcam[i, 4], gcam[i, 5] = -by0, -by1, -by2
    return total, (gcam, gX, gw)


def check(value, grads, size):
    exp = _adbench.expected("ba", "test.txt")
    row = 1 if size.endswith("row1") else 0
    gcam, gX, gw = (np.asarray(g) for g in grads)
    p = gw.shape[0]
    reproj = np.array(exp["reproj_err"]).reshape(p, 2)
    assert abs(value - reproj[:, row].sum()) <= 1e-8 * p, (value, reproj[:, row].sum())
    # CSR values: row 2i + row of J holds [11 camera, 3 point, 1 weight] for observation i
    vals = np.array(exp["J_vals"][: 2 * p * 15]).reshape(p, 2, 15)[:, row, :]
    ours = np.concatenate([gcam, gX, gw[:, None]], axis=1)
    err = np.max(np.abs(ours - vals))
    assert err <= 1e-8 * max(1.0, np.max(np.abs(vals))), f"BA Jacobian row {row} off by {err:.3g}"


# ---- peers: the residual vectorised over observations, then grad of the row sum ----

def _vector_loss(np_, row):
    def loss(cam, X, w, feats):
        r = cam[:, 0:3]
        y = X - cam[:, 3:6]
        theta2 = np_.sum(r * r, 1)
        nonzero = theta2 != 0.0
        # the safe-where idiom: a dummy 1 where theta = 0 keeps the unused branch finite
        theta = np_.sqrt(np_.where(nonzero, theta2, 1.0))[:, None]
        v = r / theta
        ct, st = np_.cos(theta), np_.sin(theta)
        rot = y * ct + np_.cross(v, y) * st + v * np_.sum(v * y, 1)[:, None] * (1.0 - ct)
        small = y + np_.cross(r, y)
        pcam = np_.where(nonzero[:, None], rot, small)
        u = pcam[:, 0:2] / pcam[:, 2:3]
        s = np_.sum(u * u, 1)
        dist = 1.0 + cam[:, 9] * s + cam[:, 10] * s * s
        e = w * (cam[:, 6] * u[:, row] * dist + cam[:, 7 + row] - feats[:, row])
        return np_.sum(e)

    return loss


def make_jax(cam_obs, X_obs, w, feats, row):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    g = jax.jit(jax.grad(_vector_loss(jnp, row), argnums=(0, 1, 2)))
    args = [jnp.asarray(a) for a in (cam_obs, X_obs, w, feats)]
    return lambda: jax.block_until_ready(g(*args))


def make_autograd(cam_obs, X_obs, w, feats, row):
    import autograd
    import autograd.numpy as anp

    g = autograd.grad(_vector_loss(anp, row), argnum=(0, 1, 2))
    return lambda: g(cam_obs, X_obs, w, feats)


def make_torch(cam_obs, X_obs, w, feats, row):
    import torch

    class _T:  # torch spelled like numpy for the shared formulation
        sum, sqrt, cos, sin, where = torch.sum, torch.sqrt, torch.cos, torch.sin, torch.where

        @staticmethod
        def cross(a, b):
            return torch.linalg.cross(a, b, dim=-1)

    loss = _vector_loss(_T, row)
    ts = [torch.from_numpy(a.copy()) for a in (cam_obs, X_obs, w)]
    ft = torch.from_numpy(feats)

    def grad():
        rs = [t.detach().requires_grad_(True) for t in ts]
        return torch.autograd.grad(loss(*rs, ft), rs)

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
