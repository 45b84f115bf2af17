# Tensors: creation, dtypes, shapes, arithmetic and the methods a tutorial touches.
import torch

x = torch.tensor([1, 2, 3])
print(x, x.dtype, x.shape, x.size(), x.size(0), x.dim(), x.numel())
f = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]])
print(f, f.dtype, f.shape, f.size(1), f.T.shape)
print(x.float(), x.float().dtype, x.double(), x.to(torch.float32).dtype)
print(torch.tensor([1.5, 2.25], dtype=torch.float32))
print(torch.zeros(2, 3), torch.ones(2), torch.full((2,), 3.0), torch.eye(2))
print(torch.arange(5), torch.arange(0, 1, 0.25), torch.linspace(0, 1, 5))
print(torch.zeros_like(f), torch.ones_like(x))
print(f + 1, f * f, f / 2, f - f.mean(), 2 ** torch.tensor([1.0, 2.0]))
print(f.sum(), f.sum(0), f.sum(dim=1, keepdim=True), f.mean(1), f.max(), f.min())
print(f.std(), f.var(), f.std(0), f.norm(), f.abs().pow(2))
print(f.view(3, 2), f.reshape(-1), f.t(), f.unsqueeze(0).shape, f.unsqueeze(0).squeeze().shape)
print(f.sigmoid(), f.relu(), (f - 3).clamp(min=0), (f - 3).clamp(-1, 1), torch.exp(f[0]))
print(f.eq(f), f.ne(2.0), f.lt(3), f.gt(3), f > 2)
print(torch.cat([f, f]).shape, torch.cat([f, f], dim=1).shape, torch.stack([f, f]).shape)
print(f[0], f[:, 1], f[1, 2], f[1, 2].item(), f.tolist())
print(torch.tensor(3.5), torch.tensor([1e-5, 1.0]), torch.tensor([0.1, 0.123456]))
try:
    torch.tensor([1, 2], requires_grad=True)
except RuntimeError as error:
    print("RuntimeError:", error)
