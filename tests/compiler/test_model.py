"""Every construct of the spec language, parsed into the typed model (fixtures/workflows/*.yaml)."""
from __future__ import annotations

from pathlib import Path

import pytest

from compiler import load_workflow
from compiler.conditions import And, Comparison, JsonataCondition, Matches, Not, Or
from compiler.conditions import Test as IsTest
from compiler.model import (
    UNSET,
    ApiTrigger,
    ChoiceStep,
    FailStep,
    HandlerStep,
    MapStep,
    ParallelStep,
    PassStep,
    PollStep,
    S3Trigger,
    ScheduleTrigger,
    ServiceStep,
    SourcePlace,
    SucceedStep,
    VpcConfig,
    WaitStep,
    Workflow,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def everything() -> Workflow:
    return load_workflow(FIXTURES / "workflows" / "everything.yaml", FIXTURES)


def test_workflow_header(everything: Workflow) -> None:
    assert (everything.name, everything.type, everything.query_language) == ("everything", "standard", "JSONPath")
    assert everything.description == "Exercises every construct."
    assert everything.place == SourcePlace("workflows/everything.yaml", 2, 1)


def test_parameters(everything: Workflow) -> None:
    stage = everything.parameters["Stage"]
    assert (stage.type, stage.default, stage.allowed_values) == ("String", "dev", ["dev", "prod"])
    assert everything.parameters["VpcEndpointId"].default is None


def test_resources_and_their_env_vars(everything: Workflow) -> None:
    resources = everything.resources
    assert {name: r.env_var for name, r in resources.items()} == {
        "uploads": "UPLOADS_BUCKET", "results": "RESULTS_BUCKET", "orders": "ORDERS_TABLE",
        "alerts": "ALERTS_TOPIC_ARN", "jobs": "JOBS_QUEUE_URL", "threshold": "THRESHOLD_PARAMETER",
        "legacy": "LEGACY_BUCKET", "trainer": "TRAINER_ROLE_ARN",
    }
    assert (resources["orders"].key, resources["orders"].ttl) == ("order_id", "expires_at")
    assert resources["threshold"].value == "0.8"
    assert resources["legacy"].external == "legacy-${param:Stage}"
    trainer = resources["trainer"]
    assert (trainer.service, trainer.reads, trainer.writes) == ("sagemaker", ["uploads"], ["results"])


def test_function_defaults_and_step_overrides(everything: Workflow) -> None:
    defaults = everything.functions
    assert (defaults.runtime, defaults.memory, defaults.timeout, defaults.architecture,
            defaults.ephemeral_storage) == ("python3.12", 256, 30, "arm64", 1024)
    assert defaults.environment == {"LOG_LEVEL": "INFO", "DEBUG": "false", "RETRIES": "3"}
    prepare = everything.steps[0]
    assert isinstance(prepare, HandlerStep)
    assert (prepare.config.memory, prepare.config.timeout, prepare.config.runtime) == (1024, 120, "python3.12")
    assert prepare.config.environment == {"LOG_LEVEL": "INFO", "DEBUG": "false", "RETRIES": "3", "MODE": "strict"}
    assert prepare.timeout == 100  # task_timeout: the Task's TimeoutSeconds, not the Lambda limit
    assert defaults.vpc == VpcConfig(subnet_ids="${param:SubnetIds}", security_group_ids=["sg-0123456789abcdef0"])
    assert prepare.config.vpc == defaults.vpc
    score = everything.steps[1]
    assert isinstance(score, HandlerStep) and score.config.vpc is None  # `vpc: null` opts out


def test_policies_and_scp(everything: Workflow) -> None:
    prepare = everything.steps[0]
    assert isinstance(prepare, HandlerStep)
    assert [statement.get("Sid") for statement in prepare.policies] == ["ReadModels", None]
    assert prepare.policies[1] == {"Effect": "Deny", "Action": "sagemaker:*", "Resource": "*",
                                   "Condition": {"NotIpAddress": {"aws:VpcSourceIp": "${param:NetworkCidr}"}}}
    assert everything.scp == [{"Sid": "DenyOutsideNetwork", "Effect": "Deny",
                               "Action": "sagemaker:CreatePresignedDomainUrl", "Resource": "*",
                               "Condition": {"NotIpAddress": {"aws:VpcSourceIp": "${param:NetworkCidr}"}}}]


def test_api_trigger(everything: Workflow) -> None:
    trigger = everything.trigger
    assert isinstance(trigger, ApiTrigger)
    assert (trigger.method, trigger.path, trigger.endpoint, trigger.respond) == ("POST", "/orders", "private",
                                                                                 "Prepare")
    assert trigger.vpc_endpoint_id == "${param:VpcEndpointId}"


def test_handler_step(everything: Workflow) -> None:
    prepare = everything.steps[0]
    assert isinstance(prepare, HandlerStep)
    assert (prepare.module, prepare.function, prepare.handler) == ("shop", "handler", "shop.handler")
    assert (prepare.reads, prepare.writes) == (["uploads", "threshold"], ["orders"])
    assert (prepare.input_path, prepare.result_path, prepare.output_path) == ("$.body", "$.prepared", "$")
    assert (prepare.next, prepare.end, prepare.explicit_next) == ("Score", False, False)
    lambda_rule, timeout_rule = prepare.retry
    assert lambda_rule.preset == "lambda" and "Lambda.ServiceException" in lambda_rule.errors
    assert (timeout_rule.errors, timeout_rule.interval, timeout_rule.max_attempts, timeout_rule.backoff,
            timeout_rule.max_delay, timeout_rule.jitter) == (["States.Timeout"], 3, 2, 1.5, 10, "FULL")
    (catch,) = prepare.catch
    assert (catch.errors, catch.next, catch.result_path) == (["States.ALL"], "Report failure", "$.error")
    assert prepare.where("catch", 0, "next") == SourcePlace("workflows/everything.yaml", 46, 42)


def test_image_handler_waiting_for_a_token(everything: Workflow) -> None:
    score = everything.steps[1]
    assert isinstance(score, HandlerStep)
    assert (score.function, score.image, score.wait_for_token, score.heartbeat) == ("score", "detector", True, 60)
    assert score.result_path is None  # YAML null: discard the result
    assert score.output_path is UNSET


def test_service_steps(everything: Workflow) -> None:
    train, big = everything.step("Train"), everything.step("Big order")
    assert isinstance(train, ServiceStep) and isinstance(big, ServiceStep)
    assert (train.service, train.action, train.integration, train.optimized) == (
        "sagemaker", "createTrainingJob", "sync", True)
    assert train.resource == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert train.timeout == 3600 and train.retry[0].preset == "throttling"
    assert train.result_selector == {"job.$": "$.TrainingJobName"}
    assert big.resource == "arn:aws:states:::sns:publish"
    assert (big.next, big.explicit_next) == ("Each order", True)


def test_poll_step(everything: Workflow) -> None:
    poll = everything.step("Wait for endpoint")
    assert isinstance(poll, PollStep)
    task = poll.task
    assert isinstance(task, ServiceStep) and not task.optimized
    assert task.resource == "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"
    assert (task.name, task.parameters, task.result_path) == (
        "Wait for endpoint", {"EndpointName.$": "$.training.job"}, "$.endpoint")
    assert (poll.every, poll.timeout, poll.error, poll.cause) == (30, 1800, "EndpointFailed",
                                                                 "The endpoint did not come up")
    assert poll.timeout_error == "Wait for endpoint.TimedOut"
    assert poll.until == Comparison("$.endpoint.EndpointStatus", "==", "InService", "string")
    assert poll.fail_if == Or((Comparison("$.endpoint.EndpointStatus", "==", "Failed", "string"),
                               Comparison("$.endpoint.EndpointStatus", "==", "RollingBack", "string")))
    assert [c.next for c in poll.catch] == ["Report failure"]


def test_choice_step(everything: Workflow) -> None:
    route = everything.step("Route")
    assert isinstance(route, ChoiceStep)
    assert route.terminal and route.next is None and not route.end
    big, rush, late = route.branches
    assert big.condition == And((Comparison("$.prepared.total", ">=", 100, "numeric"),
                                 Not(Comparison("$.prepared.country", "==", "NZ", "string"))))
    assert big.next == "Big order"
    assert rush.condition == And((IsTest("$.prepared.note", "present"), Matches("$.prepared.note", "rush*")))
    assert late.condition == Comparison("$.prepared.created", "<", "$.prepared.deadline", "timestamp",
                                        value_is_path=True)
    assert route.default == "Each order"
    assert [target for target, _ in route.targets()] == ["Big order", "Pause", "Pause", "Each order"]


def test_wait_steps(everything: Workflow) -> None:
    pause, until = everything.step("Pause"), everything.step("Pause until")
    assert isinstance(pause, WaitStep) and isinstance(until, WaitStep)
    assert (pause.seconds, pause.next) == (5, "Pause until")
    assert (until.timestamp_path, until.next) == ("$.prepared.resume_at", "Each order")


def test_inline_map(everything: Workflow) -> None:
    each = everything.step("Each order")
    assert isinstance(each, MapStep)
    assert (each.mode, each.items, each.concurrency, each.result_path) == ("inline", "$.prepared.orders", 4,
                                                                          "$.orders")
    assert each.item_selector == {"order.$": "$$.Map.Item.Value", "stage": "${param:Stage}"}
    check, checked = each.steps
    assert (check.next, checked.end) == ("Checked", True)
    assert isinstance(checked, PassStep) and checked.result == {"ok": True}


def test_distributed_map(everything: Workflow) -> None:
    batch = everything.step("Batch inference")
    assert isinstance(batch, MapStep) and batch.mode == "distributed"
    assert batch.reader is not None and batch.writer is not None and batch.batch is not None
    assert (batch.reader.bucket, batch.reader.key, batch.reader.format) == ("uploads", "manifest.csv", "csv")
    assert (batch.writer.bucket, batch.writer.prefix, batch.batch.max_items) == ("results", "runs/", 100)
    assert (batch.concurrency, batch.tolerated_failure_percentage, batch.execution_type, batch.label) == (
        10, 5, "express", "infer")
    assert batch.next == "Both"


def test_parallel_pass_succeed_fail(everything: Workflow) -> None:
    both = everything.step("Both")
    assert isinstance(both, ParallelStep)
    assert [[step.name for step in branch] for branch in both.branches] == [["Left"], ["Right"]]
    assert all(branch[-1].end for branch in both.branches)
    shape = everything.step("Shape")
    assert isinstance(shape, PassStep) and shape.result == {"done": True} and shape.next == "Done"
    done, failure = everything.step("Done"), everything.step("Report failure")
    assert isinstance(done, SucceedStep) and done.next is None and not done.end
    assert isinstance(failure, FailStep) and (failure.error, failure.cause) == ("OrderFailed",
                                                                               "Something went wrong")


def test_handler_steps_include_nested_ones(everything: Workflow) -> None:
    assert [step.name for step in everything.handler_steps()] == ["Prepare", "Score", "Check order"]


def test_jsonata_workflow() -> None:
    workflow = load_workflow(FIXTURES / "workflows" / "jsonata.yaml", FIXTURES)
    assert (workflow.query_language, workflow.type) == ("JSONata", "express")
    trigger = workflow.trigger
    assert isinstance(trigger, ScheduleTrigger)
    assert (trigger.expression, trigger.timezone, trigger.input) == ("cron(0 3 * * ? *)", "Pacific/Auckland",
                                                                     {"full": True})
    count, enough, later, _ = workflow.steps
    assert count.query_language == "JSONata"
    assert count.arguments == {"TableName": "trays", "Key": {"id": {"S": "{% $states.input.tray %}"}}}
    assert count.output == "{% $states.result.Item %}"
    assert count.assign == {"count": "{% $number($states.result.Item.count.N) %}"}
    assert isinstance(enough, ChoiceStep)
    assert enough.branches[0].condition == JsonataCondition("$count > 10")
    assert isinstance(later, WaitStep) and later.seconds == "{% $count * 2 %}"


def test_schedule_and_s3_triggers_and_default_names() -> None:
    scheduled = load_workflow(FIXTURES / "workflows" / "scheduled.yaml", FIXTURES)
    assert scheduled.name == "scheduled"  # the file stem
    assert isinstance(scheduled.trigger, ScheduleTrigger) and scheduled.trigger.expression == "rate(1 day)"
    start = scheduled.steps[0]
    assert isinstance(start, HandlerStep) and (start.module, start.function) == ("shop", "handler")
    assert start.next == "Until ready"
    poll = scheduled.steps[1]
    assert isinstance(poll, PollStep) and isinstance(poll.task, HandlerStep)
    assert (poll.task.handler, poll.task.reads, poll.task.parameters) == ("shop.score", ["photos"],
                                                                          {"id.$": "$.id"})
    assert poll.task.config.timeout == 60 == scheduled.functions.timeout  # the poll's timeout is not Lambda's
    assert (poll.timeout, poll.every, poll.end) == (600, 60, True)
    assert [step.name for step in scheduled.handler_steps()] == ["Start", "Until ready"]
    uploads = load_workflow(FIXTURES / "workflows" / "uploads.yaml", FIXTURES)
    assert isinstance(uploads.trigger, S3Trigger)
    assert (uploads.trigger.bucket, uploads.trigger.suffix, uploads.trigger.prefix) == ("inbox", [".mp4"],
                                                                                         "incoming/")


def test_the_contract_example_spec_still_validates() -> None:
    workflow = load_workflow(FIXTURES / "workflows" / "contract.yaml", FIXTURES)
    assert [step.kind for step in workflow.steps] == [
        "service", "poll", "handler", "handler", "choice", "service", "pass", "wait", "map", "parallel", "pass",
        "succeed", "fail"]
    blur = workflow.step("Blur faces")
    assert isinstance(blur, HandlerStep)
    assert (blur.config.memory, blur.config.timeout, blur.config.ephemeral_storage, blur.image) == (
        10240, 900, 10240, "face-blur")
    assert isinstance(workflow.trigger, S3Trigger) and workflow.trigger.suffix == [".mp4", ".mov"]
