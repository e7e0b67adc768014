"""References that no one here wrote: PyTorch's functions and its autograd, seen from NumPy.

An exercise compares the reader's NumPy function with ``torch_function(f)`` (the same maths in
torch, float64) and a backward pass with ``torch_vjp(f)`` (torch autograd's gradient of ``f``),
so a checker never depends on a re-typed copy of the answer.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def _tensor(value, requires_grad: bool = False):
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return torch.tensor(value, dtype=torch.float64, requires_grad=requires_grad)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


def _array(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (tuple, list)):
        return type(value)(_array(v) for v in value)
    return value


def torch_function(function: Callable) -> Callable:
    """``function`` (torch tensors in, tensors out) as a function of NumPy arrays, in float64."""

    def reference(*args, **kwargs):
        with torch.no_grad():
            return _array(function(*map(_tensor, args), **kwargs))

    return reference


def torch_vjp(function: Callable, wrt: tuple[int, ...] = (0,)) -> Callable:
    """The gradients of ``function`` by torch autograd: ``(d_out, *args) -> grads``.

    ``wrt`` names the positions of the arguments to differentiate; one gradient is returned for
    one position, a tuple for several (in the order of ``wrt``).
    """

    def reference(d_out, *args, **kwargs):
        tensors = [_tensor(a, requires_grad=i in wrt) for i, a in enumerate(args)]
        out = function(*tensors, **kwargs)
        grads = torch.autograd.grad(out, [tensors[i] for i in wrt], _tensor(np.asarray(d_out, dtype=np.float64)))
        grads = tuple(g.detach().numpy() for g in grads)
        return grads[0] if len(grads) == 1 else grads

    return reference
