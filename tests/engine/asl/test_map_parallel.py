import json

from aslrun import ScriptedDispatcher, event_types, one_state, output, run

from engine.asl import TaskFailed

# ItemReader, ItemBatcher and ResultWriter belong to distributed Maps (AWS refuses them inline).
DISTRIBUTED_PASS = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def map_state(**fields):
    fields.setdefault("ItemProcessor", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    return one_state({"Type": "Map", **fields}, name="M")


def test_map_items_path_and_item_selector_with_context():
    definition = map_state(ItemsPath="$.xs", ItemSelector={"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value",
                                                          "k.$": "$.k"})
    assert output(definition, {"xs": ["a", "b"], "k": 7}) == [{"i": 0, "v": "a", "k": 7}, {"i": 1, "v": "b", "k": 7}]


def test_map_legacy_iterator_and_parameters():
    definition = one_state({"Type": "Map", "Parameters": {"v.$": "$$.Map.Item.Value"},
                            "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}})
    assert output(definition, [1, 2]) == [{"v": 1}, {"v": 2}]


def test_map_events():
    result = run(map_state(), [1])
    assert event_types(result) == [
        "ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapIterationStarted", "PassStateEntered",
        "PassStateExited", "MapIterationSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded",
    ]
    assert result.history[2]["mapStateStartedEventDetails"] == {"length": 1}


def test_map_iteration_failure_fails_the_map_and_catch_sees_it():
    definition = {
        "StartAt": "M",
        "States": {
            "M": {"Type": "Map", "Next": "Ok",
                  "ItemProcessor": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad", "Cause": "c"}}},
                  "Catch": [{"ErrorEquals": ["Bad"], "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "End": True},
            "Ok": {"Type": "Succeed"},
        },
    }
    assert output(definition, [1]) == {"Error": "Bad", "Cause": "c"}
    assert "MapIterationFailed" in event_types(run(definition, [1]))


def test_map_input_must_be_an_array():
    result = run(map_state(ItemsPath="$.xs"), {"xs": 3})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_item_batcher_groups_items_with_batch_input():
    definition = map_state(ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"b": 1}}, ItemProcessor=DISTRIBUTED_PASS)
    assert output(definition, [1, 2, 3]) == [{"BatchInput": {"b": 1}, "Items": [1, 2]},
                                            {"BatchInput": {"b": 1}, "Items": [3]}]


def test_distributed_map_tolerates_failures_up_to_the_count():
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "C",
                 "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}],
                                  "Default": "P"},
                            "F": {"Type": "Fail", "Error": "Two"}, "P": {"Type": "Pass", "End": True}}}
    ok = run(map_state(ItemProcessor=processor, ToleratedFailureCount=1), [1, 2, 3])
    assert ok.status == "SUCCEEDED"
    assert "MapRunStarted" in event_types(ok)
    assert "PassStateEntered" not in event_types(ok)  # child executions keep their own histories
    failed = run(map_state(ItemProcessor=processor, ToleratedFailureCount=0), [1, 2, 3])
    assert (failed.status, failed.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")


def test_item_reader_and_result_writer_go_through_the_dispatcher():
    def s3(call):
        if call.resource.endswith("getObject"):
            return {"Body": "id,name\n1,a\n2,b\n"}
        return {}

    d = ScriptedDispatcher(s3)
    definition = map_state(
        ItemProcessor={"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                       "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        ItemReader={"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "CSV"},
                    "Parameters": {"Bucket": "in", "Key": "k.csv"}},
        ResultWriter={"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "out", "Prefix": "r"}},
    )
    out = output(definition, {}, dispatcher=d)
    assert out["ResultWriterDetails"]["Bucket"] == "out"
    assert out["ResultWriterDetails"]["Key"].endswith("/manifest.json")
    assert d.calls[0].arguments == {"Bucket": "in", "Key": "k.csv"}
    written = {c.arguments["Key"].rsplit("/", 1)[-1]: c.arguments["Body"] for c in d.calls[1:]}
    assert set(written) == {"SUCCEEDED_0.json", "manifest.json"}
    assert '{\\"id\\":\\"1\\",\\"name\\":\\"a\\"}' in written["SUCCEEDED_0.json"]


def test_item_reader_failure_is_item_reader_failed():
    d = ScriptedDispatcher(TaskFailed("S3.NoSuchKey", "missing"))
    definition = map_state(ItemReader={"Resource": "arn:aws:states:::s3:getObject",
                                       "Parameters": {"Bucket": "b", "Key": "k"}}, ItemProcessor=DISTRIBUTED_PASS)
    result = run(definition, {}, dispatcher=d)
    assert (result.status, result.error) == ("FAILED", "States.ItemReaderFailed")


def test_parallel_runs_each_branch_on_the_same_input():
    definition = one_state({"Type": "Parallel", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"a.$": "$.x"}, "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": True}}},
    ], "ResultSelector": {"first.$": "$[0]", "second.$": "$[1]"}})
    assert output(definition, {"x": 1}) == {"first": {"a": 1}, "second": "b"}


