"""The project's own tests against each repaired wheel, as cibuildwheel runs them: `[tool.cibuildwheel]`
test-requires / test-command / test-sources read as they are, `[tool.toolkit.test]` over them, in `toolkit
build --repair` on examples/native (a C extension and a library of its own, built with setuptools and gcc)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from projects import error_detail, one_line_error, run_toolkit
from test_repair_support import make_wheel, needs_gcc

ROOT = Path(__file__).resolve().parent.parent


def native_project(tmp_path: Path, tables: str) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "native"
    shutil.copytree(ROOT / "examples" / "native", project)
    with open(project / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write("\n[tool.toolkit.build]\nrepair = true\n" + tables)
    libdir = tmp_path / "native-lib"
    return project, {"NATIVE_MATH_LIBDIR": str(libdir), "TOOLKIT_REPAIR_LIB_DIR": str(libdir)}


@needs_gcc
def test_a_cibuildwheel_test_command_runs_against_the_repaired_wheel_with_its_requirements(tmp_path: Path) -> None:
    dep = make_wheel(tmp_path / "deps", "helperdep", "1.0", "py3-none-any", {"helperdep/__init__.py": b"VALUE = 7\n"})
    ran = tmp_path / "ran.txt"
    project, env = native_project(tmp_path, f'''
[tool.cibuildwheel]
test-requires = ["{dep}"]
test-sources = ["tests"]
test-command = ["python tests/probe.py {{project}} {{package}} > {ran}"]
''')
    (project / "tests").mkdir()
    (project / "tests" / "probe.py").write_text(
        "import os, sys, native_demo, helperdep\n"
        "print(native_demo.add(2, 3) + helperdep.VALUE, native_demo.__file__.startswith(sys.prefix),\n"
        "      sys.argv[1] == sys.argv[2] == os.environ['PROJECT'], os.path.exists('tests/probe.py'))\n")
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", env={**env, "PROJECT": str(project.resolve())})
    assert proc.returncode == 0, proc.stderr
    (repaired,) = (tmp_path / "dist").glob("*manylinux*.whl")
    assert repaired.name in proc.stdout
    # the installed wheel (not the source tree) was imported, {project} and {package} are the project, the
    # test sources were copied into the folder the command runs in
    assert ran.read_text().split() == ["12", "True", "True", "True"]


@needs_gcc
def test_a_failing_test_command_refuses_the_wheel_with_its_output_tail(tmp_path: Path) -> None:
    command = "python -c 'import native_demo; print(\"the answer is wrong\"); raise SystemExit(3)'"
    project, env = native_project(tmp_path, f'''
[tool.cibuildwheel]
test-command = "python -c 'raise SystemExit(0)'"

[tool.toolkit.test]
command = {json.dumps(command)}
''')
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", env=env)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    error = one_line_error(proc.stderr)
    assert error.startswith("error: native_demo-1.0.0-") and error.endswith(
        f"the test command of [tool.toolkit.test] failed (exit 3): {command}")
    assert "the answer is wrong" in "\n".join(error_detail(proc.stderr))
    assert list((tmp_path / "dist").glob("*manylinux*.whl")) == []  # nothing written
