"""The Map state: inline iterations, or a distributed map run (ItemReader, ItemBatcher, ResultWriter)."""
from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

from . import expressions, jsonpath
from .clock import iso
from .errors import (
    EXCEEDED_TOLERATED_FAILURE,
    ITEM_READER_FAILED,
    QUERY_EVALUATION,
    RESULT_WRITER_FAILED,
    RUNTIME,
    DefinitionError,
    FieldFailure,
    StateFailure,
)
from .history import History
from .lanes import ABORTED
from .payload import (
    compile_jsonata_template,
    compile_jsonpath_template,
    compile_typed_jsonata,
    dumps,
)
from .states import Frame, RecoverableState, Scope, child_variables, number_from_path
from .tasks import TaskCall, TaskFailed

# Iterations one Map runs at once when MaxConcurrency allows more (AWS: 40 for an inline Map).
LANE_LIMIT = 40


class MapState(RecoverableState):
    """``Type: Map``: run the item processor for every item (inline, or as a distributed map run)."""

    kind = "Map"
    allowed = frozenset({
        "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "ItemsPath", "Items",
        "ItemSelector", "ItemProcessor", "Iterator", "ItemReader", "ItemBatcher", "ResultWriter",
        "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
        "ToleratedFailureCount", "ToleratedFailureCountPath", "Label", "Retry", "Catch", "Output",
    })

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        from .definition import compile_program

        processor = spec.get("ItemProcessor", spec.get("Iterator"))
        if not isinstance(processor, dict):
            raise DefinitionError("A Map state needs 'ItemProcessor'", name, "ItemProcessor")
        config = processor.get("ProcessorConfig") or {}
        self.distributed = config.get("Mode", "INLINE") == "DISTRIBUTED"
        inner = {k: v for k, v in processor.items() if k != "ProcessorConfig"}
        self.processor = compile_program(inner, query_language, name)
        self.label = spec.get("Label", name)
        # Parameters is the legacy name of ItemSelector: it shapes each item, not the Map's input.
        self.selector = None
        selector_key = "ItemSelector" if "ItemSelector" in spec else ("Parameters" if "Parameters" in spec else None)
        if selector_key is not None:
            if self.jsonata:
                self.selector, _ = compile_jsonata_template(spec[selector_key], selector_key)
            else:
                self.selector, _ = compile_jsonpath_template(spec[selector_key], name, selector_key)
        self.parameters = None
        self.items_path = None
        if not self.jsonata and "ItemsPath" in spec:
            self.items_path = expressions.compile_path(spec["ItemsPath"], "ItemsPath", name)
        self.items = None
        if self.jsonata and "Items" in spec:
            items = spec["Items"]
            if expressions.is_jsonata(items):
                self.items = compile_typed_jsonata(items, "Items", list, "array")
            elif isinstance(items, list):
                self.items, _ = compile_jsonata_template(items, "Items")
            else:
                raise DefinitionError("'Items' must be an array or a JSONata expression", name, "Items")
        self.max_concurrency = self._number("MaxConcurrency", "integer")
        self.tolerated_count = self._number("ToleratedFailureCount", "integer")
        self.tolerated_percentage = self._number("ToleratedFailurePercentage", "float")
        self.reader = spec.get("ItemReader")
        self.batcher = spec.get("ItemBatcher")
        self.writer = spec.get("ResultWriter")
        self.reader_arguments = self._sub_template(self.reader, "ItemReader")
        self.writer_arguments = self._sub_template(self.writer, "ResultWriter")
        self.batch_input = None
        if self.batcher is not None and not isinstance(self.batcher, dict):
            raise DefinitionError("'ItemBatcher' must be an object", name, "ItemBatcher")
        self.batch_size = self._number("MaxItemsPerBatch", "integer", self.batcher or {})
        self.batch_bytes = self._number("MaxInputBytesPerBatch", "integer", self.batcher or {})
        if isinstance(self.batcher, dict) and "BatchInput" in self.batcher:
            if self.jsonata:
                self.batch_input, _ = compile_jsonata_template(self.batcher["BatchInput"], "BatchInput")
            else:
                self.batch_input, _ = compile_jsonpath_template(self.batcher["BatchInput"], name, "BatchInput")

    def _sub_template(self, block: Any, field: str) -> Any:
        if block is None:
            return None
        if not isinstance(block, dict):
            raise DefinitionError(f"'{field}' must be an object", self.name, field)
        # A ResultWriter may only reshape results (WriterConfig) without exporting them anywhere.
        if not isinstance(block.get("Resource"), str) and not (field == "ResultWriter" and "WriterConfig" in block):
            raise DefinitionError(f"'{field}' needs a 'Resource'", self.name, field)
        key = "Arguments" if self.jsonata else "Parameters"
        fn, _ = (compile_jsonata_template(block.get(key, {}), f"{field}/{key}") if self.jsonata
                 else compile_jsonpath_template(block.get(key, {}), self.name, f"{field}.{key}"))
        return fn

    def _number(self, key: str, kind: str, source: dict | None = None) -> Any:
        """A numeric field given as a constant, a ``…Path`` or a JSONata expression: (how, value, text)."""
        spec = self.spec if source is None else source
        path_key = key + "Path"
        if path_key in spec:
            text = spec[path_key]
            return ("path", expressions.compile_path(text, path_key, self.name), text)
        if key not in spec:
            return None
        value = spec[key]
        if self.jsonata and expressions.is_jsonata(value):
            return ("jsonata", expressions.compile_jsonata(value, key), value)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "integer":
            ok = ok and isinstance(value, int) and value >= 0
        if not ok:
            raise DefinitionError(f"'{key}' must be a non-negative {kind}", self.name, key)
        return ("const", value, None)

    def _resolve(self, spec: Any, key: str, kind: str, data: Any, scope: Scope) -> Any:
        if spec is None:
            return None
        how, value, text = spec
        if how == "const":
            return value
        if how == "jsonata":
            return value(data, scope)
        try:
            found = value.get(data, scope.context, scope.variables)
        except jsonpath.PathError as exc:
            raise FieldFailure(RUNTIME, exc.cause) from None
        return number_from_path(found, key + "Path", text, kind)

    # --- running -------------------------------------------------------------------------------

    def failed_event(self, run: Any, scope: Scope, error: str | None, cause: str | None) -> None:
        run.event(scope, "MapStateFailed")

    def attempt(self, run: Any, raw: Any, scope: Scope, entered: int, retry_count: int) -> Any:
        if self.jsonata:
            binding = self.states_binding(raw, scope)
            effective = raw
            data = binding
        else:
            effective = self.apply_input_path(raw, scope)
            binding = None
            data = effective
        concurrency = self._resolve(self.max_concurrency, "MaxConcurrency", "integer", data, scope) or 0
        count = self._resolve(self.tolerated_count, "ToleratedFailureCount", "integer", data, scope)
        if count is not None and count < 0:
            raise FieldFailure(RUNTIME, "ToleratedFailureCount cannot be negative.")
        percentage = self._resolve(self.tolerated_percentage, "ToleratedFailurePercentage", "float", data, scope)
        if percentage is not None and not 0 <= percentage <= 100:
            raise FieldFailure(RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
        items = self._items(run, raw, effective, binding, scope)
        run.event(scope, "MapStateStarted", {"length": len(items)})
        map_run_arn = None
        if self.distributed:
            map_run_arn = (f"arn:aws:states:{run.region}:{run.account}:mapRun:"
                           f"{run.machine_context['Name']}/{self.label}:{uuid.uuid4()}")
            run.event(scope, "MapRunStarted", {"mapRunArn": map_run_arn})
        inputs = self._iteration_inputs(items, effective, binding, scope)
        children: list[ChildExecution] = []
        if self.distributed:   # kept with the run (filled as items finish) so failures reach the parent's record
            run.map_runs.append((map_run_arn, self._child_machine(run), children))
        results = self._iterate(run, inputs, scope, count, percentage, children, concurrency)
        if self.writer is not None:
            results = self._write(run, scope, data, map_run_arn or "", results, children)
        if self.distributed:
            run.event(scope, "MapRunSucceeded")
        run.event(scope, "MapStateSucceeded")
        return results

    def _items(self, run: Any, raw: Any, effective: Any, binding: Any, scope: Scope) -> list:
        if self.reader is not None:
            return self._read(run, binding if self.jsonata else effective, scope)
        if self.jsonata:
            if self.items is None:
                items = raw
                if not isinstance(items, list):
                    raise FieldFailure(QUERY_EVALUATION, f"Map state input must be an array but was: {dumps(items)}")
                return items
            return self.items(binding, scope)  # a list: a literal template is one, an expression is checked
        if self.items_path is None:
            items = effective
        else:
            try:
                items = self.items_path.get(effective, scope.context, scope.variables)
            except jsonpath.PathError as exc:
                raise FieldFailure(RUNTIME, exc.cause) from None
        if not isinstance(items, list):
            raise FieldFailure(RUNTIME, f"Map state input must be an array but was: {dumps(items)}")
        return items

    def _iteration_inputs(self, items: list, effective: Any, binding: Any, scope: Scope) -> list:
        selector = self.selector
        if selector is not None:
            selected = []
            context = scope.context
            for index, item in enumerate(items):
                ctx = dict(context, Map={"Item": {"Index": index, "Value": item}})
                frame = Frame(ctx, scope.variables)
                if self.jsonata:
                    selected.append(selector(dict(binding, context=ctx), frame))
                else:
                    selected.append(selector(effective, frame))
            items = selected
        if self.batcher is None:
            return items
        return self._batches(items, effective if not self.jsonata else binding, scope)

    def _batches(self, items: list, data: Any, scope: Scope) -> list:
        size = self._resolve(self.batch_size, "MaxItemsPerBatch", "integer", data, scope)
        max_bytes = self._resolve(self.batch_bytes, "MaxInputBytesPerBatch", "integer", data, scope) or 256 * 1024
        batch_input = self.batch_input(data, scope) if self.batch_input is not None else None
        batches: list = []
        current: list = []
        current_bytes = 0
        for item in items:
            item_bytes = len(dumps(item))
            if current and ((size and len(current) >= size) or current_bytes + item_bytes > max_bytes):
                batches.append(current)
                current, current_bytes = [], 0
            current.append(item)
            current_bytes += item_bytes
        if current:
            batches.append(current)
        out = []
        for batch in batches:
            entry: dict = {}
            if batch_input is not None:
                entry["BatchInput"] = batch_input
            entry["Items"] = batch
            out.append(entry)
        return out

    def _iterate(self, run: Any, inputs: list, scope: Scope, count: int | None, percentage: float | None,
                 children: list, concurrency: int) -> list:
        # Iterations run side by side, at most MaxConcurrency at once (0: as many as AWS would, 40
        # inline; locally distributed runs are held to the same number of lanes).
        limit = min(concurrency, LANE_LIMIT) if concurrency else LANE_LIMIT
        total = len(inputs)
        if self.distributed:
            return self._children(run, inputs, scope, count, percentage, children, limit)
        processor = self.processor
        name = self.name
        fork = scope.prev  # every iteration's first event follows MapStateStarted, as iterations run side by side
        lanes: list[Scope | None] = [None] * total

        def iteration(index: int, item: Any) -> Any:
            lane = lanes[index] = Scope(child_variables(scope.variables, processor), fork, scope.history)
            run.event(lane, "MapIterationStarted", {"name": name, "index": index})
            try:
                out = run.run_program(processor, item, lane)
            except StateFailure:
                run.event(lane, "MapIterationFailed", {"name": name, "index": index})
                raise
            run.event(lane, "MapIterationSucceeded", {"name": name, "index": index})
            return out

        outcomes, failed, last = run.fork(iteration, inputs, limit, processor.can_wait, _always)
        if failed is not None:
            error = outcomes[failed]
            if not isinstance(error, StateFailure):   # the execution timed out: no state failed
                raise error
            # The first failed iteration fails the Map; those still running are aborted, as on AWS.
            for index, outcome in enumerate(outcomes):
                lane = lanes[index]
                if outcome is ABORTED and lane is not None:
                    run.event(lane, "MapIterationAborted", {"name": name, "index": index})
            scope.prev = lanes[failed].prev
            run.event(scope, "MapStateFailed")
            raise error
        if last is not None:
            scope.prev = lanes[last].prev
        return outcomes

    def _children(self, run: Any, inputs: list, scope: Scope, count: int | None, percentage: float | None,
                  children: list, limit: int) -> list:
        """A distributed map's child executions, each with its own history, failing past the tolerance."""
        processor = self.processor
        total = len(inputs)
        records: list[ChildExecution | None] = [None] * total

        def child(index: int, item: Any) -> Any:
            lane = Scope(child_variables(scope.variables, processor), 0, History(run.clock, run.child_listener))
            started = run.clock.now()
            try:
                out = run.run_program(processor, item, lane)
            except StateFailure as f:
                records[index] = ChildExecution(item, None, f, started, run.clock.now())
                raise
            records[index] = ChildExecution(item, out, None, started, run.clock.now())
            return out

        failures = 0

        def intolerable(index: int, error: BaseException) -> bool:
            nonlocal failures
            if not isinstance(error, StateFailure):
                return True
            failures += 1
            return not _tolerated(failures, total, count, percentage)

        outcomes, stopped, _ = run.fork(child, inputs, limit, processor.can_wait, intolerable)
        children.extend(record for record in records if record is not None)
        if stopped is not None:
            error = outcomes[stopped]
            if not isinstance(error, StateFailure):
                raise error
            run.event(scope, "MapRunFailed", {"error": EXCEEDED_TOLERATED_FAILURE,
                                              "cause": "The specified tolerance threshold was exceeded"})
            run.event(scope, "MapStateFailed")
            if count is None and percentage is None:
                raise error
            raise StateFailure(EXCEEDED_TOLERATED_FAILURE, "The specified tolerance threshold was exceeded")
        return [_error_output(outcome) if isinstance(outcome, StateFailure) else outcome for outcome in outcomes]

    # --- ItemReader / ResultWriter (through the dispatcher, as the service calls AWS makes) -----

    def _service_call(self, run: Any, resource: str, arguments: Any, scope: Scope, error: str) -> Any:
        call = TaskCall(state_name=self.name, resource=resource, arguments=arguments, timeout_seconds=None,
                        heartbeat_seconds=None, task_token=None, credentials=None, context=scope.context)
        try:
            with run.working():
                return run.dispatcher.run_task(call)
        except TaskFailed as f:
            raise StateFailure(error, f"{f.error}: {f.cause}" if f.cause else f.error) from None
        except Exception as exc:  # noqa: BLE001 — a dispatcher bug must stay a state failure
            raise StateFailure(error, f"{type(exc).__name__}: {exc}") from None

    def _read(self, run: Any, data: Any, scope: Scope) -> list:
        reader = self.reader or {}
        arguments = self.reader_arguments(data, scope) if self.reader_arguments else {}
        config = reader.get("ReaderConfig") or {}
        response = self._service_call(run, reader["Resource"], arguments, scope, ITEM_READER_FAILED)
        try:
            items = _parse_items(reader["Resource"], config, response)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateFailure(ITEM_READER_FAILED, f"Unable to read items: {exc}") from None
        limit = config.get("MaxItems")
        if "MaxItemsPath" in config:
            path = expressions.compile_path(config["MaxItemsPath"], "MaxItemsPath", self.name)
            try:
                limit = path.get(data, scope.context, scope.variables)
            except jsonpath.PathError as exc:
                raise FieldFailure(RUNTIME, exc.cause) from None
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            items = items[:limit]
        return items

    def _child_machine(self, run: Any) -> str:
        return f"arn:aws:states:{run.region}:{run.account}:stateMachine:{run.machine_context['Name']}/{self.label}"

    def _write(self, run: Any, scope: Scope, data: Any, map_run_arn: str, results: list,
               children: list[ChildExecution]) -> Any:
        """ResultWriter: export the child executions' results to S3 (or only reshape them, without Resource)."""
        writer = self.writer or {}
        config = writer.get("WriterConfig") or {}
        transformation = config.get("Transformation", "NONE")
        if "Resource" not in writer:
            return _transform(results, transformation) if transformation != "NONE" else results
        arguments = self.writer_arguments(data, scope) if self.writer_arguments else {}
        bucket = arguments.get("Bucket")
        prefix = str(arguments.get("Prefix", "")).rstrip("/")
        run_id = map_run_arn.rsplit(":", 1)[-1]
        base = f"{prefix}/{run_id}" if prefix else run_id
        child_machine = self._child_machine(run)
        jsonl = config.get("OutputType", "JSON") == "JSONL"
        manifest: dict = {"DestinationBucket": bucket, "MapRunArn": map_run_arn,
                          "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": []}}
        for status in ("SUCCEEDED", "FAILED"):
            chosen = [c for c in children if (c.failure is None) == (status == "SUCCEEDED")]
            if not chosen:
                continue
            if transformation == "NONE":
                entries = [c.record(child_machine) for c in chosen]
            else:
                entries = _transform([c.output if c.failure is None else _error_output(c.failure) for c in chosen],
                                     transformation)
            body = "\n".join(json.dumps(e) for e in entries) if jsonl else json.dumps(entries)
            key = f"{base}/{status}_0.{'jsonl' if jsonl else 'json'}"
            self._put(run, scope, bucket, key, body)
            manifest["ResultFiles"][status].append({"Key": key, "Size": len(body.encode())})
        manifest_key = f"{base}/manifest.json"
        self._put(run, scope, bucket, manifest_key, json.dumps(manifest))
        return {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}

    def _put(self, run: Any, scope: Scope, bucket: Any, key: str, body: str) -> None:
        resource = (self.writer or {}).get("Resource", "arn:aws:states:::s3:putObject")
        self._service_call(run, resource, {"Bucket": bucket, "Key": key, "Body": body}, scope, RESULT_WRITER_FAILED)


