"""The model server's HTTP (`sagemaker_container.py serve`), as SageMaker's front end and our clients speak it."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.aws.providers.sagemaker_hosting import CONTAINER, ModelConnection

ECHO = Path(__file__).parent / "fixtures" / "images" / "echo" / "code" / "inference.py"


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    root = tmp_path_factory.mktemp("opt-ml")
    (root / "model").mkdir()
    (root / "model" / "model.json").write_text('{"scale": 2}')
    (root / "code").mkdir()
    shutil.copy(ECHO, root / "code" / "inference.py")
    status = root / "status.json"
    server = subprocess.Popen([sys.executable, str(CONTAINER), "serve"], stdout=subprocess.DEVNULL,
                              env={**os.environ, "STEPSMITH_OPT_ML": str(root), "SAGEMAKER_BIND_TO_PORT": "0",
                                   "STEPSMITH_SERVE_HOST": "127.0.0.1", "STEPSMITH_SERVE_STATUS": str(status)})
    try:
        deadline = time.monotonic() + 30
        while not status.exists():
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield json.loads(status.read_text())["port"]
    finally:
        server.terminate()
        server.wait(10)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_answer(sock: socket.socket, buffer: bytearray) -> tuple[int, dict, bytes]:
    """One answer off the socket (what follows it stays in `buffer`): status, headers, body."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        assert data, f"connection closed before an answer; got {bytes(buffer)!r}"
        buffer += data
    end = buffer.index(b"\r\n\r\n")
    status_line, *lines = buffer[:end].decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", 0))
    while len(buffer) < end + 4 + length:
        data = sock.recv(1 << 20)
        assert data, "connection closed in the middle of a body"
        buffer += data
    body = bytes(buffer[end + 4:end + 4 + length])
    del buffer[:end + 4 + length]
    return int(status_line.split(" ")[1]), headers, body


