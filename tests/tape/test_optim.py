"""optim.SGD and optim.Adam: torch's update rules step by step (written out here from the torch
docs' pseudocode; maximize as torch 2.13 does it), a linear model trained the PyTorch way, groups, and zero_grad."""

import copy
import pickle
import warnings

import numpy as np
import pytest

from srcad.tape import no_grad, optim, tensor


def quadratic_grad(p, a):
    return 2 * a * p  # d/dp sum(a * p**2)


def run_steps(optimizer_class, p0, a, steps, **options):
    p = tensor(p0, requires_grad=True)
    optimizer = optimizer_class([p], **options)
    for _ in range(steps):
        optimizer.zero_grad()
        (tensor(a) * p**2).sum().backward()
        optimizer.step()
    return p.detach().numpy()


def sgd_by_the_docs(p, a, steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                    nesterov=False, maximize=False):
    b = None
    for _ in range(steps):
        g = quadratic_grad(p, a)
        g = (-g if maximize else g) + weight_decay * p  # torch negates before the decay
        if momentum:
            b = g if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def adam_by_the_docs(p, a, steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                     amsgrad=False):
    m, v, v_max = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t in range(1, steps + 1):
        g = quadratic_grad(p, a) + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g**2
        m_hat = m / (1 - betas[0] ** t)
        v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


SGD_OPTIONS = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
    {"lr": 0.01, "weight_decay": 0.5, "maximize": True},
]
ADAM_OPTIONS = [
    {},
    {"lr": 0.1, "betas": (0.8, 0.99)},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.2, "amsgrad": True},
]


CASES = [(optim.SGD, sgd_by_the_docs, options) for options in SGD_OPTIONS] + [
    (optim.Adam, adam_by_the_docs, options) for options in ADAM_OPTIONS
]


@pytest.mark.parametrize(
    ("optimizer", "by_the_docs", "options"), CASES, ids=[f"{c[0].__name__}{c[2]}" for c in CASES]
)
def test_update_follows_torch_rule(optimizer, by_the_docs, options):
    rng = np.random.default_rng(0)
    p0, a = rng.normal(size=4), rng.uniform(0.5, 2.0, 4)
    got = run_steps(optimizer, p0, a, 9, **options)
    np.testing.assert_allclose(got, by_the_docs(p0, a, 9, **options), rtol=1e-10)
    assert not np.allclose(got, p0)


@pytest.mark.parametrize("make", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.5),
    lambda params: optim.Adam(params, lr=0.1),
])
def test_linear_model_loss_goes_down(make):
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(100, 3))
    targets = inputs @ np.array([1.5, -2.0, 0.5]) + 0.3
    w = tensor(np.zeros(3), requires_grad=True)
    b = tensor(0.0, requires_grad=True)
    optimizer = make([w, b])
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = ((tensor(inputs) @ w + b - tensor(targets)) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(w.detach().numpy(), [1.5, -2.0, 0.5], atol=0.02)
    assert w.is_leaf and w.requires_grad


def test_momentum_with_a_gradient_not_cleared():
    p = tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1, momentum=0.9)
    (p * 2).sum().backward()
    optimizer.step()  # v = 2, p = 1 - 0.2
    optimizer.step()  # v = 0.9 * 2 + 2 (grad not cleared), p = 0.8 - 0.38
    np.testing.assert_allclose(p.tolist(), [0.42])


def test_groups_zero_grad_and_params_without_grad():
    p, q = tensor([1.0], requires_grad=True), tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.5}], lr=1.0)
    (p * 3).sum().backward()
    optimizer.step()
    assert p.tolist() == [-2.0] and q.tolist() == [1.0]
    (q * 3).sum().backward()
    optimizer.step()
    assert q.tolist() == [-0.5] and optimizer.param_groups[1]["lr"] == 0.5
    optimizer.zero_grad(set_to_none=False)
    assert p.grad.tolist() == [0.0] and q.grad.tolist() == [0.0]
    optimizer.zero_grad()
    assert p.grad is None


def test_invalid_options_raise_as_torch():
    p = tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))


