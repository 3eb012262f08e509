"""Who may look: nobody but loopback clients unless a token or a password is configured, and
on a loopback bind without them, only requests addressed to a loopback name (a web page
elsewhere cannot use DNS rebinding to read the camera through the user's browser)."""

from __future__ import annotations

import base64
import binascii
import hmac
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from edged.errors import ConfigError
from edged.security import credential_path
from edged.web.config import WebConfig, is_loopback_host, split_listen

COOKIE = "edged_token"


def read_secret(path: Path, key: str) -> str:
    path = credential_path(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"web.{key}: cannot read {path} ({exc})"]) from None
    secret = text.splitlines()[0].strip() if text else ""
    if len(secret) < 16:
        raise ConfigError([f"web.{key}: {path} holds fewer than 16 characters; use e.g. "
                           "'openssl rand -hex 24 > FILE'"])
    return secret


class Guard:
    def __init__(self, config: WebConfig) -> None:
        self.token = read_secret(config.token_file, "token_file") if config.token_file else None
        self.user = config.username
        self.password = (read_secret(config.password_file, "password_file")
                         if config.password_file else None)
        host, self.port = split_listen(config.listen)
        self.open_loopback = self.token is None and self.password is None
        assert not self.open_loopback or is_loopback_host(host)  # WebConfig refuses otherwise

    @property
    def basic(self) -> bool:
        return self.password is not None

    def host_ok(self, host_header: str | None) -> bool:
        """Without credentials, only a Host that names loopback (no DNS rebinding)."""
        if not self.open_loopback:
            return True
        if not host_header:
            return False
        try:
            host, _ = split_listen(host_header)
        except ValueError:
            host = host_header
        return is_loopback_host(host)

    def allowed(self, authorization: str | None, cookie: str | None) -> bool:
        if self.open_loopback:
            return True
        auth = authorization or ""
        if self.token is not None:
            if auth.startswith("Bearer ") and _same(auth[7:].strip(), self.token):
                return True
            if _same(cookie_token(cookie), self.token):
                return True
        if self.password is not None and auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return _same(user, self.user or "") and _same(pw, self.password)
        return False

    def token_matches(self, candidate: str) -> bool:
        return self.token is not None and _same(candidate, self.token)


def cookie_token(header: str | None) -> str:
    if not header:
        return ""
    try:
        c = SimpleCookie(header)
    except CookieError:
        return ""
    return c[COOKIE].value if COOKIE in c else ""


def _same(a: str, b: str) -> bool:
    return bool(a) and hmac.compare_digest(a.encode(), b.encode())
