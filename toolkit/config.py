"""Options of every stage, from one place.

Precedence, highest first: command-line flags, `TOOLKIT_<STAGE>_<KEY>`
environment variables (what CI sets), the `[tool.toolkit.<stage>]` table of the
project's pyproject.toml, then the defaults below. Each stage gets one frozen
options object; adding a stage is adding one dataclass to STAGES.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

from toolkit import _fs
from toolkit._text import has_password
from toolkit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


T = TypeVar("T")
KINDS = ("bool", "int", "float", "str", "path", "choice", "list", "dict", "secret")


def option(default: Any, kind: str, help: str, *, choices: tuple[str, ...] = (), flags: tuple[str, ...] = (),
           false_flags: tuple[str, ...] = (), metavar: str | None = None) -> Any:
    """A field of a stage's options: its type, help and command-line flags, in one place.

    The CLI makes its arguments from these (cli.add_options), so a stage's options are
    declared once. `flags` default to `--field-name`; a bool gets `--x/--no-x`, and
    `false_flags` are extra spellings that set it false (`-n` for `--no-isolation`).
    A `secret` is a string that pyproject.toml may not hold and no error repeats.
    """
    assert kind in KINDS, kind
    meta = {"kind": kind, "help": help, "choices": choices, "flags": flags, "false_flags": false_flags,
            "metavar": metavar}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def flag_names(f: dataclasses.Field) -> tuple[str, ...]:
    return f.metadata["flags"] or (f"--{f.name.replace('_', '-')}",)


@dataclass(frozen=True)
class BuildOptions:
    outdir: Path | None = option(None, "path", "output folder (default: SRC/dist; for an sdist SRC, its folder)",
                                 flags=("-o", "--outdir", "--out-dir"))
    sdist: bool = option(True, "bool", "build the sdist")
    wheel: bool = option(True, "bool", "build the wheel (from the sdist when both are built)")
    isolation: bool = option(True, "bool", "build in an isolated environment (--no-isolation: in this one)",
                             false_flags=("-n",))
    dependency_check: bool = option(True, "bool", "with --no-isolation, check that the build requirements are "
                                    "installed", false_flags=("-x", "--skip-dependency-check"))
    installer: str = option("auto", "choice", "installer for build requirements", choices=("auto", "uv", "pip"))
    python: tuple = option((), "list", "build the wheel with this interpreter (repeatable; a version, a path, or "
                           "`all`: every interpreter uv finds that requires-python allows)", metavar="PYTHON")
    config_settings: dict = option({}, "dict", "PEP 517 config setting passed to the backend (repeatable)",
                                   flags=("-C", "--config-setting", "--config-settings"), metavar="KEY=VALUE")
    build_constraints: Path | None = option(None, "path", "constraints file for the build requirements",
                                            metavar="FILE")
    cache: bool = option(True, "bool", "reuse cached isolated environments (--no-cache: a fresh one)")
    cache_ttl: int = option(86400, "int", "seconds before a cached environment's requirements are resolved again",
                            metavar="SECONDS")
    pass_env: tuple = option((), "list", "let the backend see this variable, or NAME* for a prefix (PYTHONPATH, "
                             "PIP_*, UV_* are hidden from it otherwise; repeatable)", metavar="NAME")
    repair: bool = option(False, "bool", "repair the wheel built (toolkit repair: vendor external libraries)")
    manylinux: str | None = option(None, "str", "build a portable Linux wheel with zig for this glibc (2_17 = manylinux2014, "
                                   "2_28...), then repair and tag it (toolkit/build/portable.py)", metavar="VERSION")
    musllinux: str | None = option(None, "str", "build a musllinux wheel with zig (1_2; needs a musl Python), then repair "
                                   "and tag it", metavar="VERSION")

    def outdir_for(self, src: Path, from_sdist: bool = False) -> Path:
        """Where build writes and the later stages read (the one place this default is computed): -o or
        [tool.toolkit.build] outdir, else SRC/dist; for an sdist SRC, its folder."""
        return (self.outdir or (src.parent if from_sdist else src / "dist")).resolve()


@dataclass(frozen=True)
class CheckOptions:
    ignore: tuple = option((), "list", "silence a warning code (repeatable)", metavar="CODE")
    strict: bool = option(False, "bool", "treat warnings as errors")
    jobs: int | None = option(None, "int", "worker processes (default: one per core)", flags=("-j", "--jobs"),
                              metavar="N")


@dataclass(frozen=True)
class RepairOptions:
    outdir: Path | None = option(None, "path", "output folder (default: the folder of each input wheel)",
                                 flags=("-o", "--outdir", "--wheel-dir"))
    lib_dir: tuple = option((), "list", "also search this folder for the libraries to vendor (repeatable; "
                            "LD_LIBRARY_PATH, DYLD_LIBRARY_PATH and PATH are searched too)",
                            flags=("-L", "--lib-dir"), metavar="DIR")
    exclude: tuple = option((), "list", "never vendor libraries matching this pattern, e.g. 'libcuda.so.*' "
                            "(another wheel or the system provides them; repeatable)", metavar="PATTERN")
    plat: str | None = option(None, "str", "the platform tag to repair to (Linux: e.g. manylinux_2_28_x86_64; "
                              "default: the most compatible one the binaries allow)", metavar="TAG")
    strip: bool = option(False, "bool", "strip symbols from the binaries and vendored libraries (Linux)")


@dataclass(frozen=True)
class CiOptions:
    kind: str = option("auto", "choice", "pure (one build job) or native (cibuildwheel, one job per wheel); "
                       "default: detected from the project", choices=("auto", "pure", "native"))
    free_threaded: bool = option(False, "bool", "also build free-threaded (cp3XXt) wheels")
    platforms: tuple = option(
        ("linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-arm64", "windows-amd64", "windows-arm64"),
        "list", "native wheels' platforms (repeatable, or comma-separated; default: all six)", metavar="PLATFORM")


@dataclass(frozen=True)
class AttestOptions:
    staging: bool = option(False, "bool", "sign with Sigstore's staging instance (to try it out; PyPI wants production)")
    trust_config: Path | None = option(None, "path", "a Sigstore client trust config (JSON) naming another Sigstore "
                                       "instance", metavar="FILE")


@dataclass(frozen=True)
class VerifyOptions:
    publisher: str = option("", "str", "who must have signed: github:OWNER/REPO[@WORKFLOW], gitlab:GROUP/PROJECT"
                            "[@CI_FILE], google:EMAIL or circleci:PROJECT_ID/PIPELINE_DEFINITION_ID", metavar="PUBLISHER")
    staging: bool = option(False, "bool", "attestations signed with Sigstore's staging instance")
    offline: bool = option(False, "bool", "use the trust root shipped with sigstore (no network)")
    from_index: str | None = option(None, "str", "verify the provenance this index serves for each FILE (PyPI's "
                                    "Integrity API): its URL, or pypi / testpypi", metavar="URL")
    trust_config: Path | None = option(None, "path", "a Sigstore client trust config (JSON) naming another Sigstore "
                                       "instance", metavar="FILE")
    timeout: float = option(60.0, "float", "--from-index: seconds to wait for a connection and for the answer",
                            metavar="SECONDS")
    deadline: float = option(300.0, "float", "--from-index: seconds one file's provenance may take", metavar="SECONDS")


@dataclass(frozen=True)
class PublishOptions:
    repository: str | None = option(None, "str", "where to upload: pypi (default), testpypi, or a name from ~/.pypirc or "
                                    "[tool.toolkit.publish.repositories]", flags=("-r", "--repository"), metavar="NAME")
    repository_url: str | None = option(None, "str", "the index's upload URL (instead of --repository)", metavar="URL")
    repositories: dict = option({}, "dict", "name an upload URL for -r (repeatable; in pyproject.toml: "
                                "[tool.toolkit.publish.repositories] NAME = URL)", metavar="NAME=URL")
    index_url: str | None = option(None, "str", "the index's simple API, where toolkit looks for files already there "
                                   "(default: found from the upload URL)", metavar="URL")
    username: str | None = option(None, "str", "user name (default: __token__ with a password or token)",
                                  flags=("-u", "--username"), metavar="NAME")
    password: str | None = option(None, "secret", "password or API token (better: TOOLKIT_PASSWORD in the environment)",
                                  flags=("-p", "--password"), metavar="PASSWORD")
    token: str | None = option(None, "secret", "API token, sent as user __token__ (better: TOOLKIT_PUBLISH_TOKEN)",
                               metavar="TOKEN")
    config_file: Path | None = option(None, "path", "the .pypirc to read (default: ~/.pypirc)", metavar="FILE")
    keyring: bool = option(True, "bool", "ask keyring for the password when no other source gives one")
    trusted_publishing: str = option("auto", "choice", "exchange the CI's OIDC identity for a short-lived upload token "
                                     "(auto: in GitHub Actions or GitLab CI when no credentials are given)",
                                     choices=("auto", "always", "never"))
    check: bool = option(True, "bool", "check each file first and refuse one that fails (--no-check: skip the checks)")
    attestations: bool = option(False, "bool", "upload each file's FILE.publish.attestation (PEP 740) with it")
    dry_run: bool = option(False, "bool", "do everything but the upload")
    cacert: Path | None = option(None, "path", "CA bundle that verifies the index's TLS certificate (default: "
                                 "TWINE_CERT, the .pypirc section's ca_cert, REQUESTS_CA_BUNDLE, PIP_CERT, SSL_CERT_FILE, "
                                 "the OS trust store)", flags=("--cacert", "--cert"), metavar="FILE")
    client_cert: Path | None = option(None, "path", "PEM file with the client certificate (and its key) the index "
                                      "asks for (default: TWINE_CLIENT_CERT, the .pypirc section's client_cert)",
                                      metavar="FILE")
    timeout: float = option(120.0, "float", "seconds to wait for a connection, for a stalled send and for the answer",
                            metavar="SECONDS")
    retries: int = option(4, "int", "retries of a file after a transient failure (connection lost, 408, 429, 5xx)",
                          metavar="N")
    deadline: float = option(900.0, "float", "seconds one file may take, retries included", metavar="SECONDS")
    jobs: int | None = option(None, "int", "wheels uploaded at once, each on its own connection (the sdist follows "
                              "them; default 4, or 1 to an index on this machine); 1: one file at a time",
                              flags=("-j", "--jobs"), metavar="N")


@dataclass(frozen=True)
class ReleaseOptions:
    attest: str = option("auto", "choice", "sign PEP 740 attestations before the upload (auto: in a CI job with an OIDC "
                         "identity, when the index is PyPI or TestPyPI)", choices=("auto", "always", "never"))


STAGES: dict[str, type] = {
    "build": BuildOptions, "repair": RepairOptions, "check": CheckOptions, "attest": AttestOptions,
    "verify": VerifyOptions, "publish": PublishOptions, "release": ReleaseOptions, "ci": CiOptions,
}


def stage_name(cls: type) -> str:
    for name, known in STAGES.items():
        if known is cls:
            return name
    raise KeyError(cls)


def read_pyproject(project_dir: Path) -> dict[str, Any]:
    """`project_dir/pyproject.toml` parsed ({} when absent): the one reader of it, for every stage.
    read_regular: a FIFO in its place is an error, never a wait."""
    pyproject = project_dir / "pyproject.toml"
    try:
        return tomllib.loads(_fs.read_regular(pyproject).decode("utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise ConfigError(f"{pyproject}: cannot read it ({exc.strerror})", hint="make it a readable regular file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: cannot read it: {exc}", hint="fix the TOML syntax") from None


# [tool.toolkit] tables that are not a stage's options: the project's own test command, run against each
# repaired wheel (toolkit/repair/projecttest.py reads it).
PROJECT_TABLES = ("test",)


def read_project_table(project_dir: Path) -> dict[str, Any]:
    """The `[tool.toolkit]` table of `project_dir/pyproject.toml` ({} when absent)."""
    pyproject = project_dir / "pyproject.toml"
    table = read_tool_table(project_dir, "toolkit")
    for key, value in table.items():
        if key not in STAGES and key not in PROJECT_TABLES:
            raise ConfigError(
                f"{pyproject}: unknown [tool.toolkit.{key}] entry",
                hint=f"tables are: {', '.join(f'[tool.toolkit.{s}]' for s in (*STAGES, *PROJECT_TABLES))}",
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{pyproject}: [tool.toolkit.{key}] must be a table")
    return table


def read_tool_table(project_dir: Path, name: str) -> dict[str, Any]:
    """The `[tool.<name>]` table of `project_dir/pyproject.toml` ({} when absent)."""
    pyproject = project_dir / "pyproject.toml"
    tool = read_pyproject(project_dir).get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{pyproject}: [tool] must be a table")
    table = tool.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.{name}] must be a table")
    return table


@overload
def load(stage: type[T], project_dir: Path | None, flags: Mapping[str, Any] | None = ...,
         environ: Mapping[str, str] | None = ...) -> T: ...
@overload
def load(stage: str, project_dir: Path | None, flags: Mapping[str, Any] | None = ...,
         environ: Mapping[str, str] | None = ...) -> Any: ...
def load(
    stage: type[T] | str,
    project_dir: Path | None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T | Any:
    """Merge defaults, pyproject.toml, TOOLKIT_* and flags (a None flag means unset) into a stage's options."""
    cls = STAGES[stage] if isinstance(stage, str) else stage
    name_ = stage if isinstance(stage, str) else stage_name(stage)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if project_dir is not None:
        table = read_project_table(project_dir).get(name_, {})
        for key, raw in table.items():
            name = key.replace("-", "_")
            if name not in fields:
                known = ", ".join(f.name.replace("_", "-") for f in fields.values())
                raise ConfigError(f"[tool.toolkit.{name_}]: unknown key {key!r}", hint=f"known keys: {known}")
            if fields[name].metadata["kind"] == "secret":
                raise ConfigError(f"[tool.toolkit.{name_}]: {key} is a secret and may not be written in pyproject.toml",
                                  hint=f"remove it and set TOOLKIT_{name_.upper()}_{name.upper()} in the environment")
            if _holds_password(raw):
                raise ConfigError(f"[tool.toolkit.{name_}]: {key} holds a URL with a password, which may not be written "
                                  "in pyproject.toml", hint="remove the user info from the URL and give the password as "
                                  "TOOLKIT_PASSWORD in the environment (or in keyring)")
            values[name] = _coerce(fields[name], raw, f"[tool.toolkit.{name_}] {key}", base=project_dir)
    environ = os.environ if environ is None else environ
    prefix = f"TOOLKIT_{name_.upper()}_"
    for var, raw in environ.items():
        if var.startswith(prefix):
            name = var[len(prefix):].lower()
            if name not in fields:
                raise ConfigError(f"unknown environment variable {var}", hint=f"unset it, or see `toolkit {name_} --help`")
            values[name] = _coerce(fields[name], raw, var, base=Path.cwd())
    for name, raw in (flags or {}).items():
        if raw is not None:
            values[name] = _coerce(fields[name], raw, "/".join(flag_names(fields[name])), base=Path.cwd())
    return cls(**values)


