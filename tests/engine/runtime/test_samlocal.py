"""`sam local invoke` on the same local state: saved Lambda events, the printed line and its env-vars file,
local AWS served on 127.0.0.1, and the Docker socket that puts SAM's containers on the host network."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from engine import samlocal
from engine.cli import main
from engine.dockerhost import on_host_network

FIXTURE = Path(__file__).parent / "fixtures" / "chain"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root)
    monkeypatch.chdir(root)
    return root


def stepsmith(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_local_aws(project: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-c", "from engine.cli import main; main()", "local-aws",
                               "--port", str(port)], cwd=project, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        if server.poll() is not None:
            pytest.fail(f"stepsmith local-aws exited: {server.stderr.read()}")
        time.sleep(0.2)
    server.kill()
    pytest.fail("stepsmith local-aws did not listen within 60 s")


def stop(server: subprocess.Popen) -> str:
    server.send_signal(signal.SIGTERM)
    _, errors = server.communicate(timeout=60)
    return errors


def test_each_lambda_event_of_a_run_is_saved_and_sam_invoke_prints_the_line(project):
    assert stepsmith("run", "ProducerStateMachine", "--input", '{"key": "incoming/a.txt"}', "--name", "p").exit_code == 0
    events = project / ".stepsmith/events/p"
    assert json.loads((events / "Write.json").read_text()) == {"key": "incoming/a.txt", "body": "hello"}
    assert json.loads((events / "Publish.json").read_text())["written"] == {"written": "incoming/a.txt"}
    result = stepsmith("sam-invoke", "p", "Write", "--port", "4610")
    assert result.exit_code == 0, result.output
    socket_path = samlocal.docker_socket(project / ".stepsmith")   # a short /tmp path when the project's is too long
    assert result.stdout.strip() == (
        f"DOCKER_HOST=unix://{socket_path} sam local invoke WriteFunction --template .stepsmith/sam/template.json "
        "--event .stepsmith/events/p/Write.json --env-vars .stepsmith/sam/env.json --region us-east-1 "
        "--skip-pull-image")
    env = json.loads((project / ".stepsmith/sam/env.json").read_text())["WriteFunction"]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4610"
    assert env["INBOX_BUCKET"] == "proj-inboxbucket" and env["JOBS_QUEUE"] == "proj-JobsQueue"
    template = json.loads((project / ".stepsmith/sam/template.json").read_text())
    function = template["Resources"]["WriteFunction"]["Properties"]
    assert "AWS_ENDPOINT_URL" in function["Environment"]["Variables"]    # SAM overrides declared variables only
    assert template["Globals"]["Function"]["CodeUri"] == str((project / "handlers").resolve())
    missing = stepsmith("sam-invoke", "p", "Nope")
    assert missing.exit_code == 1 and "has no Lambda step 'Nope' (it has: Write, Publish)" in missing.output


def test_local_aws_serves_the_state_a_run_left_on_127_0_0_1_and_saves_what_clients_write(project):
    assert stepsmith("run", "ProducerStateMachine", "--input", '{"key": "incoming/a.txt"}').exit_code == 0
    port = free_port()
    server = start_local_aws(project, port)
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
        body = s3.get_object(Bucket="proj-inboxbucket", Key="incoming/a.txt")["Body"].read()
        assert body == b"hello"
        s3.put_object(Bucket="proj-inboxbucket", Key="from-client.txt", Body=b"client")
    finally:
        stop(server)
    assert (project / ".stepsmith/s3/proj-inboxbucket/from-client.txt").read_text() == "client"


def test_sam_emulator_containers_are_moved_to_the_host_network_and_others_left_alone():
    create = {"Image": "img", "Entrypoint": ["/var/rapid/aws-lambda-rie", "--log-level", "error"],
              "ExposedPorts": {"8080/tcp": {}},
              "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5123"}]},
                             "Binds": ["/code:/var/task:ro"]}}
    changed = on_host_network(create)
    assert changed["HostConfig"] == {"Binds": ["/code:/var/task:ro"], "NetworkMode": "host"}
    assert "ExposedPorts" not in changed
    assert changed["Entrypoint"][:5] == ["/var/rapid/aws-lambda-rie", "--log-level", "error",
                                         "--runtime-interface-emulator-address", "127.0.0.1:5123"]
    assert changed["Entrypoint"][5] == "--runtime-api-address" and changed["Entrypoint"][6].startswith("127.0.0.1:")
    other = {"Image": "x", "Entrypoint": ["/bin/sh"], "HostConfig": {"PortBindings": {"80/tcp": []}}}
    assert on_host_network(other) == other


# ---------------------------------------------------------------------------------------- with Docker

ROOT = Path(__file__).resolve().parents[3]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
IMAGE = "public.ecr.aws/lambda/python:3.11"


def _docker_skip_reason() -> str | None:
    if not SAM.is_file():
        return f"{SAM} missing: run `make setup-sam`"
    if shutil.which("docker") is None:
        return "no docker client (apt-get install docker.io)"
    info = subprocess.run(["docker", "info"], check=False, capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return "Docker cannot start containers here: no dockerd reachable (as root: `dockerd &`)"
    image = subprocess.run(["docker", "image", "inspect", IMAGE], check=False, capture_output=True, timeout=30)
    if image.returncode != 0:
        return f"no {IMAGE} image: build the offline stand-in with `make lambda-image` (about 6 minutes)"
    return None


@pytest.mark.skipif(sys.platform != "linux", reason="sam local invoke on the host network needs Linux Docker")
def test_sam_local_invoke_of_a_compiled_function_sees_and_changes_local_state(project):
    reason = _docker_skip_reason()
    if reason:
        pytest.skip(reason)
    produced = stepsmith("run", "ProducerStateMachine", "--input", '{"key": "incoming/s.txt"}', "--name", "p")
    assert produced.exit_code == 0, produced.stderr
    consumer = json.loads((project / ".stepsmith/executions/p.json").read_text())["startedExecutions"][0]["name"]
    port = free_port()
    server = start_local_aws(project, port)
    environment = {**os.environ, "PATH": f"{SAM.parent}{os.pathsep}{os.environ['PATH']}",
                   "SAM_CLI_TELEMETRY": "0"}
    try:
        # The consumer's Read step again, in SAM's container: it reads the object the producer wrote.
        line = stepsmith("sam-invoke", consumer, "Read", "--port", str(port)).stdout.strip()
        read = subprocess.run(line, check=False, shell=True, cwd=project, env=environment, capture_output=True, text=True,
                              timeout=300)
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout.strip().splitlines()[-1]) == {"key": "incoming/s.txt", "body": "hello"}
        # The producer's Write step with an edited event: what the function writes lands in .stepsmith/.
        event = project / ".stepsmith/events/p/Write.json"
        event.write_text(json.dumps({"key": "from-sam/s.txt", "body": "written in a container"}))
        line = stepsmith("sam-invoke", "p", "Write", "--port", str(port)).stdout.strip()
        write = subprocess.run(line, check=False, shell=True, cwd=project, env=environment, capture_output=True, text=True,
                               timeout=300)
        assert write.returncode == 0, write.stderr
        assert json.loads(write.stdout.strip().splitlines()[-1]) == {"written": "from-sam/s.txt"}
    finally:
        stop(server)
    assert (project / ".stepsmith/s3/proj-inboxbucket/from-sam/s.txt").read_text() == "written in a container"
