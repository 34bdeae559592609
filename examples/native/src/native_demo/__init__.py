"""native-demo: the compiled example that toolkit's README builds, repairs and checks."""

from native_demo._native import add

__version__ = "1.0.0"
__all__ = ["add"]
