"""gemma_fused_add_rmsnorm: the shared RMSNorm tests (rmsnorm_cases.py) for this variant."""

from rmsnorm_cases import RmsNormTests


class TestGemmaFusedAddRmsNorm(RmsNormTests):
    op = "gemma_fused_add_rmsnorm"
    fused = True
    gemma = True
