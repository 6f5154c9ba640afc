"""A Docker API socket that runs the containers `sam local invoke` creates on the host's network.

A function in SAM's container must reach local AWS on 127.0.0.1, and nothing else. SAM puts its
invoke containers on Docker's default bridge (`--docker-network host` only skips connecting them to
a user network), where 127.0.0.1 is the container itself. Pointed at this socket (DOCKER_HOST),
SAM's requests go to dockerd unchanged except one: creating a container whose entrypoint is SAM's
Runtime Interface Emulator gets NetworkMode host, no published ports, and the emulator listening on
127.0.0.1 at the very port SAM would have published (its runtime API on a free loopback port). Every
other request, and every byte of the replies, passes through as it is.
"""
from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import threading
from pathlib import Path

_CREATE = re.compile(rb"^POST /(v[\d.]+/)?containers/create[ ?]")
_RIE = "aws-lambda-rie"


def upstream_socket() -> str:
    """dockerd's socket: DOCKER_HOST when it is a unix socket, else /var/run/docker.sock."""
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def on_host_network(config: dict) -> dict:
    """A container-create body, changed to run SAM's emulator on the host network; others unchanged."""
    entrypoint = config.get("Entrypoint") or []
    host_config = config.get("HostConfig") or {}
    if not entrypoint or not str(entrypoint[0]).endswith(_RIE):
        return config
    bindings = host_config.get("PortBindings") or {}
    published = next((binding[0].get("HostPort") for port, binding in bindings.items()
                      if port.startswith("8080") and binding), None)
    if not published:
        return config
    config = dict(config, Entrypoint=[*entrypoint, "--runtime-interface-emulator-address", f"127.0.0.1:{published}",
                                      "--runtime-api-address", f"127.0.0.1:{free_loopback_port()}"])
    config.pop("ExposedPorts", None)
    config.pop("Hostname", None)
    config["HostConfig"] = {key: value for key, value in host_config.items() if key != "PortBindings"}
    config["HostConfig"]["NetworkMode"] = "host"
    return config


class _Handler(socketserver.BaseRequestHandler):
    upstream: str = "/var/run/docker.sock"

    def handle(self) -> None:
        client: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = [line for line in lines[1:] if line]
        upgrade = any(line.lower().startswith(b"upgrade:") for line in headers)
        if not upgrade:
            # One request per connection: the client opens a new one for the next, so each create is seen.
            headers = [line for line in headers if not line.lower().startswith(b"connection:")]
            headers.append(b"Connection: close")
        if _CREATE.match(lines[0]):
            length = next((int(line.split(b":", 1)[1]) for line in headers
                           if line.lower().startswith(b"content-length:")), 0)
            while len(rest) < length:
                chunk = client.recv(65536)
                if not chunk:
                    break
                rest += chunk
            body = json.dumps(on_host_network(json.loads(rest or b"{}"))).encode()
            headers = [line for line in headers if not line.lower().startswith(b"content-length:")]
            headers.append(b"Content-Length: " + str(len(body)).encode())
            rest = body
        daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        daemon.connect(self.upstream)
        daemon.sendall(b"\r\n".join([lines[0], *headers]) + b"\r\n\r\n" + rest)
        back = threading.Thread(target=_pipe, args=(daemon, client), daemon=True)
        back.start()
        _pipe(client, daemon)
        back.join()
        daemon.close()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class HostNetworkDocker:
    """Serve the rewriting Docker socket at `path` (in a thread) until `stop()`."""

    def __init__(self, path: Path, upstream: str | None = None) -> None:
        self.path = Path(path)
        handler = type("Handler", (_Handler,), {"upstream": upstream or upstream_socket()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self._server = _Server(str(self.path), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> HostNetworkDocker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)
