"""torch.optim.lr_scheduler's StepLR and ExponentialLR for srcad's optimizers."""

import warnings


class _Scheduler:
    """What the learning-rate schedules share: scheduler.step() once per epoch updates each
    group's current lr (chainable, as torch: an lr set by hand, or by another scheduler on the
    same optimizer, is the one scaled); get_last_lr() gives the lrs of the last step."""

    def __init__(self, optimizer):
        from srcad.tape.optim import Optimizer
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._warned = False

    def step(self):
        if self.optimizer._step_count == 0 and not self._warned:
            self._warned = True
            warnings.warn("Detected call of `lr_scheduler.step()` before `optimizer.step()`: "
                          "call `optimizer.step()` first, or the first value of the learning "
                          "rate schedule is skipped", UserWarning, stacklevel=2)
        self.last_epoch += 1
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr(group["lr"], self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)


class StepLR(_Scheduler):
    """The lr times gamma every step_size epochs, as torch.optim.lr_scheduler.StepLR."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def _lr(self, lr, epoch):
        return lr * self.gamma if epoch % self.step_size == 0 else lr


class ExponentialLR(_Scheduler):
    """The lr times gamma every epoch, as torch.optim.lr_scheduler.ExponentialLR."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = gamma

    def _lr(self, lr, epoch):
        return lr * self.gamma
