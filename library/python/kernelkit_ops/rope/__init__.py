"""rope ops."""
