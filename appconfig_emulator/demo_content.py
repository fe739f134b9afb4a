"""What the demo's configuration profiles hold: for every demo application, a feature-flag profile
(AWS.AppConfig.FeatureFlags) and a JSON settings document, plus a YAML document for `search`, each with a few
hosted versions that tell a small story (flags added, toggled, retired; limits raised; an index switched).

Every version is written out from the first one and a list of edits, so that consecutive versions differ by
exactly what their description says. The feature-flag documents follow AppConfig's format:
`{"version": "1", "flags": {name: {"name", "description", "attributes", "_deprecation"?}}, "values": {name:
{"enabled", <attribute>: value}}}`, attributes carrying `constraints` (type, enum, minimum/maximum, elements).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

FEATURE_FLAGS = "AWS.AppConfig.FeatureFlags"
FREEFORM = "AWS.Freeform"


@dataclass(frozen=True, slots=True)
class ProfileContent:
    name: str
    description: str
    type: str
    content_type: str
    versions: tuple[tuple[str, bytes], ...]  # (description, content), version 1 first


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _number(minimum: float, maximum: float) -> dict[str, Any]:
    return {"constraints": {"type": "number", "minimum": minimum, "maximum": maximum, "required": True}}


def _choice(*values: str) -> dict[str, Any]:
    return {"constraints": {"type": "string", "enum": list(values), "required": True}}


def _flag_versions(
    flags: dict[str, Any], values: dict[str, Any], changes: list[tuple[str, list[tuple[Any, ...]]]]
) -> tuple[tuple[str, bytes], ...]:
    """Edits: ("on"|"off", flag), ("set", flag, attribute, value), ("add", flag, definition, values),
    ("remove", flag)."""
    document = {"version": "1", "flags": copy.deepcopy(flags), "values": copy.deepcopy(values)}
    versions = [("Initial flags", _dump(document))]
    for description, edits in changes:
        for edit in edits:
            kind, flag = edit[0], edit[1]
            if kind in ("on", "off"):
                document["values"][flag]["enabled"] = kind == "on"
            elif kind == "set":
                document["values"][flag][edit[2]] = edit[3]
            elif kind == "add":
                document["flags"][flag] = edit[2]
                document["values"][flag] = edit[3]
            elif kind == "remove":
                del document["flags"][flag], document["values"][flag]
        versions.append((description, _dump(document)))
    return tuple(versions)


def _settings_versions(
    settings: dict[str, Any], changes: list[tuple[str, list[tuple[str, Any]]]]
) -> tuple[tuple[str, bytes], ...]:
    """Edits: (dotted path, new value)."""
    document = copy.deepcopy(settings)
    versions = [("Initial settings", _dump(document))]
    for description, edits in changes:
        for path, value in edits:
            *parents, key = path.split(".")
            place = document
            for parent in parents:
                place = place[parent]
            place[key] = value
        versions.append((description, _dump(document)))
    return tuple(versions)


def _flags(application: str, versions: tuple[tuple[str, bytes], ...]) -> ProfileContent:
    return ProfileContent(
        "feature-flags", f"Feature flags of {application}", FEATURE_FLAGS, "application/json", versions
    )


def _settings(application: str, versions: tuple[tuple[str, bytes], ...]) -> ProfileContent:
    return ProfileContent(
        "settings", f"Runtime settings of {application}", FREEFORM, "application/json", versions
    )


PAYMENTS = (
    _flags(
        "payments-api",
        _flag_versions(
            {
                "instant_refunds": {
                    "name": "Instant refunds",
                    "description": "Refund card payments at once instead of at the nightly settlement run",
                    "attributes": {"max_amount_eur": _number(0, 5000)},
                },
                "3ds_challenge": {
                    "name": "3-D Secure challenge",
                    "description": "Ask the issuer for a 3-D Secure challenge above the exemption threshold",
                    "attributes": {"exemption_threshold_eur": _number(0, 500)},
                },
                "legacy_tokenizer": {
                    "name": "Legacy card tokenizer",
                    "description": "Tokenise cards with the v1 vault",
                    "_deprecation": {"status": "planned"},
                },
            },
            {
                "instant_refunds": {"enabled": False, "max_amount_eur": 100},
                "3ds_challenge": {"enabled": True, "exemption_threshold_eur": 30},
                "legacy_tokenizer": {"enabled": True},
            },
            [
                ("Enable instant refunds up to 100 EUR", [("on", "instant_refunds")]),
                (
                    "Add wallet_pay (Apple Pay only), off",
                    [
                        (
                            "add",
                            "wallet_pay",
                            {
                                "name": "Wallet payments",
                                "description": "Offer Apple Pay and Google Pay at checkout",
                                "attributes": {
                                    "providers": {
                                        "constraints": {
                                            "type": "array",
                                            "elements": {
                                                "type": "string",
                                                "enum": ["apple_pay", "google_pay"],
                                            },
                                        }
                                    }
                                },
                            },
                            {"enabled": False, "providers": ["apple_pay"]},
                        )
                    ],
                ),
                (
                    "Instant refunds up to 500 EUR; 3-D Secure exemption up to 50 EUR",
                    [
                        ("set", "instant_refunds", "max_amount_eur", 500),
                        ("set", "3ds_challenge", "exemption_threshold_eur", 50),
                    ],
                ),
                (
                    "Turn on wallet_pay with Google Pay too; retire legacy_tokenizer",
                    [
                        ("on", "wallet_pay"),
                        ("set", "wallet_pay", "providers", ["apple_pay", "google_pay"]),
                        ("remove", "legacy_tokenizer"),
                    ],
                ),
            ],
        ),
    ),
    _settings(
        "payments-api",
        _settings_versions(
            {
                "log_level": "info",
                "http": {"timeout_ms": 2500, "retries": 2},
                "settlement": {"batch_size": 500, "cutoff_utc": "22:00"},
                "providers": {"primary": "adyen", "fallback": "stripe"},
            },
            [
                ("Shorter HTTP timeout, one more retry", [("http.timeout_ms", 1500), ("http.retries", 3)]),
                (
                    "Debug logging while settlement runs late; smaller batches",
                    [("log_level", "debug"), ("settlement.batch_size", 250)],
                ),
                (
                    "Back to info logging; settlement cut-off at 23:00",
                    [("log_level", "info"), ("settlement.cutoff_utc", "23:00")],
                ),
            ],
        ),
    ),
)

CHECKOUT = (
    _flags(
        "checkout-web",
        _flag_versions(
            {
                "one_page_checkout": {
                    "name": "One-page checkout",
                    "description": "Address, shipping and payment on a single page",
                    "attributes": {"audience": _choice("internal", "beta", "everyone")},
                },
                "address_autocomplete": {
                    "name": "Address autocomplete",
                    "description": "Suggest addresses while the customer types",
                    "attributes": {"provider": _choice("google", "loqate")},
                },
                "guest_checkout": {"name": "Guest checkout", "description": "Buy without an account"},
            },
            {
                "one_page_checkout": {"enabled": True, "audience": "internal"},
                "address_autocomplete": {"enabled": False, "provider": "google"},
                "guest_checkout": {"enabled": True},
            },
            [
                (
                    "Open one-page checkout to beta customers",
                    [("set", "one_page_checkout", "audience", "beta")],
                ),
                (
                    "Enable address autocomplete with Loqate",
                    [("on", "address_autocomplete"), ("set", "address_autocomplete", "provider", "loqate")],
                ),
                (
                    "Add express_shipping_badge, on, 14:00 cut-off",
                    [
                        (
                            "add",
                            "express_shipping_badge",
                            {
                                "name": "Express shipping badge",
                                "description": "Show 'arrives tomorrow' for orders before the cut-off",
                                "attributes": {"cutoff_hour": _number(0, 23)},
                            },
                            {"enabled": True, "cutoff_hour": 14},
                        )
                    ],
                ),
                (
                    "One-page checkout for everyone; turn off guest checkout",
                    [("set", "one_page_checkout", "audience", "everyone"), ("off", "guest_checkout")],
                ),
            ],
        ),
    ),
    _settings(
        "checkout-web",
        _settings_versions(
            {
                "log_level": "warn",
                "session_ttl_minutes": 30,
                "cart": {"max_items": 50, "reservation_minutes": 15},
                "cdn": {"images": "https://images.example.com", "cache_seconds": 300},
            },
            [
                ("Hold cart items for 20 minutes", [("cart.reservation_minutes", 20)]),
                ("Cache product images for an hour", [("cdn.cache_seconds", 3600)]),
                (
                    "Sessions last an hour; up to 100 items in a cart",
                    [("session_ttl_minutes", 60), ("cart.max_items", 100)],
                ),
            ],
        ),
    ),
)

SHARED_FLAGS = (
    _flags(
        "feature-flags",
        _flag_versions(
            {
                "dark_mode": {
                    "name": "Dark mode",
                    "description": "Offer a dark theme",
                    "attributes": {"default_theme": _choice("light", "dark", "system")},
                },
                "new_navigation": {
                    "name": "New navigation",
                    "description": "The redesigned top navigation, for a share of users",
                    "attributes": {"percentage": _number(0, 100)},
                },
                "beta_banner": {
                    "name": "Beta banner",
                    "description": "A banner inviting users to try what is new",
                    "attributes": {"message": {"constraints": {"type": "string", "required": True}}},
                },
            },
            {
                "dark_mode": {"enabled": False, "default_theme": "system"},
                "new_navigation": {"enabled": True, "percentage": 10},
                "beta_banner": {"enabled": True, "message": "Try the new navigation"},
            },
            [
                ("Enable dark mode, following the system setting", [("on", "dark_mode")]),
                ("New navigation for 50 % of users", [("set", "new_navigation", "percentage", 50)]),
                ("Retire the beta banner", [("remove", "beta_banner")]),
                (
                    "New navigation for everyone; add holiday_theme, off",
                    [
                        ("set", "new_navigation", "percentage", 100),
                        (
                            "add",
                            "holiday_theme",
                            {
                                "name": "Holiday theme",
                                "description": "Seasonal colours and artwork",
                                "attributes": {"theme": _choice("winter", "spring")},
                            },
                            {"enabled": False, "theme": "winter"},
                        ),
                    ],
                ),
            ],
        ),
    ),
    _settings(
        "feature-flags",
        _settings_versions(
            {
                "log_level": "info",
                "evaluation": {"cache_seconds": 45, "fail_open": True},
                "audiences": ["internal", "beta"],
            },
            [
                ("Refresh flags every 15 seconds", [("evaluation.cache_seconds", 15)]),
                ("Add the partners audience", [("audiences", ["internal", "beta", "partners"])]),
                ("Fail closed when the flags cannot be read", [("evaluation.fail_open", False)]),
            ],
        ),
    ),
)

_RANKING_RULES = (
    (
        "Initial ranking rules",
        """# Ranking rules for product search
