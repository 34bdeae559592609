"""`toolkit release` as a user runs it: one command from the project's folder to a real index, and back with pip."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from indexes import Index, creds, publish_env, pypiserver
from projects import write_project

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def release(*args: str | Path, home: Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", "release", *map(str, args)], cwd=cwd,
                          env=publish_env(home, {**creds(), **(env or {})}), capture_output=True, text=True, timeout=900,
                          check=False)


def copy_example(name: str, dest: Path) -> Path:
    shutil.copytree(EXAMPLES / name, dest, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    return dest


def pip_install(index: Index, requirement: str, target: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--index-url",
                           index.simple, "--target", target, requirement], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_native_example_is_released_and_installs_back_without_its_library(tmp_path: Path, index: Index) -> None:
    src = copy_example("native", tmp_path / "native")
    libdir = tmp_path / "native-lib"  # where the example's build leaves libnative_math.so (outside the wheel)
    lib_env = {"NATIVE_MATH_LIBDIR": str(libdir)}
    proc = release("--repository-url", index.url, "-L", libdir, "--format", "json", home=tmp_path, cwd=src, env=lib_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    by_kind = {f["kind"]: f for f in doc["files"]}
    wheel = by_kind["wheel"]
    assert "manylinux" in wheel["path"] and "linux_x86_64" not in Path(wheel["path"]).name
    assert wheel["steps"][0] == "built" and wheel["steps"][1].startswith("repaired from ")
    assert "libnative_math" in wheel["steps"][1]
    assert wheel["steps"][2:] == ["checked", "uploaded"] and by_kind["sdist"]["steps"] == ["built", "checked", "uploaded"]
    assert sorted(index.files()) == sorted(Path(f["path"]).name for f in doc["files"])
    # Installed from the index into a fresh environment, where libnative_math.so is nowhere but in the wheel.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", env_dir / "bin" / "python", "install", "--no-deps",
                          "--no-cache-dir", "--index-url", index.simple, "native-demo"], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    run = subprocess.run([env_dir / "bin" / "python", "-c", "import native_demo; print(native_demo.__name__)"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    # Run again (as after an interrupted upload): the files built then go on, nothing is sent twice, and the
    # release ends in success, although setuptools' sdist (and any build outside git) is not reproducible.
    again = release("--repository-url", index.url, "-L", libdir, home=tmp_path, cwd=src, env=lib_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already there, identical") == 2
    # A release is its name and version: a changed source under the same version is not rebuilt over the files
    # the index holds (they stay as published, and the run says a change needs a new version).
    (src / "README.md").write_text("changed\n", encoding="utf-8")
    changed = release("--repository-url", index.url, "-L", libdir, home=tmp_path, cwd=src, env=lib_env)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert changed.stdout.count("already there, identical") == 2 and "under a new version" in changed.stderr


@pytest.mark.slow
def test_a_file_that_fails_check_stops_the_release_before_any_upload(tmp_path: Path, index: Index) -> None:
    src = write_project(tmp_path / "proj", "hatchling", name="refused-release")
    with open(src / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write('\n[tool.hatch.metadata]\nallow-direct-references = true\n')
    text = (src / "pyproject.toml").read_text(encoding="utf-8")
    (src / "pyproject.toml").write_text(
        text.replace('requires-python = ">=3.9"\n', 'requires-python = ">=3.9"\nclassifiers = ["Private :: Do Not Upload"]\n'),
        encoding="utf-8")
    proc = release("--repository-url", index.url, home=tmp_path, cwd=src)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "M017" in proc.stdout and "nothing was uploaded" in proc.stderr
    assert not [f for f in index.files() if f.startswith("refused_release")]


def test_dry_run_stops_before_the_upload(tmp_path: Path, index: Index) -> None:
    src = write_project(tmp_path / "proj", "intree", name="dry-release")
    proc = release("--repository-url", index.url, "--dry-run", home=tmp_path, cwd=src)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("not uploaded (dry run)") == 2
    assert not [f for f in index.files() if f.startswith("dry_release")]


def test_a_wrong_repository_name_fails_before_anything_is_built(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree")
    proc = release("-r", "no-such-index", home=tmp_path, cwd=src)
    assert proc.returncode == 2, proc.stderr
    assert "no-such-index" in proc.stderr and "Traceback" not in proc.stderr
    assert not (src / "dist").exists()


def test_stage_options_come_from_each_stages_table(tmp_path: Path, index: Index) -> None:
    # The in-tree backend writes no description: a warning (D101), which [tool.toolkit.check] strict makes an error.
    src = write_project(tmp_path / "proj", "intree", name="tabled-release",
                        toolkit_table='\n[tool.toolkit.build]\noutdir = "wheelhouse"\n\n[tool.toolkit.check]\nstrict = true\n')
    proc = release("--repository-url", index.url, home=tmp_path, cwd=src)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("D101 error") == 2 and "nothing was uploaded" in proc.stderr
    assert sorted(p.name for p in (src / "wheelhouse").iterdir() if not p.name.startswith(".")) == [
        "tabled_release-0.1.0-py3-none-any.whl", "tabled_release-0.1.0.tar.gz"]
    assert not [f for f in index.files() if f.startswith("tabled_release")]
    # The same setting on the command line wins over the table.
    proc = release("--repository-url", index.url, "--no-strict", home=tmp_path, cwd=src)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(f for f in index.files() if f.startswith("tabled_release")) == [
        "tabled_release-0.1.0-py3-none-any.whl", "tabled_release-0.1.0.tar.gz"]


@pytest.mark.slow
def test_the_readmes_first_command_runs_the_whole_pipeline_on_the_native_example() -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / "demo.py")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vendored libnative_math.so" in proc.stdout and "uploaded -> http://127.0.0.1:" in proc.stdout
    assert "native_demo.add(2, 3) = 5" in proc.stdout


def test_a_release_resumes_only_the_checked_files_of_its_own_name_and_version(tmp_path: Path) -> None:
    """The resume decision without a build (release._resumable): the files an earlier run built and checked go on
    while the source is still that name and version; a new version, an unchecked run or the index holding other
    bytes under one of the names never reuse them."""
    from distfactory import make_wheel
    from packaging.version import Version

    from toolkit.dist import Dist, record
    from toolkit.errors import PublishError
    from toolkit.release import _resumable
    from toolkit.release.identity import Identity
    from toolkit.reporter import PlainReporter

    outdir = tmp_path / "dist"
    outdir.mkdir()
    wheel = make_wheel(outdir, "toy_pkg", "0.1.0")
    v010, v011 = Identity("toy-pkg", Version("0.1.0")), Identity("toy-pkg", Version("0.1.1"))
    state = {"name": "toy-pkg", "version": "0.1.0", "files": [wheel.name]}
    record(outdir, [Dist.from_path(wheel)], {"release": {**state, "checked": False}})
    assert _resumable(outdir, v010, None, PlainReporter()) is None  # built but never checked: built again
    record(outdir, [], {"release": {**state, "checked": True}})
    resumed = _resumable(outdir, v010, None, PlainReporter())
    assert resumed is not None and list(resumed) == [wheel.name]  # a re-run goes on with the checked file
    assert _resumable(outdir, v011, None, PlainReporter()) is None  # the source is a new version now: a new build
    with pytest.raises(PublishError, match="other bytes"):
        _resumable(outdir, v010, {wheel.name: "0" * 64}, PlainReporter())


def test_the_projects_own_test_command_judges_each_repaired_wheel_before_any_upload(tmp_path: Path) -> None:
    src = copy_example("native", tmp_path / "native")
    with open(src / "pyproject.toml", "a", encoding="utf-8") as f:  # as a cibuildwheel user has it
        f.write("\n[tool.cibuildwheel]\ntest-command = \"python -c 'import native_demo; raise SystemExit(7)'\"\n")
    libdir = tmp_path / "native-lib"
    # An index of its own: the module's index holds native-demo 1.0.0 already, and a release of a version the
    # index holds stops before the build.
    with pypiserver(tmp_path / "pypiserver") as index:
        proc = release("--repository-url", index.url, "-L", libdir, home=tmp_path, cwd=src,
                       env={"NATIVE_MATH_LIBDIR": str(libdir)})
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert "the test command of [tool.cibuildwheel] failed (exit 7)" in proc.stderr
        assert index.files() == []
