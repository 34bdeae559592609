"""Isolated build environments for the build stage, cached across runs.

pypa/build and `uv build` create a fresh environment for every build. We keep
environments under the cache folder instead, keyed by the interpreter and the
*resolved* requirement set: `envs/<requirements key>/<pins key>/`. A run
resolves the requirements again only when the last resolution is older than
`cache_ttl`; until then a warm build skips resolution and installation. A new
environment is made in place under a file lock and marked ready last, so two
runs at once never share a half-made one. The environment is a `build.env.IsolatedEnv`
(pypa/build's protocol), so ProjectBuilder drives it like its own.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from toolkit import _fs, pythons
from toolkit._proc import Command, Logger, ProcessFailed
from toolkit.errors import BuildError, ConfigError
from toolkit.pythons import Interpreter

_SCRIPTS = "Scripts" if sys.platform == "win32" else "bin"
_EXE = "python.exe" if sys.platform == "win32" else "python"


@dataclass(frozen=True)
class BuildEnv:
    """A virtual environment with a build's requirements; pypa/build's IsolatedEnv."""

    path: Path
    pins: tuple[str, ...]  # `name==version` of everything installed

    @property
    def python_executable(self) -> str:
        return str(self.path / _SCRIPTS / _EXE)

    def make_extra_environ(self) -> Mapping[str, str] | None:
        # Console scripts of build requirements (cmake, ninja, meson) come first on PATH.
        return {"PATH": os.pathsep.join([str(self.path / _SCRIPTS), os.environ.get("PATH", "")])}

    def satisfies(self, requirements: Sequence[str]) -> bool:
        """Whether every requirement is met by what is installed (extras: never assumed)."""
        versions = dict(p.split("==", 1) for p in self.pins)
        versions = {canonicalize_name(k): v for k, v in versions.items()}
        for text in requirements:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            have = versions.get(canonicalize_name(req.name))
            if have is None or req.extras or req.url:
                return False
            if not req.specifier.contains(have, prereleases=True):
                return False
        return True


class Installer:
    """Creates a venv of `python` (default: this interpreter) and installs pinned requirements into it (uv or pip)."""

    name = "pip"

    def __init__(self, logger: Logger, environ: Mapping[str, str]) -> None:
        self.logger = logger
        self.environ = dict(environ)
        self.python = sys.executable  # the interpreter whose environments this installer makes

    def for_python(self, python: str) -> Installer:
        """The same installer, making environments of another interpreter (a wheel matrix)."""
        other = copy.copy(self)
        other.python = python
        return other

    def create(self, path: Path) -> None:
        self.logger.run([self.python, "-m", "venv", "--without-pip", path], env=self.environ)

    def resolve(self, requirements: Sequence[str], constraints: Path | None) -> list[str]:
        # pip resolves for another interpreter when run with --python (pip >= 22.3).
        target: Command = ["--python", self.python] if self.python != sys.executable else []
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            cmd: Command = [sys.executable, "-m", "pip", *target, "install", "--dry-run", "--ignore-installed", "-q",
                   "--report", report, *_constraint_args(constraints), *requirements]
            self.logger.run(cmd, env=self.environ)
            data = json.loads(report.read_text(encoding="utf-8"))
        meta = (item["metadata"] for item in data.get("install", []))
        return sorted(f"{canonicalize_name(m['name'])}=={m['version']}" for m in meta)

    def install(self, python: str, pins: Sequence[str]) -> None:
        cmd = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", *pins]
        self.logger.run(cmd, env=self.environ)


class UvInstaller(Installer):
    name = "uv"

    def __init__(self, logger: Logger, environ: Mapping[str, str], uv: str) -> None:
        super().__init__(logger, environ)
        self.uv = uv

    def create(self, path: Path) -> None:
        self.logger.run([self.uv, "venv", "-q", "--python", self.python, path], env=self.environ)

    def resolve(self, requirements: Sequence[str], constraints: Path | None) -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            reqs, out = Path(tmp) / "requirements.in", Path(tmp) / "pins.txt"
            reqs.write_text("\n".join(requirements) + "\n", encoding="utf-8")
            cmd: Command = [self.uv, "pip", "compile", "-q", "--python", self.python, "--no-header",
                   "--no-annotate", *_constraint_args(constraints), reqs, "-o", out]
            self.logger.run(cmd, env=self.environ)
            lines = out.read_text(encoding="utf-8").splitlines()
        return sorted(_pin_line(line) for line in lines if line.strip() and not line.startswith(("#", "-")))

    def install(self, python: str, pins: Sequence[str]) -> None:
        cmd: Command = [self.uv, "pip", "install", "-q", *self._bytecode(), "--python", python, "--no-deps", *pins]
        self.logger.run(cmd, env=self.environ)

    def install_requirements(self, python: str, requirements: Sequence[str], constraints: Path | None) -> None:
        """Resolve and install in one step (a new environment's first install: one resolution, not two)."""
        cmd: Command = [self.uv, "pip", "install", "-q", *self._bytecode(), "--python", python,
                        *_constraint_args(constraints), *requirements]
        self.logger.run(cmd, env=self.environ)

    def _bytecode(self) -> Command:
        # The first hook process writes the bytecode of what it imports (cheaper than compiling every
        # module); where PYTHONDONTWRITEBYTECODE forbids that (common in CI images), every hook would
        # compile again, so it is compiled once here.
        return ["--compile-bytecode"] if self.environ.get("PYTHONDONTWRITEBYTECODE") else []


def _pin_line(line: str) -> str:
    name, _, version = line.split(";")[0].strip().partition("==")
    return f"{canonicalize_name(name)}=={version.strip()}"


def _constraint_args(constraints: Path | None) -> Command:
    return ["-c", constraints] if constraints else []


def find_uv() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return shutil.which("uv")


def make_installer(choice: str, logger: Logger, environ: Mapping[str, str]) -> Installer:
    """uv when asked for or available ("auto"), pip otherwise."""
    if choice in ("auto", "uv"):
        uv = find_uv()
        if uv:
            return UvInstaller(logger, environ, uv)
        if choice == "uv":
            raise ConfigError("installer uv was asked for, but no uv binary was found", hint="pip install uv")
    return Installer(logger, environ)


def _interpreter_id(interpreter: Interpreter | None = None) -> str:
    """The cache key's interpreter part: which Python, which build of it, which platform and ABI."""
    return (interpreter or pythons.current()).identity


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class EnvPool:
    """Hands out build environments: cached under the cache folder, or throwaway."""

    def __init__(self, installer: Installer, *, cache: bool, ttl: int, constraints: Path | None,
                 interpreter: Interpreter | None = None) -> None:
        # The environments are of `interpreter` (default: this one); the installer makes them with it.
        self.interpreter = interpreter
        self.installer = installer if interpreter is None else installer.for_python(interpreter.executable)
        self.cache = cache
        self.ttl = ttl
        self.constraints = constraints
        self.root = _fs.cache_dir() / "envs"
        self._scratch: list[Path] = []
        try:
            self._constraints_text = constraints.read_text(encoding="utf-8") if constraints else ""
        except OSError as exc:
            raise ConfigError(f"cannot read build constraints {constraints}: {exc.strerror}") from None

    def close(self) -> None:
        for path in self._scratch:
            shutil.rmtree(path, ignore_errors=True)

    def get(self, requirements: Sequence[str]) -> BuildEnv:
        reqs = sorted({str(_parse(r)) for r in requirements})
        if not self.cache:
            pins = self._resolve(reqs)
            path = Path(tempfile.mkdtemp(prefix="toolkit-env-"))
            self._scratch.append(path)
            return self._make(path / "env", pins)
        group = self.root / _digest(_interpreter_id(self.interpreter), self.installer.name, *reqs, "--", self._constraints_text)
        current = group / "current.json"
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = json.loads(current.read_text(encoding="utf-8"))
            env = BuildEnv(group / state["env"], tuple(state["pins"]))
            fresh = time.time() - state["resolved_at"] < self.ttl
            if fresh and Path(env.python_executable).exists():
                self.installer.logger.note(f"reusing build environment {env.path}")
                return env
        if isinstance(self.installer, UvInstaller) and reqs and not current.exists():
            return self._make_direct(group, reqs)
        pins = self._resolve(reqs)
        path = _env_with(group, pins) or group / _digest(*pins)
        if not (path / "ready").exists():
            group.mkdir(parents=True, exist_ok=True)
            # Made in place under a lock, not renamed: console scripts (meson, cmake) carry
            # their environment's path in their shebang. `ready` is written last.
            with FileLock(str(path) + ".lock"):
                if not (path / "ready").exists():
                    shutil.rmtree(path, ignore_errors=True)  # a half-made one from a killed run
                    try:
                        self._make(path, pins)
                    except BaseException:
                        shutil.rmtree(path, ignore_errors=True)
                        raise
                    (path / "ready").write_text("\n".join(pins) + "\n", encoding="utf-8")
        _fs.atomic_write(current, json.dumps({"env": path.name, "pins": pins, "resolved_at": time.time()}))
        return BuildEnv(path, tuple(pins))

    def _make_direct(self, group: Path, reqs: list[str]) -> BuildEnv:
        """A new group's first environment, installed from the requirements; its pins are read after."""
        assert isinstance(self.installer, UvInstaller)
        path = group / f"first-{_digest(*reqs)}"
        group.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            if not (path / "ready").exists():
                shutil.rmtree(path, ignore_errors=True)  # a half-made one from a killed run
                try:
                    self.installer.create(path)
                    self.installer.install_requirements(BuildEnv(path, ()).python_executable, reqs, self.constraints)
                except ProcessFailed as exc:
                    shutil.rmtree(path, ignore_errors=True)
                    raise BuildError(
                        f"cannot install build requirements {', '.join(reqs)} with {self.installer.name}", log=exc.log,
                        hint=f"check the requirement names and your index; the installer's output is in {exc.log}",
                        detail=exc.tail) from None
                except BaseException:
                    shutil.rmtree(path, ignore_errors=True)
                    raise
                (path / "ready").write_text("\n".join(installed_pins(path)) + "\n", encoding="utf-8")
            pins = (path / "ready").read_text(encoding="utf-8").split()
        _fs.atomic_write(group / "current.json", json.dumps({"env": path.name, "pins": pins, "resolved_at": time.time()}))
        return BuildEnv(path, tuple(pins))

    def _resolve(self, reqs: list[str]) -> list[str]:
        if not reqs:
            return []
        try:
            return self.installer.resolve(reqs, self.constraints)
        except ProcessFailed as exc:
            raise BuildError(
                f"cannot resolve build requirements {', '.join(reqs)} with {self.installer.name}",
                log=exc.log, hint=f"check the requirement names and your index; the installer's output is in {exc.log}",
                detail=exc.tail,
            ) from None

    def _make(self, path: Path, pins: list[str]) -> BuildEnv:
        try:
            self.installer.create(path)
            env = BuildEnv(path, tuple(pins))
            if pins:
                self.installer.install(env.python_executable, pins)
        except ProcessFailed as exc:
            raise BuildError(
                f"cannot create the build environment with {self.installer.name}",
                log=exc.log, hint=f"the installer's output is in {exc.log}", detail=exc.tail,
            ) from None
        return env


def installed_pins(env: Path) -> list[str]:
    """`name==version` of every distribution installed in the environment at `env`."""
    from importlib.metadata import distributions

    sites = [env / "Lib" / "site-packages"] if sys.platform == "win32" else list(env.glob("lib/*/site-packages"))
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions(path=[str(p) for p in sites])}
    return sorted(f"{name}=={version}" for name, version in found.items())


def _env_with(group: Path, pins: Sequence[str]) -> Path | None:
    """An environment of the group that holds exactly `pins` already (made by an earlier resolution)."""
    for ready in sorted(group.glob("*/ready")):
        with contextlib.suppress(OSError):
            if ready.read_text(encoding="utf-8").split() == list(pins):
                return ready.parent
    return None


def _parse(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]  # packaging adds the text and a caret on further lines
        raise ConfigError(f"invalid build requirement {text!r}: {reason}", hint="fix [build-system] requires") from None


@contextlib.contextmanager
def env_pool(installer: Installer, *, cache: bool, ttl: int, constraints: Path | None,
             interpreter: Interpreter | None = None) -> Iterator[EnvPool]:
    pool = EnvPool(installer, cache=cache, ttl=ttl, constraints=constraints, interpreter=interpreter)
    try:
        yield pool
    finally:
        pool.close()


