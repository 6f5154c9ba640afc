"""The credit rules and the confidence gate, on crafted predictions."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from review_inspection.rules import CLASSES, CreditRules, Photo, RulesError, prediction

RULES = CreditRules.from_text('{"Product": ["product"], "Style": "full-length"}', "0.9")


def photos(*answers: tuple[str, float]) -> list[Photo]:
    return [Photo(label, confidence) for label, confidence in answers]


@pytest.mark.parametrize("review_type, answers, decision, photo", [
    # one confident photo of the earning class credits the review
    ("Product", [("product", 0.97)], "credited", 0),
    ("Style", [("full-length", 0.9)], "credited", 0),            # the threshold itself is confident
    # a confident photo of another class refuses it: which class earns depends on the review's type
    ("Product", [("full-length", 0.99)], "refused", 0),
    ("Style", [("product", 0.99)], "refused", 0),
    ("Style", [("half-length", 0.95)], "refused", 0),
    ("Product", [("package", 0.95)], "refused", 0),
    # below the threshold the model does not decide, whatever it says
    ("Product", [("product", 0.89)], "doubtful", None),
    ("Style", [("half-length", 0.5)], "doubtful", None),
    # several photos: one confident earner is enough, even beside a doubtful photo
    ("Product", [("package", 0.4), ("product", 0.95)], "credited", 1),
    ("Style", [("full-length", 0.91), ("full-length", 0.99)], "credited", 1),    # the surest one decides
    # refused only when every photo is confidently not an earner
    ("Product", [("package", 0.99), ("half-length", 0.97)], "refused", 0),
    ("Product", [("package", 0.99), ("half-length", 0.5)], "doubtful", None),
])
def test_the_model_decides_only_where_it_is_confident(review_type, answers, decision, photo):
    verdict = RULES.judge(review_type, photos(*answers))
    assert (verdict.decision, verdict.photo) == (decision, photo)
    if decision == "doubtful":   # only the photos the model could not class go to a person
        assert verdict.doubtful == tuple(i for i, (_, c) in enumerate(answers) if c < 0.9)


def test_a_persons_class_decides_whatever_the_models_confidence():
    model = photos(("package", 0.4), ("half-length", 0.99))
    credited = RULES.judge("Product", [Photo("product", 1.0, "person"), model[1]])
    assert (credited.decision, credited.photo, credited.decided_by) == ("credited", 0, "person")
    refused = RULES.judge("Product", [Photo("package", 1.0, "person"), model[1]])
    assert (refused.decision, refused.decided_by) == ("refused", "person")


def test_the_threshold_is_a_parameter():
    answers = photos(("product", 0.7))
    assert RULES.judge("Product", answers).decision == "doubtful"
    assert CreditRules.from_text('{"Product": ["product"]}', "0.6").judge("Product", answers).decision == "credited"
    assert CreditRules.from_text('{"Product": ["product"]}', "0").judge("Product", photos(("package", 0.3))) \
        .decision == "refused"


def test_rules_are_data_and_several_classes_may_earn():
    rules = CreditRules.from_text('{"Style": ["full-length", "half-length"], "Unboxing": ["package"]}', "0.8")
    assert rules.types == ("Style", "Unboxing")
    assert rules.judge("Style", photos(("half-length", 0.85))).decision == "credited"
    assert rules.judge("Unboxing", photos(("package", 0.85))).decision == "credited"
    assert not rules.knows("Product") and not rules.knows(None)


@pytest.mark.parametrize("rules, threshold, message", [
    ("not json", "0.9", "CREDIT_RULES is not JSON"),
    ("[]", "0.9", "must be a JSON object"),
    ('{"Product": []}', "0.9", "non-empty list"),
    ('{"Product": ["shoe"]}', "0.9", "unknown class(es) ['shoe']"),
    ('{"Product": ["product"]}', "high", "must be a number"),
    ('{"Product": ["product"]}', "1.5", "between 0 and 1"),
    ('{"Product": ["product"]}', "nan", "between 0 and 1"),
])
def test_bad_rules_are_refused_with_what_to_fix(rules, threshold, message):
    with pytest.raises(RulesError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        CreditRules.from_text(rules, threshold)


def test_the_rules_come_from_the_functions_environment():
    assert CreditRules.from_environment({"CREDIT_RULES": '{"Style": ["full-length"]}',
                                         "CONFIDENCE_THRESHOLD": "0.75"}).threshold == 0.75
    with pytest.raises(RulesError, match="CREDIT_RULES is not set"):
        CreditRules.from_environment({})


@pytest.mark.parametrize("answer", [None, [], {"label": "shoe", "confidence": 0.9}, {"label": "product"},
                                    {"label": "product", "confidence": 1.2}, {"label": "product", "confidence": True}])
def test_an_answer_that_is_not_the_classifiers_is_refused(answer):
    with pytest.raises(ValueError):
        prediction(answer)


@given(st.lists(st.tuples(st.sampled_from(CLASSES), st.floats(0, 1)), min_size=1, max_size=4),
       st.sampled_from(["Product", "Style"]))
def test_the_model_never_credits_without_a_confident_earning_photo(answers, review_type):
    verdict = RULES.judge(review_type, photos(*answers))
    earning = {"Product": "product", "Style": "full-length"}[review_type]
    confident_earners = [i for i, (label, c) in enumerate(answers) if label == earning and c >= 0.9]
    assert (verdict.decision == "credited") == bool(confident_earners)
    if verdict.decision == "refused":
        assert all(c >= 0.9 for _, c in answers)
    if verdict.decision == "doubtful":
        assert verdict.doubtful and all(answers[i][1] < 0.9 for i in verdict.doubtful)
