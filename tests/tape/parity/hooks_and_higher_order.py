# Hooks, and second derivatives with create_graph.
import torch

x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
x.register_hook(lambda g: print("leaf hook", g))
h = x * 3
handle = h.register_hook(lambda g: g * 10)
h.register_hook(lambda g: print("after doubling hook", g))
(h**2).sum().backward(retain_graph=True)
print(x.grad)
handle.remove()
x.grad = None
(h**2).sum().backward()
print(x.grad)

t = torch.tensor(2.0, requires_grad=True)
y = t**3
(g,) = torch.autograd.grad(y, t, create_graph=True)
print(g)
g.backward()
print(t.grad)

u = torch.tensor([0.3, 0.7], requires_grad=True)
f = (u.sin() * u.exp()).sum() + (u[0] * u[1]) ** 2
(grad,) = torch.autograd.grad(f, u, create_graph=True)
print(grad)
hessian_rows = [torch.autograd.grad(grad[i], u, retain_graph=True)[0] for i in range(2)]
print(torch.stack(hessian_rows))
vector = torch.tensor([1.0, -2.0])
(hvp,) = torch.autograd.grad(grad, u, grad_outputs=vector)
print(hvp)

w = torch.tensor([1.0, 2.0], requires_grad=True)
loss = (w**4).sum()
loss.backward(create_graph=True)
print(w.grad)
first = w.grad.clone()
w.grad = None
first.sum().backward()
print(w.grad)
q = torch.tensor([1.5], requires_grad=True)
unused = torch.tensor([1.0], requires_grad=True)
print(torch.autograd.grad((q * 2).sum(), [q, unused], allow_unused=True))
try:
    torch.autograd.grad((q * 2).sum(), [q, unused])
except RuntimeError as error:
    print("RuntimeError:", error)
