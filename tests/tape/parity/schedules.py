# A small regression trained with AdamW and a step schedule, as course notebooks do
import torch
from torch.optim.lr_scheduler import StepLR

torch.manual_seed(0)
x = torch.linspace(-1.0, 1.0, 40).reshape(-1, 1)
y = 3.0 * x - 0.5 + 0.1 * torch.sin(7.0 * x)
w = torch.zeros(1, 1, requires_grad=True)
b = torch.zeros(1, requires_grad=True)
opt = torch.optim.AdamW([w, b], lr=0.1, weight_decay=0.05)
schedule = StepLR(opt, step_size=30, gamma=0.5)
for epoch in range(90):
    opt.zero_grad()
    loss = ((x @ w + b - y) ** 2).mean()
    loss.backward()
    opt.step()
    schedule.step()
    if epoch % 30 == 29:
        print(epoch, round(loss.item(), 6), schedule.get_last_lr())
print(w.detach(), b.detach())
with torch.inference_mode():
    print((x[:3] @ w + b).requires_grad)
print(torch.remainder(torch.tensor([-3.0, 5.0]), 2.0), torch.logspace(0, 2, 3))
print(sorted(torch.randperm(5).tolist()))
