"""Tests of srcad.tape, the runtime tape with PyTorch's autograd semantics."""