def _holds_password(raw: Any) -> bool:
    """Whether a value of pyproject.toml is, or holds, a URL with a password in its userinfo."""
    if isinstance(raw, str):
        return has_password(raw)
    if isinstance(raw, dict):
        return any(_holds_password(v) for v in raw.values())
    if isinstance(raw, list):
        return any(_holds_password(v) for v in raw)
    return False


def _coerce(f: dataclasses.Field, raw: Any, where: str, base: Path) -> Any:
    """Turn a TOML value, an environment string or a flag value into the field's type."""
    kind, choices = f.metadata["kind"], f.metadata["choices"]
    text = isinstance(raw, str)
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if text and raw.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if text and raw.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
    elif kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if text:
            with contextlib.suppress(ValueError):  # "--5" passes a lstrip("-").isdigit() test, not int()
                return int(raw)
    elif kind == "float":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if text:
            with contextlib.suppress(ValueError):
                return float(raw)
    elif kind in ("str", "secret") and text:
        return raw
    elif kind == "path" and (text or isinstance(raw, Path)):
        path = Path(os.path.expanduser(str(raw)))
        return path if path.is_absolute() else base / path
    elif kind == "choice" and text and raw in choices:
        return raw
    elif kind == "list":
        if text:
            return tuple(p for p in raw.replace(",", " ").split() if p)
        if isinstance(raw, (list, tuple)) and all(isinstance(p, str) for p in raw):
            return tuple(raw)
    elif kind == "dict":
        return _coerce_dict(raw, where)
    expected = {"choice": f"one of {', '.join(choices)}", "list": "a list of strings", "secret": "a string",
                "int": "an integer"}.get(kind, f"a {kind}")
    hint = f"give {where} {expected}"
    if kind == "secret":  # never echo what may be a password
        raise ConfigError(f"{where}: the value is not {expected}", hint=hint)
    raise ConfigError(f"{where}: {_shown(raw)} is not {expected}", hint=hint)


def _shown(raw: Any) -> str:
    """A bad value as the user wrote it, cut short (a value is echoed, never a secret: see _coerce)."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _coerce_dict(raw: Any, where: str) -> dict[str, str | list[str]]:
    """Config settings: a TOML table, or `KEY=VALUE` items (a repeated key makes a list)."""
    if isinstance(raw, Mapping):
        items = list(raw.items())
    else:
        parts = raw.split() if isinstance(raw, str) else list(raw)
        items = []
        for part in parts:
            key, sep, value = str(part).partition("=")
            if not sep or not key:
                raise ConfigError(f"{where}: {part!r} is not KEY=VALUE")
            items.append((key, value))
    out: dict[str, str | list[str]] = {}
    for key, value in items:
        if not isinstance(value, (str, list)):
            raise ConfigError(f"{where}: {key} must be a string or a list of strings")
        if key in out:
            prev = out[key]
            out[key] = [*(prev if isinstance(prev, list) else [prev]), value]
        else:
            out[key] = value
    return out
