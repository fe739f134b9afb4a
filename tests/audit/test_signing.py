"""audit.signing: HMAC-SHA256 over the console's documents, with a configured key or one derived from
SECRET_KEY (security review, issue 12, finding B)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from audit import signing
from audit.chain import canonical_json

KEY = "k" * 40


def test_it_signs_with_a_key_derived_from_secret_key_by_default(settings):
    settings.AUDIT_EXPORT_SIGNING_KEY = ""
    key = hashlib.sha256((signing.SALT + settings.SECRET_KEY).encode()).digest()  # the documented derivation
    assert signing.key_kind() == "derived"
    assert signing.sign(b"payload") == hmac.new(key, b"payload", hashlib.sha256).hexdigest()
    assert signing.verify(b"payload", signing.sign(b"payload"))


def test_it_signs_with_the_configured_key_checkable_by_any_hmac_tool(settings):
    settings.AUDIT_EXPORT_SIGNING_KEY = KEY
    assert signing.key_kind() == "configured"
    assert signing.sign(b"payload") == hmac.new(KEY.encode(), b"payload", hashlib.sha256).hexdigest()


def test_it_refuses_another_payload_or_key(settings):
    signature = signing.sign(b"payload")
    assert not signing.verify(b"payload!", signature)
    settings.SECRET_KEY = "another console's secret key, fifty characters long!"
    assert not signing.verify(b"payload", signature)


@pytest.mark.parametrize("signature", ["", "00" * 31, "é" * 64, None, 7, "A" * 64])
def test_it_refuses_a_malformed_signature_without_raising(signature):
    assert signing.verify(b"payload", signature) is False


def test_it_still_checks_a_derived_signature_after_secret_key_rotation(settings):
    signature = signing.sign(b"payload")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the new secret key, fifty characters long or so!!"
    assert signing.verify(b"payload", signature)


def test_it_signs_a_document_over_its_canonical_json_signature_fields_included(settings):
    document = signing.signed({"count": 2, "who": "zoë", "nested": {"b": 1, "a": [1, 2]}})
    assert (document["signature_algorithm"], document["signature_key"]) == ("HMAC-SHA256", "derived")
    body = {name: value for name, value in document.items() if name != "signature"}
    assert signing.verify(canonical_json(body).encode(), document["signature"])
    # Survives any JSON round trip (indentation, key order), as a downloaded manifest does.
    assert signing.signature_problem(json.loads(json.dumps(document, indent=2))) == ""


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("signature"), "it is not signed"),
        (lambda d: d.update(count=3), "its signature does not match"),
        (lambda d: d.update(signature_key="derived"), "its signature does not match"),
        (lambda d: d.update(signature_key="none"), "it is signed with an unknown key 'none'"),
        (lambda d: d.update(signature_algorithm="none"), "it is signed with an unknown algorithm 'none'"),
        (lambda d: d.update(count=float("nan")), "it is not canonical JSON"),
    ],
)
def test_it_says_why_a_document_signature_does_not_hold(settings, change, problem):
    settings.AUDIT_EXPORT_SIGNING_KEY = KEY
    document = signing.signed({"count": 2})
    change(document)
    assert signing.signature_problem(document).startswith(problem)


def test_it_cannot_check_a_configured_signature_without_the_key(settings):
    settings.AUDIT_EXPORT_SIGNING_KEY = KEY
    document = signing.signed({"count": 2})
    settings.AUDIT_EXPORT_SIGNING_KEY = ""
    assert "AUDIT_EXPORT_SIGNING_KEY is not set here" in signing.signature_problem(document)
