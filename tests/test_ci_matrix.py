"""toolkit ci's wheel matrix: the identifiers cibuildwheel itself lists for the project's configuration, the runner
each builds on, foreign arches under QEMU, free-threaded wheels only when asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ci_support import (
    FOREIGN_ARCHS,
    WORKFLOW,
    cibuildwheel_ids,
    lint,
    load,
    native_project,
    real_project,
    run_cli,
    steps_running,
)

from toolkit import ci

# --- the matrix ---------------------------------------------------------------------------------------------------

def test_matrix_is_cibuildwheels_identifiers_for_a_requires_python_range(tmp_path: Path) -> None:
    project = native_project(tmp_path / "p", ">=3.11,<3.14", '[tool.cibuildwheel]\nskip = "*musllinux*"\n')
    code, out, err = run_cli("ci", "matrix", project)
    assert code == 0, err
    assert out.count("\n") == 1  # one line, for $GITHUB_OUTPUT
    include = json.loads(out)["include"]
    expected = {
        *cibuildwheel_ids(project, "linux", "x86_64,aarch64"),
        *cibuildwheel_ids(project, "macos", "x86_64,arm64"),
        *cibuildwheel_ids(project, "windows", "AMD64,ARM64"),
    }
    assert sorted(e["identifier"] for e in include) == sorted(expected)
    assert {e["identifier"].split("-")[0] for e in include} == {"cp311", "cp312", "cp313"}
    assert not any("musllinux" in e["identifier"] for e in include)
    runners = {(e["identifier"].split("-", 1)[1], e["os"], e["arch"]) for e in include}
    assert runners == {
        ("manylinux_x86_64", "ubuntu-24.04", "x86_64"), ("manylinux_aarch64", "ubuntu-24.04-arm", "aarch64"),
        ("macosx_x86_64", "macos-15-intel", "x86_64"), ("macosx_arm64", "macos-15", "arm64"),
        ("win_amd64", "windows-2025", "AMD64"), ("win_arm64", "windows-11-arm", "ARM64"),
    }


def test_free_threaded_wheels_only_when_the_project_opts_in(tmp_path: Path) -> None:
    plain = native_project(tmp_path / "plain", ">=3.13")
    opted = native_project(tmp_path / "opted", ">=3.13", '[tool.toolkit.ci]\nfree-threaded = true\n')
    linux = ["--platforms", "linux-x86_64"]
    ids = {name: [e["identifier"] for e in json.loads(run_cli("ci", "matrix", p, *linux)[1])["include"]]
           for name, p in (("plain", plain), ("opted", opted))}
    threaded = [i for i in cibuildwheel_ids(opted, "linux", "x86_64") if i.split("-")[0].endswith("t")]
    assert threaded and all(i.startswith(("cp314t-", "cp315t-")) for i in threaded)
    assert sorted(ids["opted"]) == sorted(cibuildwheel_ids(opted, "linux", "x86_64"))
    assert sorted(ids["plain"]) == sorted(set(ids["opted"]) - set(threaded))
    assert ids["plain"] == [i for i in ids["opted"] if i not in threaded]




@pytest.mark.parametrize("free_threaded", [False, True])
def test_matrix_keeps_the_arches_cibuildwheel_is_configured_for(tmp_path: Path, free_threaded: bool) -> None:
    """msgpack 1.1.0 with four Linux arches: every identifier cibuildwheel would build is in the matrix (it
    kept 28 of 56: ppc64le and i686 were dropped); a foreign arch runs under QEMU on the x86_64 runner."""
    project = real_project("msgpack-1.1.0.tar.gz", tmp_path)
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(FOREIGN_ARCHS)
    flags = ["--free-threaded"] if free_threaded else []
    code, out, err = run_cli("ci", "matrix", project, *flags)
    assert code == 0 and err == "", err
    include = json.loads(out)["include"]
    linux = [e for e in include if "linux" in e["identifier"]]
    expected = [i for i in cibuildwheel_ids(project, "linux", "") if free_threaded or not ci.is_free_threaded(i)]
    assert sorted(e["identifier"] for e in linux) == sorted(expected)
    assert len(linux) == (72 if free_threaded else 56)
    assert {e["arch"] for e in linux} == {"x86_64", "aarch64", "ppc64le", "i686"}
    for e in linux:
        assert (e["os"], e.get("qemu")) == {"x86_64": ("ubuntu-24.04", None), "i686": ("ubuntu-24.04", None),
                                            "aarch64": ("ubuntu-24.04-arm", None),
                                            "ppc64le": ("ubuntu-24.04", "ppc64le")}[e["arch"]], e
    # the other platforms keep toolkit's default arches (cibuildwheel's `auto` there is the host's)
    assert {(e["os"], e["arch"]) for e in include if e not in linux} == {
        ("macos-15-intel", "x86_64"), ("macos-15", "arm64"), ("windows-2025", "AMD64"), ("windows-11-arm", "ARM64")}


def test_matrix_follows_cibw_archs_from_the_environment(tmp_path: Path) -> None:
    """CIBW_ARCHS_LINUX is cibuildwheel's too: the same identifiers as cibuildwheel lists with it."""
    project = native_project(tmp_path / "p", ">=3.12,<3.14")
    env = {**os.environ, "CIBW_ARCHS_LINUX": "x86_64 s390x"}
    proc = subprocess.run([sys.executable, "-m", "toolkit", "ci", "matrix", project, "--platforms", "linux-x86_64"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    include = json.loads(proc.stdout)["include"]
    expected = cibuildwheel_ids(project, "linux", "", {"CIBW_ARCHS_LINUX": "x86_64 s390x"})
    assert sorted(e["identifier"] for e in include) == sorted(expected)
    assert {(e["arch"], e["os"], e.get("qemu")) for e in include} == {
        ("x86_64", "ubuntu-24.04", None), ("s390x", "ubuntu-24.04", "s390x")}


def test_archs_that_name_the_host_leave_the_choice_to_the_platforms(tmp_path: Path) -> None:
    """`archs = ["auto64"]` means each runner's own 64-bit arch: the six default targets, not the plan job's."""
    project = native_project(tmp_path / "p", ">=3.13,<3.14", '[tool.cibuildwheel]\narchs = ["auto64"]\n')
    code, out, err = run_cli("ci", "matrix", project)
    assert code == 0, err
    assert {e["arch"] for e in json.loads(out)["include"]} == {"x86_64", "aarch64", "arm64", "AMD64", "ARM64"}


def test_an_identifier_no_runner_builds_is_left_out_with_a_warning() -> None:
    warnings: list[str] = []
    entries = ci.matrix_entries({"linux": ["cp312-manylinux_x86_64", "cp312-manylinux_loongarch64"],
                                 "windows": ["cp312-win32", "cp313t-win_amd64"]}, False, warnings.append)
    assert [(e["identifier"], e["os"], e["arch"]) for e in entries] == [
        ("cp312-manylinux_x86_64", "ubuntu-24.04", "x86_64"), ("cp312-win32", "windows-2025", "x86")]
    assert warnings == ["left out 1 wheel(s) no GitHub-hosted runner can build: cp312-manylinux_loongarch64"]


def test_init_sets_up_qemu_for_a_foreign_arch(tmp_path: Path) -> None:
    project = real_project("msgpack-1.1.0.tar.gz", tmp_path)
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(FOREIGN_ARCHS)
    code, out, err = run_cli("ci", "init", project)
    assert code == 0, err
    path = project / WORKFLOW
    lint(path)
    wheels = load(path)["jobs"]["wheels"]
    (qemu,) = [s for s in wheels["steps"] if "setup-qemu-action" in s.get("uses", "")]
    assert qemu["if"] == "matrix.qemu" and qemu["with"]["platforms"] == "${{ matrix.qemu }}"
    assert wheels["steps"].index(qemu) < wheels["steps"].index(steps_running(wheels, "cibuildwheel")[0])


def test_pure_matrix_is_one_entry(examples: Path) -> None:
    code, out, _ = run_cli("ci", "matrix", examples / "pure")
    assert code == 0
    assert json.loads(out) == {"include": [{"os": "ubuntu-24.04", "identifier": "py3-none-any", "arch": "any"}]}


def test_matrix_errors_are_one_line(tmp_path: Path) -> None:
    project = native_project(tmp_path / "p", ">=3.11", '[tool.cibuildwheel]\nbuild = "nothing-*"\n')
    code, out, err = run_cli("ci", "matrix", project)
    assert (code, out) == (2, "")
    assert err.startswith("error: no wheel to build") and err.count("\n") == 2 and "hint: " in err
    code, _, err = run_cli("ci", "matrix", project, "--platforms", "linux-x86_64,beos-m68k")
    assert code == 2 and "unknown platform 'beos-m68k'" in err and "Traceback" not in err

