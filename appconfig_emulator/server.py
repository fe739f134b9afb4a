"""HTTP/1.1 with keep-alive on a thread per connection, and the path of one request through the emulator.

Several Celery workers and boto3's connection pools talk to the emulator at once and keep their connections
open, so the server is threaded and every answer carries a Content-Length. Whatever goes wrong, the client
gets an AWS-shaped error (x-amzn-ErrorType and a JSON body), never a Python traceback or a hang.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import uuid
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from . import control, model, operations, sts
from .clock import Clock
from .counters import CallCounter
from .errors import ApiError, internal_error, throttled
from .faults import FaultInjector
from .pacing import UNSIGNED, Pacing
from .state import DEFAULT_REGION, Store

log = logging.getLogger("appconfig_emulator")

ROUTER = model.Router()

# Hosted configurations may be 2 MB; a little more is read so that a too-large one gets the modelled
# PayloadTooLargeException rather than a bare refusal.
MAX_BODY_BYTES = 8 * 1024 * 1024

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,\s]+/[^/,\s]+/([^/,\s]+)/")


def access_key_id(headers: Message) -> str | None:
    """The access key id of the SigV4 signature, if the request is signed. Any credentials are accepted; the
    key id names who stopped a deployment (as the real service names the IAM identity) and picks the
    request's rate-limit bucket."""
    match = _CREDENTIAL.search(headers.get("Authorization", ""))
    return match.group(1) if match else None


def caller_of(headers: Message) -> str:
    return access_key_id(headers) or "anonymous"


def region_of(headers: Message) -> str:
    """The region of the SigV4 credential scope (`Credential=AKID/date/region/service/...`), which the ARNs
    made for the request name, as a regional endpoint would."""
    match = _CREDENTIAL_REGION.search(headers.get("Authorization", ""))
    return match.group(1) if match else DEFAULT_REGION


class Backend(control.Controls, Protocol):
    """What the request path needs from the emulator (emulator.Emulator provides it); a protocol rather than
    an import, because emulator.py imports this module."""

    store: Store
    clock: Clock
    account_id: str
    stop_response: str
    call_counter: CallCounter
    throttle_counter: CallCounter
    fault_injector: FaultInjector
    pacing: Pacing
    stopping: threading.Event  # set while stopping: wakes injected delays


@dataclass(frozen=True, slots=True)
class Outcome:
    response: model.WireResponse
    drop_after: float | None = (
        None  # apply_then_timeout: hold the connection this long, then close it unanswered
    )


def respond(emulator: Backend, method: str, target: str, headers: Message, body: bytes) -> Outcome:
    """One request, from the raw request line to the answer: route, wait out the latency, count, rate-limit,
    inject faults, parse, handle, serialise. The control interface gets neither latency nor limits."""
    url = urlsplit(target)
    try:
        if url.path.startswith(control.CONTROL_PREFIX):
            return Outcome(control.handle(emulator, method, url.path, body))
        emulator.pacing.delay()
        query = parse_qs(url.query, keep_blank_values=True)
        action = sts.action_of(method, url.path, query, headers, body)
        if action is not None:
            if action == "GetCallerIdentity":
                emulator.call_counter.increment(sts.COUNTER_NAME)
            return Outcome(
                sts.respond(action, account_id=emulator.account_id, access_key_id=access_key_id(headers))
            )
        operation, uri_params = ROUTER.match(method, url.path)
    except ApiError as error:
        return Outcome(model.serialize_error(error))

    emulator.call_counter.increment(operation.name)
    if not emulator.pacing.admit(access_key_id(headers) or UNSIGNED):
        emulator.throttle_counter.increment(operation.name)
        return Outcome(model.serialize_error(throttled()))
    fault = emulator.fault_injector.take(operation.name)
    drop_after = fault.seconds if fault and fault.kind == "apply_then_timeout" else None
    try:
        if fault and fault.kind == "throttle":
            emulator.throttle_counter.increment(operation.name)
            raise throttled()
        if fault and fault.kind == "error":
            raise internal_error(f"Injected fault on {operation.name}")
        if fault and fault.kind == "latency":
            emulator.stopping.wait(fault.seconds)
        operations.handler_for(operation.name)  # answers "not implemented" before any validation
        params = model.parse_request(operation, uri_params, query, headers, body)
        call = operations.Call(
            now=emulator.clock.now(),
            caller=caller_of(headers),
            full_stop_response=emulator.stop_response == "full",
            region=region_of(headers),
        )
        writes = operation.http["method"] != "GET"
        output = operations.run(emulator.store, operation.name, params, call, writes=writes)
        return Outcome(model.serialize_output(operation, output), drop_after)
    except ApiError as error:
        return Outcome(model.serialize_error(error), drop_after)


