"""LocalAWS: providers in front of moto, persistence across sessions, environment hygiene."""
import json
import os

import boto3
import pytest
from botocore.exceptions import ClientError

from engine.aws import LocalAWS, LocalAWSError
from engine.aws.providers import ServiceError, register, unregister


@pytest.fixture
def translate_provider():
    calls = []

    def translate_text(params, aws):
        calls.append((params, aws))
        if params["SourceLanguageCode"] == "xx":
            raise ServiceError("UnsupportedLanguagePairException", "xx is not a language", 400)
        return {"TranslatedText": params["Text"].upper(), "SourceLanguageCode": "en", "TargetLanguageCode": "de"}

    register("translate", "translateText", translate_text)
    yield calls
    unregister("translate", "TranslateText")


def test_provider_answers_boto3_clients_created_anywhere(tmp_path, translate_provider):
    with LocalAWS(tmp_path, persist=False) as aws:
        # A handler's own client, created the usual way, reaches the provider.
        client = boto3.client("translate")
        response = client.translate_text(Text="hallo", SourceLanguageCode="de", TargetLanguageCode="en")
        assert response["TranslatedText"] == "HALLO"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        params, given = translate_provider[0]
        assert params == {"Text": "hallo", "SourceLanguageCode": "de", "TargetLanguageCode": "en"}
        assert given is aws


def test_provider_errors_are_client_errors_with_the_code(tmp_path, translate_provider):
    with LocalAWS(tmp_path, persist=False):
        client = boto3.client("translate")
        with pytest.raises(client.exceptions.UnsupportedLanguagePairException) as raised:
            client.translate_text(Text="x", SourceLanguageCode="xx", TargetLanguageCode="en")
        assert raised.value.response["Error"] == {"Code": "UnsupportedLanguagePairException",
                                                  "Message": "xx is not a language"}


def test_providers_are_silent_outside_local_aws():
    from moto import mock_aws

    calls = []
    register("s3", "ListBuckets", lambda params, aws: calls.append(params) or {"Buckets": [{"Name": "fake"}]})
    try:
        with mock_aws():        # plain moto, as other tests in the suite use it
            assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
        assert calls == []
    finally:
        unregister("s3", "ListBuckets")


def test_operations_without_provider_fall_through_to_moto(tmp_path, translate_provider):
    with LocalAWS(tmp_path, persist=False):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="plain-moto")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["plain-moto"]


def test_state_persists_across_sessions_as_plain_files(tmp_path, app):
    state = tmp_path / ".stepsmith"
    with LocalAWS(state, app=app) as aws:
        aws.client("s3").put_object(Bucket="demo-databucket", Key="videos/a.mp4", Body=b"\x00video")
        aws.client("s3").put_object(Bucket="demo-databucket", Key="gone.txt", Body=b"x")
        aws.client("dynamodb").put_item(TableName="demo-ItemsTable", Item={"id": {"S": "k"}, "n": {"N": "7"}})
        aws.client("ssm").put_parameter(Name="/demo/ThresholdParameter", Value="0.9", Type="String",
                                        Overwrite=True)
    assert (state / "s3/demo-databucket/videos/a.mp4").read_bytes() == b"\x00video"
    table = json.loads((state / "dynamodb/demo-ItemsTable.json").read_text())
    assert table["Items"] == [{"id": {"S": "k"}, "n": {"N": "7"}}]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by-owner"
    (state / "s3/demo-databucket/dropped-in.txt").write_text("by hand")
    with LocalAWS(state, app=app) as aws:
        s3 = aws.client("s3")
        assert s3.get_object(Bucket="demo-databucket", Key="videos/a.mp4")["Body"].read() == b"\x00video"
        assert s3.get_object(Bucket="demo-databucket", Key="dropped-in.txt")["Body"].read() == b"by hand"
        item = aws.client("dynamodb").get_item(TableName="demo-ItemsTable", Key={"id": {"S": "k"}})["Item"]
        assert item["n"] == {"N": "7"}
        # provisioning does not overwrite a parameter changed in an earlier session
        assert aws.client("ssm").get_parameter(Name="/demo/ThresholdParameter")["Parameter"]["Value"] == "0.9"
        s3.delete_object(Bucket="demo-databucket", Key="gone.txt")
    assert not (state / "s3/demo-databucket/gone.txt").exists()
    assert (state / "s3/demo-databucket/videos/a.mp4").exists()


