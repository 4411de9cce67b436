"""quantization ops."""
