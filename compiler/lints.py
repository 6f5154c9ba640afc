"""Warnings about specs that compile but are likely to misbehave on AWS.

Each lint is a value with the place in the spec that causes it; the CLI prints them as
`workflows/x.yaml:LINE:COL: warning: message (hint)` and still compiles.

- Lambda timeout vs task timeout: a Task that gives up before its function does leaves the function
  running (and billed) after the state has failed; a function behind API Gateway has 29 s.
- Payloads over 256 KiB (the Step Functions limit for a state's input/output). The heuristic: a
  task whose whole result is kept in the state (no `result_selector`, `result_path` not null) and
  whose names say it returns a collection (a word like detections, faces, labels, items, records,
  results, frames, rows, objects, segments, list — in the step name, the handler function name or
  the last segment of `result_path`) unless the handler writes to a bucket (then it presumably stores
  the bulk there and returns its key, the remedy this lint suggests), or an aws-sdk call that returns pages of data (get…Detection,
  list…, scan, query, getObject) without a small page-size parameter; and a distributed Map that
  returns its results inline instead of writing them to S3 (`writer:`).
- S3 trigger recursion: the workflow writes (handler `writes`, s3 put/copy, map writer) to the
  bucket whose "Object Created" events start it, so each run can start another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from compiler.model import (
    UNSET,
    HandlerStep,
    MapStep,
    PollStep,
    S3Trigger,
    ServiceStep,
    SourcePlace,
    Step,
    Workflow,
    iter_references,
)

PAYLOAD_LIMIT_KIB = 256
API_GATEWAY_TIMEOUT = 29
COLLECTION_WORDS = ("detections", "faces", "labels", "items", "records", "results", "frames",
                    "rows", "objects", "segments", "list", "boxes", "persons", "texts", "entities", "pages")
_PAGED_ACTIONS = re.compile(r"^(get\w*Detection|get\w*Analysis|list\w*|scan|query|getObject|describe\w*s)$")
_PAGE_SIZE_KEYS = ("MaxResults", "MaxKeys", "Limit", "MaxItems", "PageSize")
_SMALL_PAGE = 100


@dataclass(frozen=True)
class Lint:
    """One warning with the place that causes it."""

    place: SourcePlace
    message: str
    hint: str | None = None
    severity: str = "warning"  # or "note": something to know, nothing wrong

    def __str__(self) -> str:
        return f"{self.place}: {self.severity}: {self.message}" + (f" ({self.hint})" if self.hint else "")


def lint_workflow(workflow: Workflow) -> list[Lint]:
    """Every warning for one workflow, in file order."""
    lints: list[Lint] = []
    for step in workflow.all_steps():
        lints.extend(_timeouts(workflow, step))
        lints.extend(_payloads(workflow, step))
    lints.extend(_recursion(workflow))
    return sorted(set(lints), key=lambda lint: (lint.place.line, lint.place.col, lint.message))


# --- timeouts -------------------------------------------------------------------------------------


def _timeouts(workflow: Workflow, step: Step) -> list[Lint]:
    task = step.task if isinstance(step, PollStep) else step
    if not isinstance(task, HandlerStep):
        return []
    lints = []
    function_timeout = task.config.timeout
    if isinstance(task.timeout, int) and task.timeout < function_timeout:
        lints.append(Lint(
            task.where("task_timeout"),
            f"step '{task.name}' gives up after {task.timeout} s but its function may run for "
            f"{function_timeout} s; the function keeps running and billing after the state times out",
            f"set task_timeout >= {function_timeout} or lower the function's timeout"))
    trigger = workflow.api_trigger
    if trigger is not None and trigger.respond == task.name and function_timeout > API_GATEWAY_TIMEOUT:
        lints.append(Lint(
            task.where("timeout"),
            f"step '{task.name}' answers API requests but its timeout is {function_timeout} s; "
            f"API Gateway stops waiting after {API_GATEWAY_TIMEOUT} s",
            f"set timeout: {API_GATEWAY_TIMEOUT} or less"))
    return lints


# --- payload size ---------------------------------------------------------------------------------


def _words(*texts: str | None) -> set[str]:
    words: set[str] = set()
    for text in texts:
        if text:
            words.update(w.lower() for w in re.findall(r"[A-Za-z][a-z]*|[A-Z]+(?![a-z])", text))
    return words


def _keeps_whole_result(step: Step) -> bool:
    if step.query_language == "JSONata":
        return step.output is UNSET  # the default output of a JSONata task is the whole result
    return step.result_selector is None and step.result_path is not None


def _result_leaf(step: Step) -> str | None:
    if isinstance(step.result_path, str):
        return re.split(r"[.\[\]']+", step.result_path.strip("$. "))[-1] or None
    return None


def _page_size(parameters: Any) -> int | None:
    if isinstance(parameters, dict):
        for key in _PAGE_SIZE_KEYS:
            if isinstance(parameters.get(key), int):
                return parameters[key]
    return None


def _payloads(workflow: Workflow, step: Step) -> list[Lint]:
    lints = []
    task = step.task if isinstance(step, PollStep) else step
    if isinstance(task, (HandlerStep, ServiceStep)) and _keeps_whole_result(task):
        names = [task.name, _result_leaf(task)]
        if isinstance(task, HandlerStep):
            names.append(task.function)
        collection = sorted(_words(*names) & set(COLLECTION_WORDS))
        if isinstance(task, HandlerStep) and any(
                workflow.resources[name].type == "bucket" for name in task.writes if name in workflow.resources):
            collection = []
        paged = (isinstance(task, ServiceStep) and not task.optimized and _PAGED_ACTIONS.match(task.action)
                 and (_page_size(task.parameters) or _SMALL_PAGE + 1) > _SMALL_PAGE)
        if collection or paged:
            why = (f"its name says it returns a collection ({', '.join(collection)})" if collection
                   else f"{task.service}:{task.action} returns pages of data")
            lints.append(Lint(
                task.where("result_path") if task.result_path is not UNSET else task.place,
                f"step '{task.name}' keeps its whole result in the state and {why}; "
                f"Step Functions fails a state whose data exceeds {PAYLOAD_LIMIT_KIB} KiB",
                "keep only what later steps need with result_selector, or store the data in S3 and "
                "pass its key"))
    if isinstance(step, MapStep) and step.mode == "distributed" and step.writer is None:
        lints.append(Lint(
            step.where("map"),
            f"distributed map '{step.name}' returns every item's result inline; above "
            f"{PAYLOAD_LIMIT_KIB} KiB the execution fails",
            "add writer: {bucket: ..., prefix: ...} to write the results to S3"))
    return lints


# --- recursion ------------------------------------------------------------------------------------


def _recursion(workflow: Workflow) -> list[Lint]:
    lints = []
    for trigger in workflow.triggers:
        if isinstance(trigger, S3Trigger):
            lints += _recursion_through(workflow, trigger)
    return lints


def _recursion_through(workflow: Workflow, trigger: S3Trigger) -> list[Lint]:
    bucket = trigger.bucket
    message = (f"writes to bucket '{bucket}', whose new objects start this workflow "
               f"(trigger at line {trigger.place.line}): each run can start another, forever")
    hint = "write to another bucket, or narrow the trigger's prefix/suffix so written objects do not match"
    lints = []
    for step in workflow.all_steps():
        task = step.task if isinstance(step, PollStep) else step
        if isinstance(task, HandlerStep) and bucket in task.writes:
            index = task.writes.index(bucket)
            lints.append(Lint(task.where("writes", index), f"step '{task.name}' {message}", hint))
        elif (isinstance(task, ServiceStep) and task.service == "s3"
              and task.action in ("putObject", "copyObject", "completeMultipartUpload", "uploadPart")):
            field = "parameters" if task.query_language == "JSONPath" else "arguments"
            for ref in iter_references(getattr(task, field)):
                if ref.kind == "resource" and ref.name == bucket:
                    lints.append(Lint(task.where(field, *ref.keys), f"step '{task.name}' {message}", hint))
                    break
        if isinstance(step, MapStep) and step.writer is not None and step.writer.bucket == bucket:
            lints.append(Lint(step.writer.place, f"map '{step.name}' {message}", hint))
    return lints


# --- service control policies ---------------------------------------------------------------------


def scp_notes(workflow: Workflow, placeholders: list[str]) -> list[Lint]:
    """One note per placeholder left in build/<workflow>.scp.json, at its first use in `scp:`."""
    notes = []
    for placeholder in placeholders:
        name = placeholder[2:-1]
        spelled = "${param:" + name + "}" if not name.startswith("AWS::") else placeholder
        keys = next(keys for keys, text in _strings(workflow.scp) if spelled in text)
        what = (f"parameter {name} has no default" if spelled != placeholder
                else f"{placeholder} has no value outside a stack")
        notes.append(Lint(workflow.where("scp", *keys),
                          f"{workflow.name}.scp.json keeps {placeholder}: {what}",
                          "fill it in before attaching the policy"
                          + (", or compile with a parameter override" if spelled != placeholder else ""),
                          severity="note"))
    return notes


def _strings(value: Any, keys: tuple = ()) -> Any:
    if isinstance(value, str):
        yield keys, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*keys, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*keys, index))
