"""Check rules: metadata (to be written)."""
