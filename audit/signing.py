"""HMAC-SHA256 signatures over the console's own documents: audit export manifests now, a deployment's
evidence pack later. A valid signature shows the document came from this console (from whoever holds its
key) and was not changed since.

The key:
- "configured": AUDIT_EXPORT_SIGNING_KEY. The signature is HMAC-SHA256 keyed with the setting's UTF-8
  bytes, so anyone given the key can check it with any HMAC tool
  (`openssl dgst -sha256 -hmac KEY`).
- "derived" (the setting is empty): Django's `salted_hmac(SALT, payload, SECRET_KEY, "sha256")`, that is
  HMAC-SHA256 keyed with SHA-256(SALT + SECRET_KEY). Only this console (whoever holds its SECRET_KEY) can
  check it; a signature made before SECRET_KEY was rotated still checks while the old key is in
  SECRET_KEY_FALLBACKS, as with Django's own signing.

A signed document (a JSON object) gets `signature_algorithm` and `signature_key` (which key, above), both
covered by the signature, and `signature`: the hex HMAC of the document without `signature` as canonical
JSON (keys sorted, no whitespace, UTF-8, see `audit.chain.canonical_json`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from audit.chain import canonical_json

ALGORITHM = "HMAC-SHA256"
CONFIGURED = "configured"
DERIVED = "derived"
SALT = "appconfig-console.audit.signing"
RULE = (
    "signature = hex HMAC-SHA256 of the canonical JSON of this object without `signature` (keys sorted, no "
    "whitespace, UTF-8); signature_key configured: keyed with AUDIT_EXPORT_SIGNING_KEY's UTF-8 bytes; "
    "derived: keyed with SHA-256(salt + the console's SECRET_KEY), checkable by the console only"
)
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def key_kind() -> str:
    """Which key `sign` uses now: CONFIGURED or DERIVED."""
    return CONFIGURED if settings.AUDIT_EXPORT_SIGNING_KEY else DERIVED


def _signature(payload: bytes, kind: str, secret: str) -> str:
    if kind == CONFIGURED:
        return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return salted_hmac(SALT, payload, secret=secret, algorithm="sha256").hexdigest()


def _secrets(kind: str) -> list[str]:
    if kind == CONFIGURED:
        return [settings.AUDIT_EXPORT_SIGNING_KEY] if settings.AUDIT_EXPORT_SIGNING_KEY else []
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def sign(payload: bytes) -> str:
    """The hex HMAC-SHA256 of `payload` with the current key (`key_kind()`)."""
    kind = key_kind()
    return _signature(payload, kind, _secrets(kind)[0])


def verify(payload: bytes, signature: Any, *, key: str | None = None) -> bool:
    """Whether `signature` is `payload`'s signature with the `key` kind (default: the current one)."""
    kind = key or key_kind()
    if kind not in (CONFIGURED, DERIVED) or not isinstance(signature, str):
        return False
    # Malformed signatures (non-ASCII ones would make compare_digest raise) never match.
    if not _SIGNATURE.fullmatch(signature):
        return False
    return any(hmac.compare_digest(_signature(payload, kind, secret), signature) for secret in _secrets(kind))


def _payload(document: dict[str, Any]) -> bytes:
    return canonical_json({name: value for name, value in document.items() if name != "signature"}).encode()


def signed(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with its signature fields, signed with the current key."""
    body = {**document, "signature_algorithm": ALGORITHM, "signature_key": key_kind()}
    body.pop("signature", None)
    return {**body, "signature": sign(_payload(body))}


def signature_problem(document: Any) -> str:
    """Why `document`'s signature does not hold, as "it ..." ("" when it holds)."""
    if not isinstance(document, dict):
        return "it is not a JSON object"
    if "signature" not in document:
        return "it is not signed"
    if document.get("signature_algorithm") != ALGORITHM:
        return f"it is signed with an unknown algorithm {document.get('signature_algorithm')!r}"
    kind = document.get("signature_key")
    if kind not in (CONFIGURED, DERIVED):
        return f"it is signed with an unknown key {kind!r}"
    if not _secrets(kind):
        return "it is signed with a configured key, and AUDIT_EXPORT_SIGNING_KEY is not set here"
    try:
        payload = _payload(document)
    except ValueError:  # NaN, or a lone surrogate: nothing this console signs
        return "it is not canonical JSON"
    if not verify(payload, document["signature"], key=kind):
        return f"its signature does not match (changed since, or signed with another {kind} key)"
    return ""
