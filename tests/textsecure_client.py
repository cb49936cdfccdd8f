"""A TextSecure registration client written from the seed (the spec's
/work/shared/spec/textsecure-registration-api.txt, issue 15): what a TextSecure app
sends, with ``requests``. Used by the HTTP tests and the end-to-end tests."""
from __future__ import annotations

import base64
import hashlib
import os
import re

import requests

LAST_RESORT_KEY_ID = 0xFFFFFF


def unpadded(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def curve25519_public_key() -> str:
    """A stand-in Curve25519 public key: 0x05 and 32 random bytes, base64 unpadded."""
    return unpadded(b"\x05" + os.urandom(32))


def contact_token(number: str) -> str:
    """Base64(SHA1(E164number)[0:10]) without padding."""
    return unpadded(hashlib.sha1(number.encode()).digest()[:10])


def code_of(sms_text: str) -> str:
    """The code of ``Your TextSecure verification code: 123-456`` (any language)."""
    return re.search(r"\b([0-9]{3}-[0-9]{3})\b", sms_text).group(1)


class TextSecureClient:
    """One installation: its number, the password and signaling key it generated."""

    def __init__(self, url: str, number: str, session: requests.Session | None = None):
        self.url, self.number = url.rstrip("/"), number
        self.password = unpadded(os.urandom(16))
        self.signaling_key = base64.b64encode(os.urandom(52)).decode("ascii")
        self.identity_key = curve25519_public_key()
        self.http = session or requests.Session()

    @property
    def auth(self) -> tuple[str, str]:
        return self.number, self.password

    def request_code(self, transport: str = "sms", number: str | None = None, **kwargs):
        return self.http.get(f"{self.url}/v1/accounts/{transport}/code/"
                             f"{number or self.number}", **kwargs)

    def confirm(self, code: str, supports_sms: bool = False, **kwargs):
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("json", {"signalingKey": self.signaling_key,
                                   "supportsSms": supports_sms})
        return self.http.put(f"{self.url}/v1/accounts/code/{code}", **kwargs)

    def register_push(self, kind: str, registration_id: str, **kwargs):
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("json", {f"{kind}RegistrationId": registration_id})
        return self.http.put(f"{self.url}/v1/accounts/{kind}/", **kwargs)

    def unregister_push(self, kind: str, **kwargs):
        kwargs.setdefault("auth", self.auth)
        return self.http.delete(f"{self.url}/v1/accounts/{kind}/", **kwargs)

    def prekey(self, key_id: int) -> dict:
        return {"keyId": key_id, "publicKey": curve25519_public_key(),
                "identityKey": self.identity_key}

    def register_prekeys(self, count: int = 3, **kwargs):
        self.prekeys = [self.prekey(key_id) for key_id in range(1, count + 1)]
        self.last_resort_key = self.prekey(LAST_RESORT_KEY_ID)
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("json", {"lastResortKey": self.last_resort_key,
                                   "keys": self.prekeys})
        return self.http.put(f"{self.url}/v1/keys/", **kwargs)

    def fetch_prekey(self, number: str, **kwargs):
        kwargs.setdefault("auth", self.auth)
        return self.http.get(f"{self.url}/v1/keys/{number}", **kwargs)

    def contacts(self, numbers: list[str], **kwargs):
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("json", {"contacts": [contact_token(n) for n in numbers]})
        return self.http.put(f"{self.url}/v1/directory/tokens", **kwargs)

    def contact(self, number: str, **kwargs):
        kwargs.setdefault("auth", self.auth)
        token = contact_token(number).replace("/", "%2F")
        return self.http.get(f"{self.url}/v1/directory/{token}", **kwargs)
