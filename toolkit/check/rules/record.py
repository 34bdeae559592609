"""Check rules: record (to be written)."""
