import numpy as np


def concatenated(x, a):
    return np.sum(np.concatenate((x, x * a, x[:2])) ** 2)


def stacked(x, a):
    return np.sum(np.stack((x, x * a)) * np.arange(8.0).reshape(2, 4))


def array_of_scalars(x, a):
    v = np.array((a, a * a, x[0]))
    return np.sum(v * v * np.array((1.0, 2.0, 3.0)))


FUNCTIONS = [concatenated, stacked, array_of_scalars]
