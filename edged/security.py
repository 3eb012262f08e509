"""CURVE for tcp endpoints beyond loopback: the server key pair from a file (or systemd's
$CREDENTIALS_DIRECTORY), allowed client public keys from a folder, a ZAP authenticator."""

from __future__ import annotations

import os
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from edged.errors import PublishError


def credential_path(path: Path) -> Path:
    """A relative key file name is looked up in $CREDENTIALS_DIRECTORY (systemd
    LoadCredential=) when that is set."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and creds:
        return Path(creds) / path
    return path


def load_keypair(path: Path) -> tuple[bytes, bytes]:
    """(public, secret) from a secret certificate written by ``edged keygen``."""
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


class CurveServer:
    """Makes a socket a CURVE server whose clients must be in ``authorized_dir``."""

    def __init__(self, context: zmq.Context, secret_key_file: Path,
                 authorized_dir: Path) -> None:
        self.public, self.secret = load_keypair(secret_key_file)
        if not authorized_dir.is_dir() or not any(authorized_dir.glob("*.key")):
            raise PublishError(f"publish.curve.authorized_keys_dir {authorized_dir}: no "
                               "client public keys (*.key) there; nobody could subscribe")
        self.auth = ThreadAuthenticator(context)
        self.auth.start()
        self.auth.configure_curve(domain="*", location=str(authorized_dir))

    def apply(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def stop(self) -> None:
        self.auth.stop()


def make_keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """Write NAME.key (public, share it) and NAME.key_secret (mode 0600) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(folder, name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def client_keys(server_public_file: Path, client_secret_file: Path) -> dict[str, bytes]:
    """Keys for edged.client.Subscriber(curve=...)."""
    server_public, _ = zmq.auth.load_certificate(server_public_file)
    public, secret = zmq.auth.load_certificate(client_secret_file)
    if not secret:
        raise PublishError(f"{client_secret_file}: holds no secret key")
    return {"server_public": server_public, "public": public, "secret": secret}
