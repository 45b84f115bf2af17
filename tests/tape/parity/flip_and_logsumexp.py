# Tensor.flip, torch.flip and Tensor.logsumexp (found missing by a helper's attack: a bare
# AttributeError); flip is a copy, as torch's
import torch

x = torch.tensor([[1.0, 2.0], [3.0, 0.5]], dtype=torch.float64, requires_grad=True)
weights = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
y = (x.flip([0]) * weights).sum() + x.logsumexp(1).sum() + 5.0 * torch.flip(x, (1,))[0, 0]
y.backward()
print(x.grad)
z = x.detach().flip([0, 1])
z[0, 0] = 100.0
print(x.detach(), z)
print(x.logsumexp(0, keepdim=True).shape)
