"""`toolkit check` as a user runs it: exit status, the three output formats, silencing warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from distfactory import make_wheel, metadata_text

from toolkit.check.rules import load_all


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", "check", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture()
def dist(tmp_path: Path) -> Path:
    """A project folder whose dist/ holds one good wheel, listed in the build manifest."""
    from toolkit.dist import Dist, record

    (tmp_path / "dist").mkdir()
    record(tmp_path / "dist", [Dist.from_path(make_wheel(tmp_path / "dist"))])
    return tmp_path


def test_a_good_wheel_passes_and_the_manifest_of_dist_is_the_default(dist: Path) -> None:
    proc = run(cwd=dist)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo_pkg-1.0-py3-none-any.whl: PASSED" in proc.stdout


def test_a_pypi_rejection_fails_with_pypis_reason(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, metadata=metadata_text("demo-pkg", "1.0", extra="Classifier: Private :: Do Not Upload\n"))
    proc = run(wheel)
    assert proc.returncode == 1
    assert "M017 error [PyPI rejects]: 'Private :: Do Not Upload' is not a valid classifier." in proc.stdout
    assert "Traceback" not in proc.stderr


def test_json_document_has_the_documented_shape(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, metadata=metadata_text("demo-pkg", "1.0+local"))
    proc = run("--format", "json", wheel)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    [entry] = doc["files"]
    assert entry["path"] == str(wheel)
    m006 = [f for f in entry["findings"] if f["code"] == "M006"]
    assert m006 and m006[0]["level"] == "error" and m006[0]["pypi_rejects"] is True
    assert m006[0]["message"].startswith("The use of local versions in '1.0+local' is not allowed.")


def test_github_format_prints_annotations(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, metadata=metadata_text("demo-pkg", "1.0+local"))
    proc = run("--format", "github", wheel)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines and all(line.startswith(("::error file=", "::warning file=")) for line in lines)
    assert any("title=toolkit check M006 (PyPI rejects)::M006:" in line for line in lines), lines


def _pyc_wheel(folder: Path) -> Path:
    files = {"demo_pkg/__init__.py": b"x = 1\n", "demo_pkg/__pycache__/__init__.cpython-311.pyc": b"\0" * 16}
    return make_wheel(folder, files=files)


def test_a_warning_does_not_fail_unless_strict(tmp_path: Path) -> None:
    wheel = _pyc_wheel(tmp_path)
    proc = run(wheel)
    assert proc.returncode == 0 and "C102 warning" in proc.stdout
    assert run("--strict", wheel).returncode == 1


def test_a_warning_is_silenced_from_the_project_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.toolkit.check]\nignore = ["C102"]\n', encoding="utf-8")
    (tmp_path / "dist").mkdir()
    _pyc_wheel(tmp_path / "dist")
    proc = run("dist", cwd=tmp_path)
    assert proc.returncode == 0 and "C102" not in proc.stdout and "PASSED" in proc.stdout


def test_an_error_code_cannot_be_silenced(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    proc = run("--ignore", "M006", wheel)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot ignore M006: it is an error, not a warning")


def test_an_unknown_path_is_one_line(tmp_path: Path) -> None:
    proc = run(tmp_path / "nope")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 2 and "Traceback" not in proc.stderr


def test_something_that_is_not_a_file_is_one_line() -> None:
    proc = run(os.devnull)
    assert proc.returncode == 2 and "not a file or a folder" in proc.stderr and "Traceback" not in proc.stderr


def test_list_codes_documents_every_rule() -> None:
    proc = run("--list-codes")
    assert proc.returncode == 0
    listed = {line.split()[0] for line in proc.stdout.splitlines()}
    assert listed == set(load_all())
    # PyPI-mirroring codes carry the ids of the specification; ours are numbered from 100 (K: the run itself)
    for code, rule in load_all().items():
        assert rule.summary
        assert rule.pypi_rejects == (int(code[1:]) < 100 and code[0] != "K"), code
        assert rule.refused_by in ("pypi", "twine", "installer", "toolkit"), code


def test_readme_code_table_is_up_to_date() -> None:
    readme = (Path(__file__).resolve().parent.parent / "docs" / "check-codes.md").read_text(encoding="utf-8")
    proc = run("--list-codes", "--format", "markdown")
    assert proc.returncode == 0
    assert proc.stdout.strip() in readme, "regenerate docs/check-codes.md: toolkit check --list-codes --format markdown"


def test_the_check_function_takes_what_the_build_stage_returns(tmp_path: Path) -> None:
    from toolkit.check import check
    from toolkit.dist import Dist

    dist = Dist.from_path(make_wheel(tmp_path))
    report = check([dist])
    assert report.ok and [f.path for f in report.files] == [dist.path]


def test_a_file_that_vanishes_before_it_is_read_is_a_finding(tmp_path: Path) -> None:
    from toolkit.check import UNREADABLE, check_file

    wheel = make_wheel(tmp_path)
    wheel.unlink()
    [finding] = check_file(wheel).findings
    assert finding.code == UNREADABLE and finding.level == "error" and "cannot read the file" in finding.message


@pytest.mark.parametrize("value", ["--5", "4x", "1.5"])
def test_a_bad_jobs_variable_is_one_line_naming_it(tmp_path: Path, value: str) -> None:
    wheel = make_wheel(tmp_path, "pkg", "1.0")
    proc = subprocess.run([sys.executable, "-m", "toolkit", "check", str(wheel)], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "TOOLKIT_CHECK_JOBS": value})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    error, hint = proc.stderr.splitlines()
    assert error.startswith("error: TOOLKIT_CHECK_JOBS") and "an integer" in error and hint.startswith("hint: ")