# ---- found by an attack comparing the optimizers with torch 2.13 -----------------------------

def test_zero_grad_without_none_leaves_a_gradient_graph(rng=np.random.default_rng(5)):
    """zero_grad(set_to_none=False) after backward(create_graph=True) kept the gradient's graph:
    backpropagating through p.grad later added its second derivative into p.grad."""
    w0, x = rng.normal(size=3), rng.normal(size=3)
    w = tensor(w0, requires_grad=True)
    optimizer = optim.SGD([w], lr=0.1)
    (w**3).sum().backward(create_graph=True)
    optimizer.zero_grad(set_to_none=False)
    assert w.grad.grad_fn is None and not w.grad.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        (w.grad * tensor(x)).sum().backward()  # (a constant now, as torch's)
    (w**2).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w0, rtol=1e-15)


def test_a_custom_optimizer_written_the_torch_way(rng=np.random.default_rng(6)):
    """`state = self.state[p]` of a new parameter raised KeyError (torch's is a defaultdict)."""
    class Heavy(optim.Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    if len(state) == 0:
                        state["velocity"] = p.grad.detach().clone() * 0.0
                    state["velocity"] = 0.5 * state["velocity"] + p.grad
                    p.data = p.data - group["lr"] * state["velocity"]

    w0, a = rng.normal(size=2), rng.uniform(1, 2, size=2)
    w = tensor(w0, requires_grad=True)
    optimizer, expected, v = Heavy([w], lr=0.1), w0.copy(), 0.0
    for _ in range(3):
        optimizer.zero_grad()
        (tensor(a) * w**2).sum().backward()
        optimizer.step()
        v = 0.5 * v + quadratic_grad(expected, a)
        expected = expected - 0.1 * v
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-14)


def test_a_closure_runs_with_gradients_on_and_the_state_holds_tensors(rng=np.random.default_rng(7)):
    """step(closure) inside no_grad raised (torch enables gradients for it); the optimizers'
    state held NumPy arrays (torch's holds tensors: a user's code calls .norm() on them)."""
    from srcad.tape import Tensor, no_grad
    w0, a = rng.normal(size=2), rng.uniform(1, 2, size=2)
    w = tensor(w0, requires_grad=True)
    sgd = optim.SGD([w], lr=0.1, momentum=0.9)

    def closure():
        sgd.zero_grad()
        loss = (tensor(a) * w**2).sum()
        loss.backward()
        return loss

    with no_grad():
        loss = sgd.step(closure)
    assert loss.item() == pytest.approx(np.sum(a * w0**2), rel=1e-15)
    np.testing.assert_allclose(w.detach().numpy(), sgd_by_the_docs(w0, a, 1, 0.1, 0.9))
    buffer = sgd.state[w]["momentum_buffer"]
    assert isinstance(buffer, Tensor)
    np.testing.assert_allclose(buffer.clone().numpy(), quadratic_grad(w0, a))
    adam = optim.Adam([w], lr=0.1)
    closure()
    adam.step()
    assert all(isinstance(v, Tensor) for v in adam.state[w].values())
    assert adam.state[w]["step"].item() == 1.0


def test_misuse_of_groups_and_schedulers_is_said_as_torch_says_it():
    p, q = tensor([1.0], requires_grad=True), tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1)
    with pytest.raises(TypeError, match="param_group must be a dict, but got list"):
        optimizer.add_param_group([q])
    with pytest.raises(TypeError, match="ordered collections"):
        optimizer.add_param_group({"params": {q}})
    with pytest.raises(TypeError, match="param_group must be a dict, but got Tensor"):
        optim.SGD([{"params": [p]}, q], lr=0.1)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        optim.lr_scheduler.StepLR([p], 1)
    scheduler = optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
    with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\)` before `optimizer.step\(\)"):
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 0.05


# ---- found by an attack against torch 2.13 -----------------------------------------------------

@pytest.mark.parametrize("make", [lambda p: optim.SGD([p], lr=0.1),
                                  lambda p: optim.Adam([p], lr=0.1),
                                  lambda p: optim.AdamW([p], lr=0.1)])
