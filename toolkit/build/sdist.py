"""An sdist as the build stage takes it: checked to be a readable archive, then unpacked safely
(nothing may land outside the folder it is unpacked in) where the wheel is built from it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from toolkit.errors import NO_SPACE_ERRNOS, BuildError, ConfigError, EnvironmentFailure


def require_sdist_file(src: Path) -> None:
    if not src.name.endswith(".tar.gz"):
        raise ConfigError(f"{src.name}: not an sdist (expected a .tar.gz)", hint="pass a project folder or an sdist .tar.gz")
    try:
        with tarfile.open(src, "r:gz") as tar:
            tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigError(f"{src.name}: not a readable gzip tar archive ({exc})", hint="rebuild the sdist") from None


@contextlib.contextmanager
def unpacked(sdist: Path) -> Iterator[Path]:
    """The sdist unpacked in a temporary folder; yields its single top folder.

    The folder's path depends only on the sdist's name (one build at a time holds it,
    under a lock), because compilers and some backends write the build path into the
    wheel (debug info, SBOMs): a random path would make every rebuild differ.
    """
    from filelock import FileLock

    tmp = Path(tempfile.gettempdir()) / "toolkit-sdist" / sdist.name.removesuffix(".tar.gz")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(tmp) + ".lock"):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            try:
                with tarfile.open(sdist, "r:gz") as tar:
                    refuse_unsafe(tar.getmembers(), sdist.name)
                    if hasattr(tarfile, "data_filter"):
                        tar.extractall(tmp, filter="data")
                    else:  # pragma: no cover - Python without PEP 706
                        tar.extractall(tmp)
            except (tarfile.TarError, OSError, EOFError) as exc:
                if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
                    raise EnvironmentFailure(f"cannot unpack {sdist.name} in {tmp.parent}: {exc.strerror}",
                                             hint="free some space there, or set TMPDIR to another folder") from None
                raise BuildError(f"cannot unpack {sdist.name}: {exc}", hint="the sdist is damaged or unsafe") from None
            tops = os.listdir(tmp)
            if len(tops) != 1 or not (tmp / tops[0]).is_dir():
                raise BuildError(f"{sdist.name} does not hold exactly one top folder", hint="rebuild the sdist")
            yield tmp / tops[0]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def refuse_unsafe(members: list[tarfile.TarInfo], name: str) -> None:
    """Refuse an sdist whose members would land outside the folder it is unpacked in.

    tarfile's "data" filter (PEP 706) refuses `../` and links that leave the folder, but it
    strips a leading `/` rather than refusing it, and older Pythons lack it: this check names
    the member first, whatever the Python.
    """
    for member in members:
        parts = member.name.replace("\\", "/").split("/")
        if member.name.startswith(("/", "\\")) or (len(parts[0]) == 2 and parts[0][1] == ":"):
            why = "an absolute path"
        elif ".." in parts:
            why = "a path that leaves the sdist's folder"
        elif (member.issym() or member.islnk()) and _link_leaves(member):
            why = f"a link to {member.linkname!r}, outside the sdist's folder"
        else:
            continue
        raise BuildError(f"{name}: member {member.name!r} has {why}", hint="the sdist is unsafe to unpack; rebuild it")


def _link_leaves(member: tarfile.TarInfo) -> bool:
    target = member.linkname.replace("\\", "/")
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        return True
    # A symlink's target is relative to its folder; a hard link's to the archive's root.
    base = member.name.replace("\\", "/").split("/")[:-1] if member.issym() else []
    depth = len(base)
    for part in target.split("/"):
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            return True
    return False
