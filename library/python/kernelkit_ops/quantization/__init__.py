"""fp8 quantization: sgl-kernel's per-tensor and per-token quantizers, and RMSNorm fused with per-token quantization."""
