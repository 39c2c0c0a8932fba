"""HMAC login (docs/security.md, docs/protocol.md "Authentication").

A login proves a key: HELLO carries the key id, the client's clock in microseconds, a nonce
used once, and HMAC-SHA256 with the key's secret over the ASCII string "KEY:ACCOUNT:TS:NONCE".
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import time

# The node refuses longer nonces; 16 random bytes in URL-safe base64 are 22 characters.
NONCE_CHARS_MAX = 64
NONCE_BYTES = 16


@dataclasses.dataclass(frozen=True)
class Credentials:
    """A client key: its id as configured (`keyId`) and its secret, which is never sent."""

    key_id: str
    secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(key_id={self.key_id!r}, secret=…)"


def sign(key_id: str, secret: str, account: int, ts_us: int, nonce: str) -> bytes:
    """HMAC-SHA256 keyed with the secret's UTF-8 bytes over "KEY:ACCOUNT:TS:NONCE" (decimal integers)."""
    message = f"{key_id}:{account}:{ts_us}:{nonce}"
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()


def now_us() -> int:
    return time.time_ns() // 1000


def login_fields(credentials: Credentials | None, account: int, ts_us: int | None = None) -> dict[str, object]:
    """The proof fields of a HELLO for `account`: none without credentials (a cluster without auth)."""
    if credentials is None:
        return {}
    ts = now_us() if ts_us is None else ts_us
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    assert len(nonce) <= NONCE_CHARS_MAX
    return {"key": credentials.key_id, "ts": ts, "nonce": nonce, "sig": sign(credentials.key_id, credentials.secret, account, ts, nonce)}
