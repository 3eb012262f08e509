"""The one endpoint policy for every socket edged binds (predictions, frames, and any later
companion: events, a bridge, a web page).

An endpoint is allowed when it is

* ``ipc://PATH`` (file permissions decide who connects: owner and ``publish.group``), or
* ``tcp://`` on a loopback address (127.x, ::1, localhost), or
* any other ``tcp://`` address *with* CURVE: the same server key and the same ZAP
  authenticator (``publish.curve``) for every socket.

Everything else (another scheme, a tcp address beyond loopback without CURVE, a port
outside 1..65535, a wildcard port) is refused: by ``check-config`` for every endpoint key,
and again when a socket binds. Pure functions: config validation imports this module.
"""

from __future__ import annotations

import resource
from urllib.parse import urlsplit

LOOPBACK_HOSTS = {"localhost", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def check_endpoint(endpoint: str, curve: bool) -> str:
    """``endpoint`` when the policy allows it with (``curve``) or without CURVE, else
    ValueError saying why and what to do."""
    parts = urlsplit(endpoint)
    if parts.scheme == "ipc":
        if not endpoint[len("ipc://"):]:
            raise ValueError("ipc endpoint needs a path, e.g. ipc:///run/edged/predictions.sock")
        return endpoint
    if parts.scheme != "tcp":
        raise ValueError(f"{endpoint}: expected ipc://PATH or tcp://HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not port:
        raise ValueError(f"{endpoint}: tcp endpoint needs a port 1..65535, "
                         "e.g. tcp://127.0.0.1:5556")
    if parts.path or parts.query or parts.fragment:
        raise ValueError(f"{endpoint}: a tcp endpoint is tcp://HOST:PORT, nothing after")
    host = parts.hostname or ""
    if not curve and not is_loopback(host):
        raise ValueError(f"tcp endpoint binds {host or 'every interface'}, which is not "
                         f"loopback ({endpoint}); anyone on the network could read it; "
                         "configure publish.curve (edged keygen) to allow it")
    return endpoint


def next_port(endpoint: str) -> str:
    """The frames endpoint's default: frames.sock beside an ipc socket, or the next port."""
    if endpoint.startswith("ipc://"):
        head, _, _ = endpoint.rpartition("/")
        return f"{head}/frames.sock"
    host, _, port = endpoint.rpartition(":")
    return f"{host}:{int(port) + 1}"


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard one; (old soft, new soft).

    Every connected subscriber holds a file descriptor; the default soft limit of 1024
    lets ~1,010 idle connections lock out new subscribers. The hard limit stays the cap
    (the systemd unit sets it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft >= hard:
        return soft, soft
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft, soft
    return soft, target
