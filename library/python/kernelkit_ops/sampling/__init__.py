"""sampling ops."""
