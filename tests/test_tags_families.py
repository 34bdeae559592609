"""Every tag family PyPI accepts today, as packaging's `tags` module generates it and as auditwheel's shipped
policies name it (manylinux_2_39..2_41 since auditwheel 6.8): toolkit's tags.py, the binary policy lookup and
PyPI's platform allowlist (check/rules/filename.py) must know each one; abi3t (PEP 803) tags as packaging makes them."""

from __future__ import annotations

import json
from pathlib import Path

import auditwheel
import pytest
from packaging import tags as ptags

from toolkit import tags
from toolkit.binaries.abi import tag_is_free_threaded
from toolkit.binaries.policy import policy_for
from toolkit.check.rules.filename import valid_platform_tag

# shared/pypi-upload-rules.md §3: the arches PyPI takes in PEP 600/656 tags (ppc64: manylinux only)
PYPI_ARCHES = {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"}


def _auditwheel_policies(name: str) -> list[tuple[str, str]]:
    data = json.loads((Path(auditwheel.__file__).parent / "policy" / name).read_text())
    return [(p["name"], arch) for p in data if p["name"] != "linux" for arch in p["symbol_versions"]]


MANYLINUX = _auditwheel_policies("manylinux-policy.json")
MUSLLINUX = _auditwheel_policies("musllinux-policy.json")


def test_auditwheel_ships_the_policies_of_2026() -> None:
    assert {"manylinux_2_39", "manylinux_2_40", "manylinux_2_41"} <= {name for name, _ in MANYLINUX}, \
        "auditwheel older than 6.8: raise its floor in pyproject.toml"


@pytest.mark.parametrize(("policy", "arch"), MANYLINUX + MUSLLINUX, ids=[f"{n}_{a}" for n, a in MANYLINUX + MUSLLINUX])
def test_every_auditwheel_policy_is_known(policy: str, arch: str) -> None:
    platform = f"{policy}_{arch}"
    parsed = tags.linux_tag(platform)
    assert parsed is not None and parsed.elf_arch == arch
    assert (tags.platform_family(platform), tags.binary_format(platform)) == (policy.split("_")[0], "elf")
    found = policy_for(parsed)
    assert found is not None and found.exact and found.name == platform
    # PyPI takes the tag when it takes the arch: loongarch64 passes auditwheel and is refused on upload (N021).
    assert valid_platform_tag(platform) == (arch in PYPI_ARCHES or (arch == "ppc64" and policy.startswith("many")))


PACKAGING_PLATFORMS = sorted({
    *ptags.mac_platforms((10, 9), "x86_64"), *ptags.mac_platforms((26, 0), "arm64"),
    *ptags.ios_platforms((13, 0), "arm64_iphoneos"), *ptags.ios_platforms((18, 0), "x86_64_iphonesimulator"),
    *ptags.android_platforms(24, "arm64_v8a"), *ptags.android_platforms(21, "x86_64"),
    "win32", "win_amd64", "win_arm64", "manylinux2014_ppc64", "musllinux_1_2_riscv64", "pyemscripten_2025_0_wasm32",
})


@pytest.mark.parametrize("platform", [p for p in PACKAGING_PLATFORMS if valid_platform_tag(p)])
def test_every_platform_packaging_generates_and_pypi_takes_has_a_family(platform: str) -> None:
    family = tags.platform_family(platform)
    assert family not in ("other", "linux")
    assert (tags.binary_format(platform) is None) == (family == "emscripten")
    assert family == "emscripten" or tags.platform_arch(platform) is not None


def test_abi3t_tags_as_packaging_generates_them() -> None:
    made = list(ptags.cpython_tags((3, 15), abis=["cp315t"], platforms=["manylinux_2_39_x86_64"]))
    stable = {t for t in made if t.abi == "abi3t"}
    assert ptags.Tag("cp315", "abi3t", "manylinux_2_39_x86_64") in stable
    assert all(tag_is_free_threaded(t) for t in made if t.abi in ("abi3t", "cp315t"))
    assert tags.stable_abi_floor(stable, "abi3t") == (3, 2)  # packaging offers abi3t down to cp32, as for abi3
    both = ptags.parse_tag("cp315-abi3.abi3t-manylinux_2_39_x86_64")
    assert tags.stable_abis(both) == {"abi3", "abi3t"}
    assert tags.stable_abi_floor(both, "abi3t") == tags.stable_abi_floor(both, "abi3") == (3, 15)
