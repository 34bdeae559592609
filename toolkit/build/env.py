"""Isolated build environments for the build stage, cached across runs.

pypa/build and `uv build` create a fresh environment for every build. We keep
environments under the cache folder instead, keyed by the interpreter and the
*resolved* requirement set: `envs/<requirements key>/<pins key>/`. A run
resolves the requirements again only when the last resolution is older than
`cache_ttl`; until then a warm build skips resolution and installation. A new
environment is made in place under a file lock and marked ready last, so two
runs at once never share a half-made one. A cached environment is checked before use (its
interpreter runs and sees it; every pinned file is there at its RECORD size) and made again, with
a warning, when it is damaged. The environment is a `build.env.IsolatedEnv`
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from toolkit import _fs
from toolkit._proc import Command, Logger, ProcessFailed, find_uv
from toolkit.build import pythons
from toolkit.build.pythons import Interpreter
from toolkit.errors import NO_SPACE, BuildError, ConfigError, EnvironmentFailure, ToolkitError

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


def make_installer(choice: str, logger: Logger, environ: Mapping[str, str]) -> Installer:
    """uv when asked for or available ("auto"), pip otherwise."""
    if choice in ("auto", "uv"):
        uv = find_uv()
        if uv:
            return UvInstaller(logger, _uv_cache(environ), uv)
        if choice == "uv":
            raise ConfigError("installer uv was asked for, but no uv binary was found", hint="pip install uv")
    return Installer(logger, environ)


def _uv_cache(environ: Mapping[str, str]) -> Mapping[str, str]:
    """uv refuses to run without a cache folder it can write: where toolkit's own cache fell back to
    a temporary folder (no writable HOME), uv's goes there too, unless the user chose one."""
    fallback, warning = _fs.writable_cache_dir()
    if warning is None or environ.get("UV_CACHE_DIR"):
        return environ
    return {**environ, "UV_CACHE_DIR": str(fallback / "uv")}


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
        self.root = _fs.writable_cache_dir()[0] / "envs"
        self._scratch: list[Path] = []
        self._checked: dict[Path, str | None] = {}  # environment -> why it is damaged (None: intact)
        self._remade: set[Path] = set()  # environments found damaged and made again in this run
        self.warn: Callable[[str], None] = self.installer.logger.note  # the build sets reporter.warn
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
            if fresh and self._intact(env):
                self.installer.logger.note(f"reusing build environment {env.path}")
                return env
        if isinstance(self.installer, UvInstaller) and reqs and not current.exists():
            return self._make_direct(group, reqs)
        pins = self._resolve(reqs)
        path = _env_with(group, pins) or group / _digest(*pins)
        self._discard_if_damaged(BuildEnv(path, tuple(pins)))
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
                    self._verify_remade(BuildEnv(path, tuple(pins)))
                    (path / "ready").write_text("\n".join(pins) + "\n", encoding="utf-8")
        with contextlib.suppress(OSError):  # a note to skip resolving next time: not worth failing the build
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
                    raise self._failed(exc, path, f"cannot install build requirements {', '.join(reqs)} with "
                                       f"{self.installer.name}", "check the requirement names and your index; the "
                                       f"installer's output is in {exc.log}") from None
                except BaseException:
                    shutil.rmtree(path, ignore_errors=True)
                    raise
                (path / "ready").write_text("\n".join(installed_pins(path)) + "\n", encoding="utf-8")
            pins = (path / "ready").read_text(encoding="utf-8").split()
        with contextlib.suppress(OSError):  # a note to skip resolving next time: not worth failing the build
            _fs.atomic_write(group / "current.json", json.dumps({"env": path.name, "pins": pins, "resolved_at": time.time()}))
        self._checked[path] = None
        return BuildEnv(path, tuple(pins))

    def _intact(self, env: BuildEnv) -> bool:
        """Whether a cached environment is whole (checked once a run); a damaged one is reported."""
        if not (env.path / "ready").exists():
            return False  # half made, or being made again by another run: never used
        if env.path not in self._checked:
            self._checked[env.path] = reason = damage(env, self.installer.logger)
            if reason is not None:
                self.warn(f"the cached build environment {env.path} is damaged ({reason}): making it again")
        return self._checked[env.path] is None

    def _discard_if_damaged(self, env: BuildEnv) -> None:
        """Unmark a damaged environment, so that the code below makes it again. Checked once more
        under its lock: another run may have just made it again, and must not lose it."""
        if self._intact(env) or not (env.path / "ready").exists():
            return
        with FileLock(str(env.path) + ".lock"):
            if damage(env, self.installer.logger) is not None:
                (env.path / "ready").unlink(missing_ok=True)
                self._remade.add(env.path)
        self._checked.pop(env.path, None)

    def _verify_remade(self, env: BuildEnv) -> None:
        """An environment made again because it was damaged must now be whole: installers hard-link
        files from their own cache, so a file damaged in place may be damaged there too."""
        reason = damage(env, self.installer.logger) if env.path in self._remade else None
        if reason is not None:
            shutil.rmtree(env.path, ignore_errors=True)
            tool = "uv cache clean" if self.installer.name == "uv" else "pip cache purge"
            raise BuildError(f"the build environment made again is still damaged ({reason})",
                             hint=f"the installer's cache may be damaged too: run `{tool}`, then build again")
        self._checked[env.path] = None

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
            raise self._failed(exc, path, f"cannot create the build environment with {self.installer.name}",
                               f"the installer's output is in {exc.log}") from None
        return env

    def _failed(self, exc: ProcessFailed, path: Path, message: str, hint: str) -> ToolkitError:
        """The error for an installer that failed making `path`: a full disk, or its own reason."""
        if self.installer.logger.mentions(NO_SPACE):
            full = ", ".join(_fs.full_folders([path.parent, Path(tempfile.gettempdir())])) or "a disk"
            return EnvironmentFailure(f"{message}: {NO_SPACE} ({full})", hint=f"free some space; its output is in {exc.log}")
        return BuildError(message, log=exc.log, hint=hint, detail=exc.tail)


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


