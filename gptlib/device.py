"""Which device the PyTorch code runs on."""

import os

import torch


def pick_device() -> torch.device:
    """CUDA if there is a GPU, then Apple's MPS, then the CPU.

    The environment variable GPTLIB_DEVICE (e.g. "cpu") overrides the choice: some machines
    report a device as available that then fails on first use.
    """
    if os.environ.get("GPTLIB_DEVICE"):
        return torch.device(os.environ["GPTLIB_DEVICE"])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
