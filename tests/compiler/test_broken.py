"""Broken specs: each must fail with exactly these errors, at exactly these places."""
from __future__ import annotations

from pathlib import Path

import pytest

from compiler import validate_project

FIXTURES = Path(__file__).parent / "fixtures"

EXPECTED: dict[str, list[str]] = {
    "bad-condition.yaml": [
        "broken/bad-condition.yaml:4:21: bad condition: single '=' is not an operator (compare with ==)",
    ],
    "bad-jsonata.yaml": [
        'broken/bad-jsonata.yaml:5:13: invalid JSONata: Unexpected end of expression',
        'broken/bad-jsonata.yaml:6:18: `result_path` is for JSONPath steps (JSONata steps use arguments, output and assign)',
    ],
    "bad-next.yaml": [
        "broken/bad-next.yaml:4:11: no step named 'Colect' (did you mean 'Collect'?)",
    ],
    "bad-paths.yaml": [
        "broken/bad-paths.yaml:4:17: invalid JSONPath '$.items[': unclosed '[' at position 8",
        "broken/bad-paths.yaml:5:18: '$.items[*].x' is not a reference path (result paths are simple $.a.b paths without filters or wildcards)",
        "broken/bad-paths.yaml:7:13: invalid JSONPath 'id': a path must start with '$'",
        'broken/bad-paths.yaml:8:15: malformed intrinsic function "States.Format(\'{}\', $.x" (e.g. States.Format(\'{}\', $.x))',
    ],
    "bad-values.yaml": [
        'broken/bad-values.yaml:1:7: "expresss" is not one of: standard, express (did you mean \'express\'?)',
        'broken/bad-values.yaml:3:3: "Uploads" is not valid here (resource names are kebab-case, e.g. videos-in)',
        'broken/bad-values.yaml:3:19: "bukket" is not one of: bucket, table, topic, queue, parameter, role, vpc_endpoints (did you mean \'bucket\'?)',
        'broken/bad-values.yaml:5:11: 64 is out of range: must be at least 128',
        'broken/bad-values.yaml:6:16: "9LIVES" is not valid here (environment variable names are letters, digits and \'_\', starting with a letter)',
        "broken/bad-values.yaml:9:5: unknown key 'end' (allowed here: name, comment, query_language, input_path, output_path, output, succeed)",
    ],
    "boolean-order.yaml": [
        'broken/boolean-order.yaml:4:24: bad condition: booleans only support == and !=, not >',
        "broken/boolean-order.yaml:6:20: bad condition: comparing two paths needs a type: add 'as numeric', 'as string', 'as boolean' or 'as timestamp' after $.b",
    ],
    "cfn-tag.yaml": [
        'broken/cfn-tag.yaml:7:15: YAML tag !Ref is not part of the spec language (reference deploy-time values as ${param:Name} and resources as ${resource:name})',
    ],
    "duplicate-key.yaml": [
        "broken/duplicate-key.yaml:5:5: duplicate key 'result_path' (first defined at line 4)",
    ],
    "endless-loop.yaml": [
        "broken/endless-loop.yaml:2:11: loop with no exit: 'Tick', 'Tock' never reach an end (add a choice that leaves the loop, or `end: true`)",
    ],
    "error-names.yaml": [
        'broken/error-names.yaml:5:18: States.ALL must be the only error name in its rule (move the other names into an earlier rule)',
        "broken/error-names.yaml:6:18: unknown error name 'States.Timout' (did you mean 'States.Timeout'?)",
        'broken/error-names.yaml:8:18: the catch rule with States.ALL must be the last one (rules are tried in order, so later ones could never match)',
    ],
    "express-limits.yaml": [
        'broken/express-limits.yaml:5:13: express workflows cannot run a distributed map (use type: standard)',
        "broken/express-limits.yaml:9:17: duplicate step name 'Each' (first used at line 3; names are unique in the whole workflow)",
        'broken/express-limits.yaml:10:20: express workflows cannot use .sync (use type: standard)',
    ],
    "handler-signature.yaml": [
        'broken/handler-signature.yaml:3:14: too_many(event, context, extra) in shop.py must take exactly (event, context) (def too_many(event, context):)',
        'broken/handler-signature.yaml:5:14: is_async in shop.py is async (Lambda handlers are plain functions)',
    ],
    "integrations.yaml": [
        'broken/integrations.yaml:3:14: sns:publish does not support .sync (supported: .waitForTaskToken)',
        'broken/integrations.yaml:5:14: the AWS SDK integration has no .sync for rekognition:startFaceDetection (use a poll step to wait for the job)',
    ],
    "language-mix.yaml": [
        'broken/language-mix.yaml:4:13: `output` is for JSONata steps (use parameters/result_path/output_path, or set query_language: JSONata)',
        'broken/language-mix.yaml:8:18: `result_path` is for JSONPath steps (JSONata steps use arguments, output and assign)',
    ],
    "missing-function.yaml": [
        "broken/missing-function.yaml:3:14: shop.py defines no function 'scor' (did you mean 'score'?)",
    ],
    "missing-image.yaml": [
        "broken/missing-image.yaml:4:12: image 'gpu' has no Dockerfile (create images/gpu/Dockerfile)",
    ],
    "missing-module.yaml": [
        "broken/missing-module.yaml:3:14: handler module 'nothere' not found (create handlers/nothere.py)",
    ],
    "missing-resource.yaml": [
        "broken/missing-resource.yaml:6:13: no resource named 'upload' (did you mean 'uploads'?)",
        "broken/missing-resource.yaml:10:22: no resource named 'archive' (declare it under `resources:`)",
    ],
    "mixed.yaml": [
        "broken/mixed.yaml:6:13: no resource named 'upload' (did you mean 'uploads'?)",
        "broken/mixed.yaml:7:5: unknown key 'memroy' (did you mean 'memory'?)",
        "broken/mixed.yaml:8:11: no step named 'Fnish' (did you mean 'Finish'?)",
    ],
    "no-kind.yaml": [
        "broken/no-kind.yaml:2:5: step 'Start' has no kind (add one of: handler, service, poll, train, deploy, choice, wait, map, parallel, pass, succeed, fail)",
        "broken/no-kind.yaml:4:5: a step has exactly one kind; 'Both' has handler and service (split it into separate steps)",
    ],
    "policies.yaml": [
        "broken/policies.yaml:4:21: parameter 'Subnets' is a String, not a list (give it type List<AWS::EC2::Subnet::Id> or CommaDelimitedList)",
        'broken/policies.yaml:4:61: security_group_ids is a list of ids or one ${param:X} of a list parameter',
        "broken/policies.yaml:10:18: Allow of 's3:*' is not least privilege (list the actions the function calls)",
        "broken/policies.yaml:10:24: 'GetObject' is not an IAM action (write service:Action, e.g. s3:GetObject)",
        "broken/policies.yaml:11:19: unknown placeholder '${AWS::Partiton}' (use ${param:X}, ${resource:x} or ${AWS::Region|AccountId|Partition|URLSuffix})",
        'broken/policies.yaml:12:9: needs one of: Action, NotAction',
    ],
    "networking.yaml": [
        "broken/networking.yaml:7:11: `when` is one ${param:X} that is true or false (e.g. when: ${param:CreateVpcEndpoints})",
        "broken/networking.yaml:9:17: parameter 'Subnets' is a String, not a list (give it type List<AWS::EC2::Subnet::Id> or CommaDelimitedList)",
        "broken/networking.yaml:12:34: `services` only applies to vpc_endpoints resources",
        "broken/networking.yaml:16:13: resource 'endpoints' is vpc_endpoints (networking); steps cannot use it (steps reach AWS through the endpoints without naming them)",
        "broken/networking.yaml:20:15: ${resource:data} has no value in a service control policy (write the ARN pattern, or use ${param:X})",
    ],
    "poll-timeout.yaml": [
        'broken/poll-timeout.yaml:7:16: poll timeout 30s is shorter than its interval (60s)',
        'broken/poll-timeout.yaml:11:20: max_delay is shorter than interval',
    ],
    "private-api.yaml": [
        'broken/private-api.yaml:2:8: a private API needs `vpc_endpoint_id` (e.g. vpc_endpoint_id: ${param:VpcEndpointId})',
        "broken/private-api.yaml:2:64: step 'Decide' is a pass step; only a handler step can answer an HTTP request",
    ],
    "references.yaml": [
        "broken/references.yaml:9:17: no resource named 'alert' (did you mean 'alerts'?)",
        "broken/references.yaml:10:23: no parameter named 'Stag' (did you mean 'Stage'?)",
        "broken/references.yaml:10:42: no handler step named 'Nobody'",
        "broken/references.yaml:14:15: an environment cannot name a function (pass its ARN in parameters)",
    ],
    "schedules.yaml": [
        'broken/schedules.yaml:2:13: rate(1 days) is not a valid rate (write rate(1 day))',
    ],
    "scopes.yaml": [
        'broken/scopes.yaml:4:14: a map reads its items from `items` or `reader`, not both',
        "broken/scopes.yaml:8:17: 'After' is in another map or parallel branch (steps can only go to steps in the same list)",
        'broken/scopes.yaml:9:15: `reader` needs mode: distributed',
        "broken/scopes.yaml:9:24: no resource named 'nowhere' (declare it under `resources:`)",
    ],
    "state-names.yaml": [
        "broken/state-names.yaml:6:11: duplicate step name 'Check: wait' (first used at line 2; names are unique in the whole workflow)",
        "broken/state-names.yaml:9:19: duplicate step name 'Check' (first used at line 2; names are unique in the whole workflow)",
    ],
    "trigger-target.yaml": [
        "broken/trigger-target.yaml:4:16: resource 'orders' is a table, not a bucket",
    ],
    "unknown-key.yaml": [
        "broken/unknown-key.yaml:4:5: unknown key 'reslt_path' (did you mean 'result_path'?)",
    ],
    "unreachable.yaml": [
        "broken/unreachable.yaml:5:11: step 'Orphan' is never reached (no step goes to it: add `next:` to an earlier step or remove it)",
    ],
    "yaml-syntax.yaml": [
        "broken/yaml-syntax.yaml:3:25: invalid YAML: expected ',' or ']', but got '}'",
    ],
}


def test_there_are_enough_broken_specs() -> None:
    assert len(EXPECTED) >= 15
    assert sorted(EXPECTED) == sorted(path.name for path in (FIXTURES / "broken").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_spec_reports_every_error_with_its_place(name: str) -> None:
    errors = validate_project(FIXTURES, [FIXTURES / "broken" / name])
    assert [str(error) for error in errors] == EXPECTED[name]
