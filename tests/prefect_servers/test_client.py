"""The client against real sockets: closed ports, silent servers, non-Prefect servers, retries, 401."""

import http.server
import json
import socket
import threading

import pytest

from apps.prefect_servers.client import ErrorKind, PrefectClient, connection_test

from .conftest import AUTH_STRING, port_free


class Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next (status, body) of the server's script; the last repeats.

    A bytes body is sent as HTML, anything else as JSON; request bodies are kept in order."""

    def do_any(self):
        script = self.server.script
        status, body = script.pop(0) if len(script) > 1 else script[0]
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(json.loads(self.rfile.read(length)) if length else None)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if isinstance(body, bytes) else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_any

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted_server():
    servers = []

    def start(*script):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
        server.script, server.bodies = list(script), []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}/api"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_closed_port_is_unreachable():
    outcome = connection_test(client=PrefectClient(api_url=f"http://127.0.0.1:{port_free()}/api", timeout=2))
    assert not outcome.ok and outcome.kind == ErrorKind.UNREACHABLE
    assert "cannot reach" in outcome.message.lower()


def test_a_server_that_never_answers_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts into the backlog, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
        outcome = connection_test(client=PrefectClient(api_url=url, timeout=0.5, retries=0))
    assert not outcome.ok and outcome.kind == ErrorKind.TIMEOUT
    assert "did not answer within" in outcome.message


def test_a_web_server_that_is_not_prefect_is_named_so(scripted_server):
    _, html_url = scripted_server((200, b"<html>hello</html>"))
    _, missing_url = scripted_server((404, b"<html>no such page</html>"))
    html = connection_test(client=PrefectClient(api_url=html_url))
    missing = connection_test(client=PrefectClient(api_url=missing_url))
    assert html.kind == ErrorKind.NOT_PREFECT and "not a Prefect API" in html.message
    assert missing.kind == ErrorKind.NOT_PREFECT and "not a Prefect API" in missing.message


def test_an_unsupported_version_is_named(scripted_server):
    _, url = scripted_server((200, "1.4.2"))
    outcome = connection_test(client=PrefectClient(api_url=url))
    assert outcome.kind == ErrorKind.UNSUPPORTED_VERSION and outcome.version == "1.4.2"


def test_429_and_5xx_back_off_and_retry(scripted_server):
    _, url = scripted_server((429, {"detail": "slow down"}), (503, {}), (200, [{"id": "a"}]))
    delays = []
    client = PrefectClient(api_url=url, sleep=delays.append)
    assert list(client.flows()) == [{"id": "a"}]
    assert len(delays) == 2 and delays[1] > delays[0]
    assert client.requests_made == 3


def test_pages_are_bounded_and_read_to_the_end(scripted_server):
    server, url = scripted_server((200, [{"id": 1}, {"id": 2}]), (200, [{"id": 3}]))
    client = PrefectClient(api_url=url)
    assert [item["id"] for item in client.paged("flow_runs/filter", page_size=2)] == [1, 2, 3]
    assert [(body["limit"], body["offset"]) for body in server.bodies] == [(2, 0), (2, 2)]


def test_a_real_server_refuses_a_wrong_auth_string_and_accepts_the_right_one(prefect3_auth_server):
    wrong = connection_test(
        client=PrefectClient(api_url=prefect3_auth_server, auth_kind="basic", credential="a:b")
    )
    none = connection_test(client=PrefectClient(api_url=prefect3_auth_server))
    right = connection_test(
        client=PrefectClient(api_url=prefect3_auth_server, auth_kind="basic", credential=AUTH_STRING)
    )
    assert wrong.kind == ErrorKind.UNAUTHORIZED and "401" in wrong.message
    assert none.kind == ErrorKind.UNAUTHORIZED
    assert right.ok and right.version == "3.9.1" and right.message == "Connected to Prefect 3.9.1."
