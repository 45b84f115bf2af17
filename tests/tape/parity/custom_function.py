# PyTorch's "Defining new autograd functions" tutorial (shortened), and what a second helper
# found different
import math

import torch
from torch.autograd import Variable


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


x = torch.linspace(-math.pi, math.pi, 200)
y = torch.sin(x)
a = torch.full((), 0.0, requires_grad=True)
b = torch.full((), -1.0, requires_grad=True)
c = torch.full((), 0.0, requires_grad=True)
d = torch.full((), 0.3, requires_grad=True)
for t in range(300):
    y_pred = a + b * LegendrePolynomial3.apply(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, round(loss.item(), 4))
    loss.backward()
    with torch.no_grad():
        for p in (a, b, c, d):
            p -= 5e-5 * p.grad
            p.grad = None
print(f"y = {a.item():.4f} + {b.item():.4f} * P3({c.item():.4f} + {d.item():.4f} x)")
z = torch.tensor([0.5, 1.5], requires_grad=True)
g, = torch.autograd.grad(LegendrePolynomial3.apply(z).sum(), z, create_graph=True)
print(g.detach(), torch.autograd.grad(g.sum(), z)[0])

x = torch.tensor([-1.0, 0.0, 4.0], requires_grad=True)
x.relu().sqrt().sum().backward()
print("relu then sqrt:", x.grad)
x = torch.tensor([0.0, 2.0, -1.0], requires_grad=True)
x.norm(p=0.5).backward()
print("norm p=0.5 at a zero:", x.grad)
m = torch.tensor([[0.0, 2.0], [0.0, 0.0]], requires_grad=True)
m.norm(p=3, dim=1).sum().backward()
print(m.grad)
base = torch.tensor(2.0, requires_grad=True)
power = torch.tensor(0.0, requires_grad=True)
gp, = torch.autograd.grad(base ** power, power, create_graph=True)
print("mixed second derivative:", torch.autograd.grad(gp, base)[0])
v = torch.tensor([-1.0, 2.0])
v.zero_()
print(1 / v)
v = torch.tensor([1.0, 2.0, 3.0])
v[0].mul_(2)
v[-1].copy_(torch.tensor(7.0))
v[1].zero_()
print(v)
w = torch.tensor([1.0, 2.0], requires_grad=True)
h = w * 2
h.add_(1)
(h ** 2).sum().backward(create_graph=True)
print(w.grad.detach())
q = torch.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
picked = q.gather(1, torch.tensor([[0, 0], [1, 0]]))
(picked.sum() + q.index_select(0, torch.tensor([1])).sum() + q.add(q, alpha=2).sum()).backward()
print(picked.detach(), q.grad, Variable(torch.ones(2), requires_grad=True))
