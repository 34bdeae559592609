"""Stage 1, build: a source folder becomes an sdist, and the sdist a wheel.

The wheel is built from the unpacked sdist (as pypa/build does), so a file the
sdist forgot fails the build here rather than on a user's machine. pypa/build's
ProjectBuilder calls the PEP 517 hooks; `buildenv` supplies the environments.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import email.message
import email.parser
import os
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from toolkit import _fs
from toolkit._proc import Logger, clean_environ
from toolkit.build import env as buildenv
from toolkit.build import matrix, portable, pythons
from toolkit.build import sdist as sdist_archive
from toolkit.config import BuildOptions, read_pyproject
from toolkit.dist import Dist, record
from toolkit.errors import NO_SPACE, NO_SPACE_ERRNOS, BuildError, ConfigError, EnvironmentFailure, ToolkitError
from toolkit.reporter import PlainReporter, Reporter

Distribution = Literal["sdist", "wheel"]
DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"
# SOURCE_DATE_EPOCH bounds: zip timestamps cannot go before 1980 or after 2107.
BUILD_UMASK = 0o022  # hooks run with it, so archive modes do not follow the user's umask
EPOCH_MIN = 315532800  # 1980-01-01
EPOCH_MAX = 4354819199  # 2107-12-31


@dataclass(frozen=True)
class BuildResult:
    dists: list[Dist]
    manifest: Path
    log: Path
    source_date_epoch: str | None


def build(src: Path, options: BuildOptions, *, reporter: Reporter | None = None, echo: bool = False) -> BuildResult:
    """Build `src` (a project folder or an sdist) into `options.outdir`."""
    reporter = reporter or PlainReporter()
    src = src.resolve()
    from_sdist = _is_regular(src)
    if from_sdist:
        sdist_archive.require_sdist_file(src)
    else:
        _require_project(src)
    outdir = options.outdir_for(src, from_sdist)
    if (info := _fs.stat_or_none(outdir)) is not None and not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{outdir}: the output folder is a file", hint="pass another folder with -o")
    want_sdist = options.sdist and not from_sdist
    want_wheel = options.wheel or from_sdist
    if not (want_sdist or want_wheel):
        raise ConfigError("nothing to build: both --sdist and --wheel are off")
    interpreters = matrix.interpreters(options) if want_wheel else []
    target = portable.request(options) if want_wheel else None
    if target is not None:  # --manylinux / --musllinux: refused before anything is built
        portable.refuse_interpreters(target, interpreters or [pythons.current()])

    environ = dict(os.environ)
    epoch = source_date_epoch(src if not from_sdist else None, environ, reporter)
    if epoch is not None:
        environ["SOURCE_DATE_EPOCH"] = epoch
    logger = _open_log(echo, reporter)
    installer = buildenv.make_installer(options.installer, logger, environ)
    hook_environ = clean_environ(environ, options.pass_env)

    built: list[tuple[Path, dict[str, str]]] = []
    toolchain: portable.Toolchain | None = None
    with contextlib.ExitStack() as stack:
        if not from_sdist:
            stack.enter_context(_tree_lock(src, reporter))
        pool = stack.enter_context(
            buildenv.env_pool(installer, cache=options.cache, ttl=options.cache_ttl, constraints=options.build_constraints)
        )
        pool.warn = reporter.warn
        try:
            staging = stack.enter_context(_fs.staging_dir(outdir))
        except OSError as exc:
            raise _write_error(exc, f"cannot write to {outdir}", "pass a writable folder with -o") from None
        # The backend writes into a folder of its own inside the staging folder, so that
        # even a file it writes to `../name` stays out of OUTDIR.
        backend_out = staging / "backend"
        backend_out.mkdir()
        runner = _runner(logger, hook_environ)
        one = _OneBuild(options, pool, runner, logger, reporter)
        sdist = src if from_sdist else None
        if want_sdist:
            sdist = one.run(src, "sdist", backend_out)
            built.append((sdist, one.origin))
        if want_wheel:
            tree = stack.enter_context(sdist_archive.unpacked(sdist)) if sdist is not None else src

            def wheel_runner(interp: pythons.Interpreter) -> tuple[Callable[..., None], dict[str, str]]:
                """The hooks' runner for a wheel of `interp`: with --manylinux, zig's wrappers first on PATH."""
                nonlocal toolchain
                if target is None:
                    return runner, {}
                with reporter.step(f"wheel: setting up zig for {target.family} {target.version[0]}_{target.version[1]}"):
                    toolchain = portable.toolchain(target, interp, pool, hook_environ)
                return _runner(logger, {**hook_environ, **toolchain.environ}, toolchain.bindir), toolchain.origin

            try:
                if interpreters:
                    def one_for(interp: pythons.Interpreter) -> _OneBuild:
                        other = stack.enter_context(buildenv.env_pool(
                            installer, cache=options.cache, ttl=options.cache_ttl, constraints=options.build_constraints,
                            interpreter=interp))
                        other.warn = reporter.warn
                        wrun, compiler = wheel_runner(interp)
                        return _OneBuild(options, other, wrun, logger, reporter, label=f"wheel ({interp.label})",
                                         compiler=compiler)

                    built.extend(matrix.wheels(tree, interpreters, one_for, backend_out, reporter))
                else:
                    wrun, compiler = wheel_runner(pythons.current())
                    wheel = _OneBuild(options, pool, wrun, logger, reporter, compiler=compiler)
                    built.append((wheel.run(tree, "wheel", backend_out), wheel.origin))
            except ToolkitError as exc:
                raise (portable.explain(exc, toolchain) if toolchain else exc) from None
        dists = [Dist.from_path(p, origin=origin) for p, origin in built]
        dists = [_published(d, outdir) for d in dists]
    try:
        manifest = record(outdir, dists, {"source_date_epoch": epoch})
    except OSError as exc:  # the files are built: a manifest that cannot be written is no input error
        raise EnvironmentFailure(f"cannot write the manifest in {outdir}: {exc.strerror}",
                                 hint="the built files are in place; free space or fix the folder's permissions") from None
    return BuildResult(dists, manifest, logger.path, epoch)


def backend_metadata(src: Path, options: BuildOptions, *, reporter: Reporter | None = None) -> email.message.Message:
    """The core metadata the backend gives the project `src` before anything is built (its
    prepare_metadata_for_build_wheel hook, or a wheel built for it where the backend lacks the hook, as pypa/build
    does), in the isolated environment the build then reuses: a version from git tags is known this way."""
    reporter = reporter or PlainReporter()
    src = src.resolve()
    _require_project(src)
    environ = dict(os.environ)
    logger = _open_log(False, reporter)
    installer = buildenv.make_installer(options.installer, logger, environ)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_tree_lock(src, reporter))
        pool = stack.enter_context(
            buildenv.env_pool(installer, cache=options.cache, ttl=options.cache_ttl, constraints=options.build_constraints)
        )
        out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="toolkit-metadata-")))
        one = _OneBuild(options, pool, _runner(logger, clean_environ(environ, options.pass_env)), logger, reporter)
        return one.metadata(src, out)


def _published(dist: Dist, outdir: Path) -> Dist:
    return replace(dist, path=_fs.publish_file(dist.path, outdir))


class _OneBuild:
    """Runs one distribution's hooks: requirements, environment, build."""

    def __init__(self, options: BuildOptions, pool: buildenv.EnvPool, runner: Callable[..., None],
                 logger: Logger, reporter: Reporter, label: str | None = None, compiler: dict[str, str] | None = None) -> None:
        self.options, self.pool, self.runner, self.logger, self.reporter = options, pool, runner, logger, reporter
        self.origin: dict[str, str] = {}
        self.compiler = compiler or {}  # what compiled it, when toolkit chose (--manylinux: zig and its target)
        self.label = label  # what the steps call the distribution (default: "sdist", "wheel")

    def run(self, srcdir: Path, distribution: Distribution, outdir: Path) -> Path:
        import build as pypa_build
        import pyproject_hooks

        backend = backend_name(srcdir)
        settings = dict(self.options.config_settings) or None
        self._hook = f"get_requires_for_build_{distribution}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pypa/build warns through `warnings`; the log has the output
                path, env, wrote_to = self._hooks(srcdir, distribution, outdir, settings, backend)
        except pypa_build.BuildBackendException as exc:
            cause = exc.exception
            if isinstance(cause, pyproject_hooks.BackendUnavailable):
                raise BuildError(
                    f"cannot import the backend ({getattr(cause, 'message', None) or 'not installed'})", backend=backend,
                    hook=self._hook, log=self.logger.path,
                    hint=f"check [build-system] requires and build-backend; log: {self.logger.path}",
                ) from None
            if self.logger.mentions(NO_SPACE):
                raise _no_space(self.logger, outdir, f"backend {backend} hook {self._hook}") from None
            reason, detail = str(exc), []
            if isinstance(cause, subprocess.CalledProcessError):
                code = cause.returncode
                reason = f"the backend was killed by signal {-code}" if code < 0 else f"the backend failed (exit {code})"
                detail = list(cause.output or [])
            raise BuildError(reason, backend=backend, hook=self._hook, log=self.logger.path, detail=detail) from None
        except pypa_build.BuildException as exc:  # the [build-system] table is invalid: nothing ran
            raise ConfigError(f"{srcdir / 'pyproject.toml'}: {exc}", hint="fix the [build-system] table") from None
        self._check_output(path, wrote_to, backend, distribution)
        if wrote_to != outdir:
            path = _fs.publish_file(path, outdir)
        self.origin = {"backend": backend, "build_requires": " ".join(env.pins) if env else "(no isolation)", **self.compiler}
        return path

    def metadata(self, srcdir: Path, outdir: Path) -> email.message.Message:
        """The backend's core metadata for the wheel of `srcdir`, its errors told as the build's are."""
        import build as pypa_build

        backend = backend_name(srcdir)
        settings = dict(self.options.config_settings) or None
        self._hook = "prepare_metadata_for_build_wheel"
        try:
            with warnings.catch_warnings(), self.reporter.step(f"metadata: asking {backend} for the version"):
                warnings.simplefilter("ignore")
                builder = pypa_build.ProjectBuilder(srcdir, runner=self.runner)
                if self.options.isolation:
                    env = self.pool.get(list(builder.build_system_requires))
                    builder = pypa_build.ProjectBuilder.from_isolated_env(env, srcdir, runner=self.runner)
                    extra = list(builder.get_requires_for_build("wheel", settings))
                    if extra and not env.satisfies(extra):
                        env = self.pool.get([*builder.build_system_requires, *extra])
                        builder = pypa_build.ProjectBuilder.from_isolated_env(env, srcdir, runner=self.runner)
                dist_info = Path(builder.prepare("wheel", outdir, settings) or builder.metadata_path(outdir))
            return email.parser.BytesParser().parsebytes((dist_info / "METADATA").read_bytes(), headersonly=True)
        except pypa_build.BuildBackendException as exc:
            raise BuildError(f"the backend failed ({exc})", backend=backend, hook=self._hook, log=self.logger.path) from None
        except pypa_build.BuildException as exc:
            raise ConfigError(f"{srcdir / 'pyproject.toml'}: {exc}", hint="fix the [build-system] table") from None
        except OSError as exc:
            raise BuildError(f"no METADATA from the backend ({exc.strerror or exc})", backend=backend, hook=self._hook,
                             log=self.logger.path) from None

    def _hooks(self, srcdir: Path, distribution: Distribution, outdir: Path, settings: dict | None,
               backend: str) -> tuple[Path, buildenv.BuildEnv | None, Path]:
        """Call the hooks; returns the built file, the environment and the folder it was written to."""
        import build as pypa_build

        builder = pypa_build.ProjectBuilder(srcdir, runner=self.runner)
        if not self.options.isolation:
            if self.options.dependency_check:
                self._require_installed(builder, distribution, settings)
            self._hook = f"build_{distribution}"
            with self.reporter.step(f"{distribution}: running {backend}"):
                return Path(builder.build(distribution, outdir, settings)), None, outdir
        with self.reporter.step(f"{self.label or distribution}: preparing the build environment"):
            static = list(builder.build_system_requires)
            env = self.pool.get(static)
            builder = pypa_build.ProjectBuilder.from_isolated_env(env, srcdir, runner=self.runner)
        with self.reporter.step(f"{self.label or distribution}: running {backend}"):
            if backend.split(":")[0] in SPECULATIVE_BACKENDS:
                # Both hooks run at once, each in its own process; the build's result is kept
                # only if the requirements hook then asks for nothing the environment lacks.
                spec = Path(tempfile.mkdtemp(dir=outdir, prefix="speculative-"))
                with ThreadPoolExecutor(max_workers=1) as pool:
                    future = pool.submit(builder.build, distribution, spec, settings)
                    extra = list(builder.get_requires_for_build(distribution, settings))
                    if not extra or env.satisfies(extra):
                        self._hook = f"build_{distribution}"
                        return Path(future.result()), env, spec
                    concurrent.futures.wait([future])
            else:
                extra = list(builder.get_requires_for_build(distribution, settings))
            if extra and not env.satisfies(extra):
                env = self.pool.get([*static, *extra])
                builder = pypa_build.ProjectBuilder.from_isolated_env(env, srcdir, runner=self.runner)
            self._hook = f"build_{distribution}"
            return Path(builder.build(distribution, outdir, settings)), env, outdir

    def _require_installed(self, builder: object, distribution: Distribution, settings: dict | None) -> None:
        """--no-isolation: the build requirements must be installed here already (as pypa/build checks)."""
        missing = builder.check_dependencies(distribution, settings)  # type: ignore[attr-defined]
        if missing:
            names = ", ".join(sorted(" -> ".join(chain) for chain in missing))
            raise BuildError(f"build requirements missing from this environment: {names}", hook=self._hook,
                             hint="install them, build with isolation, or skip this check with -x")

    def _check_output(self, path: Path, outdir: Path, backend: str, distribution: str) -> None:
        # A backend returns a base name; one that escapes the folder or names nothing is refused.
        if path.parent.resolve() != outdir.resolve() or not path.is_file():
            raise BuildError(
                f"returned {path.name!r}, which is not a file it wrote in the output folder",
                backend=backend, hook=f"build_{distribution}", log=self.logger.path,
            )
        self.logger.note(f"{backend} built {path.name}")


