"""`stepsmith invoke-endpoint` and `stepsmith logs` against endpoints and jobs a run left behind."""
import json

from click.testing import CliRunner
from sagemaker_checks import deploy_model, endpoint_config, settled, stop_endpoints, train

from engine.aws import LocalAWS
from engine.cli import main


def test_invoke_endpoint_and_logs_from_the_command_line(project, monkeypatch):
    with LocalAWS(project / ".stepsmith") as aws:          # what a `stepsmith run` leaves behind
        aws.create_bucket("data")
        train(aws, "job-cli", hyperparameters={"epochs": "2"})
        deploy_model(aws, "m-cli", scale=4)
        endpoint_config(aws, "c-cli", "m-cli")
        aws.client("sagemaker").create_endpoint(EndpointName="ep-cli", EndpointConfigName="c-cli")
        settled(aws, "ep-cli")
    monkeypatch.chdir(project)
    (project / "request.json").write_text(json.dumps({"x": 2}))
    runner = CliRunner()
    try:
        answered = runner.invoke(main, ["invoke-endpoint", "ep-cli", "--body", "@request.json"])
        assert answered.exit_code == 0, answered.output
        assert json.loads(answered.output) == {"y": 8.0}
        failed = runner.invoke(main, ["invoke-endpoint", "ep-cli", "--body", '{"x": "fail"}'])
        assert failed.exit_code == 1 and "ModelError: Received server error (500)" in failed.output
        missing = runner.invoke(main, ["invoke-endpoint", "no-such-endpoint", "--body", "{}"])
        assert missing.exit_code == 2 and "ValidationError: Endpoint no-such-endpoint" in missing.output

        log = runner.invoke(main, ["logs", "job-cli"])
        assert log.exit_code == 0 and "epoch=2 train_loss=0.5000" in log.output
        endpoint_log = runner.invoke(main, ["logs", "ep-cli", "--kind", "endpoint"])
        assert "RuntimeError: cannot predict this" in endpoint_log.output
        assert runner.invoke(main, ["logs", "nothing"]).exit_code == 2
    finally:
        with LocalAWS(project / ".stepsmith", persist=False) as aws:
            stop_endpoints(aws)
