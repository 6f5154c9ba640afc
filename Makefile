# The two commands a fresh machine needs: `make run` (set up + main job) and `make test` (set up + tests).
# Both are idempotent and create their virtual environments themselves.
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
SAMPLE := build/sample/people-walking.mp4

.PHONY: run test setup setup-sam lambda-image conformance mutate clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[flows,dev]'
	touch $@

# aws-sam-cli pins boto3 and click, so it lives in its own tool venv, never in the project's.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli cfn-lint
	touch $@

setup: $(VENV)/.installed

setup-sam: $(SAM_VENV)/.installed

## Main job: compile every workflow, then blur the faces in a generated sample video locally.
run: setup
	$(VENV)/bin/stepsmith compile
	mkdir -p $(dir $(SAMPLE))
	$(VENV)/bin/python bench/media.py $(SAMPLE)
	$(VENV)/bin/stepsmith run face-blur --file $(SAMPLE) --out-dir out/

## Tests: lint, the unit, conformance and end-to-end suite, and the SAM tool checks. Test files run in
## parallel (pytest-xdist; one file stays on one worker) and in a random order whose seed is printed.
test: setup setup-sam
	$(VENV)/bin/ruff check compiler engine handlers tests bench
	$(VENV)/bin/pytest -n auto --dist loadfile

## The offline stand-in for public.ecr.aws/lambda/python:3.11 that `sam local invoke --skip-pull-image` runs
## functions in (root, dockerd running, debootstrap; first build ~6 min, then instant). With it, `make test`
## also runs tests/engine/runtime/test_samlocal.py's `sam local invoke` test; without it that test skips.
lambda-image: setup-sam
	tests/sam/lambda-image.sh

## AWS-recorded ASL conformance as a table per category (the test suite gates on the same cases).
conformance: setup
	$(VENV)/bin/python tests/conformance/aws_recorded.py

## Mutation testing of the core modules (slow: run before a release, not in CI). MODULES=choice retry …
## picks some; the score per module is printed, survivors are listed in tests/mutation/survivors.md.
## `.venv/bin/python tests/mutation/one_by_one.py MODULE` runs each mutant alone in a fresh process instead:
## slower, but no verdict rests on mutmut's time limit (how choice was verified).
mutate: setup
	$(VENV)/bin/python tests/mutation/mutate.py $(MODULES)

clean:
	rm -rf build out .stepsmith
