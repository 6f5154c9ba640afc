"""Events that chain: what a local run wrote or published starts the local workflows whose triggers match.

On AWS, an object a workflow writes to S3 becomes an "Object Created" event on the default bus, a
`PutEvents` entry is an event there too, and every EventBridge rule whose pattern matches starts its
state machine with the event. Locally the same happens after each run, inside the same local AWS:

    chain = Chain(app, aws)
    mark = chain.mark()                      # what exists before the run
    result = run the execution
    chain.follow(machine, result, mark)      # start what its writes and events trigger, recursively

A workflow that its own run (or a run it started) would start again is a loop and is refused, as the
compiler's recursion lint warns (compiler/lints.py): the write is kept, the execution is not started.
What each run published (SNS messages, SQS messages, EventBridge events) is kept with it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.aws.events import matches, s3_object_created

if TYPE_CHECKING:
    from engine.app import App, StateMachine
    from engine.aws import LocalAWS


@dataclass
class Mark:
    """What local AWS held before a run: object ETags, SNS message counts, SQS message ids, events put."""

    objects: dict[tuple[str, str], tuple[str, int, Any]]    # (bucket, key) → (ETag, size, last modified)
    notifications: dict[str, int]
    messages: int
    events: int


@dataclass
class Activity:
    """What one run did that others can see: objects written and messages and events published."""

    written: list[dict] = field(default_factory=list)      # {bucket, key, size, etag}
    published: dict[str, list[dict]] = field(default_factory=lambda: {"sns": [], "sqs": [], "events": []})


class Chain:
    """Starts the local workflows that a run's writes and events trigger, and keeps what each run published."""

    def __init__(self, app: App, aws: LocalAWS, *, start: Any = None, echo: Any = None) -> None:
        self.app = app
        self.aws = aws
        self.start = start          # (machine, input_text, cause) -> (ExecutionResult, history file)
        self.echo = echo or (lambda text: None)
        self.put_events: list[dict] = []
        self.sent_messages: list[dict] = []
        _listen_for_put_events(self.put_events, aws)
        _listen_for_sent_messages(self.sent_messages, aws)

    # -- what changed

    def mark(self) -> Mark:
        """Remember what local AWS holds now, to tell later what a run added."""
        return Mark(_objects(self.aws), _notification_counts(self.aws), len(self.sent_messages), len(self.put_events))

    def since(self, mark: Mark) -> Activity:
        """What was written and published after `mark`."""
        activity = Activity()
        for (bucket, key), (etag, size, modified) in sorted(_objects(self.aws).items()):
            # Writing the same bytes again is a new object to S3 (and a new event), so time counts too.
            if mark.objects.get((bucket, key)) == (etag, size, modified) or key.endswith("/"):
                continue
            activity.written.append({"bucket": bucket, "key": key, "size": size, "etag": etag})
        activity.published["sns"] = _new_notifications(self.aws, mark.notifications)
        activity.published["sqs"] = [dict(message) for message in self.sent_messages[mark.messages:]]
        activity.published["events"] = [dict(event) for event in self.put_events[mark.events:]]
        return activity

    # -- chaining

    def events_of(self, activity: Activity) -> list[tuple[str, dict]]:
        """The EventBridge events a run's activity puts on the default bus, with what caused each."""
        events = [(f"s3://{item['bucket']}/{item['key']}",
                   s3_object_created(item["bucket"], item["key"], size=item["size"], etag=item["etag"],
                                     account=self.aws.account, region=self.aws.region,
                                     # a multipart upload's ETag has a part count after a dash
                                     reason="CompleteMultipartUpload" if "-" in item["etag"] else "PutObject"))
                  for item in activity.written]
        # The template's rules are on the default bus; an event put on another bus reaches none of them.
        events += [(f"PutEvents {event['source']} {event['detail-type']}",
                    {key: value for key, value in event.items() if key != "eventBusName"})
                   for event in activity.published["events"]
                   if event.get("eventBusName", "default").rsplit("/", 1)[-1] == "default"]
        return events

    def follow(self, machine: StateMachine, execution: str, mark: Mark, ancestry: tuple[str, ...] = ()) -> None:
        """Record what `execution` of `machine` published and start every workflow its events trigger."""
        activity = self.since(mark)
        lineage = (*ancestry, machine.logical_id)
        record = _PENDING.setdefault(execution, {"started": [], "refused": []})
        record["published"] = activity.published
        for cause, event in self.events_of(activity):
            for target in self.targets(event):
                if target.logical_id in lineage:
                    reason = (f"{cause} from {machine.name} would start {target.name} again: a loop (each run "
                              f"would start another, forever); write elsewhere or narrow the trigger's "
                              f"prefix/suffix so written objects do not match")
                    record["refused"].append({"stateMachine": target.name, "cause": cause, "reason": reason})
                    self.echo(f"refused: {reason}")
                    continue
                if self.start is None:
                    continue
                child_mark = self.mark()
                self.echo(f"{cause} starts {target.name}")
                result, history = self.start(target, json.dumps(event), cause)
                name, status = result.name, result.status
                record["started"].append({"name": name, "stateMachine": target.name, "status": status,
                                          "cause": cause})
                self.follow(target, name, child_mark, lineage)
                annotate(history, result)

    def targets(self, event: dict) -> list[StateMachine]:
        """The state machines whose EventBridge rules match `event` (each once, in template order)."""
        found: list[StateMachine] = []
        for rule in self.app.rules:
            machine = self.app.state_machines.get(rule.target)
            if machine is not None and machine not in found and matches(rule.pattern, event):
                found.append(machine)
        return found


