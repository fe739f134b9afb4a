"""HTTP behaviour (keep-alive, concurrency, chunked bodies, clean stops) and routing of every modelled
operation."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from appconfig_emulator import Emulator, ManualClock
from appconfig_emulator.model import SERVICE
from appconfig_emulator.server import ROUTER
from tests.emulator.helpers import START, make_client


def _connection(emulator) -> http.client.HTTPConnection:
    url = urlsplit(emulator.url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=5)


def test_it_keeps_a_connection_alive_across_requests(emulator):
    connection = _connection(emulator)
    ports = set()
    for _ in range(3):
        connection.request("GET", "/applications")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Content-Length")
        response.read()
        ports.add(connection.sock.getsockname()[1])
    connection.close()
    assert len(ports) == 1


def test_it_closes_the_connection_when_the_client_asks(emulator):
    connection = _connection(emulator)
    connection.request("GET", "/applications", headers={"Connection": "close"})
    response = connection.getresponse()
    assert response.getheader("Connection") == "close"
    response.read()
    connection.close()


def test_it_reads_a_chunked_body(emulator, boto3_client):
    connection = _connection(emulator)
    connection.request("POST", "/applications", body=iter([b'{"Name": ', b'"chunky"}']), encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 201, response.read()
    connection.close()
    assert boto3_client.list_applications()["Items"][0]["Name"] == "chunky"


def test_it_answers_head_without_a_body(emulator):
    connection = _connection(emulator)
    connection.request("HEAD", "/applications")
    response = connection.getresponse()
    assert response.status == 405 and response.read() == b""
    connection.close()


def test_it_serves_several_clients_at_once(emulator, boto3_client):
    application = boto3_client.create_application(Name="busy")["Id"]
    errors: list[BaseException] = []

    def work() -> None:
        client = make_client(emulator.url)
        try:
            for _ in range(20):
                client.get_application(ApplicationId=application)
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert emulator.counters()["GetApplication"] == 160


def test_it_stops_promptly_with_idle_keep_alive_connections_and_a_held_request():
    emulator = Emulator(clock=ManualClock(start=START)).start()
    url = urlsplit(emulator.url)
    idle = _connection(emulator)
    idle.request("GET", "/applications")
    idle.getresponse().read()
    emulator.add_fault(operation="ListApplications", kind="latency", seconds=60)
    held = threading.Thread(target=_request_ignoring_errors, args=(emulator.url,), daemon=True)
    held.start()
    time.sleep(0.2)

    began = time.monotonic()
    emulator.stop()
    assert time.monotonic() - began < 3
    assert idle.sock.recv(1) == b""  # the server closed the idle keep-alive connection
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection((url.hostname, url.port), timeout=1)


def _request_ignoring_errors(url: str) -> None:
    # The emulator goes away under this request on purpose.
    with contextlib.suppress(Exception):
        make_client(url, retries={"total_max_attempts": 1}, read_timeout=30).list_applications()


def test_it_can_be_used_as_a_context_manager_and_restarted():
    emulator = Emulator(clock=ManualClock(start=START))
    with emulator:
        first = emulator.url
    with pytest.raises(RuntimeError):
        emulator.url  # noqa: B018 - the property raises once stopped
    with emulator:
        assert make_client(emulator.url).list_applications()["Items"] == []
    assert first.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("name", SERVICE.operation_names)
def test_it_routes_every_operation_of_the_model_back_to_itself(name):
    operation = SERVICE.operation_model(name)
    template = operation.http["requestUri"].split("?")[0]
    path = "/".join("abc1234" if part.startswith("{") else part for part in template.split("/"))
    routed, labels = ROUTER.match(operation.http["method"], path)
    assert routed.name == name
    assert set(labels.values()) <= {"abc1234"}
