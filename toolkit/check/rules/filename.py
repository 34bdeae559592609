"""Check rules: filename (to be written)."""
