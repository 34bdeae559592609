"""A build that fails shows its cause on the screen: the end of the backend's or the
installer's own output, indented under the one-line error, with the full log kept."""

from __future__ import annotations

from pathlib import Path

import pytest
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


TOKEN = "s3cr3t-token-4f1c"
LEAKY_BACKEND = f'''\
"""An in-tree backend that prints a private index URL with its token, then fails (a user's backend doing so)."""
import sys

URL = "https://user:{TOKEN}@private.example/simple"


def build_sdist(sdist_directory, config_settings=None):
    print(f"Looking in indexes: {{URL}}", flush=True)
    print(f"ERROR: 401 from {{URL}}/toy-pkg/", file=sys.stderr, flush=True)
    raise RuntimeError(f"cannot reach {{URL}}")
'''


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_a_token_in_a_failed_backends_output_is_masked_on_screen_and_in_the_kept_log(tmp_path: Path,
                                                                                     verbose: bool) -> None:
    src = write_project(tmp_path / "proj", "intree")
    (src / "backend" / "toy_backend.py").write_text(LEAKY_BACKEND, encoding="utf-8")
    proc = run_toolkit("build", src, "-o", tmp_path / "out", *(["-v"] if verbose else []))
    assert proc.returncode == 3, proc.stderr
    screen = proc.stdout + proc.stderr
    assert TOKEN not in screen
    detail = "\n".join(error_detail(proc.stderr))
    assert "RuntimeError: cannot reach https://user:***@private.example/simple" in detail, proc.stderr
    log = kept_log(proc.stderr).read_text(encoding="utf-8")
    assert TOKEN not in log
    assert "ERROR: 401 from https://user:***@private.example/simple/toy-pkg/" in log


def test_the_output_tail_shown_under_an_error_masks_url_credentials() -> None:
    """output_tail() on output that did not pass through the kept log's masking."""
    from toolkit._proc import output_tail

    output = f"Looking in indexes: https://user:{TOKEN}@private.example/simple\nerror: \x1b[31mno\x1b[0m\n"
    assert output_tail(output) == ["Looking in indexes: https://user:***@private.example/simple", "error: no"]
