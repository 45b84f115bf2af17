"""ADBench D-LSTM (shared/data/adbench/README.md section 3): a diagonal-weight LSTM over a
character sequence, differentiated w.r.t. (main_params, extra_params).

main_params (2l, 4b): row 2i holds layer i's weights, row 2i+1 its biases, each as four
blocks of b = 14 [forget | input | output | change]; extra_params (3, b): input weight,
output weight, output bias. The state (2l, b) and the sequence (c, b) are data.
"""

import numba
import numpy as np

from bench.workloads import _adbench

NAME = "lstm"
DESCRIPTION = "ADBench D-LSTM (numpy on 14-element slices), d/d(main_params, extra_params)"
SIZES = {"quick": ["l2_c1024"], "full": ["l2_c1024", "l4_c1024"], "test": ["l2_c8"]}
WRT = (0, 1)
CHECK_SIZE = "l2_c1024"


def make_inputs(size):
    """'l2_c1024' reads lstm/lstm_l2_c1024.txt; 'l2_c8' is its first 8 characters."""
    layers, c = (int(part[1:]) for part in size.split("_"))
    name = f"lstm/lstm_l{layers}_c{c}.txt"
    if _adbench.find(name) is None:
        name = f"lstm/lstm_l{layers}_c1024.txt"
    main, extra, state, seq = _adbench.read_lstm(name)
    return main, extra, state, np.ascontiguousarray(seq[:c])


def f(main_params, extra_params, state, sequence):
    nlayers = main_params.shape[0] // 2
    b = sequence.shape[1]
    c = sequence.shape[0]
    hidden = state[0::2].copy()
    cell = state[1::2].copy()
    total = 0.0
    for t in range(c - 1):
        x = sequence[t] * extra_params[0]
        for i in range(nlayers):
            w = main_params[2 * i]
            bias = main_params[2 * i + 1]
            forget = 1.0 / (1.0 + np.exp(-(x * w[0:b] + bias[0:b])))
            ingate = 1.0 / (1.0 + np.exp(-(hidden[i] * w[b:2 * b] + bias[b:2 * b])))
            outgate = 1.0 / (1.0 + np.exp(-(x * w[2 * b:3 * b] + bias[2 * b:3 * b])))
            change = np.tanh(hidden[i] * w[3 * b:] + bias[3 * b:])
            cell[i] = cell[i] * forget + ingate * change
            hidden[i] = outgate * np.tanh(cell[i])
            x = hidden[i]
        y = x * extra_params[1] + extra_params[2]
        # ADBench's normalisation: log(2 + sum exp(y)), not a true logsumexp
        ynorm = y - np.log(2.0 + np.sum(np.exp(y)))
        total = total + np.sum(sequence[t + 1] * ynorm)
    return -total / ((c - 1) * b)


