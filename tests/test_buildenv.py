"""The build environments' less common paths: a backend that asks for more than [build-system]
requires while its build runs beside the requirements hook, and re-resolution after the TTL."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from projects import run_toolkit, write_project

# A hatchling build hook that needs a package [build-system] does not list: hatchling's
# get_requires_for_build_wheel returns the hook's `dependencies`, so the first (speculative)
# build_wheel, run before that answer, fails for want of `six`; toolkit must drop it and
# build again in an environment that has six.
HOOK = '''
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomHook(BuildHookInterface):
    def initialize(self, version, build_data):
        import six  # only in the environment if toolkit honoured get_requires_for_build_wheel

        build_data["force_include"][self.root + "/six_version.txt"] = "toy_pkg/six_version.txt"
        with open(self.root + "/six_version.txt", "w") as f:
            f.write(six.__version__)
'''


def test_extra_requirements_of_the_backend_are_installed_and_the_early_build_dropped(tmp_path: Path) -> None:
    table = '[tool.hatch.build.targets.wheel.hooks.custom]\ndependencies = ["six==1.16.0"]\n'
    src = write_project(tmp_path / "proj", "hatchling", files={"hatch_build.py": HOOK}, toolkit_table="")
    with open(src / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write(table)
    out = tmp_path / "out"
    proc = run_toolkit("build", src, "-o", out, "--wheel", "--format", "json", "-q")
    assert proc.returncode == 0, proc.stderr
    [wheel] = json.loads(proc.stdout)["dists"]
    assert "six==1.16.0" in wheel["origin"]["build_requires"]
    with zipfile.ZipFile(out / Path(wheel["path"]).name) as zf:
        assert zf.read("toy_pkg/six_version.txt") == b"1.16.0"
    assert sorted(p.name for p in out.iterdir()) == [".toolkit-manifest.json", Path(wheel["path"]).name]


def test_an_expired_resolution_is_done_again_and_the_same_environment_reused(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    cache = tmp_path / "cache"
    env = {"TOOLKIT_CACHE_DIR": str(cache)}
    first = run_toolkit("build", src, "-o", tmp_path / "a", "--sdist", env=env)
    assert first.returncode == 0, first.stderr
    envs_before = sorted(p for p in (cache / "envs").glob("*/*") if p.is_dir())
    again = run_toolkit("build", src, "-o", tmp_path / "b", "--sdist", "-v", env={**env, "TOOLKIT_BUILD_CACHE_TTL": "0"})
    assert again.returncode == 0, again.stderr
    log = sorted((cache / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime)[-1].read_text(encoding="utf-8")
    assert "pip compile" in log, "the TTL had passed: the requirements must be resolved again"
    assert " venv " not in log, "the pins did not change: the environment must be reused, not made again"
    assert sorted(p for p in (cache / "envs").glob("*/*") if p.is_dir()) == envs_before


def test_a_cold_build_resolves_once_and_a_warm_one_not_at_all(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    env = {"TOOLKIT_CACHE_DIR": str(tmp_path / "cache")}
    logs = []
    for out in ("cold", "warm"):
        proc = run_toolkit("build", src, "-o", tmp_path / out, "--wheel", "--format", "json", env=env)
        assert proc.returncode == 0, proc.stderr
        logs.append(Path(json.loads(proc.stdout)["log"]).read_text(encoding="utf-8"))
    cold, warm = logs
    assert "pip compile" not in cold, "the first environment is installed from the requirements: no separate resolution"
    assert cold.count("uv pip install") == 1
    assert "pip compile" not in warm and "pip install" not in warm and " venv " not in warm
