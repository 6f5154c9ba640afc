"""Benchmark the SAML-login ACS handler: in-process and through `stepsmith serve`, beside python3-saml's
bare validation measured in the same run. Loopback only; every phase is bounded in count and time.

    .venv/bin/python bench/saml_login.py [--requests 400] [--concurrency 4] [--seconds 30]
    .venv/bin/python bench/saml_login.py --quick     # 20 requests, one HTTP client: proves it runs (CI)

Target: handler p99 ≤ 15 ms in-process.
"""
from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "handlers")]

from engine import idp

ACS_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/v1/saml"
IDP_ENTITY_ID = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/bench"
SP_ENTITY_ID = "https://studio.example.com/saml"
DOMAIN, USER, TABLE = "d-bench000001", "alice", "bench-replay-ids"


class Result:
    """Latencies of one phase, in seconds (also in the order measured), and its wall time."""

    def __init__(self, name: str, latencies: list[float], wall: float, cpu: list[float] | None = None) -> None:
        self.name, self.measured, self.latencies, self.wall = name, list(latencies), sorted(latencies), wall
        self.cpu = sorted(cpu or [])

    def percentile(self, p: float, cpu: bool = False) -> float:
        values = self.cpu if cpu else self.latencies
        index = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
        return values[index] * 1000

    def row(self) -> str:
        rate = len(self.latencies) / self.wall if self.wall else 0.0
        cpu = f"{self.percentile(50, True):8.2f} {self.percentile(99, True):8.2f}" if self.cpu else f"{'-':>8} {'-':>8}"
        return (f"{self.name:46} {len(self.latencies):5d} {rate:7.1f} {self.percentile(50):8.2f} "
                f"{self.percentile(99):8.2f} {statistics.fmean(self.latencies) * 1000:8.2f} {cpu}")


def timed(name: str, calls: list[Callable[[], object]], seconds: float, warmup: int = 10) -> Result:
    """Run `calls` one after another (the first `warmup` untimed) until done or `seconds` pass."""
    for call in calls[:warmup]:
        call()
    latencies: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    for call in calls[warmup:]:
        began, began_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu.append(time.thread_time() - began_cpu)
        latencies.append(time.perf_counter() - began)
        if began - start > seconds:
            break
    return Result(name, latencies, time.perf_counter() - start, cpu)


def documents(key: idp.SigningKey, count: int) -> list[bytes]:
    return [idp.make_response(idp.ResponseOptions(user=USER, domain=DOMAIN, idp_entity_id=IDP_ENTITY_ID,
                                                  sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL), key)
            for _ in range(count)]


def bare_python3_saml(key: idp.SigningKey, docs: list[bytes], seconds: float) -> Result:
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    settings = OneLogin_Saml2_Settings({
        "strict": True, "sp": {"entityId": SP_ENTITY_ID, "assertionConsumerService": {"url": ACS_URL}},
        "idp": {"entityId": IDP_ENTITY_ID, "x509cert": key.cert_body},
        "security": {"rejectDeprecatedAlgorithm": True}}, sp_validation_only=True)
    request = {"https": "on", "http_host": "abc123.execute-api.us-east-1.amazonaws.com",
               "script_name": "/v1/saml"}

    def call(document: bytes) -> Callable[[], object]:
        def run() -> None:
            response = OneLogin_Saml2_Response(settings, idp.encode(document))
            if not response.is_valid(request):
                raise AssertionError(response.get_error())
        return run

    return timed("python3-saml is_valid (bare, strict)", [call(d) for d in docs], seconds)


def our_validation(key: idp.SigningKey, docs: list[bytes], seconds: float) -> Result:
    import saml_login_validation as v

    validator = v.Validator(v.Config(idp_entity_id=IDP_ENTITY_ID, idp_certificate=key.cert_body,
                                     sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL))
    values = [idp.encode(d) for d in docs]
    return timed("handler validation only (Validator)", [lambda s=s: validator.validate(s) for s in values],
                 seconds)


def handler_in_process(key: idp.SigningKey, docs: list[bytes], seconds: float, state: Path) -> Result:
    from engine.aws import LocalAWS
    from engine.aws.providers import sagemaker_studio  # noqa: F401 - registers CreatePresignedDomainUrl

    os.environ.update({"IDP_ENTITY_ID": IDP_ENTITY_ID, "IDP_CERTIFICATE": key.cert_body,
                       "SP_ENTITY_ID": SP_ENTITY_ID, "ACS_URL": ACS_URL, "REPLAY_IDS_TABLE": TABLE})
    import saml_login

    events = [{"httpMethod": "POST", "path": "/saml", "body": idp.form_body(d), "isBase64Encoded": False,
               "headers": {"Content-Type": "application/x-www-form-urlencoded"},
               "requestContext": {"identity": {"sourceIp": "10.0.1.25"}}} for d in docs]

    # Time spent inside boto3 calls (moto's DynamoDB, the local presign provider), per request, so the
    # handler's own cost can be told apart from the local AWS emulation's.
    in_aws: list[float] = []
    clock: dict[str, float] = {}

    def call_started(**_: object) -> None:
        clock["start"] = time.perf_counter()

    def call_ended(**_: object) -> None:
        in_aws[-1] += time.perf_counter() - clock.pop("start")

    def call(event: dict) -> Callable[[], object]:
        def run() -> None:
            in_aws.append(0.0)
            answer = saml_login.handler(event, None)
            if answer["statusCode"] != 302:
                raise AssertionError(answer)
        return run

    with LocalAWS(state, persist=False) as aws:
        aws.client("dynamodb").create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        call(events[0])()  # creates the handler's (cached) clients
        for client in saml_login._clients.values():
            client.meta.events.register("before-parameter-build", call_started)
            client.meta.events.register("after-call", call_ended)
        calls = [call(e) for e in events[1:]]
        total = timed("handler in-process, total (with local AWS)", calls, seconds)
    aws_times = sorted(in_aws[-len(total.latencies):])
    own = [t - a for t, a in zip(total.measured, in_aws[-len(total.latencies):],
                                 strict=True)]
    return total, Result("handler in-process, own time (minus AWS calls)", own, total.wall), \
        Result("  of which inside local AWS calls", aws_times, total.wall)


