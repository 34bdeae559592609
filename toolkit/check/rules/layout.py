"""Check rules: layout (to be written)."""
