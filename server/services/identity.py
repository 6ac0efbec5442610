"""Who is asking: the signed `vid` cookie, the visit (session) id, the arm and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie

from itsdangerous import BadSignature, Signer

VID_COOKIE = "vid"
VID_MAX_AGE = 400 * 86_400  # browsers cap cookie lifetimes at 400 days


def cookie_from_header(header: str | None, name: str) -> str | None:
    """One cookie's value from a raw Cookie header; a missing or malformed header is None."""
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed header is just "no such cookie"
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def new_id() -> str:
    """Return a random URL-safe id of 22 characters."""
    return secrets.token_urlsafe(16)


class VisitorIdentity:
    """Signs and checks visitor cookies; the server trusts nothing else about who a visitor is."""

    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, salt="vitrine.vid")
        self._csrf_key = hashlib.sha256(f"csrf:{secret_key}".encode()).digest()

    def sign(self, vid: str) -> str:
        return self._signer.sign(vid).decode()

    def unsign(self, cookie_value: str | None) -> str | None:
        """Return the visitor id in a signed cookie value, or None when it is not ours."""
        if not cookie_value or len(cookie_value) > 200:
            return None
        try:
            vid = self._signer.unsign(cookie_value).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        return vid if 8 <= len(vid) <= 64 else None

    def vid_from_cookie_header(self, header: str | None) -> str | None:
        """Read the visitor id from a raw Cookie header (the Socket.IO handshake)."""
        return self.unsign(cookie_from_header(header, VID_COOKIE))

    def csrf_token(self, vid: str) -> str:
        return hmac.new(self._csrf_key, vid.encode(), hashlib.sha256).hexdigest()[:40]

    def check_csrf(self, vid: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(vid), token or "")
