"""toolkit: one command from a Python project's source to a published release.

The stages are plain functions, usable from a CI script as well as from the
command line: `toolkit.build.build`, and (as they land) repair, check, publish.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
