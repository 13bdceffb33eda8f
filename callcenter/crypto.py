"""Field encryption for sensitive personal data at rest (GB/T 35273 §6.3, A §6.4).

ID numbers are sealed with AES-256-GCM under a key derived from the product's
secret key; a keyed blind index (HMAC-SHA256) lets the store enforce uniqueness
and look an ID up by exact value without ever holding it in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"v1"


class FieldCipher:
    """Seal and open small text fields; compute their blind index."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"callcenter/field-encryption/" + secret).digest()
        self._index_key = hashlib.sha256(b"callcenter/blind-index/" + secret).digest()
        self._aead = AESGCM(self._key)

    def seal(self, plaintext: str) -> str:
        """Encrypt ``plaintext``; the result is ASCII, safe for any text column."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), _VERSION)
        return (_VERSION + b":" + base64.urlsafe_b64encode(nonce + sealed)).decode()

    def open(self, token: str) -> str:
        """Decrypt a value made by :meth:`seal`."""
        version, _, body = token.encode().partition(b":")
        raw = base64.urlsafe_b64decode(body)
        return self._aead.decrypt(raw[:12], raw[12:], version).decode()

    def blind_index(self, value: str) -> str:
        """A keyed hash of ``value`` for equality look-ups."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def mask_id_number(value: str) -> str:
    """Show an ID number as its first six and last digit: 120104194501011234 → 120104***********4."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 7) + value[-1]
