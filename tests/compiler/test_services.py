"""Service steps judged by botocore's API models: what is dynamic, what optimized integrations allow."""
from __future__ import annotations

from compiler.model import ServiceStep, SourcePlace
from compiler.services import check_parameters

PLACE = SourcePlace("w.yaml", 1, 1)


def _problems(service: str, action: str, payload, optimized: bool = False, jsonata: bool = False) -> list[str]:
    step = ServiceStep(name="S", service=service, action=action, optimized=optimized, place=PLACE)
    return [problem.message for problem in check_parameters(step, payload, jsonata)]


def test_dynamic_values_count_as_present_and_skip_the_type_check():
    assert _problems("dynamodb", "putItem", {"TableName": "${resource:orders}", "Item.$": "$.item",
                                              "ReturnConsumedCapacity.$": "$.mode"}) == []
    assert _problems("dynamodb", "putItem", {"TableName": "t", "Item": {}, "Limit": "${param:Limit}"}) == [
        "'Limit' is not a member of dynamodb:putItem"]


def test_jsonata_arguments_are_dynamic_whole_or_per_value():
    assert _problems("sagemaker", "describeTrainingJob", "{% $states.input %}", jsonata=True) == []
    assert _problems("sagemaker", "describeTrainingJob", {"TrainingJobName": "{% $states.input.name %}"},
                     jsonata=True) == []


def test_optimized_integrations_take_json_bodies_as_objects_but_the_sdk_does_not():
    assert _problems("sns", "publish", {"TopicArn": "arn", "Message": {"ok": True}}, optimized=True) == []
    assert _problems("sns", "publish", {"TopicArn": "arn", "Message": {"ok": True}}) == [
        "expected a string for Message, got a mapping"]


def test_nested_shapes_lists_and_enums_are_checked():
    problems = _problems("rekognition", "startFaceDetection", {
        "Video": {"S3Object": {"Bucket": "b", "Nme": "k"}}, "FaceAttributes": "EVERYTHING",
        "NotificationChannel": {"SNSTopicArn": "arn", "RoleArn": 3}})
    assert problems == ["'Nme' is not a member of S3Object", "'EVERYTHING' is not one of: DEFAULT, ALL",
                        "expected a string for RoleArn, got the number 3"]


def test_a_reference_where_the_api_wants_a_number_says_how_to_make_it_one():
    step = ServiceStep(name="S", service="rekognition", action="getFaceDetection", place=PLACE)
    (problem,) = check_parameters(step, {"JobId.$": "$.job", "MaxResults": "${param:PageSize}"}, False)
    assert problem.message == "MaxResults takes an integer, and ${param:PageSize} becomes text"
    assert problem.hint == "write MaxResults.$: States.StringToJson('${param:PageSize}')"