boosts:
  - field: in_stock
    weight: 2.0
  - field: rating
    weight: 1.2
penalties:
  - field: days_since_restock
    weight: 0.1
pinned: []
""",
    ),
    (
        "Pin the gift card for 'gift' queries",
        """# Ranking rules for product search
boosts:
  - field: in_stock
    weight: 2.0
  - field: rating
    weight: 1.2
penalties:
  - field: days_since_restock
    weight: 0.1
pinned:
  - query: gift
    sku: GC-0050
""",
    ),
    (
        "Weigh ratings more; boost margin",
        """# Ranking rules for product search
boosts:
  - field: in_stock
    weight: 2.0
  - field: rating
    weight: 1.5
  - field: margin
    weight: 0.5
penalties:
  - field: days_since_restock
    weight: 0.1
pinned:
  - query: gift
    sku: GC-0050
""",
    ),
)

SEARCH = (
    _flags(
        "search",
        _flag_versions(
            {
                "semantic_ranking": {
                    "name": "Semantic ranking",
                    "description": "Blend embedding similarity into the ranking",
                    "attributes": {"model": _choice("minilm-v2", "e5-base"), "weight": _number(0, 1)},
                },
                "typo_tolerance": {
                    "name": "Typo tolerance",
                    "description": "Match queries with spelling mistakes",
                    "attributes": {"max_edits": _number(0, 2)},
                },
            },
            {
                "semantic_ranking": {"enabled": False, "model": "minilm-v2", "weight": 0.3},
                "typo_tolerance": {"enabled": True, "max_edits": 1},
            },
            [
                ("Try semantic ranking with MiniLM at weight 0.3", [("on", "semantic_ranking")]),
                ("Allow two typos per query", [("set", "typo_tolerance", "max_edits", 2)]),
                (
                    "Add synonyms, off",
                    [
                        (
                            "add",
                            "synonyms",
                            {
                                "name": "Synonyms",
                                "description": "Expand queries with a synonym dictionary",
                                "attributes": {"dictionary": _choice("en-basic", "en-retail")},
                            },
                            {"enabled": False, "dictionary": "en-retail"},
                        )
                    ],
                ),
                (
                    "Semantic ranking with E5 at weight 0.5; synonyms on",
                    [
                        ("set", "semantic_ranking", "model", "e5-base"),
                        ("set", "semantic_ranking", "weight", 0.5),
                        ("on", "synonyms"),
                    ],
                ),
            ],
        ),
    ),
    _settings(
        "search",
        _settings_versions(
            {
                "log_level": "info",
                "index": {"name": "products-v7", "shards": 6, "replicas": 1},
                "query": {"max_results": 48, "timeout_ms": 800},
            },
            [
                ("Two replicas for the holiday traffic", [("index.replicas", 2)]),
                ("Switch to the products-v8 index", [("index.name", "products-v8"), ("index.shards", 8)]),
                (
                    "Fewer results per page, tighter timeout",
                    [("query.max_results", 24), ("query.timeout_ms", 500)],
                ),
            ],
        ),
    ),
    ProfileContent(
        "ranking-rules",
        "Boosts, penalties and pinned results of search",
        FREEFORM,
        "application/x-yaml",
        tuple((description, text.encode("utf-8")) for description, text in _RANKING_RULES),
    ),
)

# Application name -> (description, profiles), in the order the demo creates them.
APPLICATIONS: dict[str, tuple[str, tuple[ProfileContent, ...]]] = {
    "payments-api": ("Card and wallet payments", PAYMENTS),
    "checkout-web": ("The storefront's checkout pages", CHECKOUT),
    "feature-flags": ("Flags shared by every service", SHARED_FLAGS),
    "search": ("Product search and ranking", SEARCH),
}
