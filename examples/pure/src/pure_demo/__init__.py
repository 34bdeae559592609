"""pure-demo: the pure-Python example that toolkit's README runs."""

__version__ = "1.0.0"


def greeting() -> str:
    return f"hello from pure-demo {__version__}"


def main() -> None:
    print(greeting())
