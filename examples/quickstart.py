"""srcad in one page: a gradient, the code srcad generated for it, and a loop."""

import math

import numpy as np

import srcad


def f(x1, x2):
    return (math.sin(x2) + 1) / (x2 + math.exp(x1)) + x1 * x2


def energy(x, y, z):
    return np.sum(2 * x**4 - y**3 + 3 * z**2)


def horner(coeffs, t):
    """p(t) = coeffs[0] + t * (coeffs[1] + t * (...)), a loop srcad reverses."""
    p = 0.0
    for i in range(len(coeffs) - 1, -1, -1):
        p = p * t + coeffs[i]
    return p


if __name__ == "__main__":
    df_dx1 = srcad.grad(f)(1.5, 0.5)
    value, df_dx2 = srcad.value_and_grad(f, wrt="x2")(1.5, 0.5)
    print(f"f(1.5, 0.5) = {value:.6f}   df/dx1 = {df_dx1:.6f}   df/dx2 = {df_dx2:.6f}")

    g = srcad.grad(f, wrt=(0, 1))
    print("\nThe gradient srcad generated for f (compiled with numba):\n")
    print(srcad.source(g, 1.5, 0.5))

    x, y, z = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])
    gx, gy, gz = srcad.grad(energy, wrt=(0, 1, 2))(x, y, z)
    print(f"d energy: 8x^3 = {gx}, -3y^2 = {gy}, 6z = {gz}")

    coeffs = np.array([1.0, -2.0, 0.5, 3.0])
    dp_dc, dp_dt = srcad.grad(horner, wrt=(0, 1))(coeffs, 0.7)
    print(f"\nHorner: dp/dcoeffs = {dp_dc}, dp/dt = {dp_dt:.6f}")
    print("\nIts generated gradient (the loop runs backwards in the reverse sweep):\n")
    print(srcad.source(srcad.grad(horner, wrt=(0, 1)), coeffs, 0.7))