@numba.njit(cache=True)
def hand_adjoint(main_params, extra_params, state, sequence):
    # Forward: the primal written as element loops (no temporaries), saving for every step t
    # and layer i the new hidden and cell state (H, C: (c, l, b), with the initial state at
    # t = 0), the four gate activations (FG, IG, OG, GG), tanh(cell) (TC), and the output
    # layer's exp(y) and its sum (EY, SE).
    # Reverse: steps in reverse, layers top-down; the adjoints of each layer's carried
    # hidden/cell state (bh, bc) flow to the previous step, the adjoint of its input (bx)
    # to the layer below, and the parameter adjoints accumulate in place.
    L = main_params.shape[0] // 2
    b = sequence.shape[1]
    c = sequence.shape[0]
    T = c - 1
    H = np.empty((c, L, b))
    C = np.empty((c, L, b))
    FG = np.empty((T, L, b))
    IG = np.empty((T, L, b))
    OG = np.empty((T, L, b))
    GG = np.empty((T, L, b))
    TC = np.empty((T, L, b))
    for i in range(L):
        H[0, i] = state[2 * i]
        C[0, i] = state[2 * i + 1]
    inw, outw, outb = extra_params[0], extra_params[1], extra_params[2]
    EY = np.empty((T, b))  # exp(y) of the output layer
    SE = np.empty(T)
    total = 0.0
    for t in range(T):
        for i in range(L):
            w = main_params[2 * i]
            bias = main_params[2 * i + 1]
            for j in range(b):
                xj = sequence[t, j] * inw[j] if i == 0 else H[t + 1, i - 1, j]
                hj = H[t, i, j]
                fg = 1.0 / (1.0 + np.exp(-(xj * w[j] + bias[j])))
                ig = 1.0 / (1.0 + np.exp(-(hj * w[b + j] + bias[b + j])))
                og = 1.0 / (1.0 + np.exp(-(xj * w[2 * b + j] + bias[2 * b + j])))
                gg = np.tanh(hj * w[3 * b + j] + bias[3 * b + j])
                cj = C[t, i, j] * fg + ig * gg
                tc = np.tanh(cj)
                FG[t, i, j] = fg
                IG[t, i, j] = ig
                OG[t, i, j] = og
                GG[t, i, j] = gg
                TC[t, i, j] = tc
                C[t + 1, i, j] = cj
                H[t + 1, i, j] = og * tc
        se = 0.0
        for j in range(b):
            EY[t, j] = np.exp(H[t + 1, L - 1, j] * outw[j] + outb[j])
            se += EY[t, j]
        SE[t] = se
        lse = np.log(2.0 + se)
        for j in range(b):
            total += sequence[t + 1, j] * (H[t + 1, L - 1, j] * outw[j] + outb[j] - lse)
    value = -total / (T * b)

    bmain = np.zeros_like(main_params)
    bextra = np.zeros_like(extra_params)
    bh = np.zeros((L, b))  # adjoints of the state carried into step t + 1
    bc = np.zeros((L, b))
    bx = np.empty(b)
    seed = -1.0 / (T * b)
    for t in range(T - 1, -1, -1):
        # ynorm = y - log(2 + sum exp y); total += seq[t+1] . ynorm
        sseq = 0.0
        for j in range(b):
            sseq += sequence[t + 1, j]
        k = seed * sseq / (2.0 + SE[t])
        for j in range(b):
            by = seed * sequence[t + 1, j] - k * EY[t, j]
            bextra[1, j] += by * H[t + 1, L - 1, j]
            bextra[2, j] += by
            bx[j] = by * outw[j]
        for i in range(L - 1, -1, -1):
            w = main_params[2 * i]
            bw = bmain[2 * i]
            bb = bmain[2 * i + 1]
            for j in range(b):
                xj = sequence[t, j] * inw[j] if i == 0 else H[t + 1, i - 1, j]
                hj = H[t, i, j]
                fg, ig, og = FG[t, i, j], IG[t, i, j], OG[t, i, j]
                gg, tc = GG[t, i, j], TC[t, i, j]
                bhn = bx[j] + bh[i, j]
                bcn = bc[i, j] + bhn * og * (1.0 - tc * tc)
                bzf = bcn * C[t, i, j] * fg * (1.0 - fg)
                bzi = bcn * gg * ig * (1.0 - ig)
                bzo = bhn * tc * og * (1.0 - og)
                bzg = bcn * ig * (1.0 - gg * gg)
                bw[j] += bzf * xj
                bw[b + j] += bzi * hj
                bw[2 * b + j] += bzo * xj
                bw[3 * b + j] += bzg * hj
                bb[j] += bzf
                bb[b + j] += bzi
                bb[2 * b + j] += bzo
                bb[3 * b + j] += bzg
                bc[i, j] = bcn * fg
                bh[i, j] = bzi * w[b + j] + bzg * w[3 * b + j]
                bx[j] = bzf * w[j] + bzo * w[2 * b + j]  # to the layer below
            if i == 0:
                for j in range(b):
                    bextra[0, j] += bx[j] * sequence[t, j]
    return value, (bmain, bextra)


