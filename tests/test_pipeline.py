"""The seams between stages, as a user meets them: the manifest hands build's files to check, the
flags come from the options dataclasses, and the habits users bring from pypa/build, uv and twine work.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel
from projects import one_line_error, run_toolkit, write_project

from toolkit import cli, config
from toolkit.dist import MANIFEST_NAME, Dist, current, read_manifest, read_manifest_doc, record

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def check(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_toolkit("check", *args, cwd=cwd, env=env)


# -- the manifest ----------------------------------------------------------------------------------------------------


def test_a_second_record_keeps_earlier_keys_and_entries(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path)
    wheel = make_wheel(tmp_path)
    record(tmp_path, [Dist.from_path(sdist)], {"source_date_epoch": "1700000000"})
    record(tmp_path, [Dist.from_path(wheel)])
    assert read_manifest_doc(tmp_path)["source_date_epoch"] == "1700000000"
    assert [d.path.name for d in read_manifest(tmp_path)] == [sdist.name, wheel.name]
    # An entry whose file is gone is dropped at the next write; a rebuilt file replaces its entry.
    sdist.unlink()
    record(tmp_path, [dataclasses.replace(Dist.from_path(wheel), origin={"backend": "again"})])
    assert [(d.path.name, d.origin) for d in read_manifest(tmp_path)] == [(wheel.name, {"backend": "again"})]


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    wheels = [make_wheel(tmp_path, name=f"pkg{i}") for i in range(24)]
    threads = [threading.Thread(target=record, args=(tmp_path, [Dist.from_path(w)])) for w in wheels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(d.path.name for d in read_manifest(tmp_path)) == sorted(w.name for w in wheels)


def test_a_derived_file_supersedes_its_parent(tmp_path: Path) -> None:
    parent = make_wheel(tmp_path, tag="cp311-cp311-linux_x86_64")
    child = make_wheel(tmp_path, tag="cp311-cp311-manylinux_2_17_x86_64")
    sdist = make_sdist(tmp_path)
    record(tmp_path, [Dist.from_path(sdist), Dist.from_path(parent)])
    record(tmp_path, [Dist.from_path(child, derived_from=parent)])
    assert read_manifest(tmp_path)[-1].derived_from == parent.name
    assert [d.path.name for d in current(read_manifest(tmp_path))] == [sdist.name, child.name]


def project_with_dist(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "dist").mkdir()
    wheel = make_wheel(tmp_path / "dist")
    record(tmp_path / "dist", [Dist.from_path(wheel)])
    return tmp_path, wheel


def test_check_with_no_paths_takes_the_newest_of_each_lineage(tmp_path: Path) -> None:
    folder = tmp_path / "dist"
    folder.mkdir()
    parent = make_wheel(folder, version="2.0", tag="py3-none-any", filename="demo_pkg-2.0-py3-none-linux_x86_64.whl")
    child = make_wheel(folder, version="2.0")
    record(folder, [Dist.from_path(parent)])
    record(folder, [Dist.from_path(child, derived_from=parent)])
    proc = check("--format", "json", cwd=tmp_path)
    assert [Path(f["path"]).name for f in json.loads(proc.stdout)["files"]] == [child.name], proc.stderr


def test_a_listed_file_that_is_gone_or_changed_is_one_error(tmp_path: Path) -> None:
    project, wheel = project_with_dist(tmp_path)
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    proc = check(cwd=project)
    assert proc.returncode == 2
    line = one_line_error(proc.stderr)
    assert wheel.name in line and "changed since the build manifest recorded it" in line
    wheel.unlink()
    proc = check(cwd=project)
    assert proc.returncode == 2 and "the file is gone" in one_line_error(proc.stderr)


def test_an_unlisted_dist_is_named_in_a_warning_and_left_out(tmp_path: Path) -> None:
    project, wheel = project_with_dist(tmp_path)
    stray = make_sdist(project / "dist", name="stray")
    proc = check(cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert f"{stray} is not in the build manifest" in proc.stderr
    assert wheel.name in proc.stdout and stray.name not in proc.stdout


def test_no_manifest_is_one_error_that_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    make_wheel(tmp_path / "dist")
    proc = check(cwd=tmp_path)
    assert proc.returncode == 2
    assert "no build manifest" in one_line_error(proc.stderr) and "hint: run `toolkit build` first" in proc.stderr


@pytest.mark.slow
def test_check_after_a_build_into_a_configured_outdir_checks_exactly_what_was_built(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    (src / "wheelhouse").mkdir()
    old = make_wheel(src / "wheelhouse", name="toy_pkg", version="0.0.1")  # an older build, not in the manifest
    env = {"TOOLKIT_BUILD_OUTDIR": "wheelhouse"}
    built = run_toolkit("build", "--format", "json", "-q", cwd=src, env=env)
    assert built.returncode == 0, built.stderr
    names = sorted(Path(d["path"]).name for d in json.loads(built.stdout)["dists"])
    proc = check("--format", "json", cwd=src, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(Path(f["path"]).name for f in json.loads(proc.stdout)["files"]) == names
    assert old.name in proc.stderr  # named in a warning, not checked


# -- options: one declaration, flags made from it ----------------------------------------------------------------------


def test_every_option_of_every_stage_has_a_flag_with_help() -> None:
    parser = cli.make_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for stage, cls in config.STAGES.items():
        for sub in _option_parsers(subparsers.choices[stage], cls):
            dests = {a.dest: a for a in sub._actions}
            for f in dataclasses.fields(cls):
                assert f.name in dests, f"{stage}: no flag for {f.name}"
                assert dests[f.name].help, f"{stage}: --{f.name} has no help"
            assert all(a.help for a in sub._actions), stage


def test_a_command_parses_alike_with_only_its_own_parser_built() -> None:
    """`toolkit repair ...` builds the repair parser only (the others import every stage's options): its flags,
    defaults and help are those of the whole parser's."""
    full = cli.make_parser()
    names = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in names:
        only = cli.make_parser(name)
        choices = next(a for a in only._actions if isinstance(a, argparse._SubParsersAction)).choices
        assert set(choices) <= set(names) and name in choices
        assert choices[name].format_help() == names[name].format_help()
        assert _actions(choices[name]) == _actions(names[name]), name
        assert choices[name].get_default("func") is names[name].get_default("func"), name
    assert cli.make_parser("bogus").format_help() == full.format_help()


def _actions(parser: argparse.ArgumentParser) -> list[tuple[object, ...]]:
    return [(a.dest, a.option_strings, a.default, a.required) for a in parser._actions]


def _option_parsers(sub: argparse.ArgumentParser, cls: type) -> list[argparse.ArgumentParser]:
    """A stage's parser; for a stage with actions of its own (`ci init`, `ci matrix`), those that take its options."""
    nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
    if not nested:
        return [sub]
    names = {f.name for f in dataclasses.fields(cls)}
    found = [p for p in nested[0].choices.values() if names & {a.dest for a in p._actions}]
    assert found, sub.prog
    return found


@dataclasses.dataclass(frozen=True)
class _SecretOptions:
    token: str | None = config.option(None, "secret", "an API token")


def test_a_secret_is_refused_in_pyproject_and_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.errors import ConfigError

    monkeypatch.setitem(config.STAGES, "secretstage", _SecretOptions)
    (tmp_path / "pyproject.toml").write_text('[tool.toolkit.secretstage]\ntoken = "pypi-SEKRIT"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        config.load(_SecretOptions, tmp_path, {}, {})
    assert "secret" in info.value.message and "SEKRIT" not in info.value.message + (info.value.hint or "")
    assert config.load(_SecretOptions, None, {}, {"TOOLKIT_SECRETSTAGE_TOKEN": "pypi-SEKRIT"}).token == "pypi-SEKRIT"
    with pytest.raises(ConfigError) as info:
        config.load(_SecretOptions, None, {"token": ["pypi-SEKRIT"]}, {})
    assert "SEKRIT" not in info.value.message


def test_a_bad_value_is_shown_short(tmp_path: Path) -> None:
    from toolkit.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        config.load(config.BuildOptions, None, {}, {"TOOLKIT_BUILD_CACHE_TTL": "x" * 500})
    assert len(info.value.message) < 150


def test_a_bad_flag_points_to_the_subcommands_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--no-such-flag"]) == 2
    err = capsys.readouterr().err
    assert "hint: see `toolkit check --help`" in err and "Traceback" not in err


def test_a_mistyped_flag_never_echoes_what_followed_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["publish", "--pasword", "pypi-SEKRIT", "--tokn=pypi-SEKRIT2"]) == 2
    err = capsys.readouterr().err
    assert "--pasword" in err and "--tokn" in err and "SEKRIT" not in err


# -- habits from pypa/build, uv build and twine -----------------------------------------------------------------------


@pytest.mark.parametrize(("flags", "kinds"), [
    (["-s"], ["sdist"]), (["--sdist"], ["sdist"]), (["-w"], ["wheel"]), (["-s", "-w"], ["sdist", "wheel"]),
])
def test_s_and_w_as_in_pypa_build(flags: list[str], kinds: list[str], tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree")
    proc = run_toolkit("build", src, "--out-dir", tmp_path / "out", "--format", "json", "-q", *flags)
    assert proc.returncode == 0, proc.stderr
    assert sorted(d["kind"] for d in json.loads(proc.stdout)["dists"]) == kinds
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {MANIFEST_NAME}


def test_n_builds_without_isolation_and_x_skips_the_dependency_check(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "intree", requires=["no-such-requirement-xyz"])
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "-n", "-q")
    assert proc.returncode == 3
    assert "no-such-requirement-xyz" in one_line_error(proc.stderr) and "-x" in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "-n", "-x", "-q")
    assert proc.returncode == 0, proc.stderr


