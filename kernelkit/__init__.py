"""kernelkit: the five steps of adding a CUDA kernel to a PyTorch op library, as commands."""

__version__ = "0.1.0"
