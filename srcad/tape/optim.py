"""Optimizers for tape tensors, with torch.optim's interface and update rules.

    opt = srcad.optim.SGD(model_params, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    opt = srcad.optim.Adam([{"params": [w]}, {"params": [b], "lr": 1e-2}], lr=1e-3, amsgrad=True)
    opt.zero_grad(); loss.backward(); opt.step()

Parameters are given as tensors or as groups (dicts with "params" and their own options);
opt.param_groups and opt.state are there as in torch. The updates work on the parameters'
arrays in place, outside the graph.
"""

import collections
import functools
import math
import warnings

import numpy as np

from srcad.tape.mode import enable_grad
from srcad.tape.tensor import Tensor, new


class Optimizer:
    """What SGD and Adam share: parameter groups, per-parameter state, zero_grad."""

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = defaults
        self.param_groups = []
        self.state = collections.defaultdict(dict)  # (torch's: `self.state[p]` is {} at first)
        self._step_count = 0
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group of parameters (a dict with "params" and, optionally, its own options)."""
        if not isinstance(group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(group).__name__}")
        params = group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "each is updated once per step for every time it is listed",
                          UserWarning, stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append({**self.defaults, **group, "params": params})

    def zero_grad(self, set_to_none=True):
        """Clear the gradients: set them to None (torch's default) or fill them with zeros
        (a gradient made with create_graph=True leaves its graph first, as torch's)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.detach_()
                    p.grad._value[...] = 0.0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in vars(cls):  # (a step of the subclass's own counts too: see lr_scheduler)
            cls.step = _counted(cls.step)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given (run
        with gradients on, as torch's, also inside no_grad)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if p._value.dtype.kind not in "fc":  # (torch raises too)
                        raise RuntimeError(f"an optimizer cannot update a tensor of "
                                           f"{p._value.dtype} (its steps are fractions)")
                    state = self.state[p]
                    grad = p.grad._value * (-1.0 if group.get("maximize") else 1.0)
                    p._value[...] = self._update(p._value, grad, state, group)
                    p._counter[0] += 1  # an in-place change, as torch's
        return loss


def _counted(step):
    @functools.wraps(step)
    def counted(self, *args, **kwargs):
        self._step_count += 1
        return step(self, *args, **kwargs)
    return counted


Optimizer.step = _counted(Optimizer.step)


def _check(value, what):
    if value < 0.0:
        raise ValueError(f"Invalid {what}: {value}")


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD: with weight decay wd, momentum m,
    dampening d and step count t, g += wd * p; b = g at t = 1, else b = m * b + (1 - d) * g;
    the step is g + m * b with nesterov, else b; p -= lr * step."""

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0.0,
        dampening=0.0,
        weight_decay=0.0,
        nesterov=False,
        *,
        maximize=False,
    ):
        _check(lr, "learning rate")
        _check(momentum, "momentum value")
        _check(weight_decay, "weight_decay value")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening}
        defaults.update(weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    @staticmethod
    def _update(p, g, state, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        momentum = group["momentum"]
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = np.array(g)
            else:
                buffer = momentum * buffer._value + (1 - group["dampening"]) * g
            state["momentum_buffer"] = new(buffer)
            g = g + momentum * buffer if group["nesterov"] else buffer
        return p - group["lr"] * g


class Adam(Optimizer):
    """Adam, as torch.optim.Adam: with step count t, m = b1 m + (1 - b1) g and
    v = b2 v + (1 - b2) g^2 (g += wd * p first); p -= lr * m_hat / (sqrt(v_hat) + eps) with
    m_hat = m / (1 - b1^t) and v_hat = v / (1 - b2^t), or the running maximum of v with amsgrad."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
        *,
        maximize=False,
    ):
        _check(lr, "learning rate")
        _check(eps, "epsilon value")
        _check(weight_decay, "weight_decay value")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        defaults.update(amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    @staticmethod
    def _update(p, g, state, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        beta1, beta2 = group["betas"]
        if not state:  # (tensors, as torch's state: a checkpoint or a user's code reads them)
            state.update(step=new(np.array(0.0)), exp_avg=new(np.zeros_like(p)),
                         exp_avg_sq=new(np.zeros_like(p)))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = new(np.zeros_like(p))
        step = state["step"]._value = state["step"]._value + 1.0
        m = state["exp_avg"]._value = beta1 * state["exp_avg"]._value + (1 - beta1) * g
        second = state["exp_avg_sq"]._value = \
            beta2 * state["exp_avg_sq"]._value + (1 - beta2) * g * g
        if group["amsgrad"]:
            second = state["max_exp_avg_sq"]._value = \
                np.maximum(state["max_exp_avg_sq"]._value, second)
        denominator = np.sqrt(second) / math.sqrt(1 - beta2**step) + group["eps"]
        return p - group["lr"] / (1 - beta1**step) * m / denominator


class AdamW(Adam):
    """AdamW, as torch.optim.AdamW: Adam with the weight decay applied to the parameter itself,
    p *= 1 - lr * wd before the step, not added to the gradient; weight_decay defaults to
    0.01."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)

    @staticmethod
    def _update(p, g, state, group):
        decayed = p * (1 - group["lr"] * group["weight_decay"])
        return Adam._update(decayed, g, state, {**group, "weight_decay": 0.0})


from srcad.tape import lr_scheduler  # noqa: E402, F401 (torch.optim.lr_scheduler)
