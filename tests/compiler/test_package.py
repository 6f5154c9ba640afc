"""Each zip function carries only its own handler code and the requirements it declares."""
import json
import textwrap
from pathlib import Path

from click.testing import CliRunner

from compiler import compile_project
from compiler.serialize import load_template
from engine.cli import main

SPEC = """
    steps:
      - name: Greet
        handler: greeter.hello.handler
      - name: Sign
        handler: signer.handler
      - name: Blur
        handler: greeter.hello.handler
        image: heavy
        end: true
    """


def make_project(root: Path) -> Path:
    (root / "workflows").mkdir(parents=True)
    (root / "workflows" / "demo.yaml").write_text(textwrap.dedent(SPEC))
    handlers = root / "handlers"
    (handlers / "greeter").mkdir(parents=True)
    (handlers / "greeter" / "__init__.py").write_text("")
    (handlers / "greeter" / "hello.py").write_text(
        "import json\nfrom shared_text import shout\n\ndef handler(event, context):\n"
        "    return {'greeting': shout('hello ' + event.get('name', 'you'))}\n")
    (handlers / "greeter" / "requirements.txt").write_text("requests==2.32.3\n")
    (handlers / "shared_text.py").write_text("def shout(text):\n    return text.upper()\n")
    (handlers / "shared_text.requirements.txt").write_text("# text helpers need nothing else\n")
    (handlers / "signer.py").write_text("import boto3\n\ndef handler(event, context):\n    return {}\n")
    (handlers / "signer.requirements.txt").write_text("cryptography==44.0.0\n")
    (handlers / "unrelated.py").write_text("def handler(event, context):\n    return None\n")
    (root / "images" / "heavy").mkdir(parents=True)
    (root / "images" / "heavy" / "Dockerfile").write_text("FROM public.ecr.aws/lambda/python:3.12\n")
    return root


def test_each_function_gets_its_package_the_modules_it_imports_and_their_requirements(tmp_path):
    root = make_project(tmp_path / "project")
    compile_project(root, "build")
    greet = root / "build" / "functions" / "DemoGreetFunction"
    assert sorted(path.name for path in greet.iterdir()) == ["greeter", "requirements.txt", "shared_text.py"]
    assert (greet / "greeter" / "hello.py").read_text().startswith("import json")   # links to the source
    assert (greet / "requirements.txt").read_text() == "requests==2.32.3\n# text helpers need nothing else\n"
    sign = root / "build" / "functions" / "DemoSignFunction"
    assert sorted(path.name for path in sign.iterdir()) == ["requirements.txt", "signer.py"]
    assert (sign / "requirements.txt").read_text() == "cryptography==44.0.0\n"
    assert not (root / "build" / "functions" / "DemoBlurFunction").exists()   # images build from their Dockerfile
    resources = load_template((root / "build" / "template.yaml").read_text())["Resources"]
    assert resources["DemoGreetFunction"]["Properties"]["CodeUri"] == "functions/DemoGreetFunction/"
    assert resources["DemoBlurFunction"]["Metadata"]["DockerContext"] == ".."


def test_a_handler_that_stops_importing_a_module_stops_shipping_it(tmp_path):
    root = make_project(tmp_path / "project")
    compile_project(root, "build")
    (root / "handlers" / "greeter" / "hello.py").write_text("def handler(event, context):\n    return {}\n")
    compile_project(root, "build")
    greet = root / "build" / "functions" / "DemoGreetFunction"
    assert sorted(path.name for path in greet.iterdir()) == ["greeter", "requirements.txt"]


def test_compile_to_another_folder_resolves_code_and_docker_context_from_there(tmp_path, monkeypatch):
    root = make_project(tmp_path / "project")
    out = tmp_path / "elsewhere" / "stack"
    compile_project(root, out)
    resources = load_template((out / "template.yaml").read_text())["Resources"]
    context = out / resources["DemoBlurFunction"]["Metadata"]["DockerContext"]
    assert (context / resources["DemoBlurFunction"]["Metadata"]["Dockerfile"]).resolve() == \
        (root / "images" / "heavy" / "Dockerfile").resolve()
    code = out / resources["DemoGreetFunction"]["Properties"]["CodeUri"]
    assert (code / "greeter" / "hello.py").resolve() == (root / "handlers" / "greeter" / "hello.py").resolve()


def test_the_engine_runs_the_handler_from_its_own_code_folder(tmp_path, monkeypatch):
    root = make_project(tmp_path / "project")
    (root / "workflows" / "demo.yaml").write_text(textwrap.dedent("""
        steps:
          - name: Greet
            handler: greeter.hello.handler
            end: true
        """))
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["run", "demo", "-q", "--input", '{"name": "ada"}'], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "HELLO ADA"}
