"""Which proxy a request to an index goes through: the environment's HTTPS_PROXY / HTTP_PROXY / ALL_PROXY,
unless NO_PROXY exempts the index (in every form curl and requests accept). Pure: read by transport.py.

Written by hand: the standard library's urllib.request.proxy_bypass_environment matches host suffixes only (no
CIDR range, no IP address against a range, a `:port` entry compared as text), and requests, whose
should_bypass_proxies does take CIDR, is not a dependency of toolkit (its HTTP client is http.client).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy the environment names for this URL (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; lower-case names win,
    as in curl), unless NO_PROXY exempts the host."""
    parts = urlsplit(url)
    proxies = {k.lower()[:-6]: v.strip() for k, v in sorted(environ.items(), key=lambda kv: kv[0].islower())
               if k.lower().endswith("_proxy") and v.strip()}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if no_proxy(parts.hostname or "", port, proxies.get("no", "")):
        return None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    return proxy if proxy is None or "://" in proxy else f"http://{proxy}"  # "proxy:3128", as curl takes it


def no_proxy(host: str, port: int, value: str) -> bool:
    """Whether NO_PROXY exempts host:port, in every form curl and requests take: `*`; a host name, which
    also covers its subdomains (`example.com`, `.example.com`, `*.example.com`); an IP address; a CIDR range
    (`10.0.0.0/8`); any of these with `:port`, which then must match too."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (e.strip().lower() for e in value.replace(" ", ",").split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, want_port = entry, None
        if entry.count(":") == 1 or (entry.startswith("[") and "]:" in entry):  # host:port, [v6]:port
            name, _, tail = entry.rpartition(":")
            if not tail.isdigit():
                continue
            want_port = int(tail)
        if want_port is not None and want_port != port:
            continue
        name = name.strip("[]").removeprefix("*").lstrip(".").rstrip(".")
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if host == name or host.endswith("." + name):
            return True
    return False
