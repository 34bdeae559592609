"""CI, the wheel matrix: cibuildwheel's own build identifiers for the chosen platforms, each given the
GitHub-hosted runner that builds it (under QEMU for an arch no runner has)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from toolkit import _proc
from toolkit.ci.project import LINUX_RUNNER, Project
from toolkit.errors import ConfigError, ToolkitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAX_JOBS = 256  # GitHub Actions runs at most 256 jobs from one matrix


@dataclass(frozen=True)
class Target:
    """One runner kind: cibuildwheel's platform and arch, and the GitHub-hosted runner that builds them natively."""

    platform: Literal["linux", "macos", "windows"]
    arch: str  # cibuildwheel's spelling: x86_64, aarch64, arm64, AMD64, ARM64
    runner: str


TARGETS: dict[str, Target] = {
    "linux-x86_64": Target("linux", "x86_64", LINUX_RUNNER),
    "linux-aarch64": Target("linux", "aarch64", "ubuntu-24.04-arm"),
    "macos-x86_64": Target("macos", "x86_64", "macos-15-intel"),
    "macos-arm64": Target("macos", "arm64", "macos-15"),
    "windows-amd64": Target("windows", "AMD64", "windows-2025"),
    "windows-arm64": Target("windows", "ARM64", "windows-11-arm"),
}
PLATFORMS = ("linux", "macos", "windows")

# Every arch cibuildwheel builds on the three platforms -> (runner, QEMU platform). Arches with no runner of their
# own build on the x86_64 Linux runner under QEMU (docker/setup-qemu-action), as cibuildwheel's docs set it up;
# i686 and win32 run natively on the 64-bit runners, universal2 on the arm64 Mac.
RUNNERS: dict[tuple[str, str], tuple[str, str]] = {
    **{(t.platform, t.arch): (t.runner, "") for t in TARGETS.values()},
    ("linux", "i686"): (LINUX_RUNNER, ""),
    ("linux", "armv7l"): (LINUX_RUNNER, "arm"),
    ("linux", "ppc64le"): (LINUX_RUNNER, "ppc64le"),
    ("linux", "s390x"): (LINUX_RUNNER, "s390x"),
    ("linux", "riscv64"): (LINUX_RUNNER, "riscv64"),
    ("macos", "universal2"): ("macos-15", ""),
    ("windows", "x86"): ("windows-2025", ""),
}


IdentifierSource = Callable[[Path, str, "list[str] | None"], list[str]]


def build_identifiers(root: Path, platform: str, archs: list[str] | None) -> list[str]:
    """cibuildwheel's own list of wheels for one platform: it reads requires-python and [tool.cibuildwheel]
    (and its `archs` too when `archs` is None)."""
    cmd = [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform,
           *(["--archs", ",".join(archs)] if archs is not None else []), "."]
    try:
        proc = _proc.output(cmd, cwd=root)
    except OSError as exc:
        raise ToolkitError(f"cannot run cibuildwheel: {exc}", hint="reinstall toolkit (cibuildwheel is a dependency)") from None
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise ConfigError(f"cibuildwheel cannot list the {platform} wheels: {last}",
                          hint="fix [tool.cibuildwheel] in pyproject.toml (or the CIBW_* variables)")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


HOST_ARCHS = {"auto", "auto64", "auto32", "native"}  # cibuildwheel's words for "the arches of this machine"


def configured_archs(root: Path, platform: str) -> str | None:
    """The `archs` that [tool.cibuildwheel] or CIBW_ARCHS* set for `platform`, as cibuildwheel resolves them;
    None when they only name the host's arches (`auto`, its default, `auto64`, `auto32`, `native`): on the
    runners each host is a different arch, so toolkit's platforms choose.

    cibuildwheel's command line cannot print a resolved option, so its option reader is asked directly.
    """
    from cibuildwheel.errors import ConfigurationError
    from cibuildwheel.options import ListFormat, OptionsReader

    config = root / "pyproject.toml"
    try:
        reader = OptionsReader(config if config.is_file() else None, platform=platform, env=os.environ)  # type: ignore[arg-type]
        value = reader.get("archs", option_format=ListFormat(sep=" "), ignore_empty=True)
    except (ConfigurationError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cibuildwheel cannot read its options: {exc}",
                          hint="fix [tool.cibuildwheel] in pyproject.toml (or the CIBW_* variables)") from None
    return None if set(value.replace(",", " ").split()) <= HOST_ARCHS else value


