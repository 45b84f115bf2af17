"""Fit the parameters of an ODE to noisy observations: a damped oscillator x'' = -k x - c x',
integrated with a fixed-step RK4 loop, fitted by least squares with scipy.optimize.minimize
(jac=True takes srcad.value_and_grad's pair)."""

import numpy as np
import scipy.optimize

import srcad


def simulate(theta, x0, v0, dt, steps):
    k, c = theta[0], theta[1]
    xs = np.empty(steps)
    x, v = x0, v0
    for n in range(steps):
        a1, b1 = v, -k * x - c * v
        a2, b2 = v + 0.5 * dt * b1, -k * (x + 0.5 * dt * a1) - c * (v + 0.5 * dt * b1)
        a3, b3 = v + 0.5 * dt * b2, -k * (x + 0.5 * dt * a2) - c * (v + 0.5 * dt * b2)
        a4, b4 = v + dt * b3, -k * (x + dt * a3) - c * (v + dt * b3)
        x = x + dt / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
        v = v + dt / 6.0 * (b1 + 2.0 * b2 + 2.0 * b3 + b4)
        xs[n] = x
    return xs


def loss(theta, observed, dt):
    predicted = simulate(theta, 1.0, 0.0, dt, len(observed))
    return 0.5 * np.sum((predicted - observed) ** 2)


def main():
    rng = np.random.default_rng(0)
    true, dt, steps = np.array([4.0, 0.3]), 0.05, 200
    observed = simulate(true, 1.0, 0.0, dt, steps) + 0.01 * rng.normal(size=steps)
    objective = srcad.value_and_grad(loss, mode="source")  # compiled, or an error
    assert srcad.gradcheck(loss, (np.array([3.0, 0.5]), observed, dt), mode="source")
    print("gradient check: ok")
    fit = scipy.optimize.minimize(objective, np.array([3.0, 0.5]), args=(observed, dt),
                                  jac=True, method="L-BFGS-B")
    print(f"fitted k = {fit.x[0]:.3f}, c = {fit.x[1]:.3f} (true 4.000, 0.300), "
          f"{fit.nfev} evaluations")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return
    t = dt * np.arange(1, steps + 1)
    plt.plot(t, observed, ".", ms=3, label="observed")
    plt.plot(t, simulate(fit.x, 1.0, 0.0, dt, steps), label="fitted")
    plt.legend()
    plt.savefig("ode_fit.png", dpi=100)
    print("saved ode_fit.png")


if __name__ == "__main__":
    main()