def check(value, grads):
    exp = _adbench.expected("lstm", "lstm_l2_c1024.txt")
    assert abs(value - exp["objective"]) <= 1e-8, (value, exp["objective"])
    flat = np.concatenate([np.ravel(g) for g in grads])
    err = np.max(np.abs(flat - np.array(exp["gradient"])))
    assert err <= 1e-8, f"LSTM gradient differs from ADBench's by {err:.3g}"


# ---- peers ----

def _layer_step(np_, sig, w, bias, x, h, cstate, b):
    forget = sig(x * w[0:b] + bias[0:b])
    ingate = sig(h * w[b:2 * b] + bias[b:2 * b])
    outgate = sig(x * w[2 * b:3 * b] + bias[2 * b:3 * b])
    change = np_.tanh(h * w[3 * b:] + bias[3 * b:])
    cnew = cstate * forget + ingate * change
    return outgate * np_.tanh(cnew), cnew


def _python_loss(np_, sig, state, sequence):
    def loss(main_params, extra_params):
        L = main_params.shape[0] // 2
        c, b = sequence.shape
        hidden = [state[2 * i] for i in range(L)]
        cell = [state[2 * i + 1] for i in range(L)]
        total = 0.0
        for t in range(c - 1):
            x = sequence[t] * extra_params[0]
            for i in range(L):
                hidden[i], cell[i] = _layer_step(np_, sig, main_params[2 * i],
                                                 main_params[2 * i + 1], x, hidden[i], cell[i], b)
                x = hidden[i]
            y = x * extra_params[1] + extra_params[2]
            total = total + np_.sum(sequence[t + 1] * (y - np_.log(2.0 + np_.sum(np_.exp(y)))))
        return -total / ((c - 1) * b)

    return loss


def make_jax(main_params, extra_params, state, sequence):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    L = main_params.shape[0] // 2
    c, b = sequence.shape
    seq = jnp.asarray(sequence)

    def loss(main_params, extra_params):
        def step(carry, t):
            hidden, cell, total = carry
            x = seq[t] * extra_params[0]
            hs, cs = [], []
            for i in range(L):
                h, cnew = _layer_step(jnp, jax.nn.sigmoid, main_params[2 * i],
                                      main_params[2 * i + 1], x, hidden[i], cell[i], b)
                hs.append(h)
                cs.append(cnew)
                x = h
            y = x * extra_params[1] + extra_params[2]
            total = total + jnp.sum(seq[t + 1] * (y - jnp.log(2.0 + jnp.sum(jnp.exp(y)))))
            return (jnp.stack(hs), jnp.stack(cs), total), None

        init = (jnp.asarray(state[0::2]), jnp.asarray(state[1::2]), 0.0)
        (_, _, total), _ = jax.lax.scan(step, init, jnp.arange(c - 1))
        return -total / ((c - 1) * b)

    g = jax.jit(jax.grad(loss, argnums=(0, 1)))
    mj, ej = jnp.asarray(main_params), jnp.asarray(extra_params)
    return lambda: jax.block_until_ready(g(mj, ej))


def make_autograd(main_params, extra_params, state, sequence):
    import autograd
    import autograd.numpy as anp

    def sig(z):
        return 1.0 / (1.0 + anp.exp(-z))

    g = autograd.grad(_python_loss(anp, sig, state, sequence), argnum=(0, 1))
    return lambda: g(main_params, extra_params)


def make_torch(main_params, extra_params, state, sequence):
    import torch

    loss = _python_loss(torch, torch.sigmoid, torch.from_numpy(state), torch.from_numpy(sequence))
    ts = [torch.from_numpy(a.copy()) for a in (main_params, extra_params)]

    def grad():
        rs = [t.detach().requires_grad_(True) for t in ts]
        return torch.autograd.grad(loss(*rs), rs)

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
