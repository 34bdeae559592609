"""The build stage as a user meets it: `toolkit build` on real projects with real backends.

Each test runs the real command (a subprocess, or `toolkit.cli.main` for the
quick error cases) and checks what a user checks: the files in OUTDIR, the exit
code, the one-line error, the kept log, the wheel installing and running.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from projects import (
    error_detail,
    git_commit,
    kept_log,
    listing,
    one_line_error,
    only_results,
    probe,
    run_toolkit,
    sha256,
    toolkit_env,
    write_project,
)

from toolkit import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
COMMIT_TIME = 1700000000  # 2023-11-14 22:13:20 UTC, even: zip times have a 2-second step
SCRIPTS = "Scripts" if sys.platform == "win32" else "bin"


# -- helpers -------------------------------------------------------------------------------------------------------


def zip_dates(wheel: Path) -> set[tuple[int, ...]]:
    with zipfile.ZipFile(wheel) as zf:
        return {info.date_time for info in zf.infolist()}


def zip_time(epoch: int) -> tuple[int, ...]:
    """What a zip stores for `epoch` (UTC, seconds rounded down to even)."""
    t = time.gmtime(epoch)
    return (*t[:5], t[5] // 2 * 2)


# -- the bundled example -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pure_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    outdir = tmp_path_factory.mktemp("pure-text")
    proc = run_toolkit("build", EXAMPLES / "pure", "-o", outdir)
    assert proc.returncode == 0, proc.stderr
    return proc, outdir


@pytest.fixture(scope="module")
def pure_json(pure_text: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """A second build of the example (after pure_text), with --format json."""
    outdir = tmp_path_factory.mktemp("pure-json")
    proc = run_toolkit("build", EXAMPLES / "pure", "-o", outdir, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), outdir


def test_pure_example_prints_each_file_with_size_and_sha256(pure_text: tuple) -> None:
    proc, outdir = pure_text
    results = only_results(proc)
    assert [Path(m["path"]).name for m in results] == ["pure_demo-1.0.0.tar.gz", "pure_demo-1.0.0-py3-none-any.whl"]
    for m in results:
        path = Path(m["path"])
        assert path.parent == outdir.resolve()
        assert int(m["size"].replace(",", "")) == path.stat().st_size
        assert m["sha"] == sha256(path)
    assert sorted(listing(outdir)) == [".toolkit-manifest.json", "pure_demo-1.0.0-py3-none-any.whl",
                                       "pure_demo-1.0.0.tar.gz"]


def test_json_document_describes_the_files(pure_json: tuple) -> None:
    doc, outdir = pure_json
    assert [(d["kind"], Path(d["path"]).name) for d in doc["dists"]] == [
        ("sdist", "pure_demo-1.0.0.tar.gz"), ("wheel", "pure_demo-1.0.0-py3-none-any.whl")]
    for d in doc["dists"]:
        path = Path(d["path"])
        assert (d["name"], d["version"]) == ("pure-demo", "1.0.0")
        assert d["sha256"] == sha256(path) and d["size"] == path.stat().st_size
    assert doc["dists"][1]["tags"] == ["py3-none-any"]
    assert Path(doc["manifest"]) == outdir.resolve() / ".toolkit-manifest.json"
    assert Path(doc["log"]).is_file()
    # examples/ is in toolkit's git checkout: the epoch is the time of the last commit that touched the project.
    git = subprocess.run(["git", "-C", str(EXAMPLES / "pure"), "log", "-1", "--format=%ct", "--", "."],
                         capture_output=True, text=True)
    assert doc["source_date_epoch"] == (git.stdout.strip() or None)


def test_manifest_lists_files_kinds_hashes_backend_and_requirements(pure_text: tuple) -> None:
    _, outdir = pure_text
    doc = json.loads((outdir / ".toolkit-manifest.json").read_text(encoding="utf-8"))
    kinds = {d["path"]: d["kind"] for d in doc["dists"]}
    assert kinds == {"pure_demo-1.0.0.tar.gz": "sdist", "pure_demo-1.0.0-py3-none-any.whl": "wheel"}
    for d in doc["dists"]:
        assert d["sha256"] == sha256(outdir / d["path"])
        assert d["origin"]["backend"] == "hatchling.build"
        pins = d["origin"]["build_requires"].split()
        assert any(re.fullmatch(r"hatchling==[\w.]+", p) for p in pins), pins


def test_wheel_installs_in_a_fresh_venv_and_its_script_runs(pure_text: tuple, tmp_path: Path) -> None:
    _, outdir = pure_text
    (wheel,) = outdir.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / SCRIPTS / ("python.exe" if sys.platform == "win32" else "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index", "--no-deps",
                    wheel], check=True, capture_output=True)
    out = subprocess.run([venv / SCRIPTS / "pure-demo"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "hello from pure-demo 1.0.0"


def test_second_build_reuses_the_environment_without_installing(pure_json: tuple) -> None:
    doc, _ = pure_json
    log = Path(doc["log"]).read_text(encoding="utf-8")
    assert "reusing build environment" in log
    commands = [line for line in log.splitlines() if "] $ " in line]
    assert commands and all("_in_process" in c for c in commands), commands  # hooks only, no installer


# -- from the sdist, and what reaches the backend ------------------------------------------------------------------


def test_wheel_is_built_from_the_sdist(tmp_path: Path) -> None:
    # The sdist leaves out secret.py; a wheel built from the tree would hold it.
    src = write_project(tmp_path / "proj", "hatchling", files={"src/toy_pkg/secret.py": "KEY = 1\n"},
                        sdist_exclude=["src/toy_pkg/secret.py"])
    both = run_toolkit("build", src, "-o", tmp_path / "both", "-q")
    tree = run_toolkit("build", src, "-o", tmp_path / "tree", "--wheel", "-q")
    assert both.returncode == 0 and tree.returncode == 0, both.stderr + tree.stderr
    with zipfile.ZipFile(next((tmp_path / "both").glob("*.whl"))) as zf:
        assert "toy_pkg/__init__.py" in zf.namelist() and "toy_pkg/secret.py" not in zf.namelist()
    with zipfile.ZipFile(next((tmp_path / "tree").glob("*.whl"))) as zf:
        assert "toy_pkg/secret.py" in zf.namelist()


def test_an_sdist_source_builds_the_wheel_next_to_it(pure_text: tuple, tmp_path: Path) -> None:
    _, outdir = pure_text
    sdist = tmp_path / "pure_demo-1.0.0.tar.gz"
    sdist.write_bytes((outdir / sdist.name).read_bytes())
    proc = run_toolkit("build", sdist, "-q")
    assert proc.returncode == 0, proc.stderr
    assert [Path(m["path"]).name for m in only_results(proc)] == ["pure_demo-1.0.0-py3-none-any.whl"]
    assert sorted(listing(tmp_path)) == [".toolkit-manifest.json", "pure_demo-1.0.0-py3-none-any.whl",
                                         "pure_demo-1.0.0.tar.gz"]
    assert sha256(sdist) == sha256(outdir / sdist.name)  # the source is left alone


@pytest.mark.parametrize(("flag", "suffix"), [("--sdist", ".tar.gz"), ("--wheel", ".whl")])
def test_sdist_or_wheel_only(flag: str, suffix: str, tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree")
    proc = run_toolkit("build", src, "-o", tmp_path / "out", flag, "-q")
    assert proc.returncode == 0, proc.stderr
    built = [name for name in listing(tmp_path / "out") if not name.startswith(".")]
    assert len(built) == 1 and built[0].endswith(suffix), built


def test_config_settings_reach_the_backend(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree")
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "-C", "mode=fast", "-C", "opt=a", "--config-setting",
                       "opt=b", "-q")
    assert proc.returncode == 0, proc.stderr
    assert probe(tmp_path / "out")["config_settings"] == {"mode": "fast", "opt": ["a", "b"]}


def test_project_table_sets_the_outdir(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree", toolkit_table='[tool.toolkit.build]\noutdir = "wheelhouse"\n')
    proc = run_toolkit("build", src, "-q")
    assert proc.returncode == 0, proc.stderr
    assert {Path(m["path"]).parent for m in only_results(proc)} == {(src / "wheelhouse").resolve()}
    flagged = run_toolkit("build", src, "-o", tmp_path / "flag", "-q")  # the flag wins over the table
    assert {Path(m["path"]).parent for m in only_results(flagged)} == {(tmp_path / "flag").resolve()}


def test_build_constraints_pin_a_build_requirement(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("hatchling==1.26.3\n", encoding="utf-8")
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "--build-constraints", constraints, "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / ".toolkit-manifest.json").read_text(encoding="utf-8"))
    for d in doc["dists"]:
        assert "hatchling==1.26.3" in d["origin"]["build_requires"].split()
    with zipfile.ZipFile(next((tmp_path / "out").glob("*.whl"))) as zf:
        assert "Generator: hatchling 1.26.3" in zf.read("toy_pkg-0.1.0.dist-info/WHEEL").decode()


def test_outer_environment_does_not_reach_the_backend(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree")
    leaky = {"PYTHONPATH": str(tmp_path / "nowhere"), "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
             "UV_SOMETHING": "1"}
    proc = run_toolkit("build", src, "-o", tmp_path / "plain", "--wheel", "-q", env=leaky)
    assert proc.returncode == 0, proc.stderr
    seen = probe(tmp_path / "plain")["environ"]
    assert not set(leaky) & set(seen), sorted(seen)
    proc = run_toolkit("build", src, "-o", tmp_path / "passed", "--wheel", "-q", "--pass-env", "PYTHONPATH",
                       "--pass-env", "UV_SOMETHING", env=leaky)
    assert proc.returncode == 0, proc.stderr
    seen = probe(tmp_path / "passed")["environ"]
    assert (seen.get("PYTHONPATH"), seen.get("UV_SOMETHING")) == (leaky["PYTHONPATH"], "1")
    assert "PIP_INDEX_URL" not in seen


def test_no_isolation_runs_the_backend_with_this_python(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree")
    isolated = run_toolkit("build", src, "-o", tmp_path / "iso", "--wheel", "-q")
    plain = run_toolkit("build", src, "-o", tmp_path / "plain", "--wheel", "--no-isolation", "-q")
    assert isolated.returncode == 0 and plain.returncode == 0, isolated.stderr + plain.stderr
    # Unresolved paths: a venv's python is a symlink to the base interpreter.
    assert Path(os.environ["TOOLKIT_CACHE_DIR"]) in Path(probe(tmp_path / "iso")["python"]).parents
    assert Path(probe(tmp_path / "plain")["python"]) == Path(sys.executable)
    doc = json.loads((tmp_path / "plain" / ".toolkit-manifest.json").read_text(encoding="utf-8"))
    assert doc["dists"][0]["origin"]["build_requires"] == "(no isolation)"


def test_an_unreadable_manifest_from_before_is_replaced(tmp_path: Path) -> None:
    # "run toolkit build again" must not loop: the new build's manifest replaces the broken one.
    src = write_project(tmp_path / "proj", "intree")
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / ".toolkit-manifest.json").write_text("not json\n", encoding="utf-8")
    proc = run_toolkit("build", src, "-o", outdir, "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((outdir / ".toolkit-manifest.json").read_text(encoding="utf-8"))
    assert sorted(d["path"] for d in doc["dists"]) == ["toy_pkg-0.1.0-py3-none-any.whl", "toy_pkg-0.1.0.tar.gz"]


# -- SOURCE_DATE_EPOCH ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def git_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = write_project(tmp_path_factory.mktemp("git") / "proj", "hatchling")
    git_commit(src, COMMIT_TIME)
    return src


def test_source_date_epoch_comes_from_the_last_git_commit(git_project: Path, tmp_path: Path) -> None:
    proc = run_toolkit("build", git_project, "-o", tmp_path, "-q")
    assert proc.returncode == 0, proc.stderr
    assert zip_dates(next(tmp_path.glob("*.whl"))) == {zip_time(COMMIT_TIME)}
    with tarfile.open(next(tmp_path.glob("*.tar.gz"))) as tar:
        assert {m.mtime for m in tar.getmembers()} == {COMMIT_TIME}
    manifest = json.loads((tmp_path / ".toolkit-manifest.json").read_text(encoding="utf-8"))
    assert manifest["source_date_epoch"] == str(COMMIT_TIME)


def test_the_users_source_date_epoch_wins(git_project: Path, tmp_path: Path) -> None:
    proc = run_toolkit("build", git_project, "-o", tmp_path, "--wheel", "-q", env={"SOURCE_DATE_EPOCH": "1600000000"})
    assert proc.returncode == 0, proc.stderr
    assert zip_dates(next(tmp_path.glob("*.whl"))) == {zip_time(1600000000)}


@pytest.mark.parametrize(("given", "used"), [("100", 315532800), ("9999999999", 4354819199)])
def test_source_date_epoch_out_of_zip_range_is_clamped(given: str, used: int, git_project: Path,
                                                       tmp_path: Path) -> None:
    proc = run_toolkit("build", git_project, "-o", tmp_path, "--wheel", "-q", env={"SOURCE_DATE_EPOCH": given})
    assert proc.returncode == 0, proc.stderr
    # One warning line that names both values, whatever the terminal width.
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and given in warnings[0] and str(used) in warnings[0], proc.stderr
    assert zip_dates(next(tmp_path.glob("*.whl"))) == {zip_time(used)}


def test_source_date_epoch_that_is_not_an_integer_is_refused(git_project: Path, tmp_path: Path) -> None:
    proc = run_toolkit("build", git_project, "-o", tmp_path / "out", env={"SOURCE_DATE_EPOCH": "abc"})
    assert proc.returncode == 2
    assert "SOURCE_DATE_EPOCH" in one_line_error(proc.stderr)
    assert not (tmp_path / "out").exists()


# -- a backend that fails leaves OUTDIR as it was ------------------------------------------------------------------


@pytest.mark.parametrize(("hook", "how"), [
    ("build_wheel", "raise"), ("build_sdist", "raise"), ("build_wheel", "kill"), ("build_wheel", "missing"),
    ("build_wheel", "escape"), ("build_wheel", "escape-write"),
])
def test_failing_backend_leaves_outdir_as_it_was(hook: str, how: str, tmp_path: Path) -> None:
    if how == "kill" and sys.platform == "win32":
        pytest.skip("no SIGKILL on Windows")
    src = write_project(tmp_path / "proj", "intree", fail={hook: how})
    outdir = tmp_path / "out"
    (outdir / "older").mkdir(parents=True)
    (outdir / "older" / "toy_pkg-0.0.1.tar.gz").write_bytes(b"an older build")
    (outdir / "notes.txt").write_text("keep me\n", encoding="utf-8")
    before = listing(outdir)
    proc = run_toolkit("build", src, "-o", outdir)
    assert proc.returncode == 3, proc.stderr
    error = one_line_error(proc.stderr)
    assert "toy_backend" in error and hook in error, error
    log = kept_log(proc.stderr)
    assert f"toy-backend: running {hook}" in log.read_text(encoding="utf-8")
    if how == "raise":
        assert f"toy-backend: {hook} fails on purpose" in log.read_text(encoding="utf-8")
        assert any(f"RuntimeError: toy-backend: {hook} fails on purpose" in line for line in error_detail(proc.stderr))
    assert listing(outdir) == before
    assert not (tmp_path / "escape.whl").exists()


# -- bad input: one line, no traceback -----------------------------------------------------------------------------

_BAD_PYPROJECT = {
    "toolkit-is-a-string": ('[tool]\ntoolkit = "fast"\n', "[tool.toolkit]"),
    "unknown-key": ("[tool.toolkit.build]\nturbo = true\n", "turbo"),
    "wrong-type": ('[tool.toolkit.build]\ncache-ttl = "soon"\n', "cache-ttl"),
    "invalid-toml": ("[tool.toolkit.build\n", "pyproject.toml"),
}


@pytest.mark.parametrize("case", sorted(_BAD_PYPROJECT))
def test_unreadable_config_is_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, named = _BAD_PYPROJECT[case]
    src = write_project(tmp_path / "proj", "intree", toolkit_table=table)
    assert cli.main(["build", str(src), "-o", str(tmp_path / "out")]) == 2
    assert named in one_line_error(capsys.readouterr().err)


def test_folder_without_a_project_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", str(tmp_path)]) == 2
    assert "no pyproject.toml and no setup.py" in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize(("name", "data"), [("pkg-1.0.zip", b"PK\x05\x06" + bytes(18)), ("pkg-1.0.tar.gz", b"not a tar"),
                                            ("pkg-1.0.tar.gz", b"\x1f\x8b\x08\x00" + bytes(6) + b"junk")])
def test_a_file_that_is_not_an_sdist_is_one_line(name: str, data: bytes, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / name).write_bytes(data)
    assert cli.main(["build", str(tmp_path / name), "-o", str(tmp_path / "out")]) == 2
    assert name in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_an_outdir_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_project(tmp_path / "proj", "intree")
    (tmp_path / "taken").write_text("a file\n", encoding="utf-8")
    assert cli.main(["build", str(src), "-o", str(tmp_path / "taken")]) == 2
    assert "taken" in one_line_error(capsys.readouterr().err)
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "a file\n"


def test_an_outdir_that_cannot_be_made_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_project(tmp_path / "proj", "intree")
    (tmp_path / "taken").write_text("a file\n", encoding="utf-8")
    assert cli.main(["build", str(src), "-o", str(tmp_path / "taken" / "dist")]) == 2
    assert one_line_error(capsys.readouterr().err).startswith("error: cannot write to ")


def test_a_backend_that_cannot_be_imported_is_one_line(tmp_path: Path) -> None:
    # The backend is only known missing once a hook runs: a build error (3), not a config error (2).
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "nonexistent_backend_xyz"\n\n[project]\nname = "x"\n'
        'version = "1"\n', encoding="utf-8")
    proc = run_toolkit("build", tmp_path, "-o", tmp_path / "out")
    assert proc.returncode == 3, proc.stderr
    error = one_line_error(proc.stderr)
    assert "nonexistent_backend_xyz" in error and "import" in error, error
    assert kept_log(proc.stderr).is_file()


# -- environments: cache, concurrency, installers ------------------------------------------------------------------


def test_no_cache_builds_a_fresh_environment_and_removes_it(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    cached_run = run_toolkit("build", src, "-o", tmp_path / "out", "--wheel", "-q")  # the cache holds hatchling now
    assert cached_run.returncode == 0, cached_run.stderr
    envs = Path(os.environ["TOOLKIT_CACHE_DIR"]) / "envs"
    cached = listing(envs).keys()
    fresh = run_toolkit("build", src, "-o", tmp_path / "fresh", "--wheel", "--no-cache", "--format", "json")
    assert fresh.returncode == 0, fresh.stderr
    log = Path(json.loads(fresh.stdout)["log"]).read_text(encoding="utf-8")
    assert "reusing build environment" not in log
    installs = [line for line in log.splitlines() if "] $ " in line and "install" in line and "hatchling==" in line]
    assert len(installs) == 1, log
    scratch = re.search(r"--python (\S+?)[/\\](?:bin|Scripts)[/\\]python", installs[0])
    assert scratch and not Path(scratch.group(1)).exists()  # the throwaway environment is gone
    assert listing(envs).keys() == cached
    assert sha256(next((tmp_path / "fresh").glob("*.whl"))) == sha256(next((tmp_path / "out").glob("*.whl")))


@pytest.mark.slow  # a cold cache, raced by two processes
def test_two_builds_at_once_both_succeed(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    env = toolkit_env({"TOOLKIT_CACHE_DIR": str(tmp_path / "cold-cache")})  # both make the environment
    procs = [subprocess.Popen([sys.executable, "-m", "toolkit", "build", str(src), "-o", str(tmp_path / out), "-q"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for out in ("a", "b")]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    for out in ("a", "b"):
        assert sorted(listing(tmp_path / out)) == [".toolkit-manifest.json", "toy_pkg-0.1.0-py3-none-any.whl",
                                                   "toy_pkg-0.1.0.tar.gz"]
    assert sha256(tmp_path / "a" / "toy_pkg-0.1.0-py3-none-any.whl") == sha256(
        tmp_path / "b" / "toy_pkg-0.1.0-py3-none-any.whl")


@pytest.mark.slow  # pip resolves and installs from the index
def test_pip_installer_builds_too(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "--wheel", "--installer", "pip", "--format", "json",
                       env={"TOOLKIT_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [d["kind"] for d in doc["dists"]] == ["wheel"]
    assert "hatchling==" in doc["dists"][0]["origin"]["build_requires"]
    log = Path(doc["log"]).read_text(encoding="utf-8")
    commands = [line for line in log.splitlines() if "] $ " in line]
    assert any(" -m pip " in c and " install " in c for c in commands), commands
    assert not any(re.search(r"[/\\]uv(\.exe)? ", c) for c in commands), commands


# -- what is printed -----------------------------------------------------------------------------------------------


def test_quiet_prints_only_the_results(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree")
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 0 and proc.stderr == ""
    assert len(only_results(proc)) == 2


def test_verbose_shows_the_backends_output(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree")
    plain = run_toolkit("build", src, "-o", tmp_path / "plain")
    loud = run_toolkit("build", src, "-o", tmp_path / "loud", "-v")
    assert plain.returncode == 0 and loud.returncode == 0, plain.stderr + loud.stderr
    assert "toy-backend: running build_wheel" not in plain.stdout + plain.stderr
    assert "toy-backend: running build_sdist" in loud.stderr
    assert "toy-backend: running build_wheel" in loud.stderr
    assert len(only_results(loud)) == 2  # stdout still holds only the results


@pytest.mark.parametrize(("table", "named"), [
    ('[build-system]\nrequires = "hatchling"\n', "`requires` must be an array of strings"),
    ('[build-system]\nrequires = ["not a valid req !!"]\nbuild-backend = "hatchling.build"\n', "not a valid req !!"),
])
def test_an_invalid_build_system_table_is_one_line(table: str, named: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "proj"
    src.mkdir()
    (src / "pyproject.toml").write_text(table + '[project]\nname = "x"\nversion = "1"\n', encoding="utf-8")
    assert cli.main(["build", str(src), "-o", str(tmp_path / "out")]) == 2
    assert named in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
