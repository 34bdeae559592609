"""Where publish uploads to and as whom. The index: --repository-url, or -r NAME (pypi, testpypi, a section
of ~/.pypirc, a name in [tool.toolkit.publish.repositories]). The user name and the password each come from
the first source that gives one: --username/--password/--token (or TOOLKIT_PUBLISH_*), TOOLKIT_USERNAME/
TOOLKIT_PASSWORD, TWINE_USERNAME/TWINE_PASSWORD, the URL's userinfo, the .pypirc section; then keyring; then
trusted publishing (in GitHub Actions or GitLab CI, the OIDC token `id` gets is exchanged at the index's
/_/oidc/ endpoints for a short-lived token, renewed near its end: trusted.py). Explicit
credentials win. Messages name the source, never the secret.

.pypirc is read with configparser as twine reads it; not with twine's reader, whose errors quote the
offending line (a password, often): we report the file and the line number only.
"""

from __future__ import annotations

import configparser
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from toolkit import _fs, _text, transport
from toolkit.config import PublishOptions
from toolkit.errors import ConfigError, PublishError
from toolkit.publish import index
from toolkit.pypi import KNOWN, PYPI

PRESETS = {name: known.upload for name, known in KNOWN.items()}
TOKEN_USER = "__token__"
TOKEN_LIFETIME = 900.0  # what PyPI gives a minted token when it does not say
RENEW_MARGIN = 300.0  # a token with less left than this is renewed before the next file


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    username_from: str = ""
    password_from: str = ""
    expires: float | None = None  # a trusted-publishing token's end of life

    def describe(self) -> str:
        if self.password is None and self.username is None:
            return "no credentials (none given, none in ~/.pypirc or keyring, no CI identity for trusted publishing)"
        if self.password_from.startswith("trusted publishing"):
            return "a short-lived token from trusted publishing" if self.password else self.password_from
        user = f"user {self.username!r} from {self.username_from}" if self.username else "no user name"
        secret = f"password from {self.password_from}" if self.password is not None else "no password"
        return f"{user}, {secret}"


@dataclass
class Target:
    """An index to upload to, with the credentials for it."""

    name: str
    upload_url: str  # without userinfo
    simple_urls: list[str]
    cacert: Path | None
    creds: Credentials
    renew: Callable[[], Credentials] | None = None
    secrets: set[str] = field(default_factory=set, repr=False)
    simple_auth: dict[str, str] = field(default_factory=dict, repr=False)  # origin -> Authorization (--index-url's)
    client_cert: Path | None = None
    # Uploads run on several threads (--jobs): one renewal (one trusted-publishing exchange) at a time.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def describe(self) -> str:
        if self.renew is not None and self.creds.password is None:
            return "trusted publishing (the CI's identity is exchanged for a token at the first upload)"
        return self.creds.describe()

    def credentials(self) -> Credentials:
        """The credentials for the next request; a trusted-publishing token near its end is renewed."""
        with self.lock:
            if self.renew is not None and (self.creds.expires is None or self.creds.expires - time.time() < RENEW_MARGIN):
                self.creds = self.renew()
            if self.creds.password:
                self.secrets.add(self.creds.password)
            return self.creds

    def authorization(self) -> dict[str, str]:
        creds = self.credentials()
        if creds.password is None and creds.username is None:
            return {}
        return {"Authorization": transport.basic_auth(creds.username or "", creds.password or "")}

    def redact(self, text: str) -> str:
        """`text` with every secret this target has held, and every URL's password, replaced by '***'."""
        text = _text.redact_urls(text)
        with self.lock:  # another upload thread may be adding a renewed token
            secrets = sorted(self.secrets, key=len, reverse=True)
        for secret in secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


def resolve(options: PublishOptions, environ: Mapping[str, str] | None = None, *, dry_run: bool = False,
            mask: Callable[[str], None] | None = None) -> Target:
    """The target the options name, with its credentials (see the module docstring for the order)."""
    environ = os.environ if environ is None else environ
    name, url, section = _repository(options, environ)
    _valid_options(options)
    _valid_url(url, name if name == "--repository-url" else f"the upload URL of {name}")
    if options.index_url:
        _valid_url(options.index_url, "--index-url")
    user_in_url, password_in_url = transport.userinfo(url)
    url = transport.without_userinfo(url)
    if name == "--repository-url":
        name = url
    creds = _explicit(options, environ, section, name, (user_in_url, password_in_url))
    index_url, simple_auth, index_password = _index_url(options.index_url)
    cacert, client_cert = _certificates(options, environ, section)
    target = Target(name, url, index.simple_urls(url, index_url), cacert, creds, simple_auth=simple_auth,
                    client_cert=client_cert)
    target.secrets.update(s for s in (index_password, *(v.partition(" ")[2] for v in simple_auth.values())) if s)
    # keyring before trusted publishing, except in a CI job that has an OIDC identity: there no keyring is
    # set up, and asking a desktop keyring service that is not there can block.
    if creds.password is None and options.keyring and not in_ci_with_oidc(environ):
        target.creds = _from_keyring(url, creds)
    if target.creds.password is None and options.trusted_publishing != "never":
        if options.trusted_publishing == "always" or in_ci_with_oidc(environ):
            if dry_run:
                target.creds = Credentials(TOKEN_USER, None, "trusted publishing", "trusted publishing (not exchanged: dry run)")
            else:
                from toolkit.publish.trusted import TrustedPublisher, github_mask

                publisher = TrustedPublisher(url, replace(options, cacert=cacert, client_cert=client_cert), environ,
                                             mask or github_mask(environ), target.secrets)
                target.renew = publisher.mint
    target.secrets.update(s for s in (target.creds.password, creds.password, password_in_url) if s)
    return target


