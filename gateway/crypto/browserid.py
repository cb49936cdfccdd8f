"""BrowserID certificates: the server signing key, signing, verifying (client public keys
are parsed and validated in gateway.crypto.public_keys, re-exported here).

Pure logic: no framework, no storage, no clock reads (times are passed in).
Formats are those of browserid-crypto (default data format) and PyBrowserID:

* a public key is a JSON object, ``{"algorithm": "RS", "n": "<decimal>", "e": "<decimal>"}``
  or ``{"algorithm": "DS", "y": "<hex>", "p": "<hex>", "q": "<hex>", "g": "<hex>"}``;
* a certificate is ``b64url(header) "." b64url(payload) "." b64url(signature)``, base64url
  without padding, header and payload being compact JSON, the header ``{"alg": ...}``;
* the alg name encodes the key size: "RS256" is RSA-2048 with PKCS#1 v1.5 and SHA-256,
  "DS256" is DSA-2048/256 with SHA-256 and a signature of r || s, each 32 bytes big-endian.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from gateway.crypto.public_keys import DS_FIELDS, PublicKey, is_int
from gateway.crypto.public_keys import InvalidPublicKey, parse_public_key

#: Claims set by sign_certificate itself; extra_claims may not override them.
RESERVED_CLAIMS = frozenset({"public-key", "principal", "iat", "exp", "iss"})
#: Smallest accepted millisecond timestamp (1973): smaller values are seconds by mistake.
MIN_TIMESTAMP_MS = 10**11

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_DS256_WIDTH = 32  # bytes of r and of s in a DS256 signature


class SigningKey:
    """The server's private key (built by load_signing_key).

    ``algorithm`` is the BrowserID alg of its signatures: "RS256" or "DS256".
    """

    __slots__ = ("_key", "algorithm")

    def __init__(self, private_key: rsa.RSAPrivateKey | dsa.DSAPrivateKey) -> None:
        self._key = private_key
        self.algorithm = _server_algorithm(private_key)

    @property
    def private_key(self) -> rsa.RSAPrivateKey | dsa.DSAPrivateKey:
        """The key itself, for signers of other formats (the OpenID Connect face's ID
        tokens and JWKS)."""
        return self._key

    def public_key_document(self) -> dict[str, str]:
        """The ``public-key`` member of /.well-known/browserid (canonical BrowserID form)."""
        numbers = self._key.public_key().public_numbers()
        if isinstance(numbers, rsa.RSAPublicNumbers):
            return PublicKey("RS", n=numbers.n, e=numbers.e).to_json_dict()
        group = numbers.parameter_numbers
        return PublicKey("DS", y=numbers.y, p=group.p, q=group.q, g=group.g).to_json_dict()

    def sign(self, data: bytes) -> bytes:
        """The raw BrowserID signature of data (PKCS#1 v1.5, or DSA r || s fixed width)."""
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(self._key.sign(data, hashes.SHA256()))
        return r.to_bytes(_DS256_WIDTH, "big") + s.to_bytes(_DS256_WIDTH, "big")


def _server_algorithm(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size == 2048:
            return "RS256"
        raise ValueError(f"unsupported RSA signing key of {key.key_size} bits: RS256 needs RSA-2048")
    if isinstance(key, dsa.DSAPrivateKey):
        q_bits = key.parameters().parameter_numbers().q.bit_length()
        if (key.key_size, q_bits) == (2048, 256):
            return "DS256"
        raise ValueError(f"unsupported DSA signing key {key.key_size}/{q_bits}: DS256 needs DSA-2048/256")
    raise ValueError(f"unsupported signing key type {type(key).__name__}: "
                     "use RSA-2048 (RS256) or DSA-2048/256 (DS256)")


def generate_signing_key(kind: str = "RS", bits: int = 2048) -> bytes:
    """A new server signing key as unencrypted PKCS#8 PEM: ("RS", 2048) or ("DS", 2048)."""
    if (kind, bits) == ("RS", 2048):
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif (kind, bits) == ("DS", 2048):
        key = dsa.generate_private_key(key_size=2048)
    else:
        raise ValueError(f"unsupported signing key {kind}-{bits}: use RS-2048 or DS-2048")
    SigningKey(key)  # make sure the result is usable (DSA-2048 must have a 256-bit q)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_signing_key(pem: bytes) -> SigningKey:
    """Load the server key from unencrypted PEM; ValueError if unreadable or unsupported."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"the signing key is not a readable unencrypted PEM private key: {exc}") from None
    return SigningKey(key)


def sign_certificate(signing_key: SigningKey, *, public_key: PublicKey, email: str, issuer: str,
                     issued_at_ms: int, expires_at_ms: int, extra_claims: dict) -> str:
    """A BrowserID certificate for public_key, as ``header.payload.signature``.

    Claims: ``public-key`` (canonical form), ``principal`` {"email": email}, ``iat``
    and ``exp`` (integer milliseconds, exp > iat), ``iss`` (issuer host), then
    extra_claims, which must be JSON-serialisable and may not override those.
    Raises ValueError (or TypeError) on bad arguments.
    """
    if not isinstance(public_key, PublicKey):
        raise TypeError("public_key must be a PublicKey (see parse_public_key)")
    if not isinstance(email, str) or "@" not in email:
        raise ValueError("email must be a string with an @")
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("issuer must be a non-empty string")
    for ms in (issued_at_ms, expires_at_ms):
        if not is_int(ms) or ms < MIN_TIMESTAMP_MS:
            raise ValueError(f"timestamps are integer milliseconds since the epoch, not {ms!r}")
    if expires_at_ms <= issued_at_ms:
        raise ValueError("expires_at_ms must be after issued_at_ms")
    clash = RESERVED_CLAIMS.intersection(extra_claims)
    if clash:
        raise ValueError(f"extra_claims may not set {sorted(clash)}")
    claims = {"public-key": public_key.to_json_dict(), "principal": {"email": email},
              "iat": issued_at_ms, "exp": expires_at_ms, "iss": issuer, **extra_claims}
    signed = _b64_json({"alg": signing_key.algorithm}) + "." + _b64_json(claims)
    return signed + "." + _b64encode(signing_key.sign(signed.encode("ascii")))


def _b64_json(obj: dict) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return _b64encode(text.encode("utf-8"))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def verify_certificate(cert: str, public_key_document: dict) -> dict:
    """Check cert's signature against a ``public-key`` document and return its claims.

    The header's alg must be the one the document's key implies (RS256 or DS256).
    Only the signature is checked: the caller judges ``exp``, ``iss`` and the rest.
    Raises ValueError if the certificate is malformed or the signature is bad.
    """
    parts = cert.split(".") if isinstance(cert, str) else []
    if len(parts) != 3 or not all(_B64URL.fullmatch(part) for part in parts):
        raise ValueError("malformed certificate: expected three base64url parts")
    header = _decode_json_part(parts[0], "header")
    claims = _decode_json_part(parts[1], "payload")
    alg, verify = _verifier(public_key_document)
    if header.get("alg") != alg:
        raise ValueError(f"certificate alg {header.get('alg')!r} does not match the key ({alg})")
    try:
        verify(_b64decode(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"))
    except (InvalidSignature, ValueError):
        raise ValueError("bad certificate signature") from None
    return claims


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_json_part(part: str, what: str) -> dict:
    try:
        value = json.loads(_b64decode(part).decode("utf-8"))
    except (ValueError, RecursionError):
        raise ValueError(f"malformed certificate {what}") from None
    if not isinstance(value, dict):
        raise ValueError(f"malformed certificate {what}: not a JSON object")
    return value


def _verifier(document: dict) -> tuple[str, Callable[[bytes, bytes], None]]:
    """(alg, verify(signature, data)) for a public-key document; verify raises InvalidSignature."""
    try:
        if document["algorithm"] == "RS":
            e, n = int(document["e"], 10), int(document["n"], 10)
            rsa_key = rsa.RSAPublicNumbers(e, n).public_key()
            if rsa_key.key_size == 2048:
                return "RS256", lambda sig, data: rsa_key.verify(
                    sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif document["algorithm"] == "DS":
            y, p, q, g = (int(document[f], 16) for f in DS_FIELDS)
            dsa_key = dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()
            if (dsa_key.key_size, q.bit_length()) == (2048, 256):
                return "DS256", lambda sig, data: _verify_ds256(dsa_key, q, sig, data)
    except (KeyError, TypeError, ValueError, UnsupportedAlgorithm):
        raise ValueError("unusable public key document") from None
    raise ValueError("unsupported public key document: expected RSA-2048 or DSA-2048/256")


def _verify_ds256(key: dsa.DSAPublicKey, q: int, signature: bytes, data: bytes) -> None:
    if len(signature) > 2 * _DS256_WIDTH:
        raise InvalidSignature()
    signature = signature.rjust(2 * _DS256_WIDTH, b"\0")  # verifiers restore stripped zeros
    r = int.from_bytes(signature[:_DS256_WIDTH], "big")
    s = int.from_bytes(signature[_DS256_WIDTH:], "big")
    if not (0 < r < q and 0 < s < q):
        raise InvalidSignature()
    key.verify(encode_dss_signature(r, s), data, hashes.SHA256())


def principal_uuid(secret: bytes, msisdn: str) -> str:
    """A stable UUID for msisdn: HMAC-SHA256(secret, msisdn UTF-8), first 16 bytes,
    version 4 and RFC 4122 variant bits set; lowercase hyphenated string.

    Use a secret dedicated to this purpose: the result is public (principal.email).
    """
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("secret must be non-empty bytes")
    if not isinstance(msisdn, str) or not msisdn:
        raise ValueError("msisdn must be a non-empty string")
    digest = hmac.new(secret, msisdn.encode("utf-8"), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


__all__ = ["InvalidPublicKey", "PublicKey", "SigningKey", "generate_signing_key",
           "load_signing_key", "parse_public_key", "principal_uuid", "sign_certificate",
           "verify_certificate"]