def test_every_dynamodb_attribute_type_survives_saving_and_loading(tmp_path, app):
    state = tmp_path / ".stepsmith"
    item = {"id": {"S": "k"}, "n": {"N": "7.50"}, "b": {"B": b"\x00\xffbytes"}, "bs": {"BS": [b"a", b"\x01"]},
            "ns": {"NS": ["1", "2.5"]}, "ss": {"SS": ["x", "y"]}, "yes": {"BOOL": True}, "none": {"NULL": True},
            "l": {"L": [{"N": "1"}, {"S": "two"}, {"B": b"\x02"}]}, "m": {"M": {"deep": {"M": {"b": {"B": b"\x03"}}}}}}
    with LocalAWS(state, app=app) as aws:
        aws.client("dynamodb").put_item(TableName="demo-ItemsTable", Item=item)
        written = aws.client("dynamodb").get_item(TableName="demo-ItemsTable", Key={"id": {"S": "k"}})["Item"]
    saved = json.loads((state / "dynamodb/demo-ItemsTable.json").read_text())["Items"]
    assert saved[0]["b"] == {"B": "AP9ieXRlcw=="}          # DynamoDB JSON: binary in base64, as Scan answers
    with LocalAWS(state, app=app) as aws:
        read = aws.client("dynamodb").get_item(TableName="demo-ItemsTable", Key={"id": {"S": "k"}})["Item"]
    assert read == written
    assert read["b"] == {"B": b"\x00\xffbytes"} and read["n"] == {"N": "7.50"}


def test_a_table_file_with_an_item_dynamodb_refuses_is_named_with_the_item(tmp_path, app):
    from engine.aws.state import StateFileError

    state = tmp_path / ".stepsmith"
    with LocalAWS(state, app=app) as aws:
        aws.client("dynamodb").put_item(TableName="demo-ItemsTable", Item={"id": {"S": "k"}})
    table = state / "dynamodb/demo-ItemsTable.json"
    document = json.loads(table.read_text())
    document["Items"].append({"other": {"S": "no id"}})
    table.write_text(json.dumps(document))
    with pytest.raises(StateFileError) as error, LocalAWS(state, app=app):
        pass
    assert str(error.value).startswith(f"{table}: item 2 of Items cannot be loaded (")
    assert str(error.value).endswith("fix it, or delete the file to start table demo-ItemsTable empty")


