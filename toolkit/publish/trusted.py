"""Trusted publishing: the CI's OIDC identity (GitHub Actions' token endpoint, GitLab's variable, via `id`
for the others) exchanged at the index's /_/oidc/ endpoints for a short-lived upload token, masked in
GitHub's log. Every request goes through transport.py: capped and bounded by --timeout and --deadline."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from toolkit import _text, transport
from toolkit.config import PublishOptions
from toolkit.errors import PublishError
from toolkit.publish.target import TOKEN_LIFETIME, TOKEN_USER, Credentials


def github_mask(environ: Mapping[str, str]) -> Callable[[str], None]:
    """The workflow command that hides a value in the rest of the job's log, written to stderr.

    The runner reads workflow commands from both streams of a step (actions/runner's ScriptHandler gives
    stdout and stderr each an OutputManager with the command manager), so stdout stays only the document
    (`--format json`). The command holds the token itself: it is written only when stderr is a pipe (the
    runner's), never into a file or terminal stderr was sent to, where no log needs masking.
    """
    def mask(secret: str) -> None:
        if environ.get("GITHUB_ACTIONS") and _is_pipe(sys.stderr):
            sys.stderr.write(f"::add-mask::{secret}\n")
            sys.stderr.flush()
    return mask


def _is_pipe(stream: object) -> bool:
    import stat

    try:
        return stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode)  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


@dataclass
class TrustedPublisher:
    """Exchanges the CI's OIDC token for an upload token at the index's /_/oidc/ endpoints."""

    upload_url: str
    options: PublishOptions
    environ: Mapping[str, str]
    mask: Callable[[str], None]
    secrets: set[str]  # the target's: every token seen here is redacted from what is shown

    def mint(self) -> Credentials:
        base = _origin(self.upload_url)
        t = self.options.timeout
        http = transport.Transport(transport.Timeouts(t, t, t), self.options.cacert, dict(self.environ),
                                   client_cert=self.options.client_cert,
                                   deadline=time.monotonic() + self.options.deadline,
                                   deadline_seconds=self.options.deadline)
        if request_token := self.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
            self.secrets.add(request_token)
        try:
            audience = self._audience(http, base)
            oidc = self._github_token(http, audience) or self._oidc_token(audience)
            self.secrets.add(oidc)
            token, expires = self._exchange(http, base, oidc)
        except transport.WireError as exc:
            raise PublishError(f"trusted publishing: {exc}", hint=exc.hint) from None
        finally:
            http.close()
        self.secrets.add(token)
        self.mask(token)
        return Credentials(TOKEN_USER, token, "trusted publishing", "trusted publishing", expires)

    def _audience(self, http: transport.Transport, base: str) -> str:
        answer = http.get(f"{base}/_/oidc/audience", {"Accept": "application/json"}, auth_origin=None,
                          cap=transport.ANSWER_CAP)
        audience = _json(answer).get("audience") if answer.status == 200 else None
        if not isinstance(audience, str):
            raise PublishError(f"trusted publishing: {base} does not offer it ({answer.status} from /_/oidc/audience)",
                               hint="give credentials (TOOLKIT_PASSWORD), or --trusted-publishing never")
        return audience

    def _github_token(self, http: transport.Transport, audience: str) -> str | None:
        """GitHub Actions' OIDC token, fetched here, not by `id`: id reads the answer with requests, with no cap
        on its size and no wall-clock bound (a trickle from the endpoint would hold the job). The protocol is
        one GET with the request token as bearer, answered {"value": TOKEN}."""
        from urllib.parse import quote

        url, bearer = self.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"), self.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if not (self.environ.get("GITHUB_ACTIONS") and url and bearer):
            return None
        answer = http.get(f"{url}{'&' if '?' in url else '?'}audience={quote(audience, safe='')}",
                          {"Authorization": f"bearer {bearer}", "Accept": "application/json"},
                          auth_origin=transport.origin_of(url), cap=transport.ANSWER_CAP)
        value = _json(answer).get("value")
        if answer.status != 200 or not isinstance(value, str) or not value:
            raise PublishError(f"trusted publishing: GitHub's OIDC token endpoint answered {answer.status} "
                               f"{answer.said()}".rstrip() + " without a token",
                               hint="in GitHub Actions the job needs `permissions: id-token: write`")
        return value

    def _oidc_token(self, audience: str) -> str:
        import urllib3
        from id import AmbientCredentialError, detect_credential

        try:
            token = detect_credential(audience)
        except (AmbientCredentialError, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise PublishError(f"trusted publishing: the CI gives no OIDC token ({exc})",
                               hint="in GitHub Actions the job needs `permissions: id-token: write`") from None
        if not token:
            raise PublishError("trusted publishing: this environment has no OIDC identity",
                               hint="run in GitHub Actions or GitLab CI, or give credentials (TOOLKIT_PASSWORD)")
        return str(token)

    def _exchange(self, http: transport.Transport, base: str, oidc: str) -> tuple[str, float]:
        body = json.dumps({"token": oidc}).encode()
        answer = http.request("POST", f"{base}/_/oidc/mint-token",
                              {"Content-Type": "application/json", "Accept": "application/json"}, transport.Body(body))
        doc = _json(answer)
        token = doc.get("token")
        if answer.status != 200 or not isinstance(token, str):
            listed = doc.get("errors")
            errors = listed if isinstance(listed, list) else []
            why = _text.printable("; ".join(str(e.get("description", e.get("code", "")))
                                            for e in errors if isinstance(e, dict)))
            raise PublishError(f"trusted publishing: the index refused the OIDC token ({answer.status}"
                               f"{': ' + why.replace(oidc, '***') if why else ''})",
                               hint="check the trusted publisher configured for this project on the index")
        expires = doc.get("expires")
        return token, float(expires) if isinstance(expires, (int, float)) else time.time() + TOKEN_LIFETIME


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _json(answer: transport.Response) -> dict:
    try:
        doc = _text.load_json(answer.body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
