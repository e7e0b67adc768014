"""Which device the PyTorch code runs on."""

import torch


def pick_device() -> torch.device:
    """CUDA if there is a GPU, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
