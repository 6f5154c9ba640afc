"""What each spec construct becomes in the SAM template, and how the template is written."""

import json
import textwrap

import pytest

from compiler.errors import SpecErrors
from compiler.load import build_workflow, read_document
from compiler.sam import build_template
from compiler.serialize import dump_template, load_template, write_outputs


def workflow_of(tmp_path, text, name="demo"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    workflow, errors = build_workflow(read_document(path), path)
    assert errors == []
    return workflow


def template_of(tmp_path, text, name="demo"):
    return build_template([workflow_of(tmp_path, text, name)], tmp_path)


FACE_BLUR = """
    description: Blur every face in uploaded videos.
    resources:
      videos-in: {type: bucket}
      videos-out: {type: bucket}
      replay-ids: {type: table, key: id, ttl: expires_at}
      threshold: {type: parameter, value: "0.8"}
    functions: {runtime: python3.12, memory: 512, timeout: 60, architecture: arm64,
                environment: {LOG_LEVEL: INFO}}
    trigger:
      s3: {bucket: videos-in, suffix: [.mp4, .MOV]}
    steps:
      - name: Collect faces
        handler: face_blur.collect_faces
        reads: [videos-in, threshold]
        writes: [replay-ids]
        memory: 1024
      - name: Blur faces
        handler: face_blur.blur_video
        image: face-blur
        memory: 10240
        timeout: 900
        ephemeral_storage: 10240
        reads: [videos-in]
        writes: [videos-out]
    """


@pytest.fixture
def face_blur(tmp_path):
    return template_of(tmp_path, FACE_BLUR, name="face-blur")


def test_template_header(face_blur):
    assert face_blur["AWSTemplateFormatVersion"] == "2010-09-09"
    assert face_blur["Transform"] == "AWS::Serverless-2016-10-31"


def test_zip_handler_becomes_a_function_with_its_settings_and_resource_env_vars(face_blur):
    function = face_blur["Resources"]["FaceBlurCollectFacesFunction"]
    assert function == {"Type": "AWS::Serverless::Function", "Properties": {
        "Description": "face-blur: Collect faces",
        "MemorySize": 1024,
        "Timeout": 60,
        "Architectures": ["arm64"],
        "EphemeralStorage": {"Size": 512},
        "Role": {"Fn::GetAtt": ["FaceBlurCollectFacesFunctionRole", "Arn"]},
        "CodeUri": "functions/FaceBlurCollectFacesFunction/",
        "Handler": "face_blur.collect_faces",
        "Runtime": "python3.12",
        "Environment": {"Variables": {"LOG_LEVEL": "INFO", "REPLAY_IDS_TABLE": {"Ref": "ReplayIdsTable"},
                                      "THRESHOLD_PARAMETER": {"Ref": "ThresholdParameter"},
                                      "VIDEOS_IN_BUCKET": {"Ref": "VideosInBucket"}}},
    }}


def test_an_environment_may_name_a_resource_without_being_granted_it(tmp_path):
    template = template_of(tmp_path, """
        resources:
          videos-in: {type: bucket}
          videos-out: {type: bucket}
        steps:
          - name: Check upload
            handler: face_blur.prepare.handler
            reads: [videos-in]
            environment:
              VIDEOS_OUT_BUCKET: ${resource:videos-out}
              OUTPUT_URL: s3://${resource:videos-out}/done/
        """)
    variables = template["Resources"]["DemoCheckUploadFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["VIDEOS_OUT_BUCKET"] == {"Ref": "VideosOutBucket"}
    assert variables["OUTPUT_URL"] == {"Fn::Sub": "s3://${VideosOutBucket}/done/"}
    policy = json.dumps(template["Resources"]["DemoCheckUploadFunctionRole"]["Properties"]["Policies"])
    assert "VideosOutBucket" not in policy and "VideosInBucket" in policy


def test_image_handler_is_built_from_its_dockerfile(face_blur):
    function = face_blur["Resources"]["FaceBlurBlurFacesFunction"]
    properties = function["Properties"]
    assert properties["PackageType"] == "Image"
    assert properties["ImageConfig"] == {"Command": ["face_blur.blur_video"]}
    assert "CodeUri" not in properties and "Runtime" not in properties
    assert (properties["MemorySize"], properties["Timeout"], properties["EphemeralStorage"]) == (
        10240, 900, {"Size": 10240})
    assert function["Metadata"] == {"Dockerfile": "images/face-blur/Dockerfile", "DockerContext": "..",
                                    "DockerTag": "face-blur"}


def test_each_function_has_its_own_least_privilege_role(face_blur):
    role = face_blur["Resources"]["FaceBlurBlurFacesFunctionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in statements] == ["ReadVideosInBucket", "ReadVideosInBucketObjects", "WriteLogs",
                                              "WriteVideosOutBucketObjects"]


def test_owned_resources(face_blur):
    resources = face_blur["Resources"]
    assert resources["VideosInBucket"]["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert "NotificationConfiguration" not in resources["VideosOutBucket"]["Properties"]
    assert resources["ReplayIdsTable"] == {"Type": "AWS::DynamoDB::Table", "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}}}
    assert resources["ThresholdParameter"] == {"Type": "AWS::SSM::Parameter", "Properties": {
        "Type": "String", "Name": {"Fn::Sub": "/${AWS::StackName}/threshold"}, "Value": "0.8"}}


def test_state_machine(face_blur):
    machine = face_blur["Resources"]["FaceBlurStateMachine"]
    assert machine == {"Type": "AWS::Serverless::StateMachine", "Properties": {
        "Name": {"Fn::Sub": "${AWS::StackName}-face-blur"},
        "Type": "STANDARD",
        "DefinitionUri": "statemachines/face-blur.asl.json",
        "Role": {"Fn::GetAtt": ["FaceBlurStateMachineRole", "Arn"]},
        "DefinitionSubstitutions": {
            "FaceBlurBlurFacesFunctionArn": {"Fn::GetAtt": ["FaceBlurBlurFacesFunction", "Arn"]},
            "FaceBlurCollectFacesFunctionArn": {"Fn::GetAtt": ["FaceBlurCollectFacesFunction", "Arn"]}},
    }}
    assert face_blur["Outputs"]["FaceBlurStateMachineArn"]["Value"] == {"Ref": "FaceBlurStateMachine"}


def test_s3_trigger_is_an_eventbridge_rule_with_case_insensitive_suffixes(face_blur):
    rule = face_blur["Resources"]["FaceBlurTrigger"]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [{"Ref": "VideosInBucket"}]},
                   "object": {"key": [{"suffix": {"equals-ignore-case": ".mp4"}},
                                      {"suffix": {"equals-ignore-case": ".MOV"}}]}}}
    assert rule["Targets"] == [{"Id": "StartWorkflow", "Arn": {"Ref": "FaceBlurStateMachine"},
                                "RoleArn": {"Fn::GetAtt": ["FaceBlurTriggerRole", "Arn"]}}]
    trigger_role = face_blur["Resources"]["FaceBlurTriggerRole"]["Properties"]
    assert trigger_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"}
    assert trigger_role["Policies"][0]["PolicyDocument"]["Statement"] == [
        {"Sid": "StartWorkflow", "Effect": "Allow", "Action": ["states:StartExecution"],
         "Resource": {"Ref": "FaceBlurStateMachine"}}]


def test_schedule_trigger(tmp_path):
    template = template_of(tmp_path, """
        trigger:
          schedule: {cron: "0 3 * * ? *", timezone: Europe/Berlin, input: {mode: nightly}}
        steps:
          - name: Go
            pass: {}
        """, name="nightly")
    schedule = template["Resources"]["NightlySchedule"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    assert schedule["Properties"] == {
        "Description": "Start nightly on a schedule",
        "ScheduleExpression": "cron(0 3 * * ? *)",
        "ScheduleExpressionTimezone": "Europe/Berlin",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Target": {"Arn": {"Ref": "NightlyStateMachine"},
                   "RoleArn": {"Fn::GetAtt": ["NightlyTriggerRole", "Arn"]},
                   "Input": '{"mode": "nightly"}'}}


def test_private_api_with_a_responding_handler(tmp_path):
    template = template_of(tmp_path, """
        parameters:
          VpcEndpointId: {type: String}
        trigger:
          api: {method: POST, path: /saml, endpoint: private, vpc_endpoint_id: "${param:VpcEndpointId}",
                respond: Login}
        steps:
          - name: Login
            handler: saml_login.handler
            timeout: 29
        """, name="saml-login")
    api = template["Resources"]["SamlLoginApi"]
    assert api == {"Type": "AWS::Serverless::Api", "Properties": {
        "StageName": "v1",
        "EndpointConfiguration": {"Type": "PRIVATE", "VPCEndpointIds": [{"Fn::Sub": "${VpcEndpointId}"}]},
        "Auth": {"ResourcePolicy": {"CustomStatements": [{
            "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
            "Condition": {"StringEquals": {"aws:SourceVpce": {"Fn::Sub": "${VpcEndpointId}"}}}}]}}}}
    events = template["Resources"]["SamlLoginLoginFunction"]["Properties"]["Events"]
    assert events == {"Api": {"Type": "Api", "Properties": {"RestApiId": {"Ref": "SamlLoginApi"},
                                                            "Path": "/saml", "Method": "post"}}}
    assert template["Parameters"] == {"VpcEndpointId": {"Type": "String"}}
    assert "Events" not in template["Resources"]["SamlLoginStateMachine"]["Properties"]


def test_regional_api_starts_the_state_machine(tmp_path):
    template = template_of(tmp_path, """
        trigger:
          api: {method: POST, path: /orders}
        steps:
          - name: Go
            pass: {}
        """, name="orders")
    assert template["Resources"]["OrdersApi"]["Properties"]["EndpointConfiguration"] == {"Type": "REGIONAL"}
    assert template["Resources"]["OrdersStateMachine"]["Properties"]["Events"] == {
        "Api": {"Type": "Api", "Properties": {"RestApiId": {"Ref": "OrdersApi"}, "Path": "/orders",
                                             "Method": "post"}}}


def test_express_workflows_log_to_their_own_group(tmp_path):
    template = template_of(tmp_path, """
        type: express
        steps:
          - name: Go
            pass: {}
        """, name="quick")
    properties = template["Resources"]["QuickStateMachine"]["Properties"]
    assert properties["Type"] == "EXPRESS"
    assert properties["Logging"]["Destinations"] == [
        {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["QuickStateMachineLogs", "Arn"]}}}]
    assert template["Resources"]["QuickStateMachineLogs"]["Type"] == "AWS::Logs::LogGroup"


