"""IAM evaluation as AWS documents it, for the policies the SAML-login role and its stand-in rely on."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.iam_eval import PolicyError, action_matches, condition_holds, evaluate, resource_matches

PROFILE = "arn:aws:sagemaker:us-east-1:111111111111:user-profile/d-abc123/alice"
ROLE = [
    {"Effect": "Allow", "Action": "sagemaker:CreatePresignedDomainUrl",
     "Resource": "arn:aws:sagemaker:us-east-1:111111111111:user-profile/*/*"},
    {"Effect": "Deny", "Action": "sagemaker:*", "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:VpcSourceIp": "10.0.0.0/16"}}},
]


def decide(context: dict, policies=None, action="sagemaker:CreatePresignedDomainUrl", resource=PROFILE):
    return evaluate([{"Version": "2012-10-17", "Statement": policies or ROLE}], action, resource, context)


def test_inside_the_cidr_is_allowed_by_the_allow_statement():
    decision = decide({"aws:VpcSourceIp": "10.0.3.7"})
    assert decision.allowed and decision.reason == "explicit allow"


def test_outside_the_cidr_the_explicit_deny_wins():
    decision = decide({"aws:VpcSourceIp": "192.0.2.1"})
    assert not decision.allowed and decision.reason == "explicit deny"


def test_a_request_without_the_key_is_denied_by_the_negated_condition():
    # Not through a VPC endpoint: aws:VpcSourceIp is absent, and NotIpAddress on an absent key is true.
    assert decide({}).reason == "explicit deny"


def test_unlisted_action_is_an_implicit_deny():
    decision = decide({"aws:VpcSourceIp": "10.0.0.1"}, action="sagemaker:DeleteDomain")
    assert not decision.allowed and decision.reason == "implicit deny"


@pytest.mark.parametrize("pattern, arn, matches", [
    ("arn:aws:sagemaker:us-east-1:111111111111:user-profile/*/*", PROFILE, True),
    ("arn:aws:sagemaker:us-east-1:111111111111:user-profile/d-abc123/*", PROFILE, True),
    ("arn:aws:sagemaker:us-east-1:111111111111:user-profile/d-other/*", PROFILE, False),
    ("arn:aws:sagemaker:*:111111111111:user-profile/*", PROFILE, True),
    ("arn:aws:sagemaker:us-east-?:111111111111:user-profile/*", PROFILE, True),
    ("arn:aws:sagemaker:us-*-1:111111111111:user-profile/*", PROFILE, True),
    ("arn:aws:sagemaker:*", PROFILE, True),  # a trailing * runs past the colons
    ("arn:aws:sagemaker:us*1:user-profile/*", PROFILE, False),  # a mid-segment * does not
    ("arn:aws:sagemaker:us-east-1:111111111111:User-Profile/*", PROFILE, False),  # ARNs are case-sensitive
    ("*", PROFILE, True),
])
def test_resource_wildcards(pattern, arn, matches):
    assert resource_matches(pattern, arn) is matches


def test_actions_ignore_case_and_take_wildcards():
    assert action_matches("SageMaker:createpresigned*", "sagemaker:CreatePresignedDomainUrl")
    assert not action_matches("sagemaker:Create*Job", "sagemaker:CreatePresignedDomainUrl")


def test_not_action_and_not_resource():
    policies = [{"Effect": "Allow", "NotAction": "sagemaker:Delete*", "NotResource": "arn:aws:s3:::*"}]
    assert decide({}, policies).allowed
    assert not decide({}, policies, action="sagemaker:DeleteDomain").allowed
    assert not decide({}, policies, resource="arn:aws:s3:::bucket/key").allowed


def test_several_values_or_and_negated_nor():
    block = {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}
    assert condition_holds("IpAddress", block, {"aws:SourceIp": "192.168.4.4"})
    assert not condition_holds("NotIpAddress", block, {"aws:SourceIp": "192.168.4.4"})
    assert condition_holds("NotIpAddress", block, {"aws:SourceIp": "172.16.0.1"})


def test_keys_are_and_and_condition_keys_ignore_case():
    block = {"aws:SourceIp": "10.0.0.0/8", "aws:PrincipalTag/team": "ml"}
    assert condition_holds("StringEquals", {"AWS:principaltag/Team": "ml"}, {"aws:PrincipalTag/team": "ml"})
    assert not condition_holds("IpAddress", block, {"aws:SourceIp": "10.1.1.1"})


def test_if_exists_and_null():
    assert condition_holds("IpAddressIfExists", {"aws:VpcSourceIp": "10.0.0.0/16"}, {})
    assert not condition_holds("IpAddress", {"aws:VpcSourceIp": "10.0.0.0/16"}, {})
    assert condition_holds("Null", {"aws:VpcSourceIp": "true"}, {})
    assert not condition_holds("Null", {"aws:VpcSourceIp": "true"}, {"aws:VpcSourceIp": "10.0.0.1"})
    assert condition_holds("Bool", {"aws:SecureTransport": True}, {"aws:SecureTransport": "true"})


def test_string_like_and_numbers():
    assert condition_holds("StringLike", {"sagemaker:UserProfileName": "ali*"},
                           {"sagemaker:UserProfileName": "alice"})
    assert condition_holds("NumericLessThanEquals", {"sagemaker:SessionLength": "43200"},
                           {"sagemaker:SessionLength": 1800})


def test_what_cannot_be_decided_exactly_is_refused():
    with pytest.raises(PolicyError):
        condition_holds("ForAnyValue:StringEquals", {"aws:TagKeys": "a"}, {"aws:TagKeys": ["a"]})
    with pytest.raises(PolicyError):
        condition_holds("DateGreaterThan", {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                        {"aws:CurrentTime": "2026-01-01T00:00:00Z"})


@given(address=st.ip_addresses(v=4), network=st.ip_addresses(v=4), prefix=st.integers(0, 32))
def test_ip_conditions_agree_with_the_ipaddress_module(address, network, prefix):
    cidr = ipaddress.ip_network(f"{network}/{prefix}", strict=False)
    context = {"aws:SourceIp": str(address)}
    inside = address in cidr
    assert condition_holds("IpAddress", {"aws:SourceIp": str(cidr)}, context) is inside
    assert condition_holds("NotIpAddress", {"aws:SourceIp": str(cidr)}, context) is (not inside)
