# What a helper's comparison with torch found different, as torch prints it
import warnings

import torch

x = torch.tensor(1.0, requires_grad=True)
c = torch.tensor(1.0)
(torch.maximum(x, c) + torch.minimum(x, c)).backward()
print("ties:", x.grad)

t = torch.tensor([1.0, 3.0, 3.0], requires_grad=True)
r = t.max(dim=0)
r.values.backward()
print("max(dim):", r.values, r.indices, t.grad)
t = torch.tensor([[1.0, 5.0, 2.0], [4.0, 0.0, 4.0]], requires_grad=True)
r = t.min(dim=1, keepdim=True)
(r.values * torch.tensor([[2.0], [3.0]])).sum().backward()
print("min(dim):", r.values.detach(), r.indices, t.grad)
t = torch.tensor([3.0, 1.0, 2.0], requires_grad=True)
s = t.sort(descending=True)
(s.values * torch.tensor([1.0, 10.0, 100.0])).sum().backward()
print("sort:", s.values.detach(), s.indices, t.grad)
t = torch.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], requires_grad=True)
k = t.topk(2)
k.values.sum().backward()
print("topk:", k.values.detach(), k.indices, t.grad)

o = torch.ones(3, requires_grad=True)
o.std().backward()
print("std of a constant:", o.grad)

for statement in ["i.add_(0.5)", "i *= 0.5", "i += 2"]:
    i = torch.tensor([1, 2, 3])
    try:
        exec(statement)
        print(statement, i)
    except RuntimeError:
        print(statement, "RuntimeError")

w = torch.tensor([1.0, 2.0], requires_grad=True)
torch.set_grad_enabled(False)
print("set_grad_enabled(False):", (w * 2).requires_grad)
torch.set_grad_enabled(True)
print("set_grad_enabled(True):", (w * 2).requires_grad)
with torch.no_grad():
    torch.set_grad_enabled(True)
    print("inside no_grad:", torch.is_grad_enabled())

for make in [lambda: torch.optim.SGD(w, lr=0.1), lambda: torch.optim.SGD([w * 2], lr=0.1)]:
    try:
        make()
    except (TypeError, ValueError) as exc:
        print("optimizer:", type(exc).__name__)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    torch.optim.SGD([w, w], lr=0.1)
print("duplicates warned:", len(caught) > 0)

x = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
for f in [lambda x: x.relu(), lambda x: x.abs()]:
    g, = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    h, = torch.autograd.grad(g.sum(), x)
    print("second order through a kink:", g.detach(), g.requires_grad, h)

x = torch.tensor([-1.3, 0.4, 2.6], requires_grad=True)
for name in ["floor", "ceil", "round", "trunc", "sign", "frac"]:
    y = getattr(x, name)()
    y.sum().backward()
    print(name, y, x.grad)
    x.grad = None

v = torch.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
print("norms:", v.norm(p=1).item(), v.norm(float("inf")).item(), round(v.norm(3).item(), 6))
v.norm(3, dim=1).sum().backward()
print(v.grad)
y = x * 1.0
y.sigmoid_()
y.tanh_()
y.exp_()
y.neg_()
y.abs_()
y.sqrt_()
print("in place:", y)
z = torch.zeros(2, 3)
z.copy_(torch.tensor([1.0, 2.0, 3.0]))
print(z, torch.tensor([2.0, 2.0, -0.0]), torch.tensor([[0.0, -0.0], [0.0, 1.0]]))
print(t.masked_fill(t < 0, 0.0).detach(), t.repeat(1, 2).shape, [p.shape for p in t.split(2, dim=1)])
print(t.chunk(3, dim=1)[2].detach(), torch.outer(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])))
print(torch.add(t, 1, alpha=2).detach(), torch.allclose(t, t + 1e-9), t.new_zeros(2).dtype)
print(t.detach()[:, :2].trace(), t.abs().rsqrt().detach(), t.element_size())
for bad in ["t + torch.ones(2)", "t.view(4, 2)", "torch.tensor([1, 2]).mean()", "t.item()"]:
    try:
        eval(bad)
    except RuntimeError:
        print(bad, "RuntimeError")

# torch's type promotion: the dimensioned tensors decide, unless a 0-d tensor or a Python
# number of a higher category does
f32 = torch.tensor([1.0, 2.0], dtype=torch.float32, requires_grad=True)
i64 = torch.tensor([1, 2])
i32 = torch.tensor([1, 2], dtype=torch.int32)
print((f32 * i64).dtype, (f32 + torch.tensor(2.0)).dtype, (i32 * torch.tensor(2)).dtype)
print((i64 * 1.5).dtype, (torch.tensor(2) * f32).dtype, (i64 / i64).dtype, (i64 + True).dtype)
print((i64 * torch.tensor(1.5)).dtype, torch.maximum(f32, torch.tensor([1.0, 5.0])).dtype)
(f32 * i64).sum().backward()
print(f32.grad)
for bad in ["f32.sum(2)", "torch.cat([i64, i64], dim=3)", "f32.unsqueeze(4)"]:
    try:
        eval(bad)
    except IndexError:
        print(bad, "IndexError")
