"""kvcache ops."""
