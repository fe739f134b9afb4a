"""STS GetCallerIdentity at the emulator's endpoint, so that a client can learn the AWS account id behind its
credentials (`boto3.client("sts", endpoint_url=emulator.url).get_caller_identity()`).

STS speaks the query protocol, not AppConfig's rest-json: a form-encoded `POST /` (or a `GET /?Action=...`)
naming the Action, answered in XML. The root path is no AppConfig route, so the two never meet. Only
GetCallerIdentity is answered; any other Action gets STS's own `InvalidAction` error. The account is the
emulator's (`--account-id`); the caller is named by the access key id of the SigV4 signature.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from email.message import Message
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from .model import WireResponse

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
COUNTER_NAME = "sts:GetCallerIdentity"  # its key in the call counters, next to AppConfig's operation names


def action_of(
    method: str, path: str, query: Mapping[str, list[str]], headers: Message, body: bytes
) -> str | None:
    """The STS Action a request asks for, or None when it is not a query-protocol request."""
    if path != "/" or method not in ("GET", "POST"):
        return None
    params = dict(query)
    if method == "POST" and headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
    actions = params.get("Action")
    return actions[0] if actions else None


def _xml(status: int, document: str, request_id: str) -> WireResponse:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n{document}\n'.encode()
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return WireResponse(status, headers, body)


def respond(action: str, *, account_id: str, access_key_id: str | None) -> WireResponse:
    request_id = str(uuid.uuid4())
    if action != "GetCallerIdentity":
        message = escape(f"Could not find operation {action} for version 2011-06-15 in appconfig_emulator")
        return _xml(
            400,
            f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>InvalidAction</Code>'
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
            request_id,
        )
    user = access_key_id or "anonymous"
    return _xml(
        200,
        f'<GetCallerIdentityResponse xmlns="{NAMESPACE}"><GetCallerIdentityResult>'
        f"<Arn>{escape(f'arn:aws:iam::{account_id}:user/{user}')}</Arn>"
        f"<UserId>{escape(user)}</UserId><Account>{escape(account_id)}</Account>"
        f"</GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId>"
        "</ResponseMetadata></GetCallerIdentityResponse>",
        request_id,
    )