def test_resources_shared_by_workflows_are_one_resource(tmp_path):
    a = workflow_of(tmp_path, "resources:\n  shared: {type: bucket}\nsteps:\n  - {name: A, pass: {}}\n", "a")
    b = workflow_of(tmp_path, "resources:\n  shared: {type: bucket}\nsteps:\n  - {name: B, pass: {}}\n", "b")
    template = build_template([a, b], tmp_path)
    assert [k for k in template["Resources"] if k.endswith("Bucket")] == ["SharedBucket"]


def test_conflicting_declarations_are_an_error_with_both_places(tmp_path):
    a = workflow_of(tmp_path, "resources:\n  ids: {type: table, key: id}\nsteps:\n  - {name: A, pass: {}}\n", "a")
    b = workflow_of(tmp_path, "resources:\n  ids: {type: table, key: pk}\nsteps:\n  - {name: B, pass: {}}\n", "b")
    with pytest.raises(SpecErrors) as error:
        build_template([a, b], tmp_path)
    message = str(error.value)
    assert "b.yaml:2:" in message and "IdsTable is declared differently at" in message and "a.yaml:2:" in message


def test_a_wildcard_resource_is_explained_by_a_comment_in_the_yaml(tmp_path):
    template = template_of(tmp_path, """
        steps:
          - name: Detect
            service: rekognition:getFaceDetection
            parameters: {JobId.$: $.id}
        """)
    role = template["Resources"]["DemoStateMachineRole"]
    assert role["Metadata"]["StepsmithWildcardResources"]["RekognitionUnscoped"].startswith(
        "Rekognition video analysis")
    lines = dump_template(template).splitlines()
    sid = lines.index("              - Sid: RekognitionUnscoped")
    assert lines[sid - 1] == ('              # Resource "*": Rekognition video analysis and image detection APIs '
                              "support no resource-level permissions")


