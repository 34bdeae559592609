"""Check rules: archive (to be written)."""
