"""silu_and_mul: shared gated-activation tests against the fp32 reference below."""

import torch
import torch.nn.functional as F  # noqa: F401 - used by the reference of some ops
from gated_activation_cases import GatedActivationTests


def reference(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class TestSiluAndMul(GatedActivationTests):
    op = "silu_and_mul"
    reference = staticmethod(reference)
