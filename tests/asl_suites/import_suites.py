"""Copy the ASL definitions of three public suites into this folder, with their licences and sources.

Usage: python tests/asl_suites/import_suites.py ASL_VALIDATOR_GIT STATELINT_GIT WORKFLOWS_GIT
(each a git directory; the commit read is its HEAD). Only data files are copied — definition JSON,
the licence and notice files — never the projects' code. Writes <suite>/ folders and upstream.json:
for every fixture, where it came from and the verdict its suite expects. Verdicts we judge
differently live in judged.json, kept by hand, so a re-import never overwrites them.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# statelint checks these from spec/state_node_spec.rb and test_retval.sh, not with a problem count.
_STATELINT_OTHER = {
    "test/has-dupes.json": False, "test/linked-parallel.json": False, "test/no-terminal.json": False,
    "test/map-with-itemprocessor-and-iterator.json": False,
    "test/map-with-parameters-and-itemselector.json": False, "test/map-with-itemprocessor.json": True,
}


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True, capture_output=True).stdout


def files(repo: Path) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", "HEAD").decode().split("\n")


def main(asl_validator: Path, statelint: Path, workflows: Path) -> None:
    upstream: dict[str, dict] = {}
    seen: dict[str, str] = {}  # content hash -> fixture, so each definition is stored once

    def add(suite: str, repo: Path, url: str, source: str, name: str, valid: bool) -> None:
        data = git(repo, "show", f"HEAD:{source}")
        digest = hashlib.sha256(data.strip()).hexdigest()
        where = {"repo": url, "commit": git(repo, "rev-parse", "HEAD").decode().strip(), "path": source}
        if digest in seen:
            upstream[seen[digest]].setdefault("also", []).append(source)
            return
        fixture = f"{suite}/{name}"
        (HERE / suite).mkdir(exist_ok=True)
        (HERE / fixture).write_bytes(data)
        seen[digest] = fixture
        upstream[fixture] = {**where, "valid": valid}

    for suite, repo in (("asl-validator", asl_validator), ("statelint", statelint), ("workflows-collection", workflows)):
        shutil.rmtree(HERE / suite, ignore_errors=True)
        (HERE / suite).mkdir()
        for licence in ("LICENSE", "NOTICE", "NOTICE.txt"):
            if licence in files(repo):
                (HERE / suite / licence).write_bytes(git(repo, "show", f"HEAD:{licence}"))

    url = "https://github.com/ChristopheBougere/asl-validator"
    for source in files(asl_validator):
        match = re.fullmatch(r"src/__tests__/definitions/((valid|invalid)-.+\.json)", source)
        if match:
            add("asl-validator", asl_validator, url, source, match.group(1), match.group(2) == "valid")

    url = "https://github.com/awslabs/statelint"
    spec = git(statelint, "show", "HEAD:spec/statelint_spec.rb").decode()
    expected = dict(_STATELINT_OTHER)
    current = None
    for line in spec.splitlines():
        if match := re.search(r'File\.read "(test/[^"]+)"', line):
            current = match.group(1)
        elif (match := re.search(r"expect\(problems\.size\)\.to eq\((\d+)\)", line)) and current:
            expected[current], current = match.group(1) == "0", None
    for source in files(statelint):
        if source.startswith("test/") and source.endswith(".json"):
            add("statelint", statelint, url, source, source[len("test/"):], expected[source])

    url = "https://github.com/aws-samples/step-functions-workflows-collection"
    for source in files(workflows):
        if not source.endswith(".json"):
            continue
        data = git(workflows, "show", f"HEAD:{source}")
        if b'"StartAt"' not in data or b'"States"' not in data:
            continue
        try:
            definition = json.loads(data)
        except ValueError:
            definition = None  # published but not JSON: kept, AWS refuses it
        if definition is not None and not (isinstance(definition, dict) and "StartAt" in definition):
            continue  # a sample's metadata that only mentions the words
        add("workflows-collection", workflows, url, source, source.replace("/", "__"), True)

    (HERE / "upstream.json").write_text(json.dumps(upstream, indent=1, sort_keys=True) + "\n")
    print(f"{len(upstream)} fixtures")


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:4]))
