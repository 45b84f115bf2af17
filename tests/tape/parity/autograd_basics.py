# Autograd: requires_grad, grad_fn and next_functions, backward with a gradient, retain_grad,
# no_grad, detach, accumulation and the errors a tutorial shows.
import torch

x = torch.tensor([1.0, 2.0], requires_grad=True)
y = torch.tensor([3.0, 4.0], requires_grad=True)
z = torch.tensor([5.0, 6.0], requires_grad=True)
print(x, x.requires_grad, x.is_leaf, x.grad_fn, x.grad)
e = 2 * x**4 - y**3 + 3 * z**2
print(e)
print(e.grad_fn)
print(e.grad_fn.next_functions)
print(e.grad_fn.next_functions[0][0].next_functions)
print(e.grad_fn.next_functions[0][0].next_functions[0][0].next_functions)
mul = e.grad_fn.next_functions[0][0].next_functions[0][0]
print(mul.next_functions[0][0].next_functions, mul.next_functions[0][0].next_functions[0][0].variable)
e.backward(torch.tensor([1.0, 1.0]))
print(x.grad, y.grad, z.grad)

a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
v = torch.tensor([1.0, -1.0], requires_grad=True)
out = a @ v
print(out, out.grad_fn, (a @ a).grad_fn, (v @ v).grad_fn, a[0].grad_fn, a[:, 1:].grad_fn)
h = a * 2
h.retain_grad()
loss = (h.sigmoid() * v).sum()
print(loss)
loss.backward(retain_graph=True)
print(a.grad, h.grad, v.grad)
loss.backward()
print("accumulated", a.grad, v.grad)
try:
    loss.backward()
except RuntimeError:
    print("a third backward raised")
a.grad = None
c = a.clone()
c[0, 0] = 7.0
print(c, c.grad_fn, c.grad_fn.next_functions)
c.sum().backward()
print(a.grad)

with torch.no_grad():
    w = x * 2
print(w, w.requires_grad, (x * 2).requires_grad)
d = x.detach()
print(d, d.requires_grad, d.is_leaf)
x.grad.zero_()
(d * x).sum().backward()
print(x.grad)
theta = torch.tensor(1.0, requires_grad=True)
(theta * theta).backward()
print(theta.grad)
try:
    x.add_(1)
except RuntimeError as error:
    print("RuntimeError:", error)
try:
    (x * 2).backward()
except RuntimeError as error:
    print("RuntimeError:", error)
