# Learning-rate schedules are chainable, as in torch: each step scales the group's current lr,
# so an lr set by hand, or two schedulers on one optimizer, compose (found by a helper's attack:
# they were recomputed from the first lr)
import torch
from torch.optim.lr_scheduler import ExponentialLR, StepLR

w = torch.tensor([1.0], requires_grad=True)
opt = torch.optim.SGD([w], lr=1.0)
schedule = StepLR(opt, step_size=1, gamma=0.5)
opt.step()
schedule.step()
opt.param_groups[0]["lr"] = 4.0
opt.step()
schedule.step()
print(opt.param_groups[0]["lr"], schedule.get_last_lr())

opt = torch.optim.SGD([w], lr=1.0)
steps, decay = StepLR(opt, step_size=2, gamma=0.1), ExponentialLR(opt, gamma=0.5)
lrs = []
for epoch in range(4):
    opt.step()
    steps.step()
    decay.step()
    lrs.append(round(opt.param_groups[0]["lr"], 10))
print(lrs)

a, b = torch.tensor([1.0], requires_grad=True), torch.tensor([2.0], requires_grad=True)
opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b]}], lr=0.1)
schedule = StepLR(opt, 1, gamma=0.5)
for epoch in range(2):
    opt.step()
    schedule.step()
print(schedule.get_last_lr(), [group["initial_lr"] for group in opt.param_groups])