def test_a_quoted_glob_and_a_file_named_twice(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    wheel = make_wheel(tmp_path / "dist")
    make_sdist(tmp_path / "dist")
    proc = check("dist/*", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 file(s) checked" in proc.stdout
    proc = check(f"dist/{wheel.name}", "dist/", cwd=tmp_path)
    assert "2 file(s) checked" in proc.stdout and proc.stdout.count(wheel.name) == 1
    proc = check("dist/*.zip", cwd=tmp_path)
    assert proc.returncode == 2 and "no file matches" in one_line_error(proc.stderr)


def test_check_quiet_prints_findings_only(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    proc = check("-q", wheel)
    assert proc.returncode == 0 and "PASSED" not in proc.stdout and "1 file(s) checked" in proc.stdout
    assert check("-v", wheel).returncode == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize("args", [["check", "--list-codes"], ["check", "dist"]])
def test_a_closed_pipe_ends_quietly(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    for i in range(40):
        make_wheel(tmp_path / "dist", name=f"pkg{i}")
    cmd = f"{shlex_join([sys.executable, '-m', 'toolkit', *args])} | head -1"
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=120)
    assert len(proc.stdout.splitlines()) == 1
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr.lower(), proc.stderr
    assert proc.returncode in (0, 141), proc.returncode  # like `cat`: SIGPIPE's status at most, never "errors found"


def shlex_join(parts: list[str]) -> str:
    import shlex

    return shlex.join(parts)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_pyproject_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pyproject.toml")
    wheel = make_wheel(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "toolkit", "check", str(wheel)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "not a regular file" in one_line_error(proc.stderr)


def test_the_example_project_passes_the_whole_seam(tmp_path: Path) -> None:
    src = tmp_path / "pure"
    shutil.copytree(EXAMPLES / "pure", src, ignore=shutil.ignore_patterns("dist", "build"))
    assert run_toolkit("build", "-q", cwd=src).returncode == 0
    proc = check(cwd=src)
    assert proc.returncode == 0 and proc.stdout.count("PASSED") == 2, proc.stdout + proc.stderr
