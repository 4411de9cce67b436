"""rmsnorm: the shared RMSNorm tests (rmsnorm_cases.py) for this variant."""

from rmsnorm_cases import RmsNormTests


class TestRmsNorm(RmsNormTests):
    op = "rmsnorm"
    fused = False
    gemma = False
