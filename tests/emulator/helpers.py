"""Helpers of the emulator's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def make_client(endpoint_url: str, access_key_id: str = "AKIDTEST", **config: Any) -> Any:
    return boto3.client(
        "appconfig",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=access_key_id,
        aws_secret_access_key="x",
        config=Config(**config) if config else None,
    )


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    """A plain HTTP request, for what boto3 would never send."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return RawResponse(response.status, response.headers, response.read())
    finally:
        connection.close()
