"""Hook processes started ahead of their hook: the wheel's build process imports its
backend while the sdist is being built, so that only the build itself is left when the
unpacked sdist is ready.

Each hook still runs in a fresh process of its own (PEP 517's advice), through
pyproject-hooks' own `_in_process` script; the process has only imported the backend
and its builder modules early, from another working directory. That is done only for
backends whose import reads nothing from the working directory (the PREIMPORTS table);
any other backend, an in-tree backend, or a hook whose command or environment differs
from what the process was started with, runs the usual way.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from toolkit._proc import Logger, Waiting

# backend module -> (the module its build_wheel hook imports on first use, build_sdist's): the
# bulk of a hook's start-up.
PREIMPORTS: dict[str, tuple[str, str]] = {
    "hatchling.build": ("hatchling.builders.wheel", "hatchling.builders.sdist"),
    "flit_core.buildapi": ("flit_core.wheel", "flit_core.sdist"),
    "pdm.backend": ("pdm.backend.wheel", "pdm.backend.sdist"),
    "poetry.core.masonry.api": ("poetry.core.masonry.builders.wheel", "poetry.core.masonry.builders.sdist"),
}
HOOKS = ("build_wheel", "build_sdist")
_HIDDEN = "_PYPROJECT_HOOKS_"  # set by pyproject-hooks per call; the job sets them
# Runs in the build environment's interpreter: import early, then run `_in_process` as its
# own command would (sys.path[0] is the script's folder, as for `python SCRIPT`).
_WORKER = """\
import importlib, json, os, runpy, sys
script = sys.argv[1]
sys.path[0] = os.path.dirname(script)
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass  # the hook imports it again and reports what is wrong
line = sys.stdin.readline()
if not line:
    sys.exit(0)
job = json.loads(line)
os.chdir(job["cwd"])
os.environ.clear()
os.environ.update(job["env"])
sys.argv = [script, *job["args"]]
runpy.run_path(script, run_name="__main__")
"""


def _in_process_script() -> str | None:
    from pyproject_hooks._in_process import _in_proc_script_path

    with _in_proc_script_path() as path:  # a real file in an installed package: it outlives the `with`
        return str(path) if Path(path).is_file() else None


class HookWorkers:
    """Started hook processes, one per (interpreter, hook); each serves one hook call or is discarded."""

    def __init__(self, logger: Logger, umask: int) -> None:
        self.logger, self.umask = logger, umask
        self.script = _in_process_script()
        self._waiting: dict[tuple[str, str], tuple[dict[str, str], Waiting]] = {}

    def start(self, hook: str, python: str, backend: str, env: Mapping[str, str], cwd: Path) -> None:
        """Start the process for the next call of `hook` with `python` (in `env`, the hook's environment)."""
        module = backend.split(":")[0]
        if self.script is None or module not in PREIMPORTS or hook not in HOOKS or (python, hook) in self._waiting:
            return
        cmd = [python, "-c", _WORKER, self.script, module, PREIMPORTS[module][HOOKS.index(hook)]]
        self._waiting[(python, hook)] = (dict(env), self.logger.start(cmd, cwd=cwd, env=env, umask=self.umask))

    def take(self, cmd: Sequence[str], env: Mapping[str, str]) -> Waiting | None:
        """The process started for this hook command and environment, if there is one."""
        if len(cmd) != 4 or cmd[1] != self.script or (cmd[0], cmd[2]) not in self._waiting:
            return None
        started_env, waiting = self._waiting.pop((cmd[0], cmd[2]))
        if started_env != {k: v for k, v in env.items() if not k.startswith(_HIDDEN)} or not waiting.alive():
            waiting.discard()
            return None
        return waiting

    def close(self) -> None:
        for _, waiting in self._waiting.values():
            waiting.discard()
        self._waiting.clear()


def job(cmd: Sequence[str], cwd: str | None, env: Mapping[str, str]) -> bytes:
    return (json.dumps({"cwd": cwd or ".", "args": list(cmd[2:]), "env": dict(env)}) + "\n").encode()


@contextlib.contextmanager
def hook_workers(logger: Logger, umask: int) -> Iterator[HookWorkers]:
    workers = HookWorkers(logger, umask)
    try:
        yield workers
    finally:
        workers.close()
