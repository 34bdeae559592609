"""Check rules: contents (to be written)."""