def is_free_threaded(identifier: str) -> bool:
    """cp314t-manylinux_x86_64 is a free-threaded build: its interpreter part ends in `t`."""
    return identifier.split("-", 1)[0].endswith("t")


WINDOWS_ARCHS = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}


def arch_of(platform: str, identifier: str) -> str:
    """cibuildwheel's arch of an identifier: cp312-manylinux_x86_64 -> x86_64, cp312-win32 -> x86."""
    tail = identifier.split("-", 1)[1]
    if platform == "windows":
        return WINDOWS_ARCHS.get(tail, tail)
    return tail.split("_", 1)[1] if "_" in tail else tail


def matrix_entries(identifiers: Mapping[str, list[str]], free_threaded: bool,
                   warn: Callable[[str], None] = lambda text: None) -> list[dict[str, str]]:
    """One entry per wheel: the runner that builds it, its identifier and arch, and the QEMU platform a foreign
    arch needs. `identifiers` maps each platform to cibuildwheel's identifiers."""
    entries, unknown = [], []
    for platform, ids in identifiers.items():
        for identifier in ids:
            if is_free_threaded(identifier) and not free_threaded:
                continue
            arch = arch_of(platform, identifier)
            if (platform, arch) not in RUNNERS:
                unknown.append(identifier)
                continue
            runner, qemu = RUNNERS[platform, arch]
            entries.append({"os": runner, "identifier": identifier, "arch": arch, **({"qemu": qemu} if qemu else {})})
    if unknown:
        warn(f"left out {len(unknown)} wheel(s) no GitHub-hosted runner can build: {', '.join(unknown)}")
    return entries


def check_platforms(platforms: Iterable[str]) -> list[str]:
    """The platform names, lower-cased (an item may hold several, comma-separated); an unknown one is an error."""
    names = [p.lower() for item in platforms for p in item.replace(",", " ").split()]
    unknown = [p for p in names if p not in TARGETS]
    if unknown:
        raise ConfigError(f"unknown platform {unknown[0]!r} in [tool.toolkit.ci] platforms",
                          hint=f"platforms are: {', '.join(TARGETS)}")
    return names


def platform_archs(root: Path, targets: list[str]) -> dict[str, list[str] | None]:
    """For each platform the targets name: toolkit's arches for it, or None where cibuildwheel's own `archs`
    option is set (then cibuildwheel's choice is the one built, foreign arches included)."""
    archs: dict[str, list[str] | None] = {}
    for platform in PLATFORMS:
        chosen = [TARGETS[t].arch for t in targets if TARGETS[t].platform == platform]
        if chosen:
            archs[platform] = None if configured_archs(root, platform) else chosen
    return archs


def matrix(project: Project, options: Any, source: IdentifierSource = build_identifiers,
           warn: Callable[[str], None] = lambda text: None) -> dict[str, list[dict[str, str]]]:
    """The `strategy.matrix` for the wheel jobs: `{"include": [...]}`; a pure project has one entry."""
    if project.kind == "pure":
        return {"include": [{"os": LINUX_RUNNER, "identifier": "py3-none-any", "arch": "any"}]}
    archs = platform_archs(project.root, check_platforms(options.platforms))
    with ThreadPoolExecutor() as pool:  # three cibuildwheel processes at once: a third of the wait
        pending = {p: pool.submit(source, project.root, p, a) for p, a in archs.items()}
        identifiers = {p: future.result() for p, future in pending.items()}
    entries = matrix_entries(identifiers, options.free_threaded, warn)
    if not entries:
        raise ConfigError("no wheel to build: cibuildwheel selects no build identifier for these platforms",
                          hint="check requires-python and [tool.cibuildwheel] build/skip, or [tool.toolkit.ci] platforms")
    if len(entries) > MAX_JOBS:
        raise ConfigError(f"{len(entries)} wheels: GitHub Actions runs at most {MAX_JOBS} jobs from one matrix",
                          hint="narrow [tool.cibuildwheel] build/skip, or [tool.toolkit.ci] platforms")
    return {"include": entries}
