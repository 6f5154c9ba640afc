"""Reading the compiled template: local names, refs, substitutions, functions, triggers."""
from pathlib import Path

import pytest

from engine.app import App, AppError, load_template


def test_resources_get_local_names(app):
    assert app.buckets == {"DataBucket": "demo-databucket"}
    assert app.tables["ItemsTable"].name == "demo-ItemsTable"
    assert app.tables["ItemsTable"].key_schema == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert app.topics == {"AlertsTopic": "demo-AlertsTopic"}
    assert app.parameters["ThresholdParameter"] == ("/demo/ThresholdParameter", "String", "0.8")


def test_function_environment_resolves_refs_globals_and_conditions(app):
    greet = app.functions["DemoGreetFunction"]
    assert greet.handler == "demo.greet"
    assert greet.code_uri == (Path(app.template_path).parent / "../handlers").resolve()
    assert greet.timeout == 30 and greet.memory == 512 and greet.runtime == "python3.11"
    assert greet.environment == {
        "LOG_LEVEL": "INFO",
        "DATA_BUCKET": "demo-databucket",
        "ITEMS_TABLE": "demo-ItemsTable",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:111111111111:demo-AlertsTopic",
        "THRESHOLD_PARAMETER": "/demo/ThresholdParameter",
        "STAGE": "dev-local",
    }
    assert app.functions["DemoSlowFunction"].timeout == 1


def test_parameter_overrides_flow_into_conditions(app):
    prod = App.load(app.root, stack="demo", parameter_overrides={"Stage": "prod"})
    assert prod.functions["DemoGreetFunction"].environment["STAGE"] == "production"


def test_definition_substitutions_are_applied(app):
    machine = app.state_machine("demo")
    assert machine is app.state_machines["DemoStateMachine"]
    states = machine.definition["States"]
    assert states["Greet"]["Resource"] == "arn:aws:lambda:us-east-1:111111111111:function:demo-DemoGreetFunction"
    assert states["Done"]["Parameters"]["bucket"] == "demo-databucket"
    assert machine.arn == "arn:aws:states:us-east-1:111111111111:stateMachine:demo-DemoStateMachine"


def test_functions_are_found_by_arn_name_or_qualified_arn(app):
    greet = app.functions["DemoGreetFunction"]
    assert app.function(greet.arn) is greet
    assert app.function(greet.arn + ":$LATEST") is greet
    assert app.function("demo-DemoGreetFunction") is greet
    assert app.function("nope") is None


def test_event_rule_targets_the_state_machine(app):
    (rule,) = app.rules_for(app.state_machines["DemoStateMachine"])
    assert rule.pattern["detail"]["bucket"]["name"] == ["demo-databucket"]
    assert rule.pattern["detail"]["object"]["key"][0] == {"suffix": {"equals-ignore-case": ".txt"}}


def test_missing_template_says_to_compile(tmp_path):
    with pytest.raises(AppError, match="run `stepsmith compile`"):
        App.load(tmp_path)


def test_yaml_errors_name_the_line(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text("Resources:\n  A: [unclosed\n")
    with pytest.raises(AppError, match=r"template.yaml:\d+:\d+"):
        load_template(path)


def test_image_functions_find_their_handler_through_the_dockerfile(tmp_path):
    (tmp_path / "images" / "blur").mkdir(parents=True)
    (tmp_path / "images" / "blur" / "Dockerfile").write_text(
        "FROM public.ecr.aws/lambda/python:3.11\nCOPY handlers/ ${LAMBDA_TASK_ROOT}/\n")
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "blur.py").write_text("def run(event, context):\n    return 1\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "template.yaml").write_text(
        "Resources:\n  BlurFunction:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {PackageType: Image, ImageConfig: {Command: [blur.run]}, Timeout: 900}\n"
        "    Metadata: {DockerContext: .., Dockerfile: images/blur/Dockerfile}\n")
    function = App.load(tmp_path).functions["BlurFunction"]
    assert function.package_type == "Image"
    assert function.handler == "blur.run"
    assert function.code_uri == (tmp_path / "handlers").resolve()


TWO_MACHINES = """\
Parameters:
  IdpCertificate: {Type: String}
Resources:
  LoginFunction:
    Type: AWS::Serverless::Function
    Properties: {Handler: login.handler, CodeUri: ../handlers/, Runtime: python3.11,
                 Environment: {Variables: {IDP_CERTIFICATE: !Ref IdpCertificate}}}
  LoginStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: A, States: {A: {Type: Task, Resource: "${Fn}", End: true}}}
      DefinitionSubstitutions: {Fn: !GetAtt LoginFunction.Arn}
  ReportStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: A, States: {A: {Type: Pass, End: true}}}
"""


def test_a_parameter_without_value_only_blocks_what_uses_it(tmp_path):
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "template.yaml").write_text(TWO_MACHINES)
    app = App.load(tmp_path, stack="demo")
    app.check_runnable(app.state_machine("ReportStateMachine"))  # needs nothing missing
    with pytest.raises(AppError, match="LoginFunction needs parameter IdpCertificate, which has no Default: "
                                       "pass --parameter-overrides IdpCertificate=VALUE"):
        app.check_runnable(app.state_machine("LoginStateMachine"))
    with pytest.raises(AppError, match="needs parameter IdpCertificate"):
        app.function("arn:aws:lambda:us-east-1:111111111111:function:demo-LoginFunction")


def test_parameter_overrides_resolve_what_had_no_value(tmp_path):
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "template.yaml").write_text(TWO_MACHINES)
    app = App.load(tmp_path, stack="demo", parameter_overrides={"IdpCertificate": "MIIC"})
    app.check_runnable(app.state_machine("LoginStateMachine"))
    assert app.functions["LoginFunction"].environment["IDP_CERTIFICATE"] == "MIIC"
