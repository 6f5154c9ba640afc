"""The smoke test's judgement of one endpoint answer."""
from __future__ import annotations

import pytest
from retrain_and_promote.smoke_test import SmokeTestFailed, check_answer

CLASSES = ["package", "product", "full-length", "half-length"]
GOOD = {"label": "product", "confidence": 0.7,
        "probabilities": {"package": 0.1, "product": 0.7, "full-length": 0.1, "half-length": 0.1}}


def test_a_well_formed_classification_passes():
    assert check_answer(GOOD, CLASSES, "s3://d/x.jpg") == "product"


@pytest.mark.parametrize(("answer", "expected"), [
    ([0.1, 0.7], "is not {label, confidence, probabilities}"),
    ({**GOOD, "probabilities": {"product": 1.0}}, "probabilities for ['product']"),
    ({**GOOD, "probabilities": {**GOOD["probabilities"], "package": 0.6}}, "probabilities sum to 1.5000, not 1"),
    ({**GOOD, "label": "package"}, "label 'package' is not the most probable class"),
    ({**GOOD, "label": "selfie"}, "label 'selfie' is not the most probable class"),
    ({**GOOD, "confidence": 0.9}, "confidence 0.9 is not the label's probability"),
])
def test_a_malformed_answer_fails_the_smoke_test_and_says_what_is_wrong(answer, expected):
    with pytest.raises(SmokeTestFailed) as failed:
        check_answer(answer, CLASSES, "s3://d/x.jpg")
    assert str(failed.value).startswith("s3://d/x.jpg: ") and expected in str(failed.value)
