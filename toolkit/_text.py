"""Text toolkit shows but did not write: URLs without their passwords, an index's words without terminal
control sequences or raw binary, JSON from outside read with a bound on its nesting."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

# userinfo in a URL: scheme://USER[:PASSWORD]@host
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]*)@")
# CSI/OSC/other ESC sequences, then every C0/C1 control but tab: what a terminal would act on.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def redact_url(url: str) -> str:
    """`url` as toolkit shows it: a password in its userinfo, or a user name alone (a token, often), as ***."""
    return _USERINFO.sub(_hide, url)


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through redact_url."""
    return _USERINFO.sub(_hide, text)


def _hide(match: re.Match[str]) -> str:
    user, sep, _password = match["userinfo"].partition(":")
    return f"{match['scheme']}{user}:***@" if sep and user else f"{match['scheme']}***@"


def has_password(url: str) -> bool:
    """Whether a URL carries a password (or a token in place of a user name) in its userinfo."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return bool(parts.scheme and parts.password)


def printable(text: str, limit: int = 300) -> str:
    """Words that came from a server, fit for one line on a terminal: escape sequences and control
    characters gone, undecodable bytes (already U+FFFD or surrogates) shown as one '?', at most `limit`."""
    text = _ESCAPES.sub("", text)
    text = _CONTROLS.sub(" ", text)
    text = re.sub(r"[\ufffd\ud800-\udfff]+", "?", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TooDeep(ValueError):
    """JSON nested deeper than the parser goes."""


def load_json(data: bytes | str) -> Any:
    """json.loads, with a document nested deeper than the interpreter's recursion limit (a hostile index's
    `[[[[...`) refused as a ValueError like any other unreadable document. json's C scanner counts its depth
    and raises RecursionError cleanly, so catching it here is safe; UnicodeDecodeError is a ValueError too."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeep("JSON nested too deeply") from None
