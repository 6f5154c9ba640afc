from pathlib import Path

import pytest

from engine.app import App
from engine.aws import LocalAWS
from engine.tasks import LocalDispatcher

FIXTURE_APP = Path(__file__).parent / "fixtures" / "app"


@pytest.fixture
def app() -> App:
    return App.load(FIXTURE_APP, stack="demo")


@pytest.fixture
def aws(app, tmp_path):
    with LocalAWS(tmp_path / ".stepsmith", app=app) as local:
        yield local


@pytest.fixture
def dispatcher(app, aws) -> LocalDispatcher:
    return LocalDispatcher(app)
