"""What step `policies:`, `vpc`, typed parameters, `scp:` and `vpc_endpoints` become in the compiled output."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from compiler import compile_project
from compiler.load import build_workflow, read_document
from compiler.sam import build_template
from compiler.serialize import dump_template

ENI = ["ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
       "ec2:DescribeNetworkInterfaces", "ec2:UnassignPrivateIpAddresses"]

LOGIN = """
    parameters:
      AllowedCidr: {default: 10.0.0.0/16}
      StudioDomainId: {default: "*"}
      SubnetIds: {type: "List<AWS::EC2::Subnet::Id>"}
      SecurityGroupIds: {type: "List<AWS::EC2::SecurityGroup::Id>"}
    resources:
      replay-ids: {type: table, key: id}
      archive: {type: bucket}
    functions:
      vpc: {subnet_ids: "${param:SubnetIds}", security_group_ids: "${param:SecurityGroupIds}"}
    steps:
      - name: Sign in
        handler: shop.handler
        writes: [replay-ids]
        policies:
          - Sid: Presign
            Effect: Allow
            Action: sagemaker:CreatePresignedDomainUrl
            Resource: arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:user-profile/${param:StudioDomainId}/*
          - Sid: ReadArchive
            Effect: Allow
            Action: [s3:GetObject]
            Resource: ["${resource:archive}/in/*", "${resource:replay-ids}"]
          - Sid: DenyOutside
            Effect: Deny
            NotAction: [sts:GetCallerIdentity]
            Resource: "*"
            Condition:
              NotIpAddress: {aws:VpcSourceIp: "${param:AllowedCidr}"}
      - name: Plain
        handler: shop.other
        vpc: null
    """


def workflow_of(tmp_path: Path, text: str, name: str = "demo"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    workflow, errors = build_workflow(read_document(path), path)
    assert errors == []
    return workflow


def template_of(tmp_path: Path, text: str, name: str = "demo") -> dict:
    return build_template([workflow_of(tmp_path, text, name)], tmp_path)


def statements(template: dict, role: str) -> list[dict]:
    (policy,) = template["Resources"][role]["Properties"]["Policies"]
    return policy["PolicyDocument"]["Statement"]


def test_step_policies_follow_the_generated_statements_with_references_resolved(tmp_path):
    template = template_of(tmp_path, LOGIN)
    found = statements(template, "DemoSignInFunctionRole")
    assert [s["Sid"] for s in found] == ["VpcNetworkInterfaces", "WriteLogs", "WriteReplayIdsTable",
                                         "Presign", "ReadArchive", "DenyOutside"]
    assert found[3:] == [
        {"Sid": "Presign", "Effect": "Allow", "Action": "sagemaker:CreatePresignedDomainUrl",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
                                 "user-profile/${StudioDomainId}/*"}},
        {"Sid": "ReadArchive", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [{"Fn::Sub": "${ArchiveBucket.Arn}/in/*"}, {"Fn::GetAtt": ["ReplayIdsTable", "Arn"]}]},
        {"Sid": "DenyOutside", "Effect": "Deny", "NotAction": ["sts:GetCallerIdentity"], "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:VpcSourceIp": {"Ref": "AllowedCidr"}}}},
    ]


def test_wildcard_resources_in_a_role_say_why_in_the_template(tmp_path):
    text = dump_template(template_of(tmp_path, LOGIN))
    assert ("# Resource \"*\": written in the spec's `policies:` (denies on every resource)\n"
            "              - Sid: DenyOutside\n") in text
    assert "# Resource \"*\": ec2:DescribeNetworkInterfaces supports no resource-level permissions" in text


def test_vpc_becomes_vpc_config_of_list_parameters_and_the_network_interface_actions(tmp_path):
    template = template_of(tmp_path, LOGIN)
    function = template["Resources"]["DemoSignInFunction"]["Properties"]
    assert function["VpcConfig"] == {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}}
    assert statements(template, "DemoSignInFunctionRole")[0] == {
        "Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": ENI, "Resource": "*"}
    # `vpc: null` on a step runs that function outside the VPC, without the network actions.
    assert "VpcConfig" not in template["Resources"]["DemoPlainFunction"]["Properties"]
    assert [s["Sid"] for s in statements(template, "DemoPlainFunctionRole")] == ["WriteLogs"]
    assert "Conditions" not in template


def test_parameter_types_pass_through(tmp_path):
    parameters = template_of(tmp_path, LOGIN)["Parameters"]
    assert parameters["SubnetIds"] == {"Type": "List<AWS::EC2::Subnet::Id>"}
    assert parameters["SecurityGroupIds"] == {"Type": "List<AWS::EC2::SecurityGroup::Id>"}
    assert parameters["AllowedCidr"] == {"Type": "String", "Default": "10.0.0.0/16"}


def test_a_vpc_whose_list_parameter_may_be_empty_is_left_out_when_it_is(tmp_path):
    template = template_of(tmp_path, """
        parameters:
          SubnetIds: {type: CommaDelimitedList, default: ""}
        functions:
          vpc: {subnet_ids: "${param:SubnetIds}", security_group_ids: [sg-0123456789abcdef0]}
        steps:
          - name: Work
            handler: shop.handler
        """)
    assert template["Conditions"] == {
        "HasSubnetIds": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": "SubnetIds"}]}, ""]}]}}
    assert template["Resources"]["DemoWorkFunction"]["Properties"]["VpcConfig"] == {"Fn::If": [
        "HasSubnetIds", {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": ["sg-0123456789abcdef0"]},
        {"Ref": "AWS::NoValue"}]}


ENDPOINTS = """
    parameters:
      CreateVpcEndpoints: {default: "false", allowed_values: ["true", "false"]}
      VpcId: {type: "AWS::EC2::VPC::Id"}
      SubnetIds: {type: "List<AWS::EC2::Subnet::Id>"}
    resources:
      studio-endpoints:
        type: vpc_endpoints
        when: ${param:CreateVpcEndpoints}
        vpc_id: ${param:VpcId}
        subnet_ids: ${param:SubnetIds}
        security_group_ids: [sg-0123456789abcdef0]
        services: [sagemaker.api, studio]
    steps:
      - name: Done
        succeed: {}
    """


def test_vpc_endpoints_are_interface_endpoints_under_a_condition(tmp_path):
    template = template_of(tmp_path, ENDPOINTS)
    assert template["Conditions"] == {"CreateVpcEndpointsIsTrue": {"Fn::Equals": [{"Ref": "CreateVpcEndpoints"},
                                                                                  "true"]}}
    resources = template["Resources"]

    def endpoint(service_name: str) -> dict:
        return {"Type": "AWS::EC2::VPCEndpoint", "Condition": "CreateVpcEndpointsIsTrue", "Properties": {
            "VpcEndpointType": "Interface", "ServiceName": {"Fn::Sub": service_name},
            "VpcId": {"Fn::Sub": "${VpcId}"}, "SubnetIds": {"Ref": "SubnetIds"},
            "SecurityGroupIds": ["sg-0123456789abcdef0"], "PrivateDnsEnabled": True}}

    assert resources["StudioEndpointsSagemakerApiEndpoint"] == endpoint("com.amazonaws.${AWS::Region}.sagemaker.api")
    assert resources["StudioEndpointsStudioEndpoint"] == endpoint("aws.sagemaker.${AWS::Region}.studio")
    assert sorted(k for k, r in resources.items() if r["Type"] == "AWS::EC2::VPCEndpoint") == [
        "StudioEndpointsSagemakerApiEndpoint", "StudioEndpointsStudioEndpoint"]


# --- files written by compile_project -----------------------------------------------------------------

SCP = """
    parameters:
      AllowedCidr: {default: 10.0.0.0/16}
      TrustedRole: {}
    scp:
      - Sid: DenyPresignOutside
        Effect: Deny
        Action: sagemaker:CreatePresignedDomainUrl
        Resource: "*"
        Condition:
          NotIpAddress: {aws:VpcSourceIp: "${param:AllowedCidr}"}
          ArnNotLike: {aws:PrincipalArn: "arn:aws:iam::*:role/${param:TrustedRole}"}
    steps:
      - name: Done
        succeed: {}
    """


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "workflows").mkdir(parents=True)
    (root / "workflows" / "login.yaml").write_text(textwrap.dedent(SCP))
    return root


def test_scp_is_a_policy_document_beside_the_template_with_defaults_filled_in(project):
    result = compile_project(project, "build")
    assert Path("login.scp.json") in result.files
    text = (project / "build" / "login.scp.json").read_text()
    assert json.loads(text) == {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyPresignOutside", "Effect": "Deny", "Action": "sagemaker:CreatePresignedDomainUrl",
        "Resource": "*", "Condition": {"NotIpAddress": {"aws:VpcSourceIp": "10.0.0.0/16"},
                                       "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/${TrustedRole}"}}}]}
    # A parameter with no default stays a placeholder, and compile says so once, at its place.
    notes = [str(lint) for lint in result.warnings if lint.severity == "note"]
    assert notes == [("workflows/login.yaml:12:38: note: login.scp.json keeps ${TrustedRole}: "
                     "parameter TrustedRole has no default (fill it in before attaching the policy, or compile "
                     "with a parameter override)")]
    compile_project(project, "build")
    assert (project / "build" / "login.scp.json").read_text() == text  # deterministic


def test_parameter_overrides_fill_the_scp(project):
    result = compile_project(project, "build", parameter_overrides={"TrustedRole": "admin", "AllowedCidr": "10.9.0.0/16"})
    condition = json.loads((project / "build" / "login.scp.json").read_text())["Statement"][0]["Condition"]
    assert condition == {"NotIpAddress": {"aws:VpcSourceIp": "10.9.0.0/16"},
                         "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}}
    assert [lint for lint in result.warnings if lint.severity == "note"] == []


def test_the_output_folder_is_replaced_whole_keeping_files_the_compiler_did_not_make(project):
    build = project / "build"
    compile_project(project, "build")
    (build / "notes.txt").write_text("mine")
    (build / "gone.scp.json").write_text("{}")
    (build / "statemachines" / "gone.asl.json").write_text("{}")
    template_inode = (build / "template.yaml").stat().st_ino
    compile_project(project, "build")
    assert (build / "notes.txt").read_text() == "mine"
    assert not (build / "gone.scp.json").exists() and not (build / "statemachines" / "gone.asl.json").exists()
    assert (build / "template.yaml").stat().st_ino == template_inode  # unchanged files are kept, not rewritten
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []  # no staging folders left
    assert (build.stat().st_mode & 0o777) == (project.stat().st_mode & 0o777)  # made like any folder


def test_a_compile_that_fails_while_writing_leaves_the_old_output_whole(project, monkeypatch):
    from compiler import serialize

    compile_project(project, "build")
    before = {p: p.read_bytes() for p in (project / "build").rglob("*") if p.is_file()}
    (project / "workflows" / "login.yaml").write_text(textwrap.dedent(SCP).replace("10.0.0.0/16", "10.5.0.0/16"))

    def crash(staging: Path, out_dir: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(serialize, "_swap", crash)
    with pytest.raises(OSError, match="disk full"):
        compile_project(project, "build")
    assert {p: p.read_bytes() for p in (project / "build").rglob("*") if p.is_file()} == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []


def test_without_an_atomic_exchange_two_renames_still_replace_the_folder(project, monkeypatch):
    from compiler import serialize

    compile_project(project, "build")
    (project / "workflows" / "login.yaml").write_text(textwrap.dedent(SCP).replace("10.0.0.0/16", "10.5.0.0/16"))
    monkeypatch.setattr(serialize, "_exchange", lambda first, second: False)
    compile_project(project, "build")
    assert "10.5.0.0/16" in (project / "build" / "login.scp.json").read_text()
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []


def test_a_crash_between_the_two_renames_is_recovered_by_the_next_compile(project):
    compile_project(project, "build")
    (project / "build" / "notes.txt").write_text("mine")
    (project / "build").rename(project / ".build.old-x")  # what a crash between the renames leaves
    compile_project(project, "build")
    assert (project / "build" / "notes.txt").read_text() == "mine"
    assert (project / "build" / "login.scp.json").exists()
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []


def test_the_project_itself_is_never_the_output_folder(project):
    from compiler.errors import SpecErrors

    with pytest.raises(SpecErrors, match="cannot hold the project"):
        compile_project(project, ".")
    assert (project / "workflows" / "login.yaml").exists()


def test_the_api_endpoint_type_may_be_chosen_by_a_parameter(tmp_path):
    template = template_of(tmp_path, """
        parameters:
          EndpointType: {default: private, allowed_values: [private, regional]}
          VpcEndpointId: {default: vpce-0123456789abcdef0}
        trigger:
          api: {method: POST, path: /saml, endpoint: "${param:EndpointType}", vpc_endpoint_id: "${param:VpcEndpointId}",
                respond: Answer}
        steps:
          - name: Answer
            handler: shop.handler
        """)
    assert template["Conditions"] == {"EndpointTypeIsPrivate": {"Fn::Equals": [{"Ref": "EndpointType"}, "private"]}}
    properties = template["Resources"]["DemoApi"]["Properties"]
    endpoint = {"Fn::Sub": "${VpcEndpointId}"}
    assert properties["EndpointConfiguration"] == {
        "Type": {"Fn::If": ["EndpointTypeIsPrivate", "PRIVATE", "REGIONAL"]},
        "VPCEndpointIds": {"Fn::If": ["EndpointTypeIsPrivate", [endpoint], {"Ref": "AWS::NoValue"}]}}
    invoke = {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}
    assert properties["Auth"] == {"ResourcePolicy": {"CustomStatements": [{"Fn::If": [
        "EndpointTypeIsPrivate", {**invoke, "Condition": {"StringEquals": {"aws:SourceVpce": endpoint}}}, invoke]}]}}


def test_an_endpoint_parameter_must_allow_exactly_private_and_regional(tmp_path):
    from compiler import validate_project

    root = tmp_path / "project"
    (root / "workflows").mkdir(parents=True)
    (root / "handlers").mkdir()
    (root / "handlers" / "shop.py").write_text("def handler(event, context):\n    return {}\n")
    (root / "workflows" / "api.yaml").write_text(textwrap.dedent("""\
        parameters:
          EndpointType: {default: private}
        trigger:
          api: {method: POST, path: /saml, endpoint: "${param:EndpointType}", respond: Answer}
        steps:
          - name: Answer
            handler: shop.handler
        """))
    assert [str(error) for error in validate_project(root)] == [
        ("workflows/api.yaml:4:8: an API that may be private needs `vpc_endpoint_id` "
         "(e.g. vpc_endpoint_id: ${param:VpcEndpointId})"),
        ("workflows/api.yaml:4:46: parameter 'EndpointType' chooses the endpoint, so it must allow exactly private "
         "and regional (declare EndpointType: {allowed_values: [private, regional], default: private})")]
