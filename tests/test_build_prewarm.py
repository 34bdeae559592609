"""The wheel's build process, started while the sdist builds (toolkit/hookworker.py), runs its
hook as a fresh process would: in the unpacked sdist, with the hook's environment."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from projects import run_toolkit, write_project

# A hatchling build hook that records where and how the build_wheel hook ran.
HOOK = '''
import json, os, sys
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomHook(BuildHookInterface):
    def initialize(self, version, build_data):
        seen = {"cwd": os.getcwd(), "argv": sys.argv, "environ": dict(os.environ), "path0": sys.path[0]}
        with open(os.path.join(self.root, "seen.json"), "w") as f:
            json.dump(seen, f)
        build_data["force_include"][os.path.join(self.root, "seen.json")] = "toy_pkg/seen.json"
'''


def test_the_wheel_hook_started_ahead_runs_in_the_unpacked_sdist_with_the_hook_environment(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling", files={"hatch_build.py": HOOK})
    with open(src / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write("[tool.hatch.build.targets.wheel.hooks.custom]\n")
    out = tmp_path / "out"
    env = {"PYTHONPATH": str(tmp_path / "nowhere"), "UV_SOMETHING": "x", "SOURCE_DATE_EPOCH": "1700000000"}
    proc = run_toolkit("build", src, "-o", out, "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    log = Path(json.loads(proc.stdout)["log"]).read_text(encoding="utf-8")
    assert [line for line in log.splitlines() if "build_wheel" in line and "(started ahead)" in line], log
    with zipfile.ZipFile(out / "toy_pkg-0.1.0-py3-none-any.whl") as zf:
        seen = json.loads(zf.read("toy_pkg/seen.json"))
    assert Path(seen["cwd"]).name == "toy_pkg-0.1.0" and Path(seen["cwd"]) != src, seen["cwd"]
    assert seen["argv"][0].endswith("_in_process.py") and seen["argv"][1] == "build_wheel"
    assert seen["environ"]["SOURCE_DATE_EPOCH"] == "1700000000"
    assert seen["environ"]["_PYPROJECT_HOOKS_BUILD_BACKEND"] == "hatchling.build"
    assert "PYTHONPATH" not in seen["environ"] and "UV_SOMETHING" not in seen["environ"]
    assert not seen["path0"].endswith("_in_process"), "pyproject-hooks removes its own folder from sys.path"