class EmulatorServer(ThreadingHTTPServer):
    """A daemon thread per connection, like ThreadingHTTPServer, but tracked per connection so that stop()
    can close idle keep-alive connections and join their threads (with a timeout) instead of waiting for
    clients to hang up."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Backend) -> None:
        self.emulator = emulator
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="appconfig-emulator-connection",
            daemon=self.daemon_threads,
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request: socket.socket) -> None:
        with self._connections_lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: object, client_address: object) -> None:
        # Reached only when writing to a client fails (everything else is answered as an AWS error): a client
        # that hung up, or a connection closed by stop(). Not worth a traceback on stderr.
        log.debug("Connection from %s ended abruptly", client_address, exc_info=True)

    def close_connections(self, timeout: float) -> None:
        with self._connections_lock:
            connections = list(self._connections.items())
        for connection, _ in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        for _, thread in connections:
            thread.join(timeout)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "appconfig_emulator"
    sys_version = ""
    timeout = 300  # an idle keep-alive connection is closed after five minutes; clients reconnect
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        # Small answers on a kept-alive connection must not wait for Nagle's algorithm.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(self) -> None:
        emulator = self.server.emulator
        try:
            body = self._read_body()
            if body is None:
                return
            outcome = respond(emulator, self.command, self.path, self.headers, body)
        except Exception:
            log.exception("Unhandled error while answering %s %s", self.command, self.path)
            outcome = Outcome(model.serialize_error(internal_error()))
        if outcome.drop_after is not None:
            # The operation has been applied; now behave like a network that lost the answer.
            emulator.stopping.wait(outcome.drop_after)
            self.close_connection = True
            return
        self._write(outcome.response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = answer

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a request whose body cannot be read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._refuse(HTTPStatus.BAD_REQUEST, "BadRequestException", "Invalid Content-Length")
            return None
        if length > MAX_BODY_BYTES:
            self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLargeException", "Request body too large"
            )
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk_size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            except ValueError:
                chunk_size = -1
            if chunk_size < 0:
                self._refuse(HTTPStatus.BAD_REQUEST, "BadRequestException", "Malformed chunked body")
                return None
            size += chunk_size
            if size > MAX_BODY_BYTES:
                self._refuse(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLargeException", "Request body too large"
                )
                return None
            if chunk_size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(chunk_size))
            self.rfile.readline(1024)

    def _refuse(self, status: HTTPStatus, code: str, message: str) -> None:
        # The rest of the request cannot be read reliably, so the connection cannot be reused.
        self.close_connection = True
        self._write(model.serialize_error(ApiError(code, message, status=status)))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (malformed request line, unsupported method, ...) in AWS's shape."""
        self.close_connection = True
        status = HTTPStatus(code)
        error_code = (
            "UnknownOperationException" if status == HTTPStatus.NOT_IMPLEMENTED else "BadRequestException"
        )
        self._write(model.serialize_error(ApiError(error_code, message or status.phrase, status=code)))

    def _write(self, response: model.WireResponse) -> None:
        status = HTTPStatus(response.status)
        lines = [f"HTTP/1.1 {status.value} {status.phrase}"]
        if not any(name.lower() == "x-amzn-requestid" for name, _ in response.headers):
            lines.append(f"x-amzn-RequestId: {uuid.uuid4()}")  # STS names its own, in the body too
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append(f"Content-Length: {len(response.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        # One write for head and body: two small writes on a kept-alive connection invite delayed-ACK stalls.
        self.wfile.write(head if self.command == "HEAD" else head + response.body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - %s", self.address_string(), format % args)