def _post(body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    return (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_ping_invocations_and_the_inference_scripts_errors(port):
    with _connect(port) as sock:
        buffer = bytearray()
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(sock, buffer)[0] == 200
        sock.sendall(_post(b'{"x": 21}'))
        status, headers, body = _read_answer(sock, buffer)
        assert (status, json.loads(body), headers["content-type"]) == (200, {"y": 42}, "application/json")
        assert int(headers["x-model-latency-us"]) >= 0
        sock.sendall(_post(b'{"x": 1}', content_type="text/csv"))      # input_fn refuses it with status_code 415
        status, _, body = _read_answer(sock, buffer)
        assert status == 415 and b"unsupported content type text/csv" in body
        sock.sendall(_post(b'{"x": "fail"}'))                          # predict_fn raises: 500
        status, _, body = _read_answer(sock, buffer)
        assert status == 500 and body == b"RuntimeError: cannot predict this"
        sock.sendall(b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(sock, buffer)[0] == 404
        sock.sendall(b"GET /invocations HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(sock, buffer)[0] == 404


def test_pipelined_requests_are_answered_in_order_on_a_kept_alive_connection(port):
    with _connect(port) as sock:
        sock.sendall(b"".join(_post(json.dumps({"x": x}).encode()) for x in range(5)))
        buffer = bytearray()
        assert [json.loads(_read_answer(sock, buffer)[2]) for _ in range(5)] == [{"y": 2 * x} for x in range(5)]


def test_a_request_arriving_in_pieces_is_answered_once_whole(port):
    request = _post(b'{"x": 4}')
    with _connect(port) as sock:
        for offset in range(0, len(request), 7):
            sock.sendall(request[offset:offset + 7])
            time.sleep(0.001)
        assert json.loads(_read_answer(sock, bytearray())[2]) == {"y": 8}


def test_expect_100_continue_is_answered_before_the_body_is_sent(port):
    body = b'{"x": 5}'
    with _connect(port) as sock:
        sock.sendall(_post(body, extra="Expect: 100-continue\r\n")[:-len(body)])
        buffer = bytearray()
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert json.loads(_read_answer(sock, buffer)[2]) == {"y": 10}


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"NONSENSE\r\n\r\n", 400),
    (b"POST /invocations HTTP/2.0\r\nContent-Length: 0\r\n\r\n", 400),
    (b"POST /invocations HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    (b"POST /invocations HTTP/1.1\r\nContent-Length: two\r\n\r\n", 400),
    (b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 501),
    (b"POST /invocations HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n", 413),
    (b"GET /ping HTTP/1.1\r\nX-Padding: " + b"a" * 70_000, 431),
], ids=["request-line", "version", "two-lengths", "length-not-a-number", "chunked", "too-large", "head-too-large"])
def test_a_request_that_cannot_be_read_is_refused_and_its_connection_closed(port, request_bytes, status):
    with _connect(port) as sock:
        sock.sendall(request_bytes)
        answered, headers, _ = _read_answer(sock, bytearray())
        assert (answered, headers.get("connection")) == (status, "close")
        assert _closed(sock)
    with _connect(port) as sock:                                      # and the server serves on
        sock.sendall(_post(b'{"x": 1}'))
        assert _read_answer(sock, bytearray())[0] == 200


@pytest.mark.parametrize(("version", "connection", "kept"), [
    ("HTTP/1.1", "", True), ("HTTP/1.1", "Connection: close\r\n", False),
    ("HTTP/1.0", "", False), ("HTTP/1.0", "Connection: keep-alive\r\n", True)])
def test_connections_are_kept_or_closed_as_http_says(port, version, connection, kept):
    with _connect(port) as sock:
        sock.sendall(f"GET /ping {version}\r\nHost: x\r\n{connection}\r\n".encode())
        _, headers, _ = _read_answer(sock, bytearray())
        assert (headers.get("connection") != "close") is kept
        if not kept:
            assert _closed(sock)


def test_a_client_that_does_not_read_its_large_answer_does_not_hold_up_the_others(port):
    big = json.dumps({"x": "a" * 8_000_000}).encode()   # answered with 16 MB: more than the sockets hold
    with _connect(port) as slow, _connect(port) as other:
        slow.sendall(_post(big))
        time.sleep(0.5)
        other.sendall(_post(b'{"x": 3}'))
        assert json.loads(_read_answer(other, bytearray())[2]) == {"y": 6}
        status, _, body = _read_answer(slow, bytearray())
        assert status == 200 and len(json.loads(body)["y"]) == 16_000_000


def test_ping_is_answered_while_the_model_works_and_invocations_wait_their_turn(port):
    # SageMaker health-checks /ping within 2 s, also while a long inference runs.
    with _connect(port) as first, _connect(port) as second, _connect(port) as health:
        started = time.monotonic()
        first.sendall(_post(b'{"x": 1, "seconds": 1.5}'))
        time.sleep(0.2)
        second.sendall(_post(b'{"x": 2}'))
        health.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(health, bytearray())[0] == 200
        assert time.monotonic() - started < 1.0
        assert json.loads(_read_answer(second, bytearray())[2]) == {"y": 4}   # after the first: one at a time
        assert time.monotonic() - started >= 1.5
        assert json.loads(_read_answer(first, bytearray())[2]) == {"y": 2}


def test_the_engines_client_reads_answers_whole_and_sees_a_closed_server(port):
    connection = ModelConnection(port)
    try:
        answers = [connection.call(json.dumps({"x": x}).encode(), "application/json", "*/*") for x in range(3)]
        assert [(a.status, json.loads(a.body)) for a in answers] == [(200, {"y": 2 * x}) for x in range(3)]
        assert all(a.model_latency_us is not None for a in answers)
        large = connection.call(json.dumps({"x": "b" * 3_000_000}).encode(), "application/json", "*/*")
        assert len(json.loads(large.body)["y"]) == 6_000_000
    finally:
        connection.close()
    with socket.create_server(("127.0.0.1", 0)) as listener:        # a server that hangs up unanswered
        silent = ModelConnection(listener.getsockname()[1])
        accepted, _ = listener.accept()
        accepted.close()
        with pytest.raises(ConnectionError, match="closed the connection"):
            silent.call(b"{}", "application/json", "*/*")
        silent.close()


def test_only_the_serving_thread_runs_the_model_even_when_an_inference_just_ended():
    # The ping thread may meet an invocation just as the long inference it covered ends: it must park it
    # for the serving thread, never run the model itself (two inferences would then overlap).
    import threading

    from engine.aws.providers.sagemaker_container import Server, _Connection

    class Model:
        def __init__(self):
            self.calls = []

        def invoke(self, body, content_type, accept):
            self.calls.append(body)
            return b'{"y": 1}', "application/json"

    model = Model()
    server = Server(("127.0.0.1", 0), model)
    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        connection = _Connection(ours)
        connection.incoming += _post(b'{"x": 1}')
        server.inference_since = None                          # the inference it covered has just ended
        server.ping_thread = threading.current_thread()        # this code runs as the ping thread
        server._answer_what_is_whole(connection)
        assert model.calls == [] and [request.body for _, request in server.parked] == [b'{"x": 1}']
        server.ping_thread = threading.Thread(target=lambda: None)   # and now as the serving thread
        parked_connection, request = server.parked.popleft()
        server._serve(parked_connection, 0, request)
        assert model.calls == [b'{"x": 1}']
        theirs.settimeout(5)
        assert json.loads(_read_answer(theirs, bytearray())[2]) == {"y": 1}
    finally:
        ours.close()
        theirs.close()
        server.listener.close()
        server.selector.close()
