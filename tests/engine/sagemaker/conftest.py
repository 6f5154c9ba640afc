"""A project with a standard-library test image (images/echo), inside a local AWS."""
import shutil
from pathlib import Path

import pytest
from sagemaker_checks import stop_endpoints

from engine.aws import LocalAWS

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def project(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    return tmp_path


@pytest.fixture
def aws(project):
    with LocalAWS(project / ".stepsmith") as local:
        local.create_bucket("data")
        try:
            yield local
        finally:
            stop_endpoints(local)
