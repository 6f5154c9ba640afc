"""Warnings for specs that compile but would misbehave on AWS, each pointing at the line to change."""

import textwrap

from compiler.lints import lint_workflow
from compiler.load import build_workflow, read_document


def lints_of(tmp_path, text):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    workflow, errors = build_workflow(read_document(path), path)
    assert errors == []
    return [str(lint).replace(str(tmp_path) + "/", "") for lint in lint_workflow(workflow)]


def test_task_timeout_shorter_than_the_lambda_timeout(tmp_path):
    assert lints_of(tmp_path, """
        steps:
          - name: Blur
            handler: app.blur
            timeout: 900
            task_timeout: 300
        """) == [
        ("flow.yaml:5:19: warning: step 'Blur' gives up after 300 s but its function may run for 900 s; the "
        "function keeps running and billing after the state times out (set task_timeout >= 900 or lower the "
        "function's timeout)")]


def test_task_timeout_longer_than_the_lambda_timeout_is_fine(tmp_path):
    assert lints_of(tmp_path, """
        steps:
          - name: Blur
            handler: app.blur
            timeout: 60
            task_timeout: 90
        """) == []


def test_api_handler_slower_than_api_gateway(tmp_path):
    assert lints_of(tmp_path, """
        trigger:
          api: {method: POST, path: /login, respond: Login}
        steps:
          - name: Login
            handler: app.login
            timeout: 60
        """) == [
        ("flow.yaml:6:14: warning: step 'Login' answers API requests but its timeout is 60 s; API Gateway stops "
        "waiting after 29 s (set timeout: 29 or less)")]


def test_handler_named_like_a_collection_keeping_its_whole_result(tmp_path):
    assert lints_of(tmp_path, """
        steps:
          - name: Detect
            handler: app.detect_faces
            result_path: $.detections
        """) == [
        ("flow.yaml:4:18: warning: step 'Detect' keeps its whole result in the state and its name says it returns "
        "a collection (detections, faces); Step Functions fails a state whose data exceeds 256 KiB (keep only "
        "what later steps need with result_selector, or store the data in S3 and pass its key)")]


def test_result_selector_or_null_result_path_silences_the_payload_lint(tmp_path):
    assert lints_of(tmp_path, """
        steps:
          - name: Detect
            handler: app.detect_faces
            result_selector: {count.$: $.count}
            result_path: $.detections
          - name: Detect again
            handler: app.detect_faces
            result_path: null
        """) == []


def test_paged_sdk_calls_without_a_small_page(tmp_path):
    lints = lints_of(tmp_path, """
        steps:
          - name: Get
            service: rekognition:getFaceDetection
            parameters: {JobId.$: $.id}
            result_path: $.job
          - name: Peek
            service: rekognition:getFaceDetection
            parameters: {JobId.$: $.id, MaxResults: 1}
            result_path: $.job
        """)
    assert len(lints) == 1
    assert lints[0].startswith("flow.yaml:5:18: warning: step 'Get' keeps its whole result in the state and "
                               "rekognition:getFaceDetection returns pages of data")


def test_distributed_map_without_a_writer(tmp_path):
    lints = lints_of(tmp_path, """
        resources:
          images: {type: bucket}
        steps:
          - name: Each
            map:
              mode: distributed
              reader: {bucket: images, prefix: in/, format: objects}
              steps:
                - {name: Look, pass: {}}
        """)
    assert lints == [
        ("flow.yaml:6:7: warning: distributed map 'Each' returns every item's result inline; above 256 KiB the "
        "execution fails (add writer: {bucket: ..., prefix: ...} to write the results to S3)")]


def test_writing_to_the_triggering_bucket_is_recursion(tmp_path):
    lints = lints_of(tmp_path, """
        resources:
          videos: {type: bucket}
        trigger:
          s3: {bucket: videos, suffix: [.mp4]}
        steps:
          - name: Blur
            handler: app.blur
            reads: [videos]
            writes: [videos]
          - name: Copy
            service: s3:copyObject
            parameters: {Bucket: "${resource:videos}", Key: x, CopySource: y}
        """)
    assert lints == [
        ("flow.yaml:9:14: warning: step 'Blur' writes to bucket 'videos', whose new objects start this workflow "
        "(trigger at line 4): each run can start another, forever (write to another bucket, or narrow the "
        "trigger's prefix/suffix so written objects do not match)"),
        ("flow.yaml:12:26: warning: step 'Copy' writes to bucket 'videos', whose new objects start this workflow "
        "(trigger at line 4): each run can start another, forever (write to another bucket, or narrow the "
        "trigger's prefix/suffix so written objects do not match)"),
    ]


def test_reading_the_triggering_bucket_is_fine(tmp_path):
    assert lints_of(tmp_path, """
        resources:
          videos-in: {type: bucket}
          videos-out: {type: bucket}
        trigger:
          s3: {bucket: videos-in}
        steps:
          - name: Blur
            handler: app.blur
            reads: [videos-in]
            writes: [videos-out]
        """) == []
