"""A read-only index of an archive's members (placeholder on zipfile/tarfile;
the full structure walk replaces it, keeping this API)."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Member:
    name: str
    kind: Literal["file", "dir", "symlink", "hardlink", "device", "fifo", "other"]
    size: int
    compressed_size: int
    method: int | None
    mode: int | None
    link_target: str | None


class ArchiveReadError(Exception):
    pass


@dataclass
class Archive:
    path: Path
    format: Literal["zip", "tar"] | None
    members: list[Member] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    _zip: zipfile.ZipFile | None = None
    _tar_data: dict[str, bytes] = field(default_factory=dict)

    def member(self, name: str) -> Member | None:
        for m in self.members:
            if m.name == name:
                return m
        return None

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        m = self.member(name)
        if m is None or m.size > limit:
            raise ArchiveReadError(name)
        try:
            if self._zip is not None:
                return self._zip.read(name)
            return self._tar_data[name]
        except Exception as exc:
            raise ArchiveReadError(f"{name}: {exc}") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def open_archive(path: Path) -> Archive:
    if zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        members = []
        for i in zf.infolist():
            mode = i.external_attr >> 16
            kind = "dir" if i.is_dir() else "symlink" if stat.S_ISLNK(mode) else "file"
            members.append(Member(i.filename, kind, i.file_size, i.compress_size, i.compress_type, mode or None, None))
        return Archive(path, "zip", members, _zip=zf)
    try:
        with tarfile.open(path, "r:gz") as tar:
            members, data = [], {}
            for t in tar:
                kind = ("file" if t.isfile() else "dir" if t.isdir() else "symlink" if t.issym()
                        else "hardlink" if t.islnk() else "device" if t.isdev() else "other")
                members.append(Member(t.name, kind, t.size, t.size, None, t.mode, t.linkname or None))
                if t.isfile() and t.size < (1 << 20):
                    f = tar.extractfile(t)
                    data[t.name] = f.read() if f else b""
            return Archive(path, "tar", members, _tar_data=data)
    except Exception:
        return Archive(path, None, problems=[("Z006", "Invalid distribution file. File is not a tarfile")])
