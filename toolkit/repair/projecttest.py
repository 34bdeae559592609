"""The project's own tests, run against each repaired wheel as cibuildwheel runs them: `[tool.toolkit.test]`
requires / command / sources, else `[tool.cibuildwheel]` test-requires / test-command / test-sources (with the
host OS's `[tool.cibuildwheel.<os>]` over them), in a fresh environment, where the host can run the wheel.

As in cibuildwheel: {project} and {package} in the command are the project's folder (toolkit builds one
package per project, so both are the same), the command runs in a shell from an empty temporary folder
into which the test sources are copied, so that the installed wheel is what `import` finds.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit._proc import ProcessFailed, clean_environ
from toolkit.errors import ConfigError, RepairError

if TYPE_CHECKING:
    from toolkit._proc import Logger

_OS_TABLE = {"linux": "linux", "darwin": "macos", "win32": "windows"}


@dataclass(frozen=True)
class ProjectTest:
    project: Path
    command: str
    requires: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    origin: str = "[tool.toolkit.test]"


def load(project: Path | None) -> ProjectTest | None:
    """The project's test command, or None when it names none (or there is no project)."""
    from toolkit.config import read_project_table, read_tool_table

    if project is None:
        return None
    own = read_project_table(project).get("test")
    if own is not None:
        return _parse(project, own, "[tool.toolkit.test]", {"requires", "command", "sources"}, "")
    cibw = read_tool_table(project, "cibuildwheel")
    table = {k: v for k, v in cibw.items() if not isinstance(v, dict)}
    host = cibw.get(_OS_TABLE.get(sys.platform, ""), {})
    table.update({k: v for k, v in host.items() if k.startswith("test-")} if isinstance(host, dict) else {})
    if "test-command" not in table:
        return None
    return _parse(project, table, "[tool.cibuildwheel]", {"test-requires", "test-command", "test-sources"}, "test-")


def _parse(project: Path, table: dict[str, Any], origin: str, keys: set[str], prefix: str) -> ProjectTest | None:
    def words(key: str, joiner: str | None) -> tuple[str, ...]:
        value = table.get(prefix + key, [])
        if isinstance(value, str):  # cibuildwheel: a string of space-separated words; a command as it is
            return (value,) if joiner else tuple(value.split())
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{origin} {prefix}{key}: must be a string or a list of strings",
                              hint='e.g. command = "pytest {project}/tests"')
        return tuple(value)

    unknown = sorted(k for k in table if k.startswith(prefix) and k not in keys) if not prefix else []
    if unknown:
        raise ConfigError(f"{origin}: unknown key {unknown[0]!r}", hint="known keys: requires, command, sources")
    command = " && ".join(words("command", " && "))  # a list runs one command after another, as in cibuildwheel
    if not command.strip():
        return None
    return ProjectTest(project.resolve(), command, words("requires", None), words("sources", None), origin)


def run(test: ProjectTest, wheel: Path, python: Path, env_dir: Path, logger: Logger) -> None:
    """Install the requirements beside the wheel in `env_dir` and run the command; a failure refuses the wheel."""
    from toolkit._proc import find_uv

    if test.requires:
        uv = find_uv()
        cmd = [uv, "pip", "install", "--python", str(python), *test.requires] if uv else \
            [str(python), "-m", "pip", "install", *test.requires]
        try:
            logger.run(cmd, env=clean_environ())
        except ProcessFailed as exc:
            raise RepairError(f"{wheel.name}: the test requirements of {test.origin} do not install: "
                              f"{' '.join(test.requires)}", hint=f"the installer's output is kept in {logger.path}",
                              detail=exc.tail) from None
    command = test.command.replace("{project}", str(test.project)).replace("{package}", str(test.project))
    bindir = python.parent
    environ = clean_environ()
    environ.update(VIRTUAL_ENV=str(env_dir), PATH=os.pathsep.join([str(bindir), environ.get("PATH", "")]))
    with tempfile.TemporaryDirectory(prefix="toolkit-test-") as tmp:
        _copy_sources(test, Path(tmp))
        shell = ["cmd", "/c", command] if os.name == "nt" else ["/bin/sh", "-c", command]
        try:
            logger.run(shell, cwd=tmp, env=environ)
        except ProcessFailed as exc:
            raise RepairError(f"{wheel.name}: the test command of {test.origin} failed (exit {exc.returncode}): "
                              f"{command}", hint=f"its whole output is kept in {logger.path}; nothing was written",
                              detail=exc.tail) from None


def _copy_sources(test: ProjectTest, into: Path) -> None:
    for name in test.sources:
        src = test.project / name
        if not src.exists():
            raise ConfigError(f"{test.origin} test-sources: {name} is not in {test.project}",
                              hint="list files and folders relative to the project")
        dst = into / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst)
