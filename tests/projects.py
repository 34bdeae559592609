"""Small real projects written into a test's folder, the way tests run `toolkit`, and what they read back.

`write_project(folder, backend, ...)` lays out a project for hatchling, setuptools
(pyproject.toml or setup.py only) or an in-tree PEP 517 backend ("intree") that
records what it was given and can misbehave on purpose (raise, kill itself, return
a wrong name).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

BACKENDS = ("hatchling", "setuptools", "setup.py", "intree")
# What the in-tree backend can do wrong in a hook (FAIL = {"build_wheel": "kill"}).
# missing: writes its file, returns a name that does not exist; escape: writes its file, returns
# "../escape.whl"; escape-write: writes its file to "../escape.whl" and returns that.
MISBEHAVIOURS = ("raise", "kill", "missing", "escape", "escape-write")
RESULT_LINE = re.compile(r"^(?P<path>\S.*?)  (?P<size>[\d,]+) bytes  sha256:(?P<sha>[0-9a-f]{64})$")
PROBE = "_probe.json"  # the in-tree backend's record, inside the package of the wheel it builds

# An in-tree backend: real sdists and wheels with zipfile/tarfile, nothing else
# installed. Its wheel holds PACKAGE/_probe.json with the hook's config_settings,
# os.environ and sys.executable, so a test can see what reached the backend.
_INTREE_BACKEND = '''\
"""A tiny PEP 517 backend written by tests/projects.py; FAIL sets how it misbehaves."""

import base64, hashlib, io, json, os, signal, sys, tarfile, zipfile

NAME = {name!r}
VERSION = {version!r}
FAIL = {fail!r}


def _start(hook):
    print(f"toy-backend: running {{hook}}", flush=True)
    how = FAIL.get(hook)
    if how == "raise":
        raise RuntimeError(f"toy-backend: {{hook}} fails on purpose")
    if how == "kill":
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
    return how


def _answer(how, name):
    if how in ("escape", "escape-write"):
        return "../escape.whl"
    return "nothere-0.0-py3-none-any.whl" if how == "missing" else name


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_wheel(config_settings=None):
    return []


def _metadata():
    return f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n"


def build_sdist(sdist_directory, config_settings=None):
    how = _start("build_sdist")
    base = f"{{NAME}}-{{VERSION}}"
    with tarfile.open(os.path.join(sdist_directory, base + ".tar.gz"), "w:gz") as tar:
        for root, dirs, files in os.walk("."):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("dist", "__pycache__"))
            for f in sorted(files):
                tar.add(os.path.join(root, f), arcname=os.path.normpath(os.path.join(base, root, f)))
        data = _metadata().encode()
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return _answer(how, base + ".tar.gz")


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{{name}},sha256={{digest}},{{len(data)}}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    how = _start("build_wheel")
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    probe = {{"hook": "build_wheel", "config_settings": config_settings or {{}}, "environ": dict(os.environ),
             "python": sys.executable}}
    files = {{f"{{NAME}}/{PROBE}": json.dumps(probe, indent=1, sort_keys=True).encode()}}
    for f in sorted(os.listdir(NAME)):
        if f.endswith(".py"):
            with open(os.path.join(NAME, f), "rb") as fh:
                files[f"{{NAME}}/{{f}}"] = fh.read()
    files[f"{{info}}/METADATA"] = _metadata().encode()
    files[f"{{info}}/WHEEL"] = b"Wheel-Version: 1.0\\nGenerator: toy-backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    record = [_record_line(n, d) for n, d in files.items()] + [f"{{info}}/RECORD,,"]
    files[f"{{info}}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    wheel = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    where = "../escape.whl" if how == "escape-write" else wheel
    with zipfile.ZipFile(os.path.join(wheel_directory, where), "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return _answer(how, wheel)
'''


def import_name(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


def write_project(
    folder: Path,
    backend: str = "hatchling",
    *,
    name: str = "toy-pkg",
    version: str = "0.1.0",
    script: bool = False,
    files: Mapping[str, str] | None = None,
    sdist_exclude: Sequence[str] = (),
    requires: Sequence[str] | None = None,
    fail: Mapping[str, str] | None = None,
    toolkit_table: str = "",
) -> Path:
    """Write a buildable project into `folder` and return it.

    backend: one of BACKENDS. script: a console script `name` that prints
    `hello from NAME VERSION`. files: extra files (path relative to the project
    -> text). sdist_exclude: hatchling sdist excludes. fail (intree only): hook
    name -> one of MISBEHAVIOURS. toolkit_table: TOML appended to pyproject.toml.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}")
    pkg = import_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    code = f'"""{name}: a test project."""\n\n__version__ = "{version}"\n\n\ndef main() -> None:\n'
    code += f'    print("hello from {name} {version}")\n'
    package_dir = folder / pkg if backend == "intree" else folder / "src" / pkg
    package_dir.mkdir(parents=True, exist_ok=True)
    (package_dir / "__init__.py").write_text(code, encoding="utf-8")
    (folder / "README.md").write_text(f"# {name}\n\nA test project.\n", encoding="utf-8")
    if backend == "setup.py":
        _write_setup_py(folder, name, version, pkg, script)
    else:
        pyproject = _pyproject(backend, name, version, pkg, script, sdist_exclude, requires)
        (folder / "pyproject.toml").write_text(pyproject + toolkit_table, encoding="utf-8")
    if backend == "intree":
        (folder / "backend").mkdir(exist_ok=True)
        source = _INTREE_BACKEND.format(name=pkg, version=version, fail=dict(fail or {}), PROBE=PROBE)
        (folder / "backend" / "toy_backend.py").write_text(source, encoding="utf-8")
    for rel, text in (files or {}).items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


