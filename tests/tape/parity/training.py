# Training loops: linear regression with SGD (momentum, weight decay, nesterov) and Adam.
import torch

inputs = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.5]])
targets = torch.tensor([1.0, 2.0, 3.0, 4.5])


def train(make_optimizer, steps):
    w = torch.tensor([0.0, 0.0], requires_grad=True)
    b = torch.tensor(0.0, requires_grad=True)
    optimizer = make_optimizer([w, b])
    for step in range(steps):
        optimizer.zero_grad()
        loss = ((inputs @ w + b - targets) ** 2).mean()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            print(step, round(loss.item(), 6))
    print("w", w, "b", b, "grad", w.grad)


train(lambda params: torch.optim.SGD(params, lr=0.01), 30)
train(lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9), 30)
train(lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=0.1), 30)
train(lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.8, nesterov=True), 30)
train(lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.5, dampening=0.5), 30)
train(lambda params: torch.optim.Adam(params, lr=0.1), 30)
train(lambda params: torch.optim.Adam(params, lr=0.05, weight_decay=0.01, amsgrad=True), 30)
train(lambda params: torch.optim.Adam(params, lr=0.1, betas=(0.8, 0.9)), 30)