def test_parallel_branch_failure_fails_the_state():
    definition = one_state({"Type": "Parallel", "Branches": [
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}]})
    result = run(definition, {})
    assert (result.status, result.error) == ("FAILED", "E")
    assert "ParallelStateFailed" in event_types(result)


def test_parallel_retry_runs_branches_again():
    definition = one_state({"Type": "Parallel", "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 2}], "Branches": [
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}]})
    result = run(definition, {})
    assert event_types(result).count("ParallelStateStarted") == 3


def _distributed(**fields):
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "C",
                 "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}],
                                  "Default": "P"},
                            "F": {"Type": "Fail", "Error": "Two", "Cause": "two"},
                            "P": {"Type": "Pass", "Parameters": {"v.$": "$", "pair.$": "States.Array($, $)"},
                                  "OutputPath": "$.pair", "End": True}}}
    return map_state(ItemProcessor=processor, ToleratedFailureCount=1, **fields)


def test_result_writer_files_describe_each_child_execution():
    d = ScriptedDispatcher({})
    definition = _distributed(ResultWriter={"Resource": "arn:aws:states:::s3:putObject",
                                            "Parameters": {"Bucket": "out", "Prefix": "runs"}})
    output(definition, [1, 2], dispatcher=d)
    files = {c.arguments["Key"].rsplit("/", 1)[-1]: json.loads(c.arguments["Body"]) for c in d.calls}
    (ok,) = files["SUCCEEDED_0.json"]
    assert (ok["Status"], ok["Input"], ok["Output"]) == ("SUCCEEDED", "1", "[1,1]")
    (bad,) = files["FAILED_0.json"]
    assert (bad["Status"], bad["Error"], bad["Cause"]) == ("FAILED", "Two", "two")
    assert [f["Key"].rsplit("/", 1)[-1] for f in files["manifest.json"]["ResultFiles"]["SUCCEEDED"]] == [
        "SUCCEEDED_0.json"]


def test_writer_config_flatten_without_export():
    definition = _distributed(ResultWriter={"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}})
    assert output(definition, [1, 3]) == [1, 1, 3, 3]


def test_writer_config_compact_jsonl_export():
    d = ScriptedDispatcher({})
    definition = _distributed(ResultWriter={"Resource": "arn:aws:states:::s3:putObject",
                                            "WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSONL"},
                                            "Parameters": {"Bucket": "out"}})
    output(definition, [1, 3], dispatcher=d)
    bodies = {c.arguments["Key"].rsplit("/", 1)[-1]: c.arguments["Body"] for c in d.calls}
    assert bodies["SUCCEEDED_0.jsonl"] == "[1, 1]\n[3, 3]"


def test_item_batcher_sizes_from_paths_and_bytes():
    definition = map_state(ItemsPath="$.xs", ItemBatcher={"MaxItemsPerBatchPath": "$.n"}, ItemProcessor=DISTRIBUTED_PASS)
    assert output(definition, {"xs": [1, 2, 3], "n": 2}) == [{"Items": [1, 2]}, {"Items": [3]}]
    by_bytes = map_state(ItemBatcher={"MaxInputBytesPerBatch": 8}, ItemProcessor=DISTRIBUTED_PASS)
    assert output(by_bytes, ["aaa", "bbb", "ccc"]) == [{"Items": ["aaa"]}, {"Items": ["bbb"]}, {"Items": ["ccc"]}]


def test_branches_and_iterations_fork_from_their_started_event():
    parallel = run(one_state({"Type": "Parallel", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]}), {})
    by_type = {}
    for e in parallel.history:
        by_type.setdefault(e["type"], []).append(e)
    started = by_type["ParallelStateStarted"][0]["id"]
    assert [e["previousEventId"] for e in by_type["PassStateEntered"]] == [started, started]
    mapped = run(map_state(), [1, 2])
    started = next(e["id"] for e in mapped.history if e["type"] == "MapStateStarted")
    assert [e["previousEventId"] for e in mapped.history if e["type"] == "MapIterationStarted"] == [started, started]
