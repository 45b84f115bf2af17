"""torch.optim.lr_scheduler's StepLR and ExponentialLR for srcad's optimizers."""


class _Scheduler:
    """What the learning-rate schedules share: scheduler.step() once per epoch sets each
    group's lr from the epoch count; get_last_lr() gives them."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0

    def step(self):
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self._lr(base, self.last_epoch)

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(_Scheduler):
    """lr = base lr * gamma ** (epoch // step_size), as torch.optim.lr_scheduler.StepLR."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def _lr(self, base, epoch):
        return base * self.gamma ** (epoch // self.step_size)


class ExponentialLR(_Scheduler):
    """lr = base lr * gamma ** epoch, as torch.optim.lr_scheduler.ExponentialLR."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = gamma

    def _lr(self, base, epoch):
        return base * self.gamma ** epoch