def test_an_integer_parameter_is_refused_not_truncated(make):
    # (a step of 0.1 left [1, 2, 3] as [0, 1, 2]: the update was cast to the integers)
    p = tensor([1, 2, 3])
    optimizer = make(p)
    p.grad = tensor([1, 1, 1])
    with pytest.raises(RuntimeError, match="cannot update a tensor of int64"):
        optimizer.step()
    assert p.tolist() == [1, 2, 3]


def test_a_scheduler_sees_the_step_of_an_optimizer_written_the_torch_way():
    # (its own step() did not count: "lr_scheduler.step() before optimizer.step()" was warned
    # though the optimizer stepped first)
    class Plain(optim.Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    p.data = p.data - group["lr"] * p.grad

    w = tensor([1.0], requires_grad=True)
    optimizer = Plain([w], lr=0.1)
    scheduler = optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            optimizer.zero_grad()
            (w * w).sum().backward()
            optimizer.step()
            scheduler.step()
    assert w.item() == pytest.approx(1.0 * (1 - 0.2) * (1 - 0.1), rel=1e-15)


def test_copies_and_pickles_of_tensors_and_optimizers(rng=np.random.default_rng(8)):
    # (copy.copy, copy.deepcopy and pickle of any tensor raised TypeError, so a deepcopy of the
    # best weights or of an optimizer did too)
    w0 = rng.normal(size=3)
    w = tensor(w0, requires_grad=True)
    (w * w).sum().backward()
    shallow, deep = copy.copy(w), copy.deepcopy(w)
    unpickled = pickle.loads(pickle.dumps(w))
    for t in (shallow, deep, unpickled):
        assert t.requires_grad and t.is_leaf and t.tolist() == w0.tolist()
    assert shallow.grad is None and unpickled.grad is None
    np.testing.assert_array_equal(deep.grad.numpy(), 2 * w0)
    with no_grad():
        w.mul_(2.0)
    assert shallow.tolist() == (2 * w0).tolist() and deep.tolist() == w0.tolist()
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(w * 2.0)
    optimizer = optim.Adam([w], lr=0.1)
    optimizer.step()
    twin = copy.deepcopy(optimizer)
    (twin_w,) = twin.param_groups[0]["params"]
    assert twin_w is not w and twin.state[twin_w]["step"].item() == 1.0


def test_the_in_place_forms_custom_optimizers_use(rng=np.random.default_rng(9)):
    # (addcdiv_, addcmul_, lerp_, clamp_min_, sign_, square_, reciprocal_: AttributeError)
    a, b, c = (rng.uniform(0.5, 2.0, size=4) for _ in range(3))
    forms = {"addcmul_": (lambda x: x.addcmul_(tensor(b), tensor(c), value=0.3),
                          a + 0.3 * b * c, 1.0),
             "addcdiv_": (lambda x: x.addcdiv_(tensor(b), tensor(c), value=-0.7),
                          a - 0.7 * b / c, 1.0),
             "lerp_": (lambda x: x.lerp_(tensor(b), 0.25), a + 0.25 * (b - a), 0.75),
             "clamp_min_": (lambda x: x.clamp_min_(1.0), np.maximum(a, 1.0), a > 1.0),
             "clamp_max_": (lambda x: x.clamp_max_(1.0), np.minimum(a, 1.0), a < 1.0),
             "square_": (lambda x: x.square_(), a * a, 2 * a),
             "reciprocal_": (lambda x: x.reciprocal_(), 1 / a, -1 / a**2),
             "sign_": (lambda x: x.sign_(), np.sign(a), 0.0)}
    for name, (form, value, derivative) in forms.items():
        w = tensor(a, requires_grad=True)
        x = w * 1.0
        form(x)
        (x * tensor(c)).sum().backward()
        np.testing.assert_allclose(x.detach().numpy(), value, rtol=1e-15, err_msg=name)
        np.testing.assert_allclose(w.grad.numpy(), derivative * c, rtol=1e-15, err_msg=name)
