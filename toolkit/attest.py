"""Stage: make PEP 740 publish attestations (Sigstore, signed in CI) and verify them.

`attest` signs each dist with the CI's OIDC identity and writes `FILE.publish.attestation`
beside it (the JSON of a pypi_attestations.Attestation: what `toolkit publish --attestations`
uploads); `verify` checks an attestation against the file (name, sha256), Sigstore's trust root
and the publisher who must have signed it. The cryptography is sigstore's and pypi-attestations';
this module picks the trust root, the identity and the policy, and says what did not match.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from toolkit import _fs
from toolkit.dist import DIST_SUFFIXES, parse_dist_filename, read_manifest_doc, record
from toolkit.errors import ConfigError, ToolkitError

if TYPE_CHECKING:
    from pypi_attestations import Attestation
    from sigstore.models import ClientTrustConfig, TrustedRoot

    from toolkit.config import AttestOptions, VerifyOptions
    from toolkit.reporter import Reporter

ATTESTATION_SUFFIX = ".publish.attestation"
PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
INDEX_PRESETS = {"pypi": "https://pypi.org", "testpypi": "https://test.pypi.org"}
_TUF = {False: "https://tuf-repo-cdn.sigstore.dev", True: "https://tuf-repo-cdn.sigstage.dev"}
_GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_GITLAB_ISSUER = "https://gitlab.com"
# Fulcio certificate extensions (sigstore's OID registry) that name who signed.
_ISSUER, _BUILD_SIGNER = "1.3.6.1.4.1.57264.1.8", "1.3.6.1.4.1.57264.1.9"
_SOURCE_REPO, _BUILD_CONFIG = "1.3.6.1.4.1.57264.1.12", "1.3.6.1.4.1.57264.1.18"
_GOOGLE_ISSUER, _CIRCLECI_ISSUER = "https://accounts.google.com", "https://oidc.circleci.com"
_CIRCLECI_SIGNER = "https://circleci.com/api/v2/projects/"


class AttestError(ToolkitError):
    """No identity to sign with, or Sigstore (or the index) could not be reached."""

    exit_code = 6


def attestation_path(dist: Path) -> Path:
    """Where the publish attestation of `dist` lives: beside it, `{dist}.publish.attestation`."""
    return dist.with_name(dist.name + ATTESTATION_SUFFIX)


# -- publishers ------------------------------------------------------------------------------------------

PUBLISHER_FORMS = ("github:OWNER/REPO[@WORKFLOW]", "gitlab:GROUP/PROJECT[@CI_FILE]", "google:EMAIL",
                   "circleci:PROJECT_ID/PIPELINE_DEFINITION_ID")


@dataclass(frozen=True)
class Publisher:
    """Who must have signed: a trusted publisher as PyPI knows them, written `kind:identity[@workflow]`."""

    kind: str
    identity: str
    workflow: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.identity}" + (f"@{self.workflow}" if self.workflow else "")

    def policy(self) -> Any:
        """The sigstore verification policy for this publisher (pypi-attestations' where it has one)."""
        import pypi_attestations as pa
        from sigstore.verify import policy

        if self.kind in ("github", "gitlab") and not self.workflow:
            # Any workflow of the repository: pypi-attestations' publishers always name one.
            issuer, host = (_GITHUB_ISSUER, "github.com") if self.kind == "github" else (_GITLAB_ISSUER, "gitlab.com")
            return policy.AllOf([policy.OIDCIssuerV2(issuer), policy.OIDCSourceRepositoryURI(f"https://{host}/{self.identity}")])
        publisher: Any
        workflow = self.workflow or ""
        if self.kind == "github":
            publisher = pa.GitHubPublisher(repository=self.identity, workflow=workflow)
        elif self.kind == "gitlab":
            publisher = pa.GitLabPublisher(repository=self.identity, workflow_filepath=workflow)
        elif self.kind == "google":
            publisher = pa.GooglePublisher(email=self.identity)
        else:
            project, pipeline = self.identity.split("/")
            publisher = pa.CircleCIPublisher(project_id=project, pipeline_definition_id=pipeline)
        # The publisher -> policy mapping (the workflow check against the certificate's Build Config
        # URI and its ref) is pypi-attestations'; it is what Attestation.verify uses.
        return publisher._as_policy()


def parse_publisher(text: str) -> Publisher:
    """`github:OWNER/REPO[@WORKFLOW]`, `gitlab:GROUP/PROJECT[@CI_FILE]`, `google:EMAIL`, `circleci:PROJECT/PIPELINE`."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.lower()
    identity, _, workflow = rest.partition("@") if kind in ("github", "gitlab") else (rest, "", "")
    parts = identity.split("/")
    ok = {
        "github": len(parts) == 2,
        "gitlab": len(parts) >= 2,
        "google": "@" in identity and " " not in identity,
        "circleci": len(parts) == 2,
    }.get(kind, False) and all(parts)
    if not ok:
        raise ConfigError(f"--publisher {text!r}: not a publisher", hint=f"write one of {', '.join(PUBLISHER_FORMS)}")
    if kind == "github":
        workflow = workflow.removeprefix(".github/workflows/")
    return Publisher(kind, identity, workflow or None)


def signer_of(attestation: Attestation) -> str:
    """Who the attestation's certificate names, in --publisher form where it can (unverified until verify says so)."""
    claims = attestation.certificate_claims
    issuer, repo, config = (claims.get(oid, "") for oid in (_ISSUER, _SOURCE_REPO, _BUILD_CONFIG))
    for iss, host, sep in ((_GITHUB_ISSUER, "https://github.com/", "/.github/workflows/"),
                           (_GITLAB_ISSUER, "https://gitlab.com/", "//")):
        if issuer == iss and repo.startswith(host):
            slug = repo[len(host):]
            workflow = config[len(repo) + len(sep):].rpartition("@")[0] if config.startswith(repo + sep) else ""
            return f"{'github' if iss == _GITHUB_ISSUER else 'gitlab'}:{slug}" + (f"@{workflow}" if workflow else "")
    if issuer == _CIRCLECI_ISSUER and claims.get(_BUILD_SIGNER, "").startswith(_CIRCLECI_SIGNER):
        project, _, pipeline = claims[_BUILD_SIGNER][len(_CIRCLECI_SIGNER):].partition("/pipeline-definitions/")
        return f"circleci:{project}/{pipeline}"
    from cryptography import x509

    cert = x509.load_der_x509_certificate(attestation.verification_material.certificate)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        who = ", ".join(str(v) for v in names.get_values_for_type(x509.RFC822Name) + names.get_values_for_type(
            x509.UniformResourceIdentifier))
    except x509.ExtensionNotFound:
        who = "?"
    if issuer == _GOOGLE_ISSUER:
        return f"google:{who}"
    return f"{who} (issuer {issuer or '?'})"


# -- trust roots -----------------------------------------------------------------------------------------

def trusted_root(*, staging: bool, offline: bool, trust_config: Path | None = None) -> TrustedRoot:
    """Sigstore's trust root: a given trust config, the one shipped inside sigstore (offline), or TUF's (online)."""
    if trust_config is not None:
        return load_trust_config(trust_config).trusted_root
    if not offline:
        return _client_trust(staging).trusted_root
    from sigstore._utils import read_embedded  # the assets sigstore seeds its TUF cache with
    from sigstore.models import TrustedRoot, trustroot_v1

    # Not ClientTrustConfig.production(offline=True): that reads (and writes) the user's TUF cache,
    # which an earlier online run may have moved on; --offline means exactly what this sigstore shipped.
    try:
        raw = read_embedded("trusted_root.json", _TUF[staging])
    except (FileNotFoundError, ModuleNotFoundError):
        raise AttestError("this sigstore installation ships no trust root", hint="verify online (without --offline)") from None
    return TrustedRoot(trustroot_v1.TrustedRoot.from_json(raw))


def load_trust_config(path: Path) -> ClientTrustConfig:
    from sigstore.models import ClientTrustConfig

    try:
        return ClientTrustConfig.from_json(_fs.read_regular(path).decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the trust config ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not a Sigstore client trust config ({_first_line(exc)})") from None


def _client_trust(staging: bool) -> ClientTrustConfig:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig

    try:
        return ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
    except SigstoreError as exc:
        raise AttestError(f"cannot update Sigstore's trust root from {_TUF[staging]} ({_first_line(exc)})",
                          hint="check the network; `toolkit verify --offline` uses the trust root shipped with sigstore") from None


# -- verify ----------------------------------------------------------------------------------------------

class Mismatch(Exception):
    """One attestation does not hold for one file: the message says what did not match."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint or "check that FILE is the file that was signed and that its attestation is the one made for it"


PUBLISHER_HINT = "--publisher must name who signed it (as `signed by` says), if that is who you trust"
SIGNATURE_HINT = ("a damaged or altered attestation does not verify; one signed with Sigstore's staging instance needs "
                  "--staging; with --offline, the trust root shipped with sigstore may predate newer signatures")


@dataclass(frozen=True)
class Verified:
    """The outcome for one file: `reason` is empty when every attestation held."""

    path: Path
    reason: str
    signer: str = ""
    predicate_types: tuple[str, ...] = ()
    hint: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.path), "ok": self.ok, "reason": self.reason, "signer": self.signer,
                "predicate_types": list(self.predicate_types)}


def load_attestations(data: bytes, source: str) -> list[Attestation]:
    """Attestations from a PEP 740 attestation, a PEP 740 provenance (what an index serves) or a Sigstore bundle."""
    from pydantic import ValidationError
    from pypi_attestations import Attestation, Provenance

    try:
        doc = json.loads(data)
        if isinstance(doc, dict) and "attestation_bundles" in doc:
            prov = Provenance.model_validate(doc)
            found = [a for b in prov.attestation_bundles for a in b.attestations]
        elif isinstance(doc, dict) and "mediaType" in doc:
            from sigstore.models import Bundle

            found = [Attestation.from_bundle(Bundle.from_json(data))]
        else:
            found = [Attestation.model_validate(doc)]
    except (ValueError, ValidationError) as exc:  # JSONDecodeError and pydantic's are ValueErrors
        raise Mismatch(f"{source} is not a PEP 740 attestation ({_first_line(exc)})") from None
    if not found:
        raise Mismatch(f"{source} holds no attestation")
    return found


def check_subject(attestation: Attestation, filename: str, sha256: str) -> None:
    """Raise Mismatch unless the attestation's one subject is this file: same name (as pypi-attestations
    compares them: parsed, so `Foo-1.0.tar.gz` is `foo-1.0.tar.gz`) and same sha256. No cryptography: a
    signed statement is checked by `verify_one`, which calls this after the signature held."""
    try:
        subjects = attestation.statement.get("subject") or []
    except ValueError:
        raise Mismatch("the attestation's statement is not JSON") from None
    if len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise Mismatch(f"the attestation has {len(subjects)} subjects; a publish attestation has exactly one")
    name, digest = str(subjects[0].get("name", "")), (subjects[0].get("digest") or {}).get("sha256", "")
    try:
        same_name = parse_dist_filename(name) == parse_dist_filename(filename)
    except ConfigError:
        same_name = False
    if not same_name:
        raise Mismatch(f"the attestation is for {name or 'an unnamed file'}, not {filename}")
    if digest != sha256:
        raise Mismatch(f"sha256 does not match: the attestation is for {digest[:16] or 'no digest'}..., "
                       f"the file is {sha256[:16]}...")


class _Watched:
    """A policy that remembers whether it refused, so that a publisher mismatch reads as one."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.refused = inner, False

    def verify(self, cert: Any) -> None:
        try:
            self.inner.verify(cert)
        except Exception:
            self.refused = True
            raise


def verify_one(attestation: Attestation, filename: str, sha256: str, publisher: Publisher,
               verifier: Any, *, staging: bool = False) -> str:
    """Verify one attestation (Sigstore's checks, then the publisher, then the subject); its predicate type."""
    from pypi_attestations import AttestationType

    watched = _Watched(publisher.policy())
    try:
        _type, payload = verifier.verify_dsse(attestation.to_bundle(), watched)
    except Exception as exc:  # noqa: BLE001 - hostile input: any error of the crypto stack is a failed verification
        if watched.refused:
            raise Mismatch(f"signed by {signer_of(attestation)}, not {publisher}", PUBLISHER_HINT) from None
        instance = "staging" if staging else "production"
        raise Mismatch(f"the signature does not verify against Sigstore's {instance} trust root: {_first_line(exc)}",
                       SIGNATURE_HINT) from None
    check_subject(attestation, filename, sha256)
    try:
        predicate_type = str(json.loads(payload)["predicateType"])
        AttestationType(predicate_type)
    except (ValueError, KeyError, TypeError):
        raise Mismatch("the attestation's statement has an unknown predicate type") from None
    return predicate_type


def verify(files: Sequence[Path], options: VerifyOptions, attestations: Sequence[Path] = (),
           reporter: Reporter | None = None) -> list[Verified]:
    """Verify each file against its attestation (given, `{file}.publish.attestation`, or the index's provenance)."""
    if not options.publisher:
        raise ConfigError("no publisher to verify against",
                          hint=f"name who must have signed: --publisher {PUBLISHER_FORMS[0]} (or set it in [tool.toolkit.verify])")
    publisher = parse_publisher(options.publisher)
    if attestations and len(attestations) != len(files):
        raise ConfigError(f"{len(attestations)} --attestation for {len(files)} files",
                          hint="give one --attestation per FILE, in order, or none (FILE.publish.attestation is used)")
    if attestations and options.from_index:
        raise ConfigError("--attestation and --from-index both name where the attestation is", hint="give one of them")
    from sigstore.verify import Verifier

    root = trusted_root(staging=options.staging, offline=options.offline, trust_config=options.trust_config)
    verifier = Verifier(trusted_root=root)
    results = []
    for i, path in enumerate(files):
        source = attestations[i] if attestations else attestation_path(path)
        results.append(_verify_file(path, source, publisher, verifier, options))
    return results


def _verify_file(path: Path, source: Path, publisher: Publisher, verifier: Any, options: VerifyOptions) -> Verified:
    try:
        sha256, _ = _fs.sha256_file(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    signer = ""
    try:
        if options.from_index:
            data, where = fetch_provenance(options.from_index, path.name), f"the provenance {options.from_index} serves"
        else:
            data, where = _read_attestation(source), str(source)
        found = load_attestations(data, where)
        signer = signer_of(found[0])
        types = tuple(verify_one(a, path.name, sha256, publisher, verifier, staging=options.staging) for a in found)
    except Mismatch as exc:
        return Verified(path, str(exc), signer, hint=exc.hint)
    return Verified(path, "", signer, types)


def _read_attestation(source: Path) -> bytes:
    try:
        return _fs.read_regular(source)
    except FileNotFoundError:
        raise Mismatch(f"no attestation at {source}") from None
    except OSError as exc:
        raise Mismatch(f"{source}: cannot be read ({exc.strerror})") from None


def provenance_url(index: str, filename: str) -> str:
    """PyPI's Integrity API: INDEX/integrity/PROJECT/VERSION/FILENAME/provenance."""
    _kind, name, version, _tags = parse_dist_filename(filename)
    base = INDEX_PRESETS.get(index, index).rstrip("/").removesuffix("/simple")
    return f"{base}/integrity/{quote(name)}/{quote(str(version))}/{quote(filename)}/provenance"


def fetch_provenance(index: str, filename: str) -> bytes:
    """The provenance object the index serves for `filename` (Mismatch when it has none)."""
    import requests

    url = provenance_url(index, filename)
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"--from-index {index!r}: not an index URL", hint="give https://pypi.org, or pypi / testpypi")
    try:
        resp = requests.get(url, headers={"Accept": "application/vnd.pypi.integrity.v1+json"}, timeout=(10, 60))
    except requests.RequestException as exc:
        raise AttestError(f"cannot fetch the provenance of {filename} from {url} ({type(exc).__name__})",
                          hint="check the network, or verify a local attestation with --attestation FILE") from None
    if resp.status_code == 404:
        raise Mismatch(f"the index serves no provenance for {filename} ({url})")
    if resp.status_code != 200:
        raise AttestError(f"{url} answered HTTP {resp.status_code}", hint="try again later")
    return resp.content


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


def dist_files(paths: Sequence[Path], reporter: Reporter | None = None) -> list[Path]:
    """The wheels and sdists among `paths`; attestations are passed over, other files with a warning."""
    out = []
    for p in paths:
        if p.name.endswith(DIST_SUFFIXES):
            out.append(p)
        elif not p.name.endswith(".attestation") and reporter is not None:
            reporter.warn(f"{p}: not a wheel or sdist: left out")
    if not out:
        raise ConfigError("no wheel or sdist to attest", hint="name .whl, .tar.gz or .zip files")
    return out


def attest(files: Sequence[Path], options: AttestOptions, reporter: Reporter | None = None) -> list[Path]:
    """Sign each file's publish attestation with the CI's identity; write them all only once all are signed."""
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
    trust = load_trust_config(options.trust_config) if options.trust_config else _client_trust(options.staging)
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

    text = _first_line(exc) or type(exc).__name__
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


def _first_line(exc: BaseException | str) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
