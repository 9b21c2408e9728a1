"""Feishu's event encryption and request signature, as the Open Platform documents them.

With an Encrypt Key set, Feishu posts events as `{"encrypt": base64(iv + AES-256-CBC(json))}`,
keyed by sha256(Encrypt Key), and signs each request with
sha256(timestamp + nonce + Encrypt Key + raw body) in `X-Lark-Signature`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad

__all__ = ["decrypt", "encrypt", "signature", "signature_ok"]

_BLOCK = AES.block_size


def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode()).digest()


def encrypt(encrypt_key: str, plaintext: str) -> str:
    """base64(iv + ciphertext) of `plaintext`, the way Feishu fills the "encrypt" field."""
    iv = os.urandom(_BLOCK)
    cipher = AES.new(_key(encrypt_key), AES.MODE_CBC, iv)
    sealed = cipher.encrypt(pad(plaintext.encode(), _BLOCK, style="pkcs7"))
    return base64.b64encode(iv + sealed).decode("ascii")


def decrypt(encrypt_key: str, encrypted: str) -> str:
    """The plaintext of an "encrypt" field; ValueError for anything that is not one."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("encrypted event is not valid base64") from None
    # The IV plus at least one block: anything shorter cannot have come from `encrypt`.
    if len(raw) < 2 * _BLOCK or len(raw) % _BLOCK:
        raise ValueError("encrypted event has an impossible length")
    cipher = AES.new(_key(encrypt_key), AES.MODE_CBC, raw[:_BLOCK])
    try:
        padded = unpad(cipher.decrypt(raw[_BLOCK:]), _BLOCK, style="pkcs7")
    except ValueError:
        # Mostly a wrong key; the padding is the only integrity check CBC gives.
        raise ValueError("encrypted event does not decrypt (wrong key or tampered)") from None
    try:
        return padded.decode()
    except UnicodeDecodeError:
        raise ValueError("decrypted event is not UTF-8 (wrong key or tampered)") from None


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """The X-Lark-Signature Feishu sends with an event whose raw body is `body`."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def signature_ok(timestamp: str, nonce: str, encrypt_key: str, body: bytes, given: str) -> bool:
    """Whether `given` is the signature of this request, compared in constant time."""
    expected = signature(timestamp, nonce, encrypt_key, body)
    return hmac.compare_digest(expected.encode(), given.encode())
