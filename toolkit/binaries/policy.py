"""What a manylinux / musllinux tag allows, from auditwheel's own policy data
(symbol versions and the libraries a wheel may leave to the system)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from toolkit.tags import LinuxTag

_NAME = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)_")


@dataclass(frozen=True)
class Policy:
    name: str  # auditwheel's policy name, e.g. manylinux_2_17_x86_64
    version: tuple[int, int]
    symbol_versions: Mapping[str, frozenset[str]]  # family (GLIBC, GLIBCXX...) -> versions ("2.17")
    whitelist: frozenset[str]  # the libraries the system provides
    exact: bool  # False: the tag is newer than auditwheel knows; this is the newest older policy


def policy_for(tag: LinuxTag, libc: str | None = None) -> Policy | None:
    """The policy of a manylinux/musllinux tag; for linux_*, the newest policy of `libc`.

    None when auditwheel knows no policy for the arch (or the tag).
    """
    arch = tag.elf_arch
    if arch is None:
        return None
    if tag.family == "manylinux" or (tag.family == "linux" and libc != "musl"):
        known = _policies("glibc", arch, None)
    else:
        known = _musl_policies(arch)
    newest = (999, 0) if tag.version is None else tag.version
    fitting = [p for p in known if p.version <= newest]
    if not fitting:
        return None
    best = max(fitting, key=lambda p: p.version)
    if tag.version is not None and best.version != tag.version:
        best = Policy(best.name, best.version, best.symbol_versions, best.whitelist, exact=False)
    return best


def _musl_policies(arch: str) -> tuple[Policy, ...]:
    # auditwheel loads one musllinux policy at a time, by name; musl versions are 1.1, 1.2 (and later 1.x).
    found: list[Policy] = []
    for minor in range(9, -1, -1):
        found += _policies("musl", arch, f"musllinux_1_{minor}")
    return tuple(found)


@functools.cache
def _policies(libc: str, arch: str, musl_policy: str | None) -> tuple[Policy, ...]:
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    try:
        loaded = WheelPolicies(libc=Libc(libc), arch=Architecture(arch), musl_policy=musl_policy)
    except (ValueError, AssertionError):  # an arch or musl version auditwheel does not know
        return ()
    policies = []
    for p in loaded:
        if m := _NAME.match(p.name):
            policies.append(Policy(p.name, (int(m[2]), int(m[3])), dict(p.symbol_versions), p.whitelist, True))
    return tuple(policies)


def version_key(version: str) -> tuple[int, ...] | None:
    """'2.17' -> (2, 17); None for a version that is not numeric (GLIBC_PRIVATE)."""
    parts = version.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def newest_allowed(versions: frozenset[str]) -> str | None:
    numeric = [(k, v) for v in versions if (k := version_key(v)) is not None]
    return max(numeric)[1] if numeric else None