def _certificates(options: PublishOptions, environ: Mapping[str, str],
                  section: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    """(CA bundle, client certificate) from the first source that names each, in twine's order (the flag,
    TWINE_CERT / TWINE_CLIENT_CERT, the .pypirc section's ca_cert / client_cert), then the CA bundle pip's and
    requests' users set (REQUESTS_CA_BUNDLE, PIP_CERT). SSL_CERT_FILE needs nothing here: OpenSSL reads it
    when no bundle is named."""
    def first(*values: str | Path | None) -> Path | None:
        found = next((v for v in values if v), None)
        return Path(found).expanduser() if found else None

    cacert = first(options.cacert, environ.get("TWINE_CERT"), section.get("ca_cert"), environ.get("REQUESTS_CA_BUNDLE"),
                   environ.get("PIP_CERT"))
    return cacert, first(options.client_cert, environ.get("TWINE_CLIENT_CERT"), section.get("client_cert"))


def _index_url(url: str | None) -> tuple[str | None, dict[str, str], str | None]:
    """--index-url without its userinfo; the Authorization its userinfo makes for its origin; its password."""
    if not url:
        return url, {}, None
    user, password = transport.userinfo(url)
    bare = transport.without_userinfo(url)
    if user is None and password is None:
        return bare, {}, None
    return bare, {transport.origin_of(bare): transport.basic_auth(user or "", password or "")}, password


def _valid_url(url: str, what: str) -> None:
    """An http(s) URL with a host and a valid port, or a one-line error that does not repeat it (it may hold a password)."""
    from urllib.parse import urlsplit

    hint = f"give the index's upload URL, e.g. {PYPI.upload}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{what} is not a valid URL", hint=hint) from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{what} must start with https:// or http://", hint=hint)
    host = parts.hostname or ""
    if not host or any(c.isspace() or ord(c) < 32 for c in host) or port == 0:
        raise ConfigError(f"{what} has no valid host name (and port)", hint=hint)


def _valid_options(options: PublishOptions) -> None:
    if options.timeout <= 0 or options.deadline <= 0:
        raise ConfigError("--timeout and --deadline must be more than 0 seconds")
    if options.retries < 0:
        raise ConfigError("--retries must be 0 or more")
    if options.jobs is not None and options.jobs < 1:
        raise ConfigError("--jobs must be 1 or more", hint="give --jobs 1 to upload one file at a time")


def _repository(options: PublishOptions, environ: Mapping[str, str]) -> tuple[str, str, dict[str, str]]:
    """(name, upload URL, its .pypirc section) from --repository-url or -r NAME (or twine's TWINE_REPOSITORY_URL,
    TWINE_REPOSITORY)."""
    if options.repository_url:
        return "--repository-url", options.repository_url, {}
    if not options.repository and environ.get("TWINE_REPOSITORY_URL"):
        return "--repository-url", environ["TWINE_REPOSITORY_URL"], {}
    pypirc = read_pypirc(options.config_file or Path.home() / ".pypirc", required=options.config_file is not None)
    name = options.repository or environ.get("TWINE_REPOSITORY") or "pypi"
    section = pypirc.get(name, {})
    url = section.get("repository") or options.repositories.get(name) or PRESETS.get(name)
    if not isinstance(url, str) or not url:
        known = sorted({*PRESETS, *pypirc, *options.repositories})
        raise ConfigError(f"no repository named {name!r}",
                          hint=f"known names: {', '.join(known)}; or give --repository-url URL")
    return name, url, section


