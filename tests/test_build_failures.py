"""A build that fails shows its cause on the screen: the end of the backend's or the
installer's own output, indented under the one-line error, with the full log kept."""

from __future__ import annotations

from pathlib import Path

from projects import error_detail, kept_log, one_line_error, run_toolkit, write_project

BROKEN_SETUP_PY = (
    "from setuptools import setup\n\n"
    'setup(name="toy-pkg", version="0.1.0", packages=["toy_pkg"], package_dir={"": "src"}\n'
)


def test_a_syntax_error_in_setup_py_is_shown_under_the_error(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "setup.py")
    (src / "setup.py").write_text(BROKEN_SETUP_PY, encoding="utf-8")
    proc = run_toolkit("build", src, "-o", tmp_path / "out")
    assert proc.returncode == 3, proc.stderr
    assert "the backend failed (exit 1)" in one_line_error(proc.stderr)
    detail = error_detail(proc.stderr)
    assert detail, proc.stderr
    assert detail[-1].strip() == "SyntaxError: '(' was never closed", proc.stderr
    assert any('setup(name="toy-pkg"' in line for line in detail), proc.stderr
    assert len(detail) <= 40
    log = kept_log(proc.stderr).read_text(encoding="utf-8")
    assert "SyntaxError: '(' was never closed" in log and "Traceback (most recent call last)" in log
    assert not (tmp_path / "out").exists()


def test_an_unresolvable_build_requirement_shows_the_installers_reason(tmp_path: Path) -> None:
    missing = "toolkit-test-no-such-project-4f1c"
    src = write_project(tmp_path / "proj", "hatchling", requires=["hatchling", f"{missing}>=1"])
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "--installer", "uv")
    assert proc.returncode == 3, proc.stderr
    assert "build requirements" in one_line_error(proc.stderr)
    detail = "\n".join(error_detail(proc.stderr))
    assert "No solution found" in detail and f"{missing} was not found" in detail, proc.stderr
    assert "No solution found" in kept_log(proc.stderr).read_text(encoding="utf-8")
