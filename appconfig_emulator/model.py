"""Routing, parsing, validation and serialisation driven by botocore's AppConfig service model.

Nothing about the wire format is copied by hand: methods, URI templates, member locations (uri, querystring,
header, body, payload), required members, enums, lengths, ranges, patterns, status codes and error statuses
are all read at run time from `botocore/data/appconfig/2019-10-09/service-2.json`, so boto3 and the AWS CLI
see exactly what they expect and the emulator cannot drift from the SDK it is installed with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from functools import cache
from typing import Any
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, Shape

from .clock import iso8601
from .errors import ApiError, bad_request

SERVICE = botocore.session.get_session().get_service_model("appconfig")

_ERROR_CODES = frozenset(shape.name for shape in SERVICE.error_shapes)


@dataclass(frozen=True, slots=True)
class Route:
    operation: OperationModel
    method: str
    segments: tuple[str, ...]  # literal path segments; "" where a label goes
    labels: tuple[tuple[int, str], ...]  # (segment index, input member name)


def _compile_route(operation: OperationModel) -> Route:
    uri_members = {
        member.serialization.get("name", name): name
        for name, member in (operation.input_shape.members.items() if operation.input_shape else ())
        if member.serialization.get("location") == "uri"
    }
    segments: list[str] = []
    labels: list[tuple[int, str]] = []
    for index, segment in enumerate(operation.http["requestUri"].split("?")[0].split("/")):
        if segment.startswith("{") and segment.endswith("}"):
            labels.append((index, uri_members[segment[1:-1]]))
            segments.append("")
        else:
            segments.append(segment)
    return Route(operation, operation.http["method"], tuple(segments), tuple(labels))


class Router:
    """Finds the operation for a method and a raw (still percent-encoded) path."""

    def __init__(self) -> None:
        self._by_length: dict[int, list[Route]] = {}
        for name in SERVICE.operation_names:
            route = _compile_route(SERVICE.operation_model(name))
            self._by_length.setdefault(len(route.segments), []).append(route)
        for routes in self._by_length.values():
            # Literal segments win over labels when two templates could both match a path.
            routes.sort(key=lambda route: -sum(1 for segment in route.segments if segment))

    def match(self, method: str, path: str) -> tuple[OperationModel, dict[str, str]]:
        # Split before decoding: botocore percent-encodes "/" inside labels (an ARN, for example).
        parts = path.split("/")
        allowed: list[str] = []
        for route in self._by_length.get(len(parts), ()):
            if all(
                not literal or literal == part for literal, part in zip(route.segments, parts, strict=True)
            ):
                if any(not parts[index] for index, _ in route.labels):
                    continue
                if route.method != method:
                    allowed.append(route.method)
                    continue
                return route.operation, {name: unquote(parts[index]) for index, name in route.labels}
        if allowed:
            raise ApiError(
                "MethodNotAllowedException",
                f"{method} is not allowed on {path}; allowed: {', '.join(sorted(set(allowed)))}",
                status=405,
            )
        raise ApiError(
            "UnknownOperationException", f"No AppConfig operation matches {method} {path}", status=404
        )


# --- input --------------------------------------------------------------------------------------------------


def _invalid(path: str, constraint: str) -> ApiError:
    # The wording follows AWS's own validation messages and always names the offending member.
    return bad_request(
        f"1 validation error detected: Value at '{path}' failed to satisfy constraint: "
        f"Member must {constraint}"
    )


@cache
def _pattern(regex: str) -> re.Pattern[str] | None:
    try:
        return re.compile(regex)
    except re.error:  # a pattern Python cannot read is not worth refusing a request over
        return None


def _check(shape: Shape, value: Any, path: str) -> None:
    """The constraints that apply to a value once it has its Python type."""
    meta = shape.metadata
    if isinstance(value, str) and shape.type_name == "string":
        if "enum" in meta and value not in meta["enum"]:
            raise _invalid(path, f"satisfy enum value set: [{', '.join(meta['enum'])}]")
        if "pattern" in meta and (pattern := _pattern(meta["pattern"])) and not pattern.search(value):
            raise _invalid(path, f"satisfy regular expression pattern: {meta['pattern']}")
    if isinstance(value, str | bytes | list | dict):
        if "min" in meta and len(value) < meta["min"]:
            raise _invalid(path, f"have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            raise _invalid(path, f"have length less than or equal to {meta['max']}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            raise _invalid(path, f"have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            raise _invalid(path, f"have value less than or equal to {meta['max']}")


def _from_text(shape: Shape, text: str, path: str) -> Any:
    """A value that arrived in the URI, the query string or a header."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            value: Any = int(text)
        elif kind in ("float", "double"):
            value = float(text)
        elif kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            value = text.lower() == "true"
        else:
            value = text
    except ValueError:
        raise _invalid(path, f"be of type {kind}") from None
    _check(shape, value, path)
    return value


