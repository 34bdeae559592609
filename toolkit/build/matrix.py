"""The local wheel matrix (`toolkit build --python 3.11 --python 3.13`, `--python all`): one
wheel per interpreter from the one sdist; a pure wheel once. build.py calls these."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from toolkit._proc import find_uv
from toolkit.build import pythons
from toolkit.config import BuildOptions
from toolkit.errors import ConfigError
from toolkit.reporter import Reporter


class WheelBuild(Protocol):
    origin: dict[str, str]

    def run(self, srcdir: Path, distribution: Literal["sdist", "wheel"], outdir: Path) -> Path: ...


def interpreters(options: BuildOptions) -> list[pythons.Interpreter]:
    """The interpreters of --python, found before anything is built (none: this one)."""
    if not options.python:
        return []
    if not options.isolation:
        raise ConfigError("--python builds in isolated environments, not with --no-isolation",
                          hint="drop --no-isolation, or run toolkit with that interpreter (`python3.X -m toolkit build`)")
    return pythons.find(options.python, find_uv())


def wheels(tree: Path, found: list[pythons.Interpreter], one_for: Callable[[pythons.Interpreter], WheelBuild],
           backend_out: Path, reporter: Reporter) -> list[tuple[Path, dict[str, str]]]:
    """One wheel per interpreter from the same tree; a pure wheel once, for all of them."""
    from packaging.utils import parse_wheel_filename

    from toolkit.tags import is_pure

    chosen = pythons.allowed(found, pythons.requires_python(tree), str(tree))
    built: list[tuple[Path, dict[str, str]]] = []
    for n, interp in enumerate(chosen):
        out = backend_out / f"python-{n}"  # a folder each: two wheels of one name must not overwrite each other
        out.mkdir()
        one = one_for(interp)
        wheel = one.run(tree, "wheel", out)
        if any(w.name == wheel.name for w, _ in built):  # an abi3 wheel: the first one built serves
            reporter.info(f"{wheel.name}: already built with another interpreter")
            continue
        built.append((wheel, {**one.origin, "python": interp.label}))
        if is_pure(parse_wheel_filename(wheel.name)[3]):
            if len(chosen) > 1:
                reporter.info(f"{wheel.name} is pure: one wheel serves every interpreter")
            break
    return built
