"""Check rules: readme (to be written)."""