class ChildExecution:
    """One item's run in a distributed map: what ResultWriter reports about it."""

    __slots__ = ("failure", "input", "name", "output", "started", "stopped")

    def __init__(self, item: Any, output: Any, failure: StateFailure | None, started: float, stopped: float) -> None:
        self.input, self.output, self.failure = item, output, failure
        self.started, self.stopped = started, stopped
        self.name = str(uuid.uuid4())

    def record(self, child_machine: str) -> dict:
        """The entry AWS writes to SUCCEEDED_n.json / FAILED_n.json (Transformation NONE)."""
        status = "FAILED" if self.failure is not None else "SUCCEEDED"
        entry: dict = {
            "ExecutionArn": child_machine.replace(":stateMachine:", ":execution:") + ":" + self.name,
            "Input": dumps(self.input),
            "InputDetails": {"Included": True},
            "Name": self.name,
        }
        if self.failure is None:
            entry["Output"] = dumps(self.output)
            entry["OutputDetails"] = {"Included": True}
        else:
            if self.failure.error is not None:
                entry["Error"] = self.failure.error
            if self.failure.cause is not None:
                entry["Cause"] = self.failure.cause
        entry.update({
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE",
            "RedriveStatusReason": f"Execution is {status} and cannot be redriven",
            "StartDate": iso(self.started),
            "StateMachineArn": child_machine,
            "Status": status,
            "StopDate": iso(self.stopped),
        })
        return entry


