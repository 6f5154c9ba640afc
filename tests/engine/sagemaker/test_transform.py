"""Local Batch Transform: data sources, splitting, batching, assembling, and per-record failures."""
import json

import pytest
from botocore.exceptions import ClientError
from sagemaker_checks import deploy_model, wait_for


def _transform(aws, name: str, source: dict, *, split: str = "None", strategy: str = "SingleRecord",
               assemble: str = "None", content_type: str = "application/json", max_payload: int = 6,
               concurrency: int = 2) -> dict:
    sagemaker = aws.client("sagemaker")
    sagemaker.create_transform_job(
        TransformJobName=name, ModelName="m-batch", MaxConcurrentTransforms=concurrency,
        MaxPayloadInMB=max_payload, BatchStrategy=strategy,
        TransformInput={"DataSource": {"S3DataSource": source}, "ContentType": content_type, "SplitType": split},
        TransformOutput={"S3OutputPath": f"s3://data/out/{name}", "AssembleWith": assemble},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    return wait_for(lambda: sagemaker.describe_transform_job(TransformJobName=name), "TransformJobStatus",
                    ("InProgress", "Stopping"))


def _outputs(aws, prefix: str) -> dict[str, bytes]:
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket="data", Prefix=prefix).get("Contents", [])
    return {item["Key"][len(prefix):]: s3.get_object(Bucket="data", Key=item["Key"])["Body"].read()
            for item in listed}


@pytest.fixture
def model(aws):
    deploy_model(aws, "m-batch", scale=2)


def test_each_object_under_the_prefix_gets_its_out_file(aws, model):
    s3 = aws.client("s3")
    for key, x in (("in/a.json", 1), ("in/b.json", 2), ("in/deep/c.json", 3)):
        s3.put_object(Bucket="data", Key=key, Body=json.dumps({"x": x}).encode())
    job = _transform(aws, "t-prefix", {"S3DataType": "S3Prefix", "S3Uri": "s3://data/in/"})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformEndTime"] >= job["TransformStartTime"]
    outputs = _outputs(aws, "out/t-prefix/")
    assert {key: json.loads(body) for key, body in outputs.items()} == {
        "a.json.out": {"y": 2.0}, "b.json.out": {"y": 4.0}, "deep/c.json.out": {"y": 6.0}}


def test_lines_split_batched_and_assembled(aws, model):
    lines = b"".join(json.dumps({"x": x}).encode() + b"\n" for x in range(5))
    aws.client("s3").put_object(Bucket="data", Key="lines/records.jsonl", Body=lines)
    source = {"S3DataType": "S3Prefix", "S3Uri": "s3://data/lines/"}
    single = _transform(aws, "t-single", source, split="Line", strategy="SingleRecord", assemble="Line",
                        content_type="application/jsonlines")
    multi = _transform(aws, "t-multi", source, split="Line", strategy="MultiRecord", assemble="Line",
                       content_type="application/jsonlines")
    assert single["TransformJobStatus"] == multi["TransformJobStatus"] == "Completed"
    expected = [{"y": 2.0 * x} for x in range(5)]
    for job in ("t-single", "t-multi"):
        body = _outputs(aws, f"out/{job}/")["records.jsonl.out"]
        assert [json.loads(line) for line in body.decode().splitlines()] == expected
        assert body.endswith(b"\n")
    data_log = (aws.state_dir / "sagemaker/logs/TransformJobs/t-multi.log").read_text()
    assert "BatchStrategy=MultiRecord" in data_log


def test_an_empty_object_split_by_line_gets_an_empty_out_file(aws, model):
    s3 = aws.client("s3")
    s3.put_object(Bucket="data", Key="some/empty.jsonl", Body=b"")
    s3.put_object(Bucket="data", Key="some/full.jsonl", Body=b'{"x": 1}\n')
    job = _transform(aws, "t-empty-lines", {"S3DataType": "S3Prefix", "S3Uri": "s3://data/some/"}, split="Line",
                     content_type="application/jsonlines", concurrency=1)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert _outputs(aws, "out/t-empty-lines/") == {"empty.jsonl.out": b"", "full.jsonl.out": b'{"y": 2}'}


