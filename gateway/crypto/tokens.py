"""Session tokens, Hawk credentials, keyed digests and sealing of values at rest.

- A msisdnSessionToken is 32 random bytes, given to the client as hex.
- Hawk id and key: HKDF-SHA256(token, empty salt, info ``identity.mozilla.com/picl/v1/
  sessionToken``, 64 bytes) split in two halves, each as lowercase hex; the key's hex
  string is the MAC key (what ``requests-hawk`` does).
- The server stores ``digest("hawk-id", id)``, never the id itself, and seals the Hawk key
  and the MSISDN with AES-256-GCM under a key derived from the hawk id and the server
  secret: neither a copied database nor the secret alone reveals them.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SESSION_TOKEN_INFO = b"identity.mozilla.com/picl/v1/sessionToken"
SEAL_INFO_PREFIX = b"msisdn-gateway/seal/v1/"
TOKEN_BYTES = 32
SECRET_BYTES = 32


@dataclass(frozen=True)
class HawkCredentials:
    id: str  # 64 lowercase hex characters
    key: str  # 64 lowercase hex characters; its ASCII bytes are the MAC key


def new_session_token() -> bytes:
    return secrets.token_bytes(TOKEN_BYTES)


def hkdf_sha256(material: bytes, info: bytes, length: int, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(material)


def derive_hawk_credentials(token: bytes) -> HawkCredentials:
    """The Hawk id and key of a session token (see the module docstring)."""
    material = hkdf_sha256(token, SESSION_TOKEN_INFO, 64)
    return HawkCredentials(id=material[:32].hex(), key=material[32:].hex())


class SealError(ValueError):
    """A sealed value could not be opened (wrong hawk id or tampered data)."""


class ServerSecret:
    """The server's 32-byte secret and what is derived from it.

    Never logged: ``repr`` hides the value.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < SECRET_BYTES:
            raise ValueError(f"the server secret must be at least {SECRET_BYTES} bytes")
        self._secret = secret

    def __repr__(self) -> str:
        return "ServerSecret(<hidden>)"

    def digest(self, purpose: str, value: str | bytes) -> str:
        """HMAC-SHA256 over ``purpose`` and ``value`` (domain separated), as hex."""
        data = value.encode() if isinstance(value, str) else value
        return hmac.new(self._secret, purpose.encode() + b"\0" + data, hashlib.sha256).hexdigest()

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose``, independent of every other use of the secret."""
        return bytes.fromhex(self.digest("derive", purpose))

    def _seal_key(self, hawk_id: str, purpose: str) -> bytes:
        return hkdf_sha256(hawk_id.encode("ascii"), SEAL_INFO_PREFIX + purpose.encode(), 32,
                           salt=self._secret)

    def seal(self, hawk_id: str, purpose: str, plaintext: str | bytes) -> bytes:
        """Encrypt ``plaintext`` (a str is sealed as UTF-8) so that only a holder of
        ``hawk_id`` (and this secret) can read it. Output: 12-byte nonce + ciphertext and
        tag (28 bytes more than the plaintext)."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = secrets.token_bytes(12)
        return nonce + AESGCM(self._seal_key(hawk_id, purpose)).encrypt(
            nonce, data, purpose.encode())

    def open(self, hawk_id: str, purpose: str, sealed: bytes) -> str:
        """Decrypt what ``seal`` produced from a str; raises SealError."""
        try:
            return self.open_bytes(hawk_id, purpose, sealed).decode()
        except UnicodeDecodeError as exc:
            raise SealError("sealed value is not text") from exc

    def open_bytes(self, hawk_id: str, purpose: str, sealed: bytes) -> bytes:
        """Decrypt what ``seal`` produced, as bytes; raises SealError."""
        try:
            return AESGCM(self._seal_key(hawk_id, purpose)).decrypt(
                sealed[:12], sealed[12:], purpose.encode())
        except (InvalidTag, ValueError) as exc:
            raise SealError("sealed value cannot be opened with this hawk id") from exc