def _from_json(shape: Shape, value: Any, path: str) -> Any:
    """A value from a JSON body, converted and validated recursively; unknown keys are ignored as AWS does."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _invalid(path, "be an object")
        params = _body_members(shape, value, path + ".")
        _require(shape, params, path + ".")
        return params
    if kind == "list":
        if not isinstance(value, list):
            raise _invalid(path, "be a list")
        _check(shape, value, path)
        return [_from_json(shape.member, item, f"{path}[{index}]") for index, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _invalid(path, "be an object")
        _check(shape, value, path)
        return {
            _from_json(shape.key, key, f"{path}.key"): _from_json(shape.value, item, f"{path}[{key}]")
            for key, item in value.items()
        }
    # AppConfig's JSON inputs hold only these scalar kinds (no blobs, no timestamps).
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "boolean": bool,
        "integer": int,
        "long": int,
        "float": (int, float),
        "double": (int, float),
    }
    # bool is an int in Python but never a number on the wire.
    if not isinstance(value, expected[kind]) or (kind != "boolean" and isinstance(value, bool)):
        raise _invalid(path, f"be of type {kind}")
    if kind in ("float", "double"):
        value = float(value)
    _check(shape, value, path)
    return value


def _body_members(shape: Shape, body: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The members of a structure that travel in a JSON document (not in the URI or headers)."""
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        if member.serialization.get("location"):
            continue
        key = member.serialization.get("name", name)
        if body.get(key) is not None:
            params[name] = _from_json(member, body[key], prefix + name)
    return params


def _require(shape: Shape, params: Mapping[str, Any], prefix: str) -> None:
    for name in shape.required_members:
        if params.get(name) is None:
            raise _invalid(prefix + name, "not be null")


def parse_request(
    operation: OperationModel,
    uri_params: Mapping[str, str],
    query: Mapping[str, list[str]],
    headers: Message,
    body: bytes,
) -> dict[str, Any]:
    """The operation's input members, converted to Python values and validated against the model."""
    shape = operation.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            params[name] = _from_text(member, uri_params[name], name)
        elif location == "querystring" and wire_name in query:
            values = query[wire_name]
            if member.type_name == "list":
                params[name] = [_from_text(member.member, value, name) for value in values]
            else:
                params[name] = _from_text(member, values[0], name)
        elif location == "header" and headers.get(wire_name) is not None:
            params[name] = _from_text(member, headers[wire_name], name)
    if payload and shape.members[payload].type_name in ("blob", "string"):
        member = shape.members[payload]
        content: bytes | str = body if member.type_name == "blob" else body.decode("utf-8", "replace")
        _check(member, content, payload)
        params[payload] = content
    elif body.strip() or payload:
        try:
            document = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The request body is not valid JSON") from None
        if not isinstance(document, dict):
            raise bad_request("The request body must be a JSON object")
        if payload:
            params[payload] = _from_json(shape.members[payload], document, payload)
        else:
            params.update(_body_members(shape, document, ""))
    _require(shape, params, "")
    return params


# --- output -------------------------------------------------------------------------------------------------

