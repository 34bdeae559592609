"""Stage 5, publish: upload dists to an index (the legacy upload API) so that none is lost or doubled.

`publish(dists, target, options, *, gate, reporter) -> list[UploadResult]`. The policy: wheels first, the sdist
last (once every wheel has ended); each file checked (by the gate the caller passes: toolkit.check.gate) and
hashed once, in a worker, while others are on the wire, --jobs of them at once, each on its own connection
(lanes.py); an answer that leaves the outcome unknown (a dropped connection after the body, a 5xx, an "already
exists") is settled by looking at the index before anything is sent again; every file ends as uploaded,
already there, or failed with its reason. toolkit/uploadform.py builds the form; target.py says where and as
whom; toolkit/transport.py is the wire; answers.py says what an answer means.
"""

from __future__ import annotations

from toolkit.publish.upload import Outcome, UploadResult, failed, failure_hint, order, publish

__all__ = ["Outcome", "UploadResult", "failed", "failure_hint", "order", "publish"]