# Backends whose get_requires_for_build_* hooks only read configuration (no writes to the
# source tree), so the build hook may run beside them. Any other backend runs the hooks in turn.
SPECULATIVE_BACKENDS = frozenset({"hatchling.build", "flit_core.buildapi", "pdm.backend", "poetry.core.masonry.api"})


def _runner(logger: Logger, environ: Mapping[str, str], path_first: Path | None = None) -> Callable[..., None]:
    """A pyproject-hooks runner whose hook processes see the cleaned environment (and `path_first` first on PATH:
    zig's compiler wrappers, ahead of the environment's scripts)."""

    def run(cmd: list[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
        env = dict(environ)
        env.update(extra_environ or {})
        if path_first is not None:
            env["PATH"] = os.pathsep.join([str(path_first), env.get("PATH", "")])
        try:
            logger.run(cmd, cwd=cwd, env=env, umask=BUILD_UMASK)
        except Exception as exc:
            # pypa/build expects CalledProcessError from a runner when a hook process fails;
            # its `output` carries the end of the hook's output (the cause) to the error.
            raise subprocess.CalledProcessError(getattr(exc, "returncode", 1), cmd,
                                                output=getattr(exc, "tail", None)) from None

    return run


def backend_name(srcdir: Path) -> str:
    system = read_pyproject(srcdir).get("build-system", {})
    return str(system.get("build-backend", DEFAULT_BACKEND)) if isinstance(system, dict) else DEFAULT_BACKEND


def _require_project(src: Path) -> None:
    info = _fs.stat_or_none(src)
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{src}: no such folder or file", hint="pass a project folder or an sdist .tar.gz")
    pyproject = _fs.stat_or_none(src / "pyproject.toml")
    if pyproject is not None and not stat.S_ISREG(pyproject.st_mode):
        # pypa/build opens it too: a FIFO there would make it wait forever for a writer.
        raise ConfigError(f"{src / 'pyproject.toml'}: cannot read it (not a regular file)",
                          hint="make it a readable regular file")
    if pyproject is None and not (src / "setup.py").is_file():
        raise ConfigError(f"{src}: no pyproject.toml and no setup.py", hint="run toolkit build in a Python project's folder")


def _is_regular(path: Path) -> bool:
    info = _fs.stat_or_none(path)
    return info is not None and stat.S_ISREG(info.st_mode)


# -- the run's surroundings: the log, the source tree's lock, a full disk (helpers, so that
# build() says what it does in one line each) ------------------------------------------------------

def _open_log(echo: bool, reporter: Reporter) -> Logger:
    """The run's log, in the cache folder or (when that cannot be written) a temporary one, saying so."""
    try:
        warning = _fs.writable_cache_dir()[1]
        if warning:
            reporter.warn(warning)
        return Logger.create("build", echo=echo)
    except OSError as exc:
        raise EnvironmentFailure(f"no folder to keep the build log in: {exc.strerror or exc}",
                                 hint="set TOOLKIT_CACHE_DIR or TMPDIR to a writable folder") from None


def _tree_lock(src: Path, reporter: Reporter) -> AbstractContextManager[None]:
    """One build of a source tree at a time: backends write inside it (setuptools stages its sdist
    and egg-info there, meson and scikit-build-core their build folders), so two at once collide."""
    return _fs.waiting_lock("tree", src, lambda: reporter.step(f"waiting for another build of {src} to finish"))




def _write_error(exc: OSError, what: str, hint: str) -> ToolkitError:
    """A folder that cannot be written: the user's choice (exit 2), unless the disk is full (exit 6)."""
    if exc.errno in NO_SPACE_ERRNOS:
        return EnvironmentFailure(f"{what}: {exc.strerror}", hint="free space there, or pass another folder with -o")
    return ConfigError(f"{what}: {exc.strerror}", hint=hint)


def _no_space(logger: Logger, outdir: Path, who: str) -> EnvironmentFailure:
    """A tool that failed because a disk is full: name that, and the folders that are (nearly) full."""
    full = _fs.full_folders([outdir, Path(tempfile.gettempdir()), logger.path.parent])
    where = f" ({', '.join(full)} {'is' if len(full) == 1 else 'are'} full)" if full else ""
    return EnvironmentFailure(f"{who}: {NO_SPACE}{where}",
                              hint=f"free some space and build again; the output is in {logger.path}")


def source_date_epoch(src: Path | None, environ: Mapping[str, str], reporter: Reporter) -> str | None:
    """SOURCE_DATE_EPOCH: the user's (validated, clamped), else the time of the last git
    commit that touched the project's folder (in a monorepo, a commit elsewhere changes nothing)."""
    raw = environ.get("SOURCE_DATE_EPOCH")
    if raw is None and src is not None:
        raw = _git_commit_time(src)
        if raw is None:
            return None
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"SOURCE_DATE_EPOCH={raw!r} is not an integer", hint="set it to seconds since 1970, or unset it") from None
    clamped = min(max(value, EPOCH_MIN), EPOCH_MAX)
    if clamped != value:
        reporter.warn(f"SOURCE_DATE_EPOCH={value} is outside 1980-2107 (zip's range); using {clamped}")
    return str(clamped)


def _git_commit_time(src: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "log", "-1", "--format=%ct", "--", "."],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


