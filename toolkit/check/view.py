"""DistView: what a rule sees of one file, each part read once and kept.

The archive is walked once (archive.py); the METADATA or PKG-INFO that the
uploader sends (sent.py) is read and parsed on first use; the upload form is derived from it the way
`toolkit publish` sends it (toolkit/uploadform.py), since PyPI validates the form.
"""

from __future__ import annotations

import functools
from pathlib import Path

from packaging.metadata import RawMetadata, parse_email

from toolkit.check.archive import Archive, ArchiveReadError, open_archive
from toolkit.check.sent import SentMetadata, sent_metadata

CACHE_BYTES = 256 << 20  # inflated members kept per file


class DistView:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filename = path.name
        lower = self.filename.lower()
        self.kind = "wheel" if lower.endswith(".whl") else "sdist" if lower.endswith((".tar.gz", ".zip")) else None
        self._cache: dict[str, bytes] = {}
        self._cached = 0

    @functools.cached_property
    def archive(self) -> Archive:
        return open_archive(self.path)

    # -- wheel layout, named as PyPI names it: from filename.split("-", 2) as written
    @functools.cached_property
    def dist_info(self) -> str | None:
        parts = self.filename.split("-", 2)
        return f"{parts[0]}-{parts[1]}.dist-info" if len(parts) >= 3 else None

    # -- the metadata the uploader sends: twine reads one archive member (sent.py says which)
    @functools.cached_property
    def sent(self) -> SentMetadata:
        return sent_metadata(self)

    @functools.cached_property
    def metadata_member(self) -> str | None:
        """The member the metadata rules judge: the one twine sends, else the one the layout names."""
        return self.sent.judged

    @functools.cached_property
    def metadata_bytes(self) -> bytes | None:
        name = self.metadata_member
        if name is None:
            return None
        return self.read(name, limit=16 << 20)

    @functools.cached_property
    def raw_metadata(self) -> tuple[RawMetadata, dict[str, list[str]]] | None:
        """packaging's parse of the embedded metadata: (raw fields, unparsed headers)."""
        if self.metadata_bytes is None:
            return None
        return parse_email(self.metadata_bytes)

    @functools.cached_property
    def form(self) -> list[tuple[str, str]] | None:
        """The metadata fields of the upload form, as `toolkit publish` would send them."""
        from toolkit.uploadform import metadata_form

        if self.metadata_bytes is None:
            return None
        return metadata_form(self.metadata_bytes)

    def read(self, name: str, limit: int = 64 << 20) -> bytes | None:
        """A member's bytes, or None when it is missing or unreadable.

        Members are kept once read (up to CACHE_BYTES in all), so that RECORD hashing,
        the binary scan and the content scan inflate each member once between them.
        """
        if name in self._cache:
            return self._cache[name]
        member = self.archive.member(name)
        if member is None:
            return None
        try:
            data = self.archive.read(name, limit=limit)
        except ArchiveReadError:
            return None
        if self._cached + len(data) <= CACHE_BYTES:
            self._cache[name] = data
            self._cached += len(data)
        return data