def test_a_manifest_file_names_the_inputs(aws, model):
    s3 = aws.client("s3")
    s3.put_object(Bucket="data", Key="m/one.json", Body=b'{"x": 5}')
    s3.put_object(Bucket="data", Key="m/two.json", Body=b'{"x": 6}')
    s3.put_object(Bucket="data", Key="m/skipped.json", Body=b'{"x": 7}')
    s3.put_object(Bucket="data", Key="lists/input.manifest",
                  Body=json.dumps([{"prefix": "s3://data/m/"}, "one.json", "two.json"]).encode())
    job = _transform(aws, "t-manifest", {"S3DataType": "ManifestFile", "S3Uri": "s3://data/lists/input.manifest"})
    assert job["TransformJobStatus"] == "Completed"
    assert sorted(_outputs(aws, "out/t-manifest/")) == ["one.json.out", "two.json.out"]


def test_failed_records_fail_the_job_and_are_named_in_the_data_log(aws, model):
    s3 = aws.client("s3")
    s3.put_object(Bucket="data", Key="mixed/good.json", Body=b'{"x": 1}')
    s3.put_object(Bucket="data", Key="mixed/bad.json", Body=b'{"x": "fail"}')
    s3.put_object(Bucket="data", Key="mixed/huge.json", Body=b'{"x": 1}' + b" " * (1024 * 1024 + 1))
    job = _transform(aws, "t-fail", {"S3DataType": "S3Prefix", "S3Uri": "s3://data/mixed/"}, max_payload=1)
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: 2 input object(s) failed; first: s3://data/mixed/bad.json")
    assert sorted(_outputs(aws, "out/t-fail/")) == ["good.json.out"]      # the others are still written
    data_log = (aws.state_dir / "sagemaker/logs/TransformJobs/t-fail.log").read_text()
    assert "[sagemaker logs]: data/mixed/bad.json: ClientError: 500" in data_log
    assert "RuntimeError: cannot predict this" in data_log
    assert "[sagemaker logs]: data/mixed/huge.json: ClientError: Too much data for max payload size" in data_log