def _pyproject(backend: str, name: str, version: str, pkg: str, script: bool,
               sdist_exclude: Sequence[str], requires: Sequence[str] | None) -> str:
    system = {
        "hatchling": (["hatchling>=1.26"], "hatchling.build", ""),
        "setuptools": (["setuptools>=61"], "setuptools.build_meta", ""),
        "intree": ([], "toy_backend", 'backend-path = ["backend"]\n'),
    }[backend]
    reqs = list(system[0] if requires is None else requires)
    text = f"[build-system]\nrequires = {json.dumps(reqs)}\nbuild-backend = {system[1]!r}\n{system[2]}\n"
    text += f'[project]\nname = "{name}"\nversion = "{version}"\ndescription = "A test project"\n'
    text += 'readme = "README.md"\nrequires-python = ">=3.9"\n'
    if script:
        text += f'\n[project.scripts]\n{name} = "{pkg}:main"\n'
    if sdist_exclude:
        text += f"\n[tool.hatch.build.targets.sdist]\nexclude = {json.dumps(list(sdist_exclude))}\n"
    return text + "\n"


def _write_setup_py(folder: Path, name: str, version: str, pkg: str, script: bool) -> None:
    scripts = f'entry_points={{"console_scripts": ["{name} = {pkg}:main"]}},' if script else ""
    (folder / "setup.py").write_text(
        "from setuptools import setup\n\n"
        f'setup(name="{name}", version="{version}", packages=["{pkg}"], package_dir={{"": "src"}}, {scripts})\n',
        encoding="utf-8",
    )


def git_commit(folder: Path, epoch: int) -> None:
    """Make `folder` a git checkout with one commit dated `epoch` (UTC)."""
    stamp = f"@{epoch} +0000"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", "-C", str(folder), *cmd], env=env, check=True, capture_output=True)


def toolkit_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a test runs toolkit in: ours without SOURCE_DATE_EPOCH and TOOLKIT_BUILD_*."""
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH" and not k.startswith("TOOLKIT_BUILD_")}
    env.update(extra or {})
    return env


def run_toolkit(*args: str | Path, env: Mapping[str, str] | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m toolkit ARGS` as a user runs it; `env` adds to toolkit_env()."""
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *map(str, args)],
        env=toolkit_env(env), cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )


# -- reading what a run left behind -----------------------------------------------------------------------------------


def listing(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (hidden ones too): relative path -> sha256, or "dir"."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kept_log(stderr: str) -> Path:
    """The log file named by the `hint:` line."""
    hints = [line for line in stderr.splitlines() if line.startswith("hint:")]
    assert len(hints) == 1, stderr
    match = re.search(r"(/\S+\.log|[A-Za-z]:\\\S+\.log)", hints[0])
    assert match, hints[0]
    return Path(match.group(1))


def probe(outdir: Path) -> dict:
    """What the in-tree backend recorded in the wheel it built."""
    (wheel,) = outdir.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return json.loads(zf.read(f"toy_pkg/{PROBE}"))


def only_results(proc: subprocess.CompletedProcess[str]) -> list[re.Match[str]]:
    lines = proc.stdout.splitlines()
    matches = [RESULT_LINE.match(line) for line in lines]
    assert all(matches), proc.stdout
    return matches  # type: ignore[return-value]


def one_line_error(stderr: str) -> str:
    """The single `error:` line; nothing else on stderr but a hint, progress lines and the
    error's detail (a tool's own output, indented under it: it may quote a traceback)."""
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, stderr
    own = [line for line in lines if line not in error_detail(stderr)]
    assert "Traceback" not in "\n".join(own), stderr
    others = [line for line in own if not line.startswith(("error:", "hint:", "• "))]
    assert others == [], stderr
    return errors[0]


def error_detail(stderr: str) -> list[str]:
    """The indented lines right under the `error:` line (the cause, in the tool's own words)."""
    lines = stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    if not starts:
        return []
    detail = []
    for line in lines[starts[0] + 1:]:
        if not line.startswith("    "):
            break
        detail.append(line)
    return detail
