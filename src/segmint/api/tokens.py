"""Access tokens as a local Adobe IMS would issue them: opaque to clients, HMAC-signed
here (client id, org, expiry), so any process sharing the signing key can verify them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    org_id: str
    expires_at: float


class InvalidToken(Exception):
    """The token is malformed, forged or expired."""


def load_signing_key(home: Path) -> bytes:
    """The key under ``home``; created (mode 0600) on first use."""
    path = home / "token-signing.key"
    if path.exists():
        return path.read_bytes()
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(key)
    tmp.chmod(0o600)
    tmp.replace(path)
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, client_id: str, org_id: str, ttl_seconds: int) -> str:
    claims = {
        "cid": client_id,
        "org": org_id,
        "exp": int(time.time()) + ttl_seconds,
        "n": secrets.token_hex(8),
    }
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def verify(key: bytes, token: str) -> TokenClaims:
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(signature, expected):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(_unb64(payload))
        result = TokenClaims(str(claims["cid"]), str(claims["org"]), float(claims["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("malformed token") from exc
    if result.expires_at < time.time():
        raise InvalidToken("token expired")
    return result
