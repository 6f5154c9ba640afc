"""Local SageMaker hosting: endpoints are real model servers; statuses, updates, rollback, errors."""
import json
import os
import signal
import time

import pytest
from botocore.exceptions import ClientError
from sagemaker_checks import deploy_model, endpoint_config, invoke, settled

from engine.aws import LocalAWS


def _error(call) -> dict:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response


def _server_pid(aws, endpoint: str) -> int:
    from engine.aws.providers.sagemaker_state import Records

    record = Records(aws, "endpoints").get(endpoint)
    return record["_serving"]["variants"]["AllTraffic"]["pid"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        status = stat.read().rsplit(")", 1)[-1].split()[0]
    return status not in ("Z", "X")


def test_an_endpoint_goes_creating_to_in_service_and_answers_through_the_inference_script(aws):
    sagemaker = aws.client("sagemaker")
    deploy_model(aws, "m-one", scale=2)
    endpoint_config(aws, "c-one", "m-one")
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c-one")
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    described = settled(aws, "ep")
    assert described["EndpointStatus"] == "InService" and "FailureReason" not in described
    assert described["EndpointConfigName"] == "c-one"
    assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    answer = aws.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="ep", Body=json.dumps({"x": 4}), ContentType="application/json", Accept="application/json")
    assert json.loads(answer["Body"].read()) == {"y": 8.0}
    assert answer["ContentType"] == "application/json" and answer["InvokedProductionVariant"] == "AllTraffic"
    headers = answer["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-invoked-production-variant"] == "AllTraffic"
    assert int(headers["x-stepsmith-model-latency-us"]) >= 0        # the script's time (ModelLatency)