def test_transform_validation_errors(aws, model):
    sagemaker = aws.client("sagemaker")
    base = {"TransformJobName": "t-bad", "ModelName": "m-batch",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/x/"}}},
            "TransformOutput": {"S3OutputPath": "s3://data/out/"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}
    with pytest.raises(ClientError) as error:
        sagemaker.create_transform_job(**{**base, "ModelName": "no-such-model"})
    assert error.value.response["Error"]["Message"].startswith("Could not find model")
    with pytest.raises(ClientError) as error:
        sagemaker.create_transform_job(**{**base, "TransformInput": {**base["TransformInput"], "SplitType": "RecordIO"}})
    assert error.value.response["Error"]["Code"] == "ValidationException"
    job = _transform(aws, "t-empty", {"S3DataType": "S3Prefix", "S3Uri": "s3://data/nothing/"})
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: No S3 objects found")


def test_create_transform_job_sync_waits_and_fails_the_task_with_the_description(aws, model):
    from engine import execute
    from engine.tasks import LocalDispatcher

    aws.client("s3").put_object(Bucket="data", Key="sync/a.json", Body=b'{"x": 21}')

    def definition(name: str, prefix: str) -> dict:
        return {"StartAt": "Infer", "States": {"Infer": {
            "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
            "Parameters": {"TransformJobName": name, "ModelName": "m-batch",
                           "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                              "S3Uri": f"s3://data/{prefix}/"}},
                                              "ContentType": "application/json"},
                           "TransformOutput": {"S3OutputPath": f"s3://data/out/{name}"},
                           "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}},
            "ResultSelector": {"status.$": "$.TransformJobStatus"}, "End": True}}}

    done = execute(definition("t-sync", "sync"), "{}", dispatcher=LocalDispatcher(None))
    assert done.status == "SUCCEEDED", done.cause
    assert json.loads(done.output) == {"status": "Completed"}
    assert json.loads(_outputs(aws, "out/t-sync/")["a.json.out"]) == {"y": 42}
    failed = execute(definition("t-sync-fail", "nothing-here"), "{}", dispatcher=LocalDispatcher(None))
    assert failed.status == "FAILED" and failed.error == "States.TaskFailed"
    assert json.loads(failed.cause)["FailureReason"].startswith("ClientError: No S3 objects found")


@pytest.mark.parametrize("concurrency", [1, 3])
def test_requests_in_flight_reach_but_never_exceed_max_concurrent_transforms(aws, model, monkeypatch, concurrency):
    from engine.aws.providers.sagemaker_hosting import ModelConnection

    in_flight, most = [0], [0]
    send, receive = ModelConnection.send, ModelConnection.receive

    def counted_send(self, *args):
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        return send(self, *args)

    def counted_receive(self):
        answer = receive(self)
        in_flight[0] -= answer is not None
        return answer
    monkeypatch.setattr(ModelConnection, "send", counted_send)
    monkeypatch.setattr(ModelConnection, "receive", counted_receive)
    s3 = aws.client("s3")
    for i in range(10):
        s3.put_object(Bucket="data", Key=f"many/{i}.json", Body=json.dumps({"x": i}).encode())
    job = _transform(aws, f"t-limit-{concurrency}", {"S3DataType": "S3Prefix", "S3Uri": "s3://data/many/"},
                     concurrency=concurrency)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert most[0] == concurrency and in_flight[0] == 0
    outputs = _outputs(aws, f"out/t-limit-{concurrency}/")
    assert {key: json.loads(value) for key, value in outputs.items()} == {
        f"{i}.json.out": {"y": 2 * i} for i in range(10)}


def test_many_failed_records_among_many_objects_end_the_job(aws, model):
    # More objects than are read ahead, every other one failing: each failure frees its place, so the job ends.
    s3 = aws.client("s3")
    for i in range(14):
        s3.put_object(Bucket="data", Key=f"half/{i:02d}.json",
                      Body=json.dumps({"x": "fail" if i % 2 else i}).encode())
    job = _transform(aws, "t-half", {"S3DataType": "S3Prefix", "S3Uri": "s3://data/half/"}, concurrency=1)
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: 7 input object(s) failed; first: s3://data/half/01.json")
    assert sorted(_outputs(aws, "out/t-half/")) == [f"{i:02d}.json.out" for i in range(0, 14, 2)]


def test_a_missing_input_object_fails_the_job_with_its_name(aws, model):
    s3 = aws.client("s3")
    s3.put_object(Bucket="data", Key="listed/a.json", Body=b'{"x": 1}')
    s3.put_object(Bucket="data", Key="listed/list.manifest",
                  Body=json.dumps([{"prefix": "s3://data/listed/"}, "a.json", "gone.json", *["a.json"] * 8]).encode())
    job = _transform(aws, "t-missing", {"S3DataType": "ManifestFile", "S3Uri": "s3://data/listed/list.manifest"},
                     concurrency=1)
    assert job["TransformJobStatus"] == "Failed"
    assert "s3://data/listed/gone.json does not exist" in job["FailureReason"]


def test_a_stopped_job_finishes_its_request_in_flight_and_sends_no_more(aws, model):
    import time

    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    for x in range(8):
        s3.put_object(Bucket="data", Key=f"slow/{x}.json", Body=json.dumps({"x": x, "seconds": 0.2}).encode())
    sagemaker.create_transform_job(
        TransformJobName="t-stop", ModelName="m-batch", MaxConcurrentTransforms=1, BatchStrategy="SingleRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/slow/"}},
                        "ContentType": "application/json"},
        TransformOutput={"S3OutputPath": "s3://data/out/t-stop"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    deadline = time.monotonic() + 60
    while not _outputs(aws, "out/t-stop/") and time.monotonic() < deadline:
        time.sleep(0.02)
    sagemaker.stop_transform_job(TransformJobName="t-stop")
    done_before_the_stop = len(_outputs(aws, "out/t-stop/"))
    assert sagemaker.describe_transform_job(TransformJobName="t-stop")["TransformJobStatus"] in ("Stopping", "Stopped")
    job = wait_for(lambda: sagemaker.describe_transform_job(TransformJobName="t-stop"), "TransformJobStatus",
                   ("InProgress", "Stopping"))
    assert job["TransformJobStatus"] == "Stopped" and "FailureReason" not in job
    outputs = _outputs(aws, "out/t-stop/")
    # The request in flight when the job reads the stop finishes (the job reads it at most every 50 ms); no
    # new one starts.
    assert done_before_the_stop <= len(outputs) <= min(done_before_the_stop + 2, 7)
    assert {key: json.loads(body) for key, body in outputs.items()} == {
        f"{x}.json.out": {"y": 2 * x} for x in range(len(outputs))}
