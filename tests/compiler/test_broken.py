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
        'broken/bad-values.yaml:3:19: "bukket" is not one of: bucket, table, topic, queue, parameter, role, model-group, vpc_endpoints (did you mean \'bucket\'?)',
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
    "dangling-references.yaml": [
        "broken/dangling-references.yaml:9:24: unknown reference kind 'statemachine' in '${statemachine:train}' (references are ${resource:name}, ${param:Name} and ${function:Step})",
        "broken/dangling-references.yaml:10:15: unknown intrinsic function States.Formatt (did you mean 'States.Format'?)",
        'broken/dangling-references.yaml:11:16: States.ArrayGetItem takes 2 arguments, not 1',
        "broken/dangling-references.yaml:15:19: unknown reference kind 'resourse' in '${resourse:jobs}' (did you mean '${resource:jobs}'?)",
        "broken/dangling-references.yaml:16:26: unknown placeholder '${Stage}' (did you mean ${param:Stage}?)",
        'broken/dangling-references.yaml:16:51: ${AWS::Region} has no value in a state machine (read it from the context ($$.StateMachine.Id holds region and account) or pass a ${param:X})',
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
        'broken/integrations.yaml:6:14: the AWS SDK integration has no .sync for rekognition:startFaceDetection (use a poll step to wait for the job)',
    ],
    "language-mix.yaml": [
        'broken/language-mix.yaml:4:13: `output` is for JSONata steps (use parameters/result_path/output_path, or set query_language: JSONata)',
        'broken/language-mix.yaml:8:18: `result_path` is for JSONPath steps (JSONata steps use arguments, output and assign)',
    ],
    "messages.yaml": [
        'broken/messages.yaml:2:17: "model" is not one of: bucket, table, topic, queue, parameter, role, model-group, vpc_endpoints (did you mean \'model-group\'?)',
        'broken/messages.yaml:3:9: expected a mapping, got a string (a resource is a mapping, e.g. jobs: {type: queue})',
        'broken/messages.yaml:5:11: expected a string, got true/false (YAML reads unquoted yes/no/on/off/true/false as true/false: put the text in quotes, e.g. "yes")',
        "broken/messages.yaml:8:14: handler module 'nothere' not found (create handlers/nothere.py)",
        'broken/messages.yaml:10:9: "throttle" is not one of: lambda, throttling (did you mean \'throttling\'?)',
        "broken/messages.yaml:12:9: unknown key 'intervall' (did you mean 'interval'?)",
        'broken/messages.yaml:13:18: expected a list, got a string (a list, even of one: [States.ALL])',
        "broken/messages.yaml:14:11: no step named 'Nowhere' (steps in the workflow: (step 1), Score, Record)",
        "broken/messages.yaml:17:30: no resource named 'nope' (declare it under `resources:`)",
        "broken/messages.yaml:18:5: unknown key 'memory' (allowed here: name, comment, query_language, next, end, input_path, output_path, output, assign, parameters, arguments, result_path, result_selector, retry, catch, timeout, timeout_path, heartbeat, heartbeat_path, service, reads, writes)",
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
    "parameter-conditions.yaml": [
        "broken/parameter-conditions.yaml:10:28: bad condition: parameter 'MinAccuracy' is a String, so this would compare text, not numbers (declare MinAccuracy with type: Number, or write ${param:MinAccuracy} as string)",
        "broken/parameter-conditions.yaml:12:25: bad condition: parameter 'Strict' holds true/false as text: say how to compare it (write ${param:Strict} as boolean, or as string)",
        "broken/parameter-conditions.yaml:14:13: bad condition: expected a path like $.field, found '${param:Threshold}' (put the path first: $.x >= ${param:Name})",
        'broken/parameter-conditions.yaml:16:25: bad condition: ${resource:data} cannot be compared in a condition (conditions compare with ${param:Name}; pass other values in the input)',
        "broken/parameter-conditions.yaml:22:43: parameter 'MinAccuracy' is a String, so this would be text in JSONata (declare MinAccuracy with type: Number, or quote the reference to use it as text)",
    ],
    "poll-timeout.yaml": [
        'broken/poll-timeout.yaml:8:16: poll timeout 30s is shorter than its interval (60s)',
        'broken/poll-timeout.yaml:12:20: max_delay is shorter than interval',
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
    "service-calls.yaml": [
        "broken/service-calls.yaml:5:14: unknown service 'dynamo' (did you mean 'dynamodb'?)",
        "broken/service-calls.yaml:7:14: 'StartFaceDetection' is not rekognition's spelling of the action (actions are camelCase: write rekognition:startFaceDetection)",
        "broken/service-calls.yaml:9:14: rekognition has no action 'startFaceDetecton' (did you mean 'startFaceDetection'?)",
        "broken/service-calls.yaml:11:14: sagemaker has no action 'invokeEndpoint' (write sagemakerruntime:invokeEndpoint)",
        "broken/service-calls.yaml:16:7: 'Itemm' is not a member of dynamodb:putItem (did you mean 'Item'?)",
        "broken/service-calls.yaml:17:21: 'ALL_NEWW' is not one of: NONE, ALL_OLD, UPDATED_OLD, ALL_NEW, UPDATED_NEW (did you mean 'ALL_NEW'?)",
        'broken/service-calls.yaml:18:31: expected a string for ReturnConsumedCapacity, got the number 3',
        "broken/service-calls.yaml:19:7: 'ConditionExpresion' is not a member of dynamodb:putItem (did you mean 'ConditionExpression'?)",
        "broken/service-calls.yaml:22:5: sagemaker:createTrainingJob needs 'OutputDataConfig' (add OutputDataConfig: value, or OutputDataConfig.$: a path)",
        "broken/service-calls.yaml:22:5: sagemaker:createTrainingJob needs 'RoleArn' (add RoleArn: value, or RoleArn.$: a path)",
        "broken/service-calls.yaml:24:48: expected an integer for MaxRuntimeInSeconds, got the string '3600'",
        "broken/service-calls.yaml:29:62: 'Verbose' is not a member of sagemaker:describeTrainingJob (members: TrainingJobName)",
    ],
    "state-names.yaml": [
        "broken/state-names.yaml:7:11: duplicate step name 'Check: wait' (first used at line 2; names are unique in the whole workflow)",
        "broken/state-names.yaml:10:19: duplicate step name 'Check' (first used at line 2; names are unique in the whole workflow)",
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


ACROSS_WORKFLOWS = [
    "across/train-b.yaml:2:11: compiles to the same CloudFormation id 'TrainBFitFunction' as across/train.yaml:9:11 (rename the step or the workflow)",
    "across/train-report.yaml:2:16: parameter 'MinAccuracy' is declared differently in across/train.yaml:2:16 (default 0.9 there) (a parameter is one deploy-time value for the whole stack: declare it identically, or give each workflow its own name)",
    "across/train-report.yaml:5:9: resource 'work' is also declared in across/train.yaml:5:9 (rename one, or mark both `shared: true` to make them one bucket in the stack)",
    'across/train-report.yaml:7:12: shared resource \'metrics\' is declared differently in across/train.yaml:7:12 (key "id" there) (declare a shared resource identically everywhere)',
    "across/train.yaml:2:16: parameter 'MinAccuracy' is declared differently in across/train-report.yaml:2:16 (default 0.8 there) (a parameter is one deploy-time value for the whole stack: declare it identically, or give each workflow its own name)",
    "across/train.yaml:5:9: resource 'work' is also declared in across/train-report.yaml:5:9 (rename one, or mark both `shared: true` to make them one bucket in the stack)",
    'across/train.yaml:7:12: shared resource \'metrics\' is declared differently in across/train-report.yaml:7:12 (key "run" there) (declare a shared resource identically everywhere)',
    "across/train.yaml:9:11: compiles to the same CloudFormation id 'TrainBFitFunction' as across/train-b.yaml:2:11 (rename the step or the workflow)",
]


def test_workflows_of_one_stack_report_each_conflict_at_both_places() -> None:
    """A name belongs to one workflow unless shared; parameters are one value per stack."""
    errors = validate_project(FIXTURES, sorted((FIXTURES / "across").glob("*.yaml")))
    assert [str(error) for error in errors] == ACROSS_WORKFLOWS


def test_a_resource_shared_on_purpose_is_one_resource(tmp_path) -> None:
    from compiler import compile_project

    (tmp_path / "workflows").mkdir()
    for name in ("train", "report"):
        (tmp_path / "workflows" / f"{name}.yaml").write_text(
            "resources:\n  models: {type: bucket, shared: true}\n"
            "  trainer: {type: role, service: sagemaker, reads: [models], shared: true}\n"
            "steps:\n  - name: Done\n    succeed: {}\n")
    compile_project(tmp_path, tmp_path / "build")
    template = (tmp_path / "build" / "template.yaml").read_text()
    assert template.count("ModelsBucket:\n") == 1 and template.count("TrainerRole:\n") == 1