# Run by the environment's own interpreter, with site (which is what reads pyvenv.cfg): where it
# sees itself and its packages.
_WHERE = ("import json, sys, sysconfig; "
          "print(json.dumps([sys.prefix, sysconfig.get_path('purelib'), sysconfig.get_path('platlib')]))")


def damage(env: BuildEnv, logger: Logger) -> str | None:
    """Why a made environment cannot be used (its interpreter is gone or changed, pyvenv.cfg is
    missing, an installed file is missing or cut short), or None when it is whole.

    One interpreter start (about 30 ms); the installed files are checked here against their RECORD
    sizes, not hashes, so that a warm build pays a stat per file.
    """
    if not (env.path / "pyvenv.cfg").is_file():
        return "pyvenv.cfg is missing"
    code, out = logger.capture([env.python_executable, "-I", "-c", _WHERE])
    last = out.splitlines()[-1] if out else f"exit {code}"
    try:
        prefix, *paths = json.loads(last) if code == 0 else []
    except ValueError:
        prefix = None
    if prefix is None:
        return f"its interpreter does not run: {last}"
    if os.path.realpath(prefix) != os.path.realpath(env.path):
        return f"its interpreter does not see it (sys.prefix is {prefix})"
    return _missing(env.pins, sorted(set(paths)))


def _missing(pins: Sequence[str], paths: list[str]) -> str | None:
    """The first pinned distribution, or file of one, that is not installed whole under `paths`."""
    import importlib.metadata as md

    installed = {canonicalize_name(d.metadata["Name"] or ""): d for d in md.distributions(path=paths)}
    for pin in pins:
        name, _, version = pin.partition("==")
        dist = installed.get(canonicalize_name(name))
        if dist is None:
            return f"{pin} is not installed"
        if dist.version != version:
            return f"{name} {dist.version} is installed, not {version}"
        for f in dist.files or ():
            try:
                size = os.path.getsize(f.locate())
            except OSError:
                return f"{f} of {name} is missing"
            if f.size is not None and size != f.size:
                return f"{f} of {name} is {size} bytes, not {f.size}"
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


