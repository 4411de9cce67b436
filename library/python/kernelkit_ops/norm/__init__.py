"""RMSNorm family: rmsnorm, fused_add_rmsnorm and their Gemma (1 + weight) variants."""