def test_short_form_tags_round_trip(face_blur):
    text = dump_template(face_blur)
    assert "Role: !GetAtt FaceBlurCollectFacesFunctionRole.Arn" in text
    assert "VIDEOS_IN_BUCKET: !Ref VideosInBucket" in text
    assert "Name: !Sub ${AWS::StackName}-face-blur" in text
    assert "Fn::" not in text and "Ref:" not in text
    assert load_template(text) == face_blur


def test_nested_intrinsics_keep_the_outer_function_long():
    template = {"Resources": {"X": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Value": {"Fn::Base64": {"Fn::Sub": "${AWS::Region}"}},
        "Tags": {"Fn::If": ["IsProd", {"Ref": "A"}, {"Fn::Join": ["-", [{"Ref": "AWS::Region"}, "x"]]}]}}}}}
    text = dump_template(template)
    assert "Fn::Base64: !Sub ${AWS::Region}" in text
    assert "!If" in text and "!Join" in text
    assert load_template(text) == template


def test_write_outputs_is_deterministic_and_removes_stale_machines(tmp_path, face_blur):
    definition = {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
    out = tmp_path / "build"
    (out / "statemachines").mkdir(parents=True)
    (out / "statemachines" / "gone.asl.json").write_text("{}")
    written = write_outputs(face_blur, {"face-blur": definition}, out)
    first = {p: (out / p).read_bytes() for p in written}
    write_outputs(face_blur, {"face-blur": definition}, out)
    assert {p: (out / p).read_bytes() for p in written} == first
    assert sorted(str(p) for p in written) == ["statemachines/face-blur.asl.json", "template.yaml"]
    assert not (out / "statemachines" / "gone.asl.json").exists()
    assert json.loads(first[written[1]]) == definition
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temp files left


@pytest.mark.parametrize(("key", "starts"), [
    ("uploads/clip.mp4", True),
    ("uploads/holiday/CLIP.MP4", True),   # the suffix keeps its documented case-insensitivity
    ("uploads/clip.Mov", True),
    ("uploads/.mp4", True),
    ("uploads/clip.mp4.txt", False),
    ("other/clip.mp4", False),
    ("Uploads/clip.mp4", False),          # S3 keys, and so the prefix, are case-sensitive
    ("clip.mp4", False),
])
def test_s3_trigger_with_prefix_and_suffix(tmp_path, key, starts):
    from engine.aws.events import matches, s3_object_created

    template = template_of(tmp_path, """
        resources:
          videos-in: {type: bucket}
        trigger:
          s3: {bucket: videos-in, prefix: uploads/, suffix: [.mp4, .MOV, .mov]}
        steps:
          - name: Done
            succeed: true
        """)
    pattern = template["Resources"]["DemoTrigger"]["Properties"]["EventPattern"]
    keys = pattern["detail"]["object"]["key"]
    assert {"wildcard": "uploads/*.mp4"} in keys and {"wildcard": "uploads/*.MOV"} in keys
    assert len(keys) == 4 + 8  # every letter-case spelling once, though .MOV and .mov are both listed
    pattern = json.loads(json.dumps(pattern).replace('{"Ref": "VideosInBucket"}', '"videos-in"'))
    event = s3_object_created("videos-in", key, size=1, etag='"e"', account="111111111111", region="us-east-1")
    assert matches(pattern, event) is starts


@pytest.mark.parametrize(("trigger", "key_filter"), [
    ("{bucket: videos-in, prefix: uploads/}", [{"prefix": "uploads/"}]),
    ("{bucket: videos-in}", None),
])
def test_s3_trigger_with_a_prefix_or_nothing(tmp_path, trigger, key_filter):
    template = template_of(tmp_path, f"""
        resources:
          videos-in: {{type: bucket}}
        trigger:
          s3: {trigger}
        steps:
          - name: Done
            succeed: true
        """)
    detail = {"bucket": {"name": [{"Ref": "VideosInBucket"}]}}
    if key_filter is not None:
        detail["object"] = {"key": key_filter}
    rule = template["Resources"]["DemoTrigger"]
    assert rule["Type"] == "AWS::Events::Rule"
    assert rule["Properties"]["State"] == "ENABLED"
    assert rule["Properties"]["Description"] == "Start demo when an object is created in videos-in"
    assert rule["Properties"]["EventPattern"] == {"source": ["aws.s3"], "detail-type": ["Object Created"],
                                                  "detail": detail}