Encoder = Callable[[Any], Any]
# None stands for "already in its JSON form": strings, integers and booleans, and lists or maps of them,
# are written as they are, which spares a function call per value on the hottest path (GetDeployment).
_encoders: dict[str, Encoder | None] = {}


def _encoder(shape: Shape) -> Encoder | None:
    """A function turning an internal value into its JSON form; compiled once per shape for speed."""
    if shape.name in _encoders:
        return _encoders[shape.name]
    kind = shape.type_name
    encode: Encoder | None = None
    if kind == "structure":
        fields: list[tuple[str, str, Encoder | None]] = []

        def encode_structure(value: Mapping[str, Any]) -> dict[str, Any]:
            # Only modelled members are written, so a handler may hand over a richer dict than the shape
            # (a full Deployment where a DeploymentSummary is expected, for example).
            document = {}
            for name, key, field in fields:
                member = value.get(name)
                if member is not None:
                    document[key] = member if field is None else field(member)
            return document

        _encoders[shape.name] = encode_structure  # registered before the members, should a shape nest itself
        fields.extend(
            (name, member.serialization.get("name", name), _encoder(member))
            for name, member in shape.members.items()
            if not member.serialization.get("location")
        )
        return encode_structure
    if kind == "list" and (item := _encoder(shape.member)) is not None:

        def encode(value: list[Any]) -> list[Any]:
            return [item(element) for element in value]

    elif kind == "map" and (item := _encoder(shape.value)) is not None:

        def encode(value: Mapping[str, Any]) -> dict[str, Any]:
            return {key: item(element) for key, element in value.items()}

    elif kind == "timestamp":
        encode = iso8601
    elif kind in ("float", "double"):
        encode = float  # 25 -> 25.0, as AWS writes GrowthFactor and PercentageComplete
    _encoders[shape.name] = encode
    return encode


def _encode(shape: Shape, value: Any) -> Any:
    encode = _encoder(shape)
    return value if encode is None else encode(value)


@cache
def _header_members(shape_name: str) -> tuple[tuple[str, str, Shape], ...]:
    """(member name, header name, shape) of an output shape's members that travel as headers."""
    return tuple(
        (name, member.serialization.get("name", name), member)
        for name, member in SERVICE.shape_for(shape_name).members.items()
        if member.serialization.get("location") == "header"
    )


def _header_text(shape: Shape, value: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def serialize_output(operation: OperationModel, output: Mapping[str, Any] | None) -> WireResponse:
    status = operation.http.get("responseCode", 200)
    shape = operation.output_shape
    if shape is None or output is None:
        return WireResponse(status, [], b"")
    headers = [
        (wire_name, _header_text(member, output[name]))
        for name, wire_name, member in _header_members(shape.name)
        if output.get(name) is not None
    ]
    payload = shape.serialization.get("payload")
    if payload is None:
        headers.append(("Content-Type", "application/json"))
        return WireResponse(status, headers, _json_bytes(_encode(shape, output)))
    member = shape.members[payload]
    value = output.get(payload)
    if member.type_name in ("blob", "string"):
        if not any(header.lower() == "content-type" for header, _ in headers):
            headers.append(("Content-Type", "application/octet-stream"))
        body = value.encode("utf-8") if isinstance(value, str) else (value or b"")
        return WireResponse(status, headers, body)
    headers.append(("Content-Type", "application/json"))
    return WireResponse(status, headers, _json_bytes(_encode(member, value or {})))


def serialize_error(error: ApiError) -> WireResponse:
    document = {"Message": error.message, **error.fields}
    if error.code in _ERROR_CODES:
        shape = SERVICE.shape_for(error.code)
        status = error.status or shape.metadata["error"]["httpStatusCode"]
        document = _encode(shape, document)
    else:
        status = error.status or 400
    headers = [("x-amzn-ErrorType", error.code), ("Content-Type", "application/json")]
    return WireResponse(status, headers, _json_bytes(document))


def operation_exists(name: str) -> bool:
    return name in SERVICE.operation_names