def test_local_aws_sets_and_restores_credentials_and_region(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with LocalAWS(tmp_path, region="eu-west-1", persist=False):
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert boto3.client("sts").get_caller_identity()["Account"] == "111111111111"
    assert os.environ["AWS_PROFILE"] == "production"
    assert "AWS_DEFAULT_REGION" not in os.environ


def test_only_one_local_aws_at_a_time(tmp_path):
    second = LocalAWS(tmp_path, persist=False)
    with LocalAWS(tmp_path, persist=False), pytest.raises(LocalAWSError):
        second.__enter__()


def test_app_resources_are_provisioned(aws):
    assert aws.client("s3").head_bucket(Bucket="demo-databucket")
    assert "demo-ItemsTable" in aws.client("dynamodb").list_tables()["TableNames"]
    topics = [t["TopicArn"] for t in aws.client("sns").list_topics()["Topics"]]
    assert "arn:aws:sns:us-east-1:111111111111:demo-AlertsTopic" in topics
    with pytest.raises(ClientError):
        aws.client("s3").head_bucket(Bucket="not-there")


def test_table_indexes_are_created_for_queries(aws):
    dynamodb = aws.client("dynamodb")
    dynamodb.put_item(TableName="demo-ItemsTable", Item={"id": {"S": "1"}, "owner": {"S": "ada"}})
    found = dynamodb.query(TableName="demo-ItemsTable", IndexName="by-owner",
                           KeyConditionExpression="#o = :o", ExpressionAttributeNames={"#o": "owner"},
                           ExpressionAttributeValues={":o": {"S": "ada"}})
    assert [item["id"]["S"] for item in found["Items"]] == ["1"]


def test_concurrent_dynamodb_transactions_and_writes_are_answered_one_at_a_time(tmp_path):
    # Lambda workers' calls are answered in threads of the engine: moto's DynamoDB iterates a table in a
    # transaction while another request adds to it, which must not fail (a real table serialises them).
    import threading

    with LocalAWS(tmp_path / ".stepsmith", persist=False) as aws:
        client = aws.client("dynamodb")
        client.create_table(TableName="rows", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        failures: list[BaseException] = []

        def writer(lane: int) -> None:
            try:
                for batch in range(4):   # 4 lanes × 4 transactions fail every time without the lock
                    client.transact_write_items(TransactItems=[
                        {"Put": {"TableName": "rows", "Item": {"id": {"S": f"{lane}-{batch}-{i}"}},
                                 "ConditionExpression": "attribute_not_exists(id)"}} for i in range(25)])
            except BaseException as error:  # noqa: BLE001 - collected and asserted below
                failures.append(error)

        threads = [threading.Thread(target=writer, args=(lane,)) for lane in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert client.scan(TableName="rows", Select="COUNT")["Count"] == 4 * 4 * 25


@pytest.mark.parametrize("range_key", [False, True], ids=["hash key", "hash and range key"])
def test_a_failed_transaction_leaves_the_table_as_it_was_and_a_later_one_commits(tmp_path, range_key):
    # Local transactions roll back from a copy of the items they name, not of the whole table
    # (engine/aws/moto_patches.py): what they wrote, updated or deleted is undone, and nothing else moves.
    def key(name: str) -> dict:
        return {"id": {"S": name}, **({"part": {"S": "p"}} if range_key else {})}

    with LocalAWS(tmp_path / ".stepsmith", persist=False) as aws:
        client = aws.client("dynamodb")
        schema = [("id", "HASH"), *([("part", "RANGE")] if range_key else [])]
        client.create_table(TableName="rows", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in schema],
                            KeySchema=[{"AttributeName": n, "KeyType": k} for n, k in schema])
        for name in ("kept", "updated", "deleted", "checked"):
            client.put_item(TableName="rows", Item={**key(name), "credits": {"N": "1"}})

        def transaction(guard: str) -> list:
            return [
                {"Put": {"TableName": "rows", "Item": {**key("new"), "credits": {"N": "5"}}}},
                {"Update": {"TableName": "rows", "Key": key("updated"), "UpdateExpression": "SET credits = :c",
                            "ExpressionAttributeValues": {":c": {"N": "9"}}}},
                {"Delete": {"TableName": "rows", "Key": key("deleted")}},
                {"ConditionCheck": {"TableName": "rows", "Key": key("checked"), "ConditionExpression": guard}}]

        def table() -> dict:
            return {item["id"]["S"]: item["credits"]["N"] for item in client.scan(TableName="rows")["Items"]}

        before = table()
        with pytest.raises(ClientError) as failed:
            client.transact_write_items(TransactItems=transaction("attribute_not_exists(id)"))
        assert failed.value.response["Error"]["Code"] == "TransactionCanceledException"
        assert table() == before == {"kept": "1", "updated": "1", "deleted": "1", "checked": "1"}
        client.transact_write_items(TransactItems=transaction("attribute_exists(id)"))
        assert table() == {"kept": "1", "updated": "9", "checked": "1", "new": "5"}
        client.put_item(TableName="rows", Item={**key("after"), "credits": {"N": "2"}})   # the table still takes writes
        assert table()["after"] == "2"


def test_a_fresh_process_with_the_users_profile_set_never_reads_it(tmp_path):
    # The first LocalAWS of a process makes the shared boto3 session: made from the user's AWS_PROFILE,
    # it would fail on a profile this machine lacks (or run its credential_process / SSO) and leave moto on.
    import subprocess
    import sys

    code = ("from engine.aws import LocalAWS\n"
            f"with LocalAWS({str(tmp_path)!r}, persist=False) as aws:\n"
            "    print(aws.client('sts').get_caller_identity()['Account'])\n")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "AWS_PROFILE": "no-such-profile-here"},
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "111111111111"
