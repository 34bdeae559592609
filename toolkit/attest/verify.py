"""Stage: verify PEP 740 attestations: the file, Sigstore's trust root and the publisher who signed.

An attestation holds for a file when its signature verifies against Sigstore's trust root (`--offline`:
the trust root shipped inside sigstore), its certificate names the publisher the user trusts
(pypi-attestations' publisher policies), and its one subject is this file (name and sha256). The
attestation comes from `{FILE}.publish.attestation`, a file named, or the provenance an index serves
(PyPI's Integrity API). What did not match is said in one line, per file.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from toolkit import _fs
from toolkit._text import load_json, redact_url
from toolkit.attest import TUF_URLS, client_trust, load_trust_config
from toolkit.attestation import Mismatch, attestation_path, check_subject, first_line, load_attestations
from toolkit.dist import parse_dist_filename
from toolkit.errors import AttestError, ConfigError
from toolkit.pypi import KNOWN, PYPI

if TYPE_CHECKING:
    from pypi_attestations import Attestation
    from sigstore.models import TrustedRoot

    from toolkit.config import VerifyOptions

INDEX_PRESETS = {name: known.site for name, known in KNOWN.items()}
_MAX_PROVENANCE = 16 << 20  # a provenance holds a few attestations of a few KiB each
_GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_GITLAB_ISSUER = "https://gitlab.com"
_GOOGLE_ISSUER, _CIRCLECI_ISSUER = "https://accounts.google.com", "https://oidc.circleci.com"
_CIRCLECI_SIGNER = "https://circleci.com/api/v2/projects/"
# Fulcio certificate extensions (sigstore's OID registry) that name who signed.
_ISSUER, _BUILD_SIGNER = "1.3.6.1.4.1.57264.1.8", "1.3.6.1.4.1.57264.1.9"
_SOURCE_REPO, _BUILD_CONFIG = "1.3.6.1.4.1.57264.1.12", "1.3.6.1.4.1.57264.1.18"


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
    try:
        return _signer_of(attestation)
    except ValueError:  # not a certificate (cryptography's parse errors are ValueErrors): verify says so
        return "an unreadable certificate"


def _signer_of(attestation: Attestation) -> str:
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


# -- trust roots ---------------------------------------------------------------------------------------

def trusted_root(*, staging: bool, offline: bool, trust_config: Path | None = None) -> TrustedRoot:
    """Sigstore's trust root: a given trust config, the one shipped inside sigstore (offline), or TUF's (online)."""
    if trust_config is not None:
        return load_trust_config(trust_config).trusted_root
    if not offline:
        return client_trust(staging, hint="check the network, or add --offline (the trust root shipped with "
                                          "sigstore)").trusted_root
    from sigstore._utils import read_embedded  # the assets sigstore seeds its TUF cache with
    from sigstore.models import TrustedRoot, trustroot_v1

    # Not ClientTrustConfig.production(offline=True): that reads (and writes) the user's TUF cache,
    # which an earlier online run may have moved on; --offline means exactly what this sigstore shipped.
    try:
        raw = read_embedded("trusted_root.json", TUF_URLS[staging])
    except (FileNotFoundError, ModuleNotFoundError):
        raise AttestError("this sigstore installation ships no trust root", hint="verify online (without --offline)") from None
    return TrustedRoot(trustroot_v1.TrustedRoot.from_json(raw))


# -- verify ----------------------------------------------------------------------------------------------

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
               verifier: Any, *, trust: str = "Sigstore's production trust root") -> str:
    """Verify one attestation (Sigstore's checks, then the publisher, then the subject); its predicate type."""
    from pypi_attestations import AttestationType

    watched = _Watched(publisher.policy())
    try:
        _type, payload = verifier.verify_dsse(attestation.to_bundle(), watched)
    except Exception as exc:  # noqa: BLE001 - hostile input: any error of the crypto stack is a failed verification
        if watched.refused:
            raise Mismatch(f"signed by {signer_of(attestation)}, not {publisher}", PUBLISHER_HINT) from None
        raise Mismatch(f"the signature does not verify against {trust}: {first_line(exc)}",
                       SIGNATURE_HINT) from None
    check_subject(attestation, filename, sha256)
    try:
        predicate_type = str(load_json(payload)["predicateType"])
        AttestationType(predicate_type)
    except (ValueError, KeyError, TypeError):
        raise Mismatch("the attestation's statement has an unknown predicate type") from None
    return predicate_type


def verify(files: Sequence[Path], options: VerifyOptions, attestations: Sequence[Path] = ()) -> list[Verified]:
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
            data = fetch_provenance(options.from_index, path.name, options)
            where = f"the provenance {redact_url(options.from_index)} serves"
        else:
            data, where = _read_attestation(source), str(source)
        found = load_attestations(data, where)
        signer = signer_of(found[0])
        types = tuple(verify_one(a, path.name, sha256, publisher, verifier, trust=_trust_name(options)) for a in found)
    except Mismatch as exc:
        return Verified(path, str(exc), signer, hint=exc.hint)
    return Verified(path, "", signer, types)


def _trust_name(options: VerifyOptions) -> str:
    if options.trust_config:
        return f"the trust root of {options.trust_config}"
    return f"Sigstore's {'staging' if options.staging else 'production'} trust root"


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


def fetch_provenance(index: str, filename: str, options: VerifyOptions) -> bytes:
    """The provenance object the index serves for `filename` (Mismatch when it has none).

    Fetched with publish's HTTP client (toolkit/transport.py, shared with publish), not requests: its answer is capped
    and its wall clock bounded (--timeout, --deadline), which no trickle from the index stretches.
    """
    from toolkit import transport

    url = provenance_url(index, filename)
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"--from-index {redact_url(index)!r}: not an index URL", hint=f"give {PYPI.site}, or pypi / testpypi")
    if options.timeout <= 0 or options.deadline <= 0:
        raise ConfigError("--timeout and --deadline must be more than 0 seconds")
    user, password = transport.userinfo(url)
    bare = transport.without_userinfo(url)
    headers = {"Accept": "application/vnd.pypi.integrity.v1+json"}
    if user or password:
        headers["Authorization"] = transport.basic_auth(user or "", password or "")
    http = transport.Transport(transport.Timeouts(options.timeout, options.timeout, options.timeout),
                               deadline=time.monotonic() + options.deadline, deadline_seconds=options.deadline)
    try:
        resp = http.get(bare, headers, auth_origin=transport.origin_of(bare), cap=_MAX_PROVENANCE)
    except transport.WireError as exc:
        raise AttestError(f"cannot fetch the provenance of {filename} from {redact_url(url)} ({exc})",
                          hint=exc.hint or "check the network, or verify a local attestation with --attestation FILE"
                          ) from None
    finally:
        http.close()
    if resp.status == 404:
        raise Mismatch(f"the index serves no provenance for {filename} ({redact_url(url)})")
    if resp.status != 200:
        raise AttestError(f"{redact_url(url)} answered HTTP {resp.status} {resp.said()}".rstrip(), hint="try again later")
    return resp.body
