"""Helper functions imported by tests/programs.py from another module (its own globals)."""

import numpy as np
from numpy import tanh

OFFSET = 0.25


def squared_norm(v):
    return np.sum(v * v)


def layer(W, v, bias):
    return tanh(W @ v + bias) + OFFSET


def stats(v):
    m = np.mean(v)
    return m, np.sum((v - m) ** 2)
