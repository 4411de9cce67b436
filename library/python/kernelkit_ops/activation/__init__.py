"""Gated activations of transformer MLPs: act(x[..., :d]) * x[..., d:]."""
