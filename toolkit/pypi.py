"""The two public indexes toolkit knows by name (publish -r, verify --index, release's attestations, ci's links):
one constant each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownIndex:
    name: str  # as -r and --index take it
    site: str  # the web site; /simple/, /p/NAME and the integrity API are under it
    upload: str  # the legacy upload API

    @property
    def simple(self) -> str:
        return f"{self.site}/simple/"

    def project_page(self, project: str) -> str:
        return f"{self.site}/p/{project}"


PYPI = KnownIndex("pypi", "https://pypi.org", "https://upload.pypi.org/legacy/")
TESTPYPI = KnownIndex("testpypi", "https://test.pypi.org", "https://test.pypi.org/legacy/")
KNOWN = {i.name: i for i in (PYPI, TESTPYPI)}
