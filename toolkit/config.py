"""Options of every stage, from one place.

Precedence, highest first: command-line flags, `TOOLKIT_<STAGE>_<KEY>`
environment variables (what CI sets), the `[tool.toolkit.<stage>]` table of the
project's pyproject.toml, then the defaults below. Each stage gets one frozen
options object; adding a stage is adding one dataclass to STAGES.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def _opt(default: Any, kind: str, help: str, choices: tuple[str, ...] = (), flag: str | None = None) -> Any:
    meta = {"kind": kind, "help": help, "choices": choices, "flag": flag}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class BuildOptions:
    outdir: Path | None = _opt(None, "path", "where built files go (default: SRC/dist)")
    sdist: bool = _opt(True, "bool", "build the sdist")
    wheel: bool = _opt(True, "bool", "build the wheel (from the sdist when both are built)")
    isolation: bool = _opt(True, "bool", "build in an isolated environment")
    installer: str = _opt("auto", "choice", "installer for build requirements", ("auto", "uv", "pip"))
    config_settings: dict = _opt({}, "dict", "PEP 517 config settings passed to the backend", flag="-C/--config-setting")
    build_constraints: Path | None = _opt(None, "path", "constraints file for build requirements")
    cache: bool = _opt(True, "bool", "reuse isolated environments across runs")
    cache_ttl: int = _opt(86400, "int", "seconds before a cached environment's requirements are resolved again")
    pass_env: tuple = _opt((), "list", "environment variables the backend may see (PYTHONPATH, PIP_*, UV_*)")


@dataclass(frozen=True)
class CheckOptions:
    ignore: tuple = _opt((), "list", "finding codes to silence (warnings only)")
    strict: bool = _opt(False, "bool", "treat warnings as errors")


@dataclass(frozen=True)
class CiOptions:
    kind: str = _opt("auto", "choice", "pure (one build job) or native (cibuildwheel, one job per wheel)",
                     ("auto", "pure", "native"))
    free_threaded: bool = _opt(False, "bool", "also build free-threaded (cp3XXt) wheels")
    platforms: tuple = _opt(
        ("linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-arm64", "windows-amd64", "windows-arm64"),
        "list", "platforms to build native wheels for")


STAGES: dict[str, type] = {"build": BuildOptions, "check": CheckOptions, "ci": CiOptions}


def read_project_table(project_dir: Path) -> dict[str, Any]:
    """The `[tool.toolkit]` table of `project_dir/pyproject.toml` ({} when absent)."""
    pyproject = project_dir / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: cannot read it: {exc}", hint="fix the TOML syntax") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{pyproject}: [tool] must be a table")
    table = tool.get("toolkit", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.toolkit] must be a table")
    for key, value in table.items():
        if key not in STAGES:
            raise ConfigError(
                f"{pyproject}: unknown [tool.toolkit.{key}] entry",
                hint=f"tables are: {', '.join(f'[tool.toolkit.{s}]' for s in STAGES)}",
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{pyproject}: [tool.toolkit.{key}] must be a table")
    return table


def load(
    stage: str,
    project_dir: Path | None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """Merge defaults, pyproject.toml, TOOLKIT_* and flags (a None flag means unset)."""
    cls = STAGES[stage]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if project_dir is not None:
        table = read_project_table(project_dir).get(stage, {})
        for key, raw in table.items():
            name = key.replace("-", "_")
            if name not in fields:
                known = ", ".join(f.name.replace("_", "-") for f in fields.values())
                raise ConfigError(f"[tool.toolkit.{stage}]: unknown key {key!r}", hint=f"known keys: {known}")
            values[name] = _coerce(fields[name], raw, f"[tool.toolkit.{stage}] {key}", base=project_dir)
    environ = os.environ if environ is None else environ
    prefix = f"TOOLKIT_{stage.upper()}_"
    for var, raw in environ.items():
        if var.startswith(prefix):
            name = var[len(prefix):].lower()
            if name not in fields:
                raise ConfigError(f"unknown environment variable {var}", hint=f"unset it, or see `toolkit {stage} --help`")
            values[name] = _coerce(fields[name], raw, var, base=Path.cwd())
    for name, raw in (flags or {}).items():
        if raw is not None:
            flag = fields[name].metadata["flag"] or f"--{name.replace('_', '-')}"
            values[name] = _coerce(fields[name], raw, flag, base=Path.cwd())
    return cls(**values)


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
        if text and raw.strip().lstrip("-").isdigit():
            return int(raw)
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
    expected = {"choice": f"one of {', '.join(choices)}", "list": "a list of strings"}.get(kind, f"a {kind}")
    raise ConfigError(f"{where}: {raw!r} is not {expected}")


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
