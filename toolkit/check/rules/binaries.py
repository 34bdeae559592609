"""Check rules: binaries (to be written)."""
