"""Optimizers for tape tensors, with torch.optim's interface."""

from srcad.tape.mode import no_grad


class SGD:
    """Stochastic gradient descent, as torch.optim.SGD (without dampening or weight decay).

    With momentum m, each parameter keeps a velocity v = m * v + grad and steps p -= lr * v.
    """

    def __init__(self, params, lr, momentum=0.0):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        self.params = list(params)
        self.lr, self.momentum = lr, momentum
        self._velocities = [None] * len(self.params)

    @no_grad()
    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            step = p.grad.numpy()
            if self.momentum:
                velocity = self._velocities[i]
                step = step.copy() if velocity is None else self.momentum * velocity + step
                self._velocities[i] = step
            p -= self.lr * step

    def zero_grad(self, set_to_none=True):
        """Clear the gradients: set them to None (torch's default) or fill them with zeros."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()
