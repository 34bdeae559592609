"""A PEP 740 publish attestation file beside a dist: where it lives, reading it back, and whether it is for this
very file (name and sha256). attest writes it; verify and publish read it (the cryptography is verify's)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toolkit import _fs
from toolkit._text import load_json
from toolkit.dist import parse_dist_filename
from toolkit.errors import ConfigError

if TYPE_CHECKING:
    from pypi_attestations import Attestation

ATTESTATION_SUFFIX = ".publish.attestation"


def attestation_path(dist: Path) -> Path:
    """Where the publish attestation of `dist` lives: beside it, `{dist}.publish.attestation`."""
    return dist.with_name(dist.name + ATTESTATION_SUFFIX)


class Mismatch(Exception):
    """One attestation does not hold for one file: the message says what did not match."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint or "check that FILE is the file that was signed and that its attestation is the one made for it"


def load_attestations(data: bytes, source: str) -> list[Attestation]:
    """Attestations from a PEP 740 attestation, a PEP 740 provenance (what an index serves) or a Sigstore bundle."""
    from pydantic import ValidationError
    from pypi_attestations import Attestation, Provenance
    from sigstore.errors import Error as SigstoreError

    try:
        doc = load_json(data)  # a document nested too deep is a ValueError too
        if isinstance(doc, dict) and "attestation_bundles" in doc:
            prov = Provenance.model_validate(doc)
            found = [a for b in prov.attestation_bundles for a in b.attestations]
        elif isinstance(doc, dict) and "mediaType" in doc:
            from sigstore.models import Bundle

            found = [Attestation.from_bundle(Bundle.from_json(data))]
        else:
            found = [Attestation.model_validate(doc)]
    except (ValueError, ValidationError, SigstoreError) as exc:  # JSONDecodeError and pydantic's are ValueErrors
        raise Mismatch(f"{source} is not a PEP 740 attestation ({first_line(exc)})") from None
    if not found:
        raise Mismatch(f"{source} holds no attestation")
    return found


def check_subject(attestation: Attestation, filename: str, sha256: str) -> None:
    """Raise Mismatch unless the attestation's one subject is this file: same name (as pypi-attestations
    compares them: parsed, so `Foo-1.0.tar.gz` is `foo-1.0.tar.gz`) and same sha256. No cryptography: a
    signed statement is checked by `verify_one`, which calls this after the signature held."""
    try:
        statement = attestation.statement
    except ValueError:
        raise Mismatch("the attestation's statement is not JSON") from None
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        count = len(subjects) if isinstance(subjects, list) else "no list of"
        raise Mismatch(f"the attestation has {count} subjects; a publish attestation has exactly one")
    digests = subjects[0].get("digest")
    name, digest = str(subjects[0].get("name", "")), str(digests.get("sha256", "")) if isinstance(digests, dict) else ""
    try:
        same_name = parse_dist_filename(name) == parse_dist_filename(filename)
    except ConfigError:
        same_name = False
    if not same_name:
        raise Mismatch(f"the attestation is for {name or 'an unnamed file'}, not {filename}")
    if digest != sha256:
        raise Mismatch(f"sha256 does not match: the attestation is for {digest[:16] or 'no digest'}..., "
                       f"the file is {sha256[:16]}...")


def attestation_for(dist: Path, sha256: str) -> Attestation:
    """The attestation beside `dist`, checked to be made for this very file (name and sha256); for publish,
    which must never upload an attestation made for another file. Raises Mismatch saying what differs."""
    path = attestation_path(dist)
    try:
        data = _fs.read_regular(path)
    except FileNotFoundError:
        raise Mismatch(f"no attestation at {path}", "run `toolkit attest` in CI first") from None
    except OSError as exc:
        raise Mismatch(f"{path}: cannot be read ({exc.strerror})") from None
    found = load_attestations(data, str(path))
    if len(found) != 1:
        raise Mismatch(f"{path} holds {len(found)} attestations; a publish attestation file holds one")
    check_subject(found[0], dist.name, sha256)
    return found[0]


def first_line(exc: BaseException | str) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