def through_serve(key: idp.SigningKey, docs: list[bytes], seconds: float, concurrencies: list[int],
                  project: Path) -> list[Result]:
    """POST every document to a `stepsmith serve` subprocess, at each concurrency in turn."""
    from compiler import compile_project

    # The template the compiler makes of workflows/saml-login.yaml, beside a copy of the handlers.
    (project / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "workflows" / "saml-login.yaml", project / "workflows")
    shutil.copytree(ROOT / "handlers", project / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    compile_project(project, project / "build")
    overrides = (f"IdpCertificate={key.cert_body} IdpEntityId={IDP_ENTITY_ID} SpEntityId={SP_ENTITY_ID} "
                 f"AcsUrl={ACS_URL} AllowedCidr=127.0.0.0/8 VpcEndpointId=vpce-local SubnetIds=subnet-local "
                 "SecurityGroupIds=sg-local")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "stepsmith"), "serve", "--port", "0", "--template", "build/template.yaml",
         "--state-dir", str(project / ".stepsmith"), "--parameter-overrides", overrides],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                raise RuntimeError("stepsmith serve exited before it listened")
            found = re.search(r"http://127\.0\.0\.1:(\d+)/saml", line)
            port = int(found.group(1)) if found else None
        if port is None:
            raise RuntimeError("stepsmith serve did not start within 60 s")
        bodies = [idp.form_body(d) for d in docs]
        share = len(bodies) // len(concurrencies)
        return [_load(port, bodies[i * share:(i + 1) * share], seconds, c) for i, c in enumerate(concurrencies)]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _load(port: int, bodies: list[str], seconds: float, concurrency: int) -> Result:
    """`concurrency` keep-alive clients share `bodies`; the first few requests only warm up."""
    latencies: list[float] = []
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))
    stop_at = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop_at:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            began = time.perf_counter()
            connection.request("POST", "/saml", body=bodies[index],
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            response.read()
            if response.status != 302:
                raise AssertionError(response.status)
            if index >= 5:
                with lock:
                    latencies.append(time.perf_counter() - began)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(f"through stepsmith serve (HTTP, {concurrency} client{'s' * (concurrency > 1)})",
                  latencies, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per phase (at most)")
    parser.add_argument("--concurrency", default="1,4", help="HTTP clients for the serve phase (list)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time cap per phase")
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (CI: it runs; no figures)")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.concurrency, args.seconds = 20, "1", 10.0
    count = max(20, min(args.requests, 5000))

    if args.quick:
        print("--quick: tiny inputs, one repetition; the figures show that it runs, not how fast.")
    key = idp.generate_key()
    began = time.perf_counter()
    docs = documents(key, count + 10)
    sign_ms = (time.perf_counter() - began) / len(docs) * 1000
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; "
          f"{count} requests per phase, signing took {sign_ms:.2f} ms per response (not timed below)")
    print("wall-clock latency, and the CPU time of the calling thread (immune to other processes' load)")
    print(f"{'phase':46} {'n':>5} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'cpu p50':>8} "
          f"{'cpu p99':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        results = [bare_python3_saml(key, docs, args.seconds), our_validation(key, docs, args.seconds)]
        for result in results:
            print(result.row(), flush=True)
        handler, own, inside_aws = handler_in_process(key, docs, args.seconds, Path(scratch) / "state")
        for result in (handler, own, inside_aws):
            print(result.row(), flush=True)
        concurrencies = [max(1, int(c)) for c in args.concurrency.split(",")]
        served_all = through_serve(key, docs, args.seconds, concurrencies, Path(scratch) / "project")
        for result in served_all:
            print(result.row(), flush=True)
        served = served_all[0]
    bare = results[0]
    print(f"handler in-process / bare python3-saml: p50 x{handler.percentile(50) / bare.percentile(50):.2f}, "
          f"p99 x{handler.percentile(99) / bare.percentile(99):.2f}; "
          f"serve p50 / in-process p50: x{served.percentile(50) / handler.percentile(50):.2f}")
    for label, result, cpu in (("own time, wall", own, False), ("total with local AWS, wall", handler, False),
                               ("total with local AWS, CPU", handler, True)):
        p99 = result.percentile(99, cpu)
        print(f"target handler p99 <= 15 ms in-process, {label}: {'met' if p99 <= 15 else 'MISSED'} ({p99:.2f} ms)")


if __name__ == "__main__":
    main()
