"""gemma_rmsnorm: the shared RMSNorm tests (rmsnorm_cases.py) for this variant."""

from rmsnorm_cases import RmsNormTests


class TestGemmaRmsNorm(RmsNormTests):
    op = "gemma_rmsnorm"
    fused = False
    gemma = True