# What each execution of this process started, refused and published, until its history file is written.
_PENDING: dict[str, dict] = {}


def annotate(history: Path, result: Any) -> None:
    """Add to an execution's saved history (.stepsmith/executions/) what else it caused: the executions it
    started or that were refused, what it published, and its distributed Maps' child executions (failed
    ones in full, as ListExecutions --map-run-arn --status-filter FAILED shows them)."""
    record = _PENDING.pop(result.name, None)
    map_runs = getattr(result, "map_runs", None) or []
    if record is None and not map_runs:
        return
    saved = json.loads(history.read_text(encoding="utf-8"))
    if record is not None:
        saved.update(startedExecutions=record["started"], refusedExecutions=record["refused"],
                     published=record.get("published", {}))
    if map_runs:
        saved["mapRuns"] = [{
            "mapRunArn": arn, "stateMachineArn": machine, "executions": len(children),
            "failed": sum(child.failure is not None for child in children),
            "failedExecutions": [child.record(machine) for child in children if child.failure is not None],
        } for arn, machine, children in map_runs]
    history.write_text(json.dumps(saved, indent=1), encoding="utf-8")


def local_starter(app: App, real_time: bool, quiet: bool, echo: Any) -> Any:
    """How a chained execution starts locally: like `stepsmith run`, with the event as input, saved to history."""

    def start(machine: StateMachine, input_text: str, cause: str) -> tuple[Any, Path]:
        from engine.commands import _dispatcher, run_execution, write_history
        from engine.samlocal import save_lambda_events

        name = str(uuid.uuid4())
        # stdout carries only the output of the execution the user started (`stepsmith run wf | jq`).
        with contextlib.redirect_stdout(sys.stderr):
            result = run_execution(machine.definition, input_text, name=name, machine_name=machine.name,
                                   arn_region=app.region, account=app.account,
                                   dispatcher=_dispatcher(app, None, None, []), real_time=real_time, quiet=quiet,
                                   source=str(machine.path or app.template_path))
        history = write_history(app.root, result, input_text, machine.name)
        save_lambda_events(app, history)
        echo(f"{machine.name} {name}: {result.status} (started by {cause})")
        return result, history

    return start


# -------------------------------------------------------------------------------------------- schedules


def _objects(aws: LocalAWS) -> dict[tuple[str, str], tuple[str, int, Any]]:
    """(bucket, key) → (ETag, size, last modified) of every object, read from moto's S3 backend: listing through the API
    takes about a second per 2,000 objects, and this runs before and after every execution."""
    return {(bucket, key): summary for bucket, objects in aws.stored_objects().items()
            for key, summary in objects.items()}


def _sns_backend(aws: LocalAWS) -> Any:
    from moto.sns.models import sns_backends

    return sns_backends[aws.account][aws.region]


def _sqs_backend(aws: LocalAWS) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[aws.account][aws.region]


def _notification_counts(aws: LocalAWS) -> dict[str, int]:
    return {arn: len(topic.sent_notifications) for arn, topic in _sns_backend(aws).topics.items()}


