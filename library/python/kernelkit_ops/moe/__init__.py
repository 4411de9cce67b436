"""moe ops."""
