"""Stage 5, publish: upload dists to an index (the legacy upload API) so that none is lost or doubled.

`publish(dists, target, options, *, reporter) -> list[UploadResult]`. The policy: wheels first, the sdist
last; each file checked (the check stage's rules) and hashed once, in a worker, while the previous one is
on the wire; an answer that leaves the outcome unknown (a dropped connection after the body, a 5xx, an
"already exists") is settled by looking at the index before anything is sent again; every file ends as
uploaded, already there, or failed with its reason. form.py builds the form; target.py says where and as
whom; transport.py is the wire; answers.py says what an answer means.
"""

from __future__ import annotations

from typing import Any

# The upload policy (upload.py) brings the HTTP client with it; the check stage imports form.py from this
# package on every run, so the package itself stays light and loads upload.py when a name of it is asked for.
_UPLOAD_NAMES = frozenset({"publish", "failed", "failure_hint", "order", "UploadResult", "Outcome"})

__all__ = sorted(_UPLOAD_NAMES)


def __getattr__(name: str) -> Any:
    if name in _UPLOAD_NAMES:
        from toolkit.publish import upload

        return getattr(upload, name)
    raise AttributeError(f"module 'toolkit.publish' has no attribute {name!r}")