def _explicit(options: PublishOptions, environ: Mapping[str, str], section: Mapping[str, str], name: str,
              in_url: tuple[str | None, str | None]) -> Credentials:
    """User name and password from the first source that gives each: flags (or TOOLKIT_PUBLISH_*), TOOLKIT_*,
    TWINE_*, the URL's userinfo, the .pypirc section."""
    pypirc = f"~/.pypirc [{name}]" if options.config_file is None else f"{options.config_file} [{name}]"

    def source(value: str | None, field: str) -> str:  # a flag, or the TOOLKIT_PUBLISH_* variable it came from
        var = f"TOOLKIT_PUBLISH_{field.upper()}"
        return var if value is not None and environ.get(var) == value else f"--{field}"

    token = options.token
    users = [(options.username, source(options.username, "username")), (TOKEN_USER if token else None, "--token"),
             (environ.get("TOOLKIT_USERNAME"), "TOOLKIT_USERNAME"), (environ.get("TWINE_USERNAME"), "TWINE_USERNAME"),
             (in_url[0], "the URL"), (section.get("username"), pypirc)]
    passwords = [(token, source(token, "token")), (options.password, source(options.password, "password")),
                 (environ.get("TOOLKIT_PASSWORD"), "TOOLKIT_PASSWORD"), (environ.get("TWINE_PASSWORD"), "TWINE_PASSWORD"),
                 (in_url[1], "the URL"), (section.get("password"), pypirc)]
    username, user_from = next(((v, s) for v, s in users if v), (None, ""))
    password, password_from = next(((v, s) for v, s in passwords if v), (None, ""))
    if password is not None and username is None:
        username, user_from = TOKEN_USER, "the default for a token"
    return Credentials(username, password, user_from, password_from)


KEYRING_WAIT = 5.0  # seconds a keyring backend gets to answer (a locked desktop keyring may wait for a user)


def _from_keyring(url: str, creds: Credentials) -> Credentials:
    """keyring's password for this URL (and user); keyring errors are not fatal, the index will say. A backend
    that does not answer within KEYRING_WAIT seconds is named and stops the run (it would hang it)."""
    try:
        import keyring
        import keyring.errors
    except ImportError:
        return creds
    asked: dict[str, Any] = {}

    def ask() -> None:
        try:
            backend = keyring.get_keyring()
            asked["backend"] = f"{type(backend).__module__}.{type(backend).__name__}"
            asked["found"] = keyring.get_credential(url, creds.username)
        except Exception:  # noqa: BLE001 - a broken keyring backend must not stop an upload that needs none
            asked["found"] = None

    # A daemon thread: one that never returns is left behind when toolkit exits.
    thread = threading.Thread(target=ask, name="toolkit-keyring", daemon=True)
    thread.start()
    thread.join(KEYRING_WAIT)
    if thread.is_alive():
        which = f"the keyring backend {asked['backend']}" if "backend" in asked else "keyring (loading its backend)"
        raise PublishError(f"{which} did not answer within {KEYRING_WAIT:g} s",
                           hint="unlock the keyring, give credentials (TOOLKIT_PASSWORD), or add --no-keyring")
    found = asked.get("found")
    if found is None or not found.password:
        return creds
    username = creds.username or found.username or TOKEN_USER
    return replace(creds, username=username, password=found.password, password_from="keyring",
                   username_from=creds.username_from or "keyring")


# -- trusted publishing -----------------------------------------------------------------------------------

def in_ci_with_oidc(environ: Mapping[str, str]) -> bool:
    github = bool(environ.get("GITHUB_ACTIONS")) and bool(environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"))
    return github or bool(environ.get("GITLAB_CI"))


# -- .pypirc -------------------------------------------------------------------------------------------

def read_pypirc(path: Path, *, required: bool = False) -> dict[str, dict[str, str]]:
    """The repositories of a .pypirc, read as twine reads it (configparser, [distutils] index-servers,
    [server-login] defaults). A malformed file is reported by file and line, never by its content."""
    try:
        text = _fs.read_regular(path, max_bytes=1 << 20).decode("utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such file", hint="give an existing .pypirc to --config-file") from None
        return {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", hint="save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})", hint="make it a readable regular file") from None
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}, line {_line_of(exc)}: {_what(exc)}",
                          hint="fix that line (its content is not shown: it may hold a password)") from None
    defaults = {k: parser.get("server-login", k) for k in ("username", "password") if parser.has_option("server-login", k)}
    servers = parser.get("distutils", "index-servers", fallback="pypi testpypi").split()
    found: dict[str, dict[str, str]] = {}
    for name in dict.fromkeys([*servers, *parser.sections()]):
        if name in ("distutils", "server-login") or not parser.has_section(name):
            continue
        section = dict(defaults)
        section.update({k: v for k, v in parser.items(name)
                        if k in ("repository", "username", "password", "ca_cert", "client_cert")})
        found[name] = section
    return found


def _line_of(exc: configparser.Error) -> object:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return exc.lineno
    if isinstance(exc, configparser.ParsingError) and getattr(exc, "errors", None):
        return exc.errors[0][0]
    return getattr(exc, "lineno", "?")


def _what(exc: configparser.Error) -> str:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return "a setting before any [section] header"
    if isinstance(exc, configparser.DuplicateSectionError):
        return "a [section] given a second time"
    if isinstance(exc, configparser.DuplicateOptionError):
        return "a key given a second time in its section"
    if isinstance(exc, configparser.ParsingError):
        return "neither a [section] header nor a `key = value` line"
    return "not valid .pypirc syntax"