def test_invoke_errors_carry_the_service_codes(aws):
    runtime = aws.client("sagemaker-runtime")
    missing = _error(lambda: runtime.invoke_endpoint(EndpointName="nowhere", Body=b"{}",
                                                     ContentType="application/json"))
    assert missing["Error"]["Code"] == "ValidationError"
    assert missing["Error"]["Message"] == "Endpoint nowhere of account 111111111111 not found."
    assert missing["ResponseMetadata"]["HTTPStatusCode"] == 400

    deploy_model(aws, "m-err")
    endpoint_config(aws, "c-err", "m-err")
    aws.client("sagemaker").create_endpoint(EndpointName="ep-err", EndpointConfigName="c-err")
    not_ready = _error(lambda: invoke(aws, "ep-err", 1))       # still Creating
    assert not_ready["Error"]["Code"] == "ValidationError" and "Creating" in not_ready["Error"]["Message"]
    settled(aws, "ep-err")

    failed = _error(lambda: invoke(aws, "ep-err", "fail"))     # predict_fn raises
    assert failed["Error"]["Code"] == "ModelError" and failed["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert failed["OriginalStatusCode"] == 500
    assert "RuntimeError: cannot predict this" in failed["OriginalMessage"]
    assert failed["Error"]["Message"].startswith("Received server error (500) from primary with message")
    unsupported = _error(lambda: runtime.invoke_endpoint(EndpointName="ep-err", Body=b"x", ContentType="text/csv"))
    assert unsupported["Error"]["Code"] == "ModelError" and unsupported["OriginalStatusCode"] == 415
    assert unsupported["Error"]["Message"].startswith("Received client error (415)")
    log = (aws.state_dir / "sagemaker/logs/Endpoints/ep-err.log").read_text()
    assert "RuntimeError: cannot predict this" in log             # the traceback is in the endpoint's log


def test_a_model_that_cannot_load_fails_the_endpoint_with_the_reason(aws):
    deploy_model(aws, "m-broken", program="broken_inference.py")
    endpoint_config(aws, "c-broken", "m-broken")
    aws.client("sagemaker").create_endpoint(EndpointName="ep-broken", EndpointConfigName="c-broken")
    described = settled(aws, "ep-broken")
    assert described["EndpointStatus"] == "Failed"
    assert "RuntimeError: this model cannot be loaded" in described["FailureReason"]
    refused = _error(lambda: invoke(aws, "ep-broken", 1))
    assert refused["Error"]["Code"] == "ValidationError" and "Failed" in refused["Error"]["Message"]
    update = _error(lambda: aws.client("sagemaker").update_endpoint(EndpointName="ep-broken",
                                                                     EndpointConfigName="c-broken"))
    assert update["Error"]["Code"] == "ValidationException"


def test_update_serves_the_new_model_and_stops_the_old_server(aws):
    sagemaker = aws.client("sagemaker")
    deploy_model(aws, "m-v1", scale=2)
    deploy_model(aws, "m-v2", scale=10)
    endpoint_config(aws, "c-v1", "m-v1")
    endpoint_config(aws, "c-v2", "m-v2")
    sagemaker.create_endpoint(EndpointName="ep-up", EndpointConfigName="c-v1")
    settled(aws, "ep-up")
    old = _server_pid(aws, "ep-up")
    sagemaker.update_endpoint(EndpointName="ep-up", EndpointConfigName="c-v2")
    assert sagemaker.describe_endpoint(EndpointName="ep-up")["EndpointStatus"] == "Updating"
    assert invoke(aws, "ep-up", 1) == {"y": 2.0}               # the old configuration serves meanwhile
    described = settled(aws, "ep-up")
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "c-v2"
    assert invoke(aws, "ep-up", 1) == {"y": 10.0}
    deadline = time.monotonic() + 10
    while _alive(old) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(old)


def test_a_failed_update_rolls_back_to_the_previous_configuration(aws):
    sagemaker = aws.client("sagemaker")
    deploy_model(aws, "m-good", scale=3)
    deploy_model(aws, "m-bad", program="broken_inference.py")
    endpoint_config(aws, "c-good", "m-good")
    endpoint_config(aws, "c-bad", "m-bad")
    sagemaker.create_endpoint(EndpointName="ep-rb", EndpointConfigName="c-good")
    settled(aws, "ep-rb")
    sagemaker.update_endpoint(EndpointName="ep-rb", EndpointConfigName="c-bad")
    described = settled(aws, "ep-rb")
    # as the service does: InService on the old configuration, the failed update's reason kept
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "c-good"
    assert "this model cannot be loaded" in described["FailureReason"]
    assert invoke(aws, "ep-rb", 2) == {"y": 6.0}


def test_an_endpoint_outlives_its_process_and_a_dead_server_is_restarted(aws, project):
    deploy_model(aws, "m-keep", scale=5)
    endpoint_config(aws, "c-keep", "m-keep")
    aws.client("sagemaker").create_endpoint(EndpointName="ep-keep", EndpointConfigName="c-keep")
    settled(aws, "ep-keep")
    pid = _server_pid(aws, "ep-keep")
    aws.save()
    aws.__exit__(None, None, None)            # this "stepsmith run" ends
    try:
        assert _alive(pid)
        with LocalAWS(project / ".stepsmith") as later:    # a later process finds the same server
            assert invoke(later, "ep-keep", 1) == {"y": 5.0}
            assert _server_pid(later, "ep-keep") == pid
            os.kill(pid, signal.SIGKILL)
            assert invoke(later, "ep-keep", 2) == {"y": 10.0}    # restarted on demand
            assert _server_pid(later, "ep-keep") != pid
            later.client("sagemaker").delete_endpoint(EndpointName="ep-keep")
    finally:
        aws.__enter__()                       # the fixture's teardown expects an open session


def test_control_plane_errors_carry_the_service_codes(aws):
    sagemaker = aws.client("sagemaker")
    assert _error(lambda: sagemaker.create_endpoint_config(EndpointConfigName="c-x", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "no-model", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}]))["Error"]["Message"].startswith("Could not find model")
    assert _error(lambda: sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="no-config"))[
        "Error"]["Code"] == "ValidationException"
    assert _error(lambda: sagemaker.describe_endpoint(EndpointName="no-endpoint"))["Error"]["Message"] == \
        'Could not find endpoint "arn:aws:sagemaker:us-east-1:111111111111:endpoint/no-endpoint".'
    assert _error(lambda: sagemaker.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::1:role/r",
                                                 PrimaryContainer={"Image": "images/echo",
                                                                   "ModelDataUrl": "s3://data/none.tar.gz"}))[
        "Error"]["Message"] == "Could not find model data at s3://data/none.tar.gz."
    deploy_model(aws, "m-dup")
    endpoint_config(aws, "c-dup", "m-dup")
    sagemaker.create_endpoint(EndpointName="ep-dup", EndpointConfigName="c-dup")
    again = _error(lambda: sagemaker.create_endpoint(EndpointName="ep-dup", EndpointConfigName="c-dup"))
    assert again["Error"]["Message"].startswith("Cannot create already existing endpoint")
    busy = _error(lambda: sagemaker.update_endpoint(EndpointName="ep-dup", EndpointConfigName="c-dup"))
    assert busy["Error"]["Message"].startswith("Cannot update in-progress endpoint")
    settled(aws, "ep-dup")
    pid = _server_pid(aws, "ep-dup")
    sagemaker.delete_endpoint(EndpointName="ep-dup")
    assert _error(lambda: sagemaker.describe_endpoint(EndpointName="ep-dup"))["Error"]["Code"] == \
        "ValidationException"
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_a_server_whose_state_was_deleted_stops_by_itself(aws):
    import shutil

    deploy_model(aws, "m-gone")
    endpoint_config(aws, "c-gone", "m-gone")
    aws.client("sagemaker").create_endpoint(EndpointName="ep-gone", EndpointConfigName="c-gone")
    settled(aws, "ep-gone")
    pid = _server_pid(aws, "ep-gone")
    shutil.rmtree(aws.state_dir / "sagemaker")                # `make clean` while the endpoint serves
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