def _tolerated(failures: int, total: int, count: int | None, percentage: float | None) -> bool:
    """Whether a distributed map's failed children are within ToleratedFailureCount/Percentage."""
    if count is not None and failures <= count:
        return True
    return percentage is not None and total > 0 and failures * 100.0 / total <= percentage


def _always(index: int, error: BaseException) -> bool:
    return True


def _transform(outputs: list, transformation: str) -> list:
    """WriterConfig Transformation: COMPACT keeps the outputs; FLATTEN also splices array outputs in."""
    if transformation != "FLATTEN":
        return outputs
    flat: list = []
    for out in outputs:
        if isinstance(out, list):
            flat.extend(out)
        else:
            flat.append(out)
    return flat


def _error_output(failure: StateFailure) -> dict:
    out: dict = {"Error": failure.error}
    if failure.cause is not None:
        out["Cause"] = failure.cause
    return out


def _body(response: Any) -> str:
    body = response.get("Body") if isinstance(response, dict) else response
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, bytes):
        body = body.decode()
    if not isinstance(body, str):
        raise TypeError("the object body is not text")
    return body


def _parse_items(resource: str, config: dict, response: Any) -> list:
    """Items from what the reader's service call returned, per ReaderConfig.InputType."""
    if resource.endswith("listObjectsV2"):
        contents = response.get("Contents", []) if isinstance(response, dict) else []
        return [
            {"Etag": c.get("ETag", c.get("Etag")), "Key": c.get("Key"), "LastModified": str(c.get("LastModified")),
             "Size": c.get("Size"), "StorageClass": c.get("StorageClass", "STANDARD")}
            for c in contents
        ]
    input_type = config.get("InputType", "JSON")
    text = _body(response)
    if input_type == "JSON":
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("the JSON object must contain an array")
        return items
    if input_type == "JSONL":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if input_type == "CSV":
        delimiter = _DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ",")
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
            headers = config.get("CSVHeaders") or []
        else:
            if not rows:
                return []
            headers, rows = rows[0], rows[1:]
        return [dict(zip(headers, row)) for row in rows]
    if input_type == "MANIFEST":
        return [json.loads(line) if line.startswith("{") else {"Key": line} for line in text.splitlines() if line]
    raise ValueError(f"unsupported InputType {input_type}")


_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}
