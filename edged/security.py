"""CURVE for tcp endpoints beyond loopback: the server key pair from a file (or systemd's
$CREDENTIALS_DIRECTORY), allowed client public keys from a folder, a ZAP authenticator."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import zmq

from edged.errors import PublishError

if TYPE_CHECKING:
    from zmq.auth.thread import ThreadAuthenticator

# zmq.auth is imported where a key is used, not here: it pulls in asyncio and ssl (~3.5 MB
# of RSS, ~50 modules) that a daemon publishing on ipc or loopback never needs.

log = logging.getLogger("edged.publish")
ZAP_DOMAIN = b"edged"


def credential_path(path: Path) -> Path:
    """A relative key file name is looked up in $CREDENTIALS_DIRECTORY (systemd
    LoadCredential=) when that is set."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and creds:
        return Path(creds) / path
    return path


def load_keypair(path: Path) -> tuple[bytes, bytes]:
    """(public, secret) from a secret certificate written by ``edged keygen``."""
    import zmq.auth

    path = credential_path(path)
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise PublishError(f"publish.curve.secret_key_file {path}: cannot be read "
                           f"({exc}); make one with: edged keygen DIR") from None
    if not secret:
        raise PublishError(f"publish.curve.secret_key_file {path}: holds no secret key (it "
                           "is a public certificate; use the .key_secret file)")
    return public, secret


_authenticators: dict[int, tuple[ThreadAuthenticator, int]] = {}  # by context: (auth, users)
_auth_lock = threading.Lock()


def _acquire_authenticator(context: zmq.Context) -> ThreadAuthenticator:
    """The context's one ZAP handler (libzmq allows one per context): a reload that builds
    a new publisher before closing the old one shares it instead of failing to bind."""
    with _auth_lock:
        auth, users = _authenticators.get(id(context), (None, 0))
        if auth is None:
            from zmq.auth.thread import ThreadAuthenticator

            auth = ThreadAuthenticator(context)
            auth.start()
        _authenticators[id(context)] = (auth, users + 1)
        return auth


def _release_authenticator(context: zmq.Context) -> None:
    with _auth_lock:
        auth, users = _authenticators.pop(id(context))
        if users > 1:
            _authenticators[id(context)] = (auth, users - 1)
        else:
            auth.stop()


class CurveServer:
    """Makes sockets CURVE servers whose clients must be in ``authorized_dir``. Every socket
    edged binds shares these keys and the context's one ZAP authenticator; the newest
    CurveServer's keys are the ones it checks."""

    def __init__(self, context: zmq.Context, secret_key_file: Path,
                 authorized_dir: Path) -> None:
        self.public, self.secret = load_keypair(secret_key_file)
        self.authorized_dir = authorized_dir
        self.keys = read_authorized_keys(authorized_dir)
        self.context = context
        self.auth = _acquire_authenticator(context)
        self.auth.certs[ZAP_DOMAIN.decode()] = dict(self.keys)
        self._stopped = False

    def apply(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True
        # a named domain, enforced: without a ZAP handler (e.g. between two authenticators
        # during a reload) libzmq refuses clients instead of accepting any key
        sock.zap_domain = ZAP_DOMAIN
        sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)

    def reload_keys(self) -> set[bytes]:
        """Re-read the authorized keys (SIGHUP); the public keys that were removed. A folder
        that became unreadable or empty revokes every key (fail closed)."""
        try:
            keys = read_authorized_keys(self.authorized_dir)
        except PublishError as exc:
            log.warning("%s: every client key revoked", exc)
            keys = {}
        removed = set(self.keys) - set(keys)
        self.keys = keys
        # one assignment: the ZAP thread sees the old keys or the new ones
        self.auth.certs[ZAP_DOMAIN.decode()] = dict(keys)
        return removed

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            _release_authenticator(self.context)


def read_authorized_keys(folder: Path) -> dict[bytes, bool]:
    """Client public keys (z85) from ``folder``/*.key, as the authenticator wants them."""
    import zmq.auth

    keys: dict[bytes, bool] = {}
    try:
        files = sorted(folder.glob("*.key")) if folder.is_dir() else []
        for f in files:
            public, _ = zmq.auth.load_certificate(f)
            keys[public] = True
    except (OSError, ValueError) as exc:
        raise PublishError(f"publish.curve.authorized_keys_dir {folder}: cannot be read "
                           f"({exc})") from None
    if not keys:
        raise PublishError(f"publish.curve.authorized_keys_dir {folder}: no client public "
                           "keys (*.key) there; nobody could subscribe")
    return keys


def make_keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """Write NAME.key (public, share it) and NAME.key_secret (mode 0600) into ``folder``."""
    import zmq.auth

    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(folder, name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def client_keys(server_public_file: Path, client_secret_file: Path) -> dict[str, bytes]:
    """Keys for edged.client.Subscriber(curve=...)."""
    import zmq.auth

    server_public, _ = zmq.auth.load_certificate(server_public_file)
    public, secret = zmq.auth.load_certificate(client_secret_file)
    if not secret:
        raise PublishError(f"{client_secret_file}: holds no secret key")
    return {"server_public": server_public, "public": public, "secret": secret}
