"""Stage: make PEP 740 publish attestations with Sigstore, in CI, and read them back.

`attest` signs each dist with the CI's OIDC identity (found by `id`) and writes `FILE.publish.attestation`
beside it: the JSON of a pypi_attestations.Attestation, what `toolkit publish --attestations` uploads.
toolkit/attestation.py reads one back and binds it to a file (name and sha256), for publish and for
verify (toolkit/attest/verify.py, which also checks the signature and the publisher).
The cryptography is sigstore's and pypi-attestations'; this module picks the identity and the trust
config, keeps the token out of every message, and writes atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit import _fs
from toolkit.attestation import attestation_path, first_line
from toolkit.dist import DIST_SUFFIXES, Dist, read_manifest_doc, record
from toolkit.errors import AttestError, ConfigError

if TYPE_CHECKING:
    from pypi_attestations import Attestation
    from sigstore.models import ClientTrustConfig

    from toolkit.config import AttestOptions
    from toolkit.reporter import Reporter

TUF_URLS = {False: "https://tuf-repo-cdn.sigstore.dev", True: "https://tuf-repo-cdn.sigstage.dev"}


# -- trust configs ---------------------------------------------------------------------------------------

def load_trust_config(path: Path) -> ClientTrustConfig:
    from sigstore.models import ClientTrustConfig

    try:
        return ClientTrustConfig.from_json(_fs.read_regular(path).decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the trust config ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not a Sigstore client trust config ({first_line(exc)})") from None


SIGN_TRUST_HINT = "check the network: signing needs Sigstore's current trust root (or give --trust-config FILE)"


def client_trust(staging: bool, hint: str = SIGN_TRUST_HINT) -> ClientTrustConfig:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig

    try:
        return ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
    except SigstoreError as exc:
        raise AttestError(f"cannot update Sigstore's trust root from {TUF_URLS[staging]} ({first_line(exc)})",
                          hint=hint) from None


# -- attest ----------------------------------------------------------------------------------------------

NO_IDENTITY_HINT = ("run it in CI: GitHub Actions with `permissions: id-token: write`, or GitLab CI with "
                    "`id_tokens: SIGSTORE_ID_TOKEN: {aud: sigstore}`")


def detect_identity(environ: Mapping[str, str] | None = None) -> str:
    """The CI's OIDC token for Sigstore (audience `sigstore`), found by `id`; a secret: never printed."""
    import id as oidc

    try:
        token = oidc.detect_credential(audience="sigstore")
    except oidc.IdentityError as exc:
        raise AttestError(f"cannot get the CI's OIDC identity: {redact(str(exc), environ)}", hint=NO_IDENTITY_HINT) from None
    if not token:
        raise AttestError("no OIDC identity to sign with: this is not a CI job that provides one "
                          "(GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN, GitLab's SIGSTORE_ID_TOKEN)",
                          hint=NO_IDENTITY_HINT)
    return str(token)


def redact(text: str, environ: Mapping[str, str] | None = None, secrets: Sequence[str] = ()) -> str:
    """`text` without any token it may hold (the OIDC token, the CI's token-request token)."""
    environ = os.environ if environ is None else environ
    names = ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SIGSTORE_ID_TOKEN")
    for secret in (*secrets, *(environ.get(n, "") for n in names)):
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def dist_files(paths: Sequence[Path] | Sequence[Dist], reporter: Reporter | None = None) -> list[Path]:
    """The wheels and sdists among `paths`; attestations are passed over, other files with a warning."""
    out = []
    for p in (d.path if isinstance(d, Dist) else d for d in paths):
        if p.name.endswith(DIST_SUFFIXES):
            out.append(p)
        elif not p.name.endswith(".attestation") and reporter is not None:
            reporter.warn(f"{p}: not a wheel or sdist: left out")
    if not out:
        raise ConfigError("no wheel or sdist to attest", hint="name .whl, .tar.gz or .zip files")
    return out


def attest(files: Sequence[Path], options: AttestOptions) -> list[Path]:
    """Sign each file's publish attestation with the CI's identity; write them all only once all are signed.
    (It says nothing while it signs: the caller shows the step, as release does.)"""
    from pydantic import ValidationError
    from pypi_attestations import Distribution

    dists = []
    for f in files:
        try:
            dists.append(Distribution.from_file(f))
        except ValidationError:
            raise ConfigError(f"{f}: not a wheel or sdist file name", hint="rename it as its build backend named it") from None
        except OSError as exc:
            raise ConfigError(f"{f}: cannot be read ({exc.strerror})") from None
    token = detect_identity()
    trust = load_trust_config(options.trust_config) if options.trust_config else client_trust(options.staging)
    signed = _sign(dists, token, trust)
    written = []
    for f, att in zip(files, signed, strict=True):
        target = attestation_path(f)
        _fs.atomic_write(target, att.model_dump_json())
        written.append(target)
    record_attestations(files, written)
    return written


def _sign(dists: Sequence[Any], token: str, trust: ClientTrustConfig) -> list[Attestation]:
    """Sigstore: a short-lived certificate from Fulcio for the token, a DSSE signature, a Rekor entry."""
    import requests
    from pypi_attestations import Attestation, AttestationError

    # Fulcio's errors are plain Exceptions in a private module of sigstore; named here to be caught.
    from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError
    from sigstore.errors import Error as SigstoreError
    from sigstore.oidc import ExpiredIdentity, IdentityToken
    from sigstore.sign import SigningContext

    # Rekor v1 entries, as pypi-attestations' own signing does: PyPI verifies attestations with those.
    trust.force_tlog_version = 1
    try:
        identity = IdentityToken(token)
        context = SigningContext.from_trust_config(trust)
        with context.signer(identity, cache=True) as signer:
            return [Attestation.sign(signer, d) for d in dists]
    except (SigstoreError, AttestationError, ExpiredIdentity, ExpiredCertificate, FulcioClientError,
            requests.RequestException) as exc:
        raise AttestError(f"Sigstore signing failed: {redact(_describe(exc), secrets=[token])}",
                          hint="retry; if it persists, check the Sigstore status page and the CI's OIDC settings") from None


def _describe(exc: BaseException) -> str:
    """An exception as one line: its message, else its class, plus the HTTP answer behind it."""
    import requests

    text = first_line(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, requests.HTTPError) and cause.response is not None:
        text += f" ({cause.response.url.split('?')[0]} answered HTTP {cause.response.status_code})"
    elif isinstance(cause, requests.RequestException):
        text += f" ({type(cause).__name__})"
    return text


def record_attestations(dists: Sequence[Path], written: Sequence[Path]) -> None:
    """List each attestation in the manifest of its dist's folder, under `attestations: {dist: attestation}`.

    A top-level key, not a Dist entry: an attestation is not a wheel or an sdist. Only a folder whose
    manifest lists the dist gets one (attesting files elsewhere makes no manifest).
    """
    by_folder: dict[Path, dict[str, str]] = {}
    for d, a in zip(dists, written, strict=True):
        by_folder.setdefault(d.parent, {})[d.name] = a.name
    for folder, new in by_folder.items():
        try:
            doc = read_manifest_doc(folder)
        except ConfigError:  # a damaged manifest: the attestations are written; build tells about the manifest
            continue
        listed = {Path(str(e.get("path", ""))).name for e in doc.get("dists", []) if isinstance(e, dict)}
        new = {k: v for k, v in new.items() if k in listed}
        if new:
            old = doc.get("attestations")
            old = old if isinstance(old, dict) else {}
            merged = {k: v for k, v in {**old, **new}.items() if (folder / k).exists() and (folder / v).exists()}
            record(folder, [], extra={"attestations": merged})
