"""Helpers in a module of their own for tests/tape/test_patching.py: math.* and NumPy
allocations reached through another module's globals, a class and a local import."""

import math

import numpy as np


def softplus(v):
    return math.log1p(math.exp(v))


def filled(values):
    y = np.zeros(len(values))
    for i, v in enumerate(values):
        y[i] = math.sin(v)
    return y


class Spring:
    def __init__(self, stiffness):
        self.stiffness = stiffness

    def energy(self, stretch):
        return 0.5 * self.stiffness * math.pow(stretch, 2)


def imports_math_inside(v):
    import math as m
    from math import cos

    return m.sin(v) * cos(v)
