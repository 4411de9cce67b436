"""Quantization: sgl-kernel's fp8 per-tensor, per-token and per-token-group quantizers (and int8 per group),
NVFP4 (FP4 builds), and RMSNorm fused with per-token fp8 quantization."""