def _new_notifications(aws: LocalAWS, before: dict[str, int]) -> list[dict]:
    messages = []
    for arn, topic in _sns_backend(aws).topics.items():
        for message_id, message, subject, attributes, group_id in topic.sent_notifications[before.get(arn, 0):]:
            entry = {"topic": topic.name, "topicArn": arn, "messageId": message_id, "message": message}
            if subject:
                entry["subject"] = subject
            if attributes:
                entry["attributes"] = attributes
            if group_id:
                entry["groupId"] = group_id
            messages.append(entry)
    return messages


def _listen_for_sent_messages(log: list[dict], aws: LocalAWS) -> None:
    """Append every message sent to an SQS queue of this local AWS to `log` (SendMessage, its batch form,
    SNS deliveries), whether or not something receives it later in the run."""
    backend = _sqs_backend(aws)
    send_message = backend.send_message

    def recording(queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        message = send_message(queue_name, message_body, *args, **kwargs)
        entry = {"queue": queue_name, "messageId": message.id, "body": message_body}
        if message.message_attributes:
            entry["attributes"] = message.message_attributes
        log.append(entry)
        return message

    backend.send_message = recording


def _listen_for_put_events(log: list[dict], aws: LocalAWS) -> None:
    """Append every event `PutEvents` accepts in this local AWS to `log`, shaped as a rule's target receives it."""
    from moto.events.models import events_backends

    backend = events_backends[aws.account][aws.region]
    put_events = backend.put_events

    def recording(entries: list[dict]) -> Any:
        result = put_events(entries)
        for entry, outcome in zip(entries, result, strict=False):
            if not isinstance(outcome, dict) or "EventId" not in outcome:
                continue
            try:
                detail = json.loads(entry.get("Detail") or "{}")
            except ValueError:
                continue
            log.append({
                "version": "0", "id": outcome["EventId"], "detail-type": entry.get("DetailType"),
                "source": entry.get("Source"), "account": aws.account,
                "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": aws.region,
                "resources": entry.get("Resources") or [], "detail": detail,
                **({"eventBusName": entry["EventBusName"]} if entry.get("EventBusName") else {}),
            })
        return result

    backend.put_events = recording


# -------------------------------------------------------------------------------------------- `published`


def _published_command() -> Any:
    import click

    @click.command("published")
    @click.argument("execution", required=False)
    @click.option("--json", "as_json", is_flag=True, help="Print the messages, events and executions as JSON.")
    def published(execution: str | None, as_json: bool) -> None:
        """What local execution EXECUTION (default: the newest) published (SNS, SQS, EventBridge) and started."""
        from engine.commands import STATE_DIR, find_root

        folder = find_root() / STATE_DIR / "executions"
        if execution is None:
            newest = max(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, default=None)
            if newest is None:
                raise click.ClickException("no local executions yet (stepsmith run WORKFLOW)")
            path = newest
        else:
            path = folder / f"{execution}.json"
            if not path.is_file():
                raise click.ClickException(f"{path}: no such execution (see `stepsmith history`)")
        saved = json.loads(path.read_text(encoding="utf-8"))
        shown = {"execution": saved["name"], "published": saved.get("published", {}),
                 "startedExecutions": saved.get("startedExecutions", []),
                 "refusedExecutions": saved.get("refusedExecutions", [])}
        if as_json:
            click.echo(json.dumps(shown, indent=1))
            return
        click.echo(f"{saved['name']} ({saved.get('stateMachine', '')}): {saved['status']}")
        for message in shown["published"].get("sns", []):
            click.echo(f"  sns  {message['topic']}: {message.get('subject') or ''} {message['message']}".rstrip())
        for message in shown["published"].get("sqs", []):
            click.echo(f"  sqs  {message['queue']}: {message['body']}")
        for event in shown["published"].get("events", []):
            click.echo(f"  event {event['source']} / {event['detail-type']}: {json.dumps(event['detail'])}")
        for entry in shown["startedExecutions"]:
            click.echo(f"  started {entry['stateMachine']} {entry['name']}: {entry['status']} ← {entry['cause']}")
        for entry in shown["refusedExecutions"]:
            click.echo(f"  refused {entry['stateMachine']}: {entry['reason']}")
        if not any(shown["published"].values()) and not shown["startedExecutions"] and not shown["refusedExecutions"]:
            click.echo("  published nothing and started nothing")

    return published


published = _published_command()
