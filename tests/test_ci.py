"""toolkit ci: render the release workflow for a pure and a native project, lint it with the real linters
(actionlint, zizmor, shellcheck through actionlint); the wheel matrix is test_ci_matrix.py.

`python tests/test_ci.py` re-renders toolkit's own .github/workflows/release.yml (test_own_release_is_rendered).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ci_support import (
    EXAMPLES,
    OWN_INSTALL,
    PIN,
    ROOT,
    WORKFLOW,
    lint,
    load,
    make_project,
    native_project,
    real_project,
    run_cli,
    steps_running,
    triggers,
)

from toolkit import ci, cli
from toolkit.ci.project import RUNNER_PYTHONS

# --- detection ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pyproject", "files", "kind", "why"), [
    ('[build-system]\nbuild-backend = "hatchling.build"\nrequires = ["hatchling"]', {}, "pure", "no compiled code"),
    ('[build-system]\nbuild-backend = "scikit_build_core.build"\nrequires = ["scikit-build-core"]', {}, "native",
     "scikit-build-core"),
    ('[build-system]\nbuild-backend = "scikit_build_core.build"\nrequires = ["scikit-build-core"]\n'
     '[tool.scikit-build.wheel]\ncmake = false', {}, "pure", "wheel.cmake = false"),
    ('[build-system]\nbuild-backend = "scikit_build_core.build"\nrequires = ["scikit-build-core"]\n'
     '[tool.scikit-build]\nwheel.platlib = true', {}, "native", "scikit-build-core"),
    ('[build-system]\nbuild-backend = "mesonpy"\nrequires = ["meson-python"]', {}, "native", "meson-python"),
    ('[build-system]\nbuild-backend = "maturin"\nrequires = ["maturin>=1,<2"]', {}, "native", "maturin"),
    ('[build-system]\nrequires = ["setuptools", "setuptools-rust>=1.9"]', {}, "native", "setuptools-rust"),
    ('[build-system]\nrequires = ["setuptools", "Cython>=3"]', {}, "native", "Cython"),
    ('[build-system]\nrequires = ["setuptools"]', {"setup.py": "setup(ext_modules=[])"}, "native", "setup.py"),
    ('[build-system]\nrequires = ["setuptools"]', {"setup.py": "from setuptools import setup\nsetup()"}, "pure", "no compiled"),
    ('[build-system]\nrequires = ["hatchling"]\n[tool.cibuildwheel]\nskip = "pp*"', {}, "native", "cibuildwheel"),
])
def test_detect_reads_the_kind_from_the_project(tmp_path: Path, pyproject: str, files: dict[str, str], kind: str,
                                                why: str) -> None:
    project = make_project(tmp_path / "p", f'{pyproject}\n[project]\nname = "p"\nversion = "1"\n', files)
    found = ci.detect(project)
    assert (found.kind, found.name) == (kind, "p")
    assert why in found.reason


def test_a_pure_scikit_build_core_project_gets_the_pure_workflow(tmp_path: Path) -> None:
    """pybind11 3.0.1 builds with scikit-build-core and `wheel.platlib = false`: one py3-none-any wheel, so the
    pure workflow (it got the native one: 56 cibuildwheel jobs, each failing "a pure Python wheel was generated")."""
    project = real_project("pybind11-3.0.1.tar.gz", tmp_path)
    code, out, err = run_cli("ci", "init", project)
    assert code == 0, err
    assert "pure: scikit-build-core builds a pure wheel ([tool.scikit-build] wheel.platlib = false)" in out
    path = project / WORKFLOW
    lint(path)
    assert set(load(path)["jobs"]) == {"build", "publish"}
    code, out, _ = run_cli("ci", "matrix", project)
    assert json.loads(out)["include"] == [{"os": "ubuntu-24.04", "identifier": "py3-none-any", "arch": "any"}]


@pytest.mark.slow
def test_pybind11_builds_the_pure_wheel_the_workflow_expects(tmp_path: Path) -> None:
    """The oracle for the test above: the backend itself builds pybind11 3.0.1 into a py3-none-any wheel."""
    project = real_project("pybind11-3.0.1.tar.gz", tmp_path)
    code, _, err = run_cli("build", project, "-o", tmp_path / "dist", "-q")
    assert code == 0, err
    assert [w.name for w in (tmp_path / "dist").glob("*.whl")] == ["pybind11-3.0.1-py3-none-any.whl"]
    assert ci.detect(project).kind == "pure"


def test_detect_examples_and_the_kind_override() -> None:
    assert ci.detect(EXAMPLES / "pure").kind == "pure"
    native = ci.detect(EXAMPLES / "native")
    assert (native.kind, native.name) == ("native", "native-demo")
    assert ci.detect(EXAMPLES / "pure", "native").kind == "native"


def test_a_setup_py_only_project_and_the_environment_override(tmp_path: Path) -> None:
    legacy = tmp_path / "Legacy_Ext"
    legacy.mkdir()
    (legacy / "setup.py").write_text("from setuptools import setup, Extension\nsetup(ext_modules=[Extension('x', ['x.c'])])\n")
    warnings: list[str] = []
    found = ci.detect(legacy, warn=warnings.append)
    assert (found.kind, found.name) == ("native", "legacy-ext")  # the folder's name, for the index URL
    assert warnings == ["the project's name is not in pyproject.toml, setup.cfg or a literal setup(name=...): "
                        "the workflow uses the folder's name, 'legacy-ext'"]
    proc = subprocess.run([sys.executable, "-m", "toolkit", "ci", "matrix", legacy], capture_output=True, text=True,
                          env={**os.environ, "TOOLKIT_CI_KIND": "pure"})
    assert json.loads(proc.stdout)["include"][0]["identifier"] == "py3-none-any"


def test_a_project_named_only_in_setup_cfg_is_published_under_that_name(tmp_path: Path) -> None:
    """wrapt 1.17.2 names itself in setup.cfg only; checked out in a folder named otherwise, its workflow's
    environment URL and trusted-publisher comment name wrapt (they named the folder)."""
    project = real_project("wrapt-1.17.2.tar.gz", tmp_path).rename(tmp_path / "my-fork")
    code, out, err = run_cli("ci", "init", project, "--platforms", "linux-x86_64")
    assert code == 0 and "warning" not in err, err
    assert "for wrapt, a native project: setup.py declares extension modules" in (project / WORKFLOW).read_text()
    lint(project / WORKFLOW)
    publish = load(project / WORKFLOW)["jobs"]["publish"]
    assert publish["environment"]["url"] == ("${{ needs.plan.outputs.repository == 'pypi' && "
                                             "'https://pypi.org/p/wrapt' || 'https://test.pypi.org/p/wrapt' }}")
    assert "register this workflow as a trusted publisher of wrapt on PyPI" in (project / WORKFLOW).read_text()
    assert "my-fork" not in (project / WORKFLOW).read_text()


def test_a_literal_setup_name_is_read_without_running_setup_py(tmp_path: Path) -> None:
    project = tmp_path / "src"
    project.mkdir()
    (project / "setup.py").write_text("import setuptools\nsetuptools.setup(name='Real.Name', version='1')\n")
    assert ci.detect(project).name == "real-name"


def test_project_errors_are_one_line(tmp_path: Path) -> None:
    code, _, err = run_cli("ci", "init", tmp_path / "missing")
    assert code == 2 and err.startswith("error: ") and "is not a folder" in err and "Traceback" not in err
    project = make_project(tmp_path / "p", '[project]\nname = "p"\n[tool.toolkit.ci]\nfree-threading = true\n')
    code, _, err = run_cli("ci", "init", project)
    assert code == 2 and "unknown key 'free-threading'" in err and "free-threaded" in err
    assert not (project / ".github").exists()


# --- rendering and the linters --------------------------------------------------------------------------------------

def test_pure_workflow_builds_checks_and_publishes(examples: Path) -> None:
    code, out, err = run_cli("ci", "init", examples / "pure")
    assert code == 0, err
    assert out.startswith("create: ") and "pure" in out
    path = examples / "pure" / WORKFLOW
    lint(path)
    doc = load(path)
    assert set(doc["jobs"]) == {"build", "publish"}
    build = doc["jobs"]["build"]
    assert steps_running(build, "toolkit build") and steps_running(build, "toolkit check dist")
    assert build["steps"][-1]["with"]["name"] == "dist-pure"
    assert_release_rules(doc, path.read_text(encoding="utf-8"), build_jobs={"build"})


def test_native_workflow_fans_out_one_job_per_wheel(examples: Path) -> None:
    code, out, err = run_cli("ci", "init", examples / "native")
    assert code == 0, err
    assert "native: setup.py declares extension modules" in out
    path = examples / "native" / WORKFLOW
    lint(path)
    doc = load(path)
    assert set(doc["jobs"]) == {"plan", "sdist", "wheels", "publish"}
    plan, wheels = doc["jobs"]["plan"], doc["jobs"]["wheels"]
    assert steps_running(plan, "toolkit ci matrix")
    assert wheels["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert wheels["runs-on"] == "${{ matrix.os }}"
    (build,) = steps_running(wheels, "cibuildwheel")
    assert build["run"] == 'cibuildwheel --only "$IDENTIFIER" --output-dir wheelhouse'
    assert build["env"]["IDENTIFIER"] == "${{ matrix.identifier }}"
    assert build["env"]["CIBW_REPAIR_WHEEL_COMMAND"] == "toolkit repair -o {dest_dir} {wheel}"
    assert build["env"]["CIBW_REPAIR_WHEEL_COMMAND_LINUX"].endswith("toolkit repair -o {dest_dir} {wheel}")
    after = wheels["steps"][wheels["steps"].index(build) + 1:]
    assert any(s.get("run") == "toolkit check wheelhouse" for s in after)
    assert steps_running(doc["jobs"]["sdist"], "toolkit build --sdist")
    assert_release_rules(doc, path.read_text(encoding="utf-8"), build_jobs={"plan", "sdist", "wheels"})


def assert_release_rules(doc: dict[str, Any], text: str, build_jobs: set[str]) -> None:
    """The rules of the issue, read from the workflow itself."""
    assert "pull_request_target" not in triggers(doc)
    assert doc["permissions"] == {}
    for name, job in doc["jobs"].items():
        token = job["permissions"].get("id-token")
        assert token == ("write" if name == "publish" else None), name
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), f"{name}: a context is expanded inside run: {step['run']}"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    uses = [line.strip().removeprefix("- ") for line in text.splitlines() if "uses:" in line]
    assert uses and all(PIN.fullmatch(u) for u in uses), uses
    publish = doc["jobs"]["publish"]
    assert set(publish["needs"]) == build_jobs
    assert publish["if"] == "github.event_name == 'push' && github.ref_type == 'tag'"
    assert publish["environment"]["name"].startswith("${{ needs.")
    runs = [s.get("run", "") for s in publish["steps"]]
    assert runs.index("toolkit check dist") < runs.index("toolkit attest dist/*.whl dist/*.tar.gz")
    (upload,) = steps_running(publish, "toolkit publish")
    assert upload["run"] == 'toolkit publish dist/*.whl dist/*.tar.gz -r "$REPOSITORY" --attestations'
    assert upload["env"]["REPOSITORY"].endswith(".outputs.repository }}")
    (download,) = [s for s in publish["steps"] if "download-artifact" in s.get("uses", "")]
    assert download["with"] == {"pattern": "dist-*", "path": "dist", "merge-multiple": True}


def test_options_given_to_init_are_repeated_in_the_workflow(tmp_path: Path) -> None:
    project = native_project(tmp_path / "p", ">=3.12", '[tool.toolkit.ci]\nfree-threaded = true\n')
    code, out, err = run_cli("ci", "init", project, "--platforms", "linux-x86_64,macos-arm64")
    assert code == 0, err
    path = project / WORKFLOW
    lint(path)
    (step,) = steps_running(load(path)["jobs"]["plan"], "toolkit ci matrix")
    # the flag is repeated; free-threaded comes from pyproject.toml when CI runs it
    assert "toolkit ci matrix --kind native --platforms linux-x86_64,macos-arm64)" in step["run"]


def test_pure_runner_python_follows_requires_python(tmp_path: Path) -> None:
    project = make_project(tmp_path / "old", '[project]\nname = "old"\nversion = "1"\nrequires-python = ">=3.9,<3.12"\n')
    assert run_cli("ci", "init", project)[0] == 0
    build = load(project / WORKFLOW)["jobs"]["build"]
    assert [s["with"]["python-version"] for s in build["steps"] if "setup-python" in s.get("uses", "")] == ["3.11"]


@pytest.mark.parametrize(("requires", "runner"), [
    (">=3.10,!=3.14.*", "3.13"),
    ("!=3.13.*,>=3.10,!=3.14.*", "3.12"),
    (">=3.9,!=3.12.*,<3.13", "3.11"),
])
def test_pure_runner_python_leaves_out_excluded_versions(tmp_path: Path, requires: str, runner: str) -> None:
    project = make_project(tmp_path / "p", f'[project]\nname = "p"\nversion = "1"\nrequires-python = "{requires}"\n')
    assert run_cli("ci", "init", project)[0] == 0
    build = load(project / WORKFLOW)["jobs"]["build"]
    assert [s["with"]["python-version"] for s in build["steps"] if "setup-python" in s.get("uses", "")] == [runner]


@pytest.mark.parametrize(("requires", "runner"), [
    ("!=3.14.*", "3.13"),
    (">=3.10, !=3.14.*, !=3.13.*, !=3.12.*", "3.11"),
    (">=3.9,<3.12,!=3.11.*", "3.10"),
    ("~=3.11.0", "3.11"),
    ("==3.12.*", "3.12"),
    (">=3.10,<3.14", "3.13"),
])
def test_runner_python_is_the_newest_requires_python_allows(requires: str, runner: str) -> None:
    from packaging.specifiers import SpecifierSet

    assert ci.Project(Path("."), "p", "pure", "", SpecifierSet(requires)).runner_python == runner
    # cibuildwheel runs on the newest Python whatever the project allows (it builds each wheel's own Python)
    assert ci.Project(Path("."), "p", "native", "", SpecifierSet(requires)).runner_python == RUNNER_PYTHONS[0]


# --- re-running init: diff, --force, atomic writes ------------------------------------------------------------------

def test_rerun_keeps_an_edited_workflow_and_shows_the_diff(examples: Path) -> None:
    project = examples / "pure"
    assert run_cli("ci", "init", project)[0] == 0
    path = project / WORKFLOW
    rendered = path.read_text(encoding="utf-8")
    assert run_cli("ci", "init", project)[1].startswith("unchanged: ")
    edited = rendered.replace("if-no-files-found: error", "if-no-files-found: warn")
    path.write_text(edited, encoding="utf-8")

    code, out, err = run_cli("ci", "init", project)
    assert code == 1
    assert path.read_text(encoding="utf-8") == edited
    assert out.startswith("--- .github/workflows/release.yml (yours)\n+++ .github/workflows/release.yml (toolkit ci init)")
    assert "\n-          if-no-files-found: warn\n+          if-no-files-found: error\n" in out
    assert err.splitlines()[0].startswith("error: ") and "not overwritten" in err.splitlines()[0]
    assert err.splitlines()[1].startswith("hint: ") and "--force" in err and len(err.splitlines()) == 2

    code, out, err = run_cli("ci", "init", project, "--force")
    assert code == 0, err
    assert out.splitlines()[-1].startswith("replaced: ")
    assert path.read_text(encoding="utf-8") == rendered


def test_rerun_updates_a_workflow_nobody_edited(examples: Path) -> None:
    project = examples / "native"
    assert run_cli("ci", "init", project, "--platforms", "linux-x86_64")[0] == 0
    # other options: a new rendering, the file was never edited
    code, out, err = run_cli("ci", "init", project, "--platforms", "linux-x86_64,linux-aarch64")
    assert code == 0, err
    assert out.startswith("update: ")
    assert "toolkit ci matrix --kind native --platforms linux-x86_64,linux-aarch64)" in (project / WORKFLOW).read_text()


def test_a_plain_rerun_keeps_the_options_the_workflow_was_rendered_with(examples: Path) -> None:
    project = examples / "native"
    code, _, err = run_cli("ci", "init", project, "--platforms", "linux-x86_64,macos-arm64", "--free-threaded")
    assert code == 0, err
    rendered = (project / WORKFLOW).read_text(encoding="utf-8")
    assert "toolkit ci matrix --kind native --free-threaded --platforms linux-x86_64,macos-arm64)" in rendered
    code, out, err = run_cli("ci", "init", project)  # it dropped both options, silently
    assert (code, out.split(":")[0]) == (0, "unchanged"), err
    assert err == ("warning: kept --free-threaded --platforms linux-x86_64,macos-arm64 from .github/workflows/release.yml"
                   " (give the option again to change it)\n")
    assert (project / WORKFLOW).read_text(encoding="utf-8") == rendered
    code, out, err = run_cli("ci", "init", project, "--no-free-threaded")  # one given again, the other kept
    assert (code, out.split(":")[0]) == (0, "update"), err
    assert "--kind native --no-free-threaded --platforms linux-x86_64,macos-arm64)" in (project / WORKFLOW).read_text()


def test_a_kind_change_on_rerun_is_said(examples: Path) -> None:
    project = examples / "pure"
    assert run_cli("ci", "init", project, "--kind", "native", "--platforms", "linux-x86_64")[0] == 0
    code, out, err = run_cli("ci", "init", project)
    assert (code, out.split(":")[0]) == (0, "update"), err
    assert "was rendered for a native project; this one is pure (give --kind native to keep it)" in err


def test_a_workflow_toolkit_did_not_render_is_called_yours(examples: Path) -> None:
    project = examples / "pure"
    path = project / WORKFLOW
    path.parent.mkdir(parents=True)
    own = "name: release\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"
    path.write_text(own, encoding="utf-8")
    code, out, err = run_cli("ci", "init", project)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"error: {path} was not rendered by toolkit (it has no `# toolkit-ci-sha256:` header); not overwritten",
        "hint: rename your workflow and re-run, or run `toolkit ci init --force` to replace it"]
    assert path.read_text(encoding="utf-8") == own
    code, out, err = run_cli("ci", "init", project, "--force")
    assert code == 0 and out.startswith("replaced: "), err


def test_an_empty_folder_is_not_a_project(tmp_path: Path) -> None:
    for action in ("init", "matrix"):
        code, out, err = run_cli("ci", action, tmp_path)
        assert (code, out) == (2, "")
        assert err.splitlines() == [
            f"error: {tmp_path}: no Python project here (no pyproject.toml, setup.py, setup.cfg)",
            "hint: run it in the project's root folder, or give that folder: toolkit ci init PATH"]
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(examples: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    project = examples / "pure"
    assert cli.main(["ci", "init", str(project), "--kind", "native", "--platforms", "linux-x86_64"]) == 0
    before = (project / WORKFLOW).read_bytes()
    capsys.readouterr()

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)  # the rename that publishes the new file fails
    assert cli.main(["ci", "init", str(project)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-2].startswith("error: cannot write ") and "No space left on device" in err
    assert "Traceback" not in err
    assert (project / WORKFLOW).read_bytes() == before
    assert sorted(p.name for p in (project / WORKFLOW).parent.iterdir()) == ["release.yml"]


# --- the index for a tag --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("tag", "index"), [
    ("v1.2.0", "pypi"), ("1.2.0", "pypi"), ("v1.2.0.post1", "pypi"),
    ("v1.3.0rc1", "testpypi"), ("v2.0.0a1", "testpypi"), ("1.3.0.dev2", "testpypi"), ("V3.0b2", "testpypi"),
])
def test_repository_for_tag(tag: str, index: str) -> None:
    assert run_cli("ci", "repository", tag)[1] == f"{index}\n"


def test_repository_for_a_tag_that_is_not_a_version() -> None:
    code, out, err = run_cli("ci", "repository", "release-candidate")
    assert (code, out) == (2, "")
    assert err.startswith("error: tag 'release-candidate' is not a version\nhint: ")


# --- toolkit's own workflows ----------------------------------------------------------------------------------------

def test_own_workflows_pass_the_linters_and_use_the_template_pins() -> None:
    files = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {f.name for f in files} >= {"tests.yml", "release.yml"}
    lint(*files)
    pins = {f"{repo}@{sha} # {tag}" for repo, sha, tag in ci.ACTIONS.values()}
    for f in files:
        used = {line.split("uses: ", 1)[1] for line in f.read_text(encoding="utf-8").splitlines() if "uses: " in line}
        assert used and used <= pins, f"{f.name}: {used - pins}"
    tests = load(ROOT / ".github" / "workflows" / "tests.yml")["jobs"]["tests"]
    assert {"ubuntu-24.04", "macos-15", "windows-2025"} <= set(tests["strategy"]["matrix"]["os"])


def own_release() -> str:
    return ci.render(ci.detect(ROOT), OWN_INSTALL).text


def test_own_release_is_rendered_from_the_templates() -> None:
    assert ci.detect(ROOT).kind == "pure"
    committed = (ROOT / WORKFLOW).read_text(encoding="utf-8")
    assert committed == own_release(), "re-render it: python tests/test_ci.py"
    publish = load(ROOT / WORKFLOW)["jobs"]["publish"]
    assert "https://pypi.org/p/wheel-toolkit" in publish["environment"]["url"]


# --- templates from a wheel -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_wheel_install_finds_its_templates(tmp_path: Path, examples: Path) -> None:
    """Build toolkit's own sdist and wheel with toolkit, install the wheel in a fresh venv, run ci init from it."""
    code, _, err = run_cli("build", ROOT, "-o", tmp_path / "dist", "-q")
    assert code == 0, err
    (wheel,) = (tmp_path / "dist").glob("wheel_toolkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"toolkit/templates/pure.yml", "toolkit/templates/native.yml", "toolkit/templates/publish.yml"} <= set(names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], check=True)
    # The dependencies come from this test's environment (a plain path entry: its editable toolkit is not on it).
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    Path(site, "toolkit-test-deps.pth").write_text(deps + "\n", encoding="utf-8")

    where = subprocess.run([python, "-c", "from toolkit import ci; print(ci.templates_dir())"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where) == Path(site) / "toolkit" / "templates"
    for name in ("pure", "native"):
        proc = subprocess.run([python, "-m", "toolkit", "ci", "init", examples / name], cwd=tmp_path,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert (examples / name / WORKFLOW).read_text(encoding="utf-8") == ci.render(ci.detect(examples / name)).text


if __name__ == "__main__":
    from toolkit import _fs

    _fs.atomic_write(ROOT / WORKFLOW, own_release())
    print(f"wrote {ROOT / WORKFLOW}")
