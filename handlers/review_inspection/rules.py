"""The credit rules: which photo class earns a review type's credits, and when the model may decide.

Pure functions on predictions, so they are tested on crafted answers. The rules are data, read from the
function's environment (the workflow spec sets them):

    CREDIT_RULES='{"Product": ["product"], "Style": ["full-length"]}'   review type → classes that earn
    CONFIDENCE_THRESHOLD=0.9      a photo whose top-class confidence is below this is not the model's call

A review earns its credits when at least one of its photos is of an earning class. The model credits a
review when one photo it is confident about earns; it refuses one when it is confident about every photo
and none earns; anything else (no confident earning photo, some photo doubtful) goes to a person, who
classes the doubtful photos.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

CLASSES = ("package", "product", "full-length", "half-length")

CREDITED, REFUSED, DOUBTFUL = "credited", "refused", "doubtful"


class RulesError(ValueError):
    """The rules' configuration is unusable (raised at the first invocation, naming the variable)."""


@dataclass(frozen=True)
class Photo:
    """What is known of one photo: its class and how sure, and who said so (model or person)."""

    label: str
    confidence: float
    by: str = "model"


@dataclass(frozen=True)
class Verdict:
    """A review's outcome: credited, refused or doubtful; the photo that decided it; the doubtful photos."""

    decision: str
    photo: int | None = None             # index of the deciding photo (credited/refused)
    doubtful: tuple[int, ...] = ()       # indexes of the photos a person must class (doubtful)
    decided_by: str = "model"

    def deciding(self, photos: Sequence[Photo]) -> Photo | None:
        return photos[self.photo] if self.photo is not None else None


@dataclass(frozen=True)
class CreditRules:
    """Per review type, the classes that earn credits; the confidence the model needs to decide a photo."""

    earning: Mapping[str, frozenset[str]]
    threshold: float
    types: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", tuple(sorted(self.earning)))

    @classmethod
    def from_text(cls, rules: str, threshold: str) -> CreditRules:
        """Parse CREDIT_RULES (JSON: type → class or list of classes) and CONFIDENCE_THRESHOLD (0-1)."""
        try:
            parsed = json.loads(rules)
        except ValueError as error:
            raise RulesError(f"CREDIT_RULES is not JSON ({error}): {rules!r}") from None
        if not isinstance(parsed, dict) or not parsed:
            raise RulesError("CREDIT_RULES must be a JSON object: review type → earning class(es), "
                             "e.g. {\"Product\": [\"product\"]}")
        earning: dict[str, frozenset[str]] = {}
        for review_type, classes in parsed.items():
            listed = [classes] if isinstance(classes, str) else classes
            if not isinstance(listed, list) or not listed or not all(isinstance(c, str) for c in listed):
                raise RulesError(f"CREDIT_RULES[{review_type!r}] must be a class or a non-empty list of classes")
            unknown = sorted(set(listed) - set(CLASSES))
            if unknown:
                raise RulesError(f"CREDIT_RULES[{review_type!r}] names unknown class(es) {unknown}; "
                                 f"the classifier's classes are {list(CLASSES)}")
            earning[review_type] = frozenset(listed)
        try:
            gate = float(threshold)
        except ValueError:
            raise RulesError(f"CONFIDENCE_THRESHOLD must be a number between 0 and 1, not {threshold!r}") from None
        if not 0 <= gate <= 1 or math.isnan(gate):
            raise RulesError(f"CONFIDENCE_THRESHOLD must be between 0 and 1, not {threshold!r}")
        return cls(earning, gate)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> CreditRules:
        """The rules a function was deployed with."""
        if "CREDIT_RULES" not in environ:
            raise RulesError("CREDIT_RULES is not set: the workflow's functions.environment defines it")
        return cls.from_text(environ["CREDIT_RULES"], environ.get("CONFIDENCE_THRESHOLD", "0.9"))

    def knows(self, review_type: object) -> bool:
        return isinstance(review_type, str) and review_type in self.earning

    def judge(self, review_type: str, photos: Sequence[Photo]) -> Verdict:
        """Decide a review from its photos (the model's predictions, some perhaps classed by a person).

        A person's class counts whatever its confidence: it is never gated.
        """
        earning = self.earning[review_type]
        sure = [i for i, photo in enumerate(photos) if photo.by == "person" or photo.confidence >= self.threshold]
        by = "person" if any(photo.by == "person" for photo in photos) else "model"
        earners = [i for i in sure if photos[i].label in earning]
        if earners:
            best = max(earners, key=lambda i: (photos[i].by == "person", photos[i].confidence))
            return Verdict(CREDITED, best, decided_by=photos[best].by)
        if len(sure) == len(photos) and photos:
            best = max(sure, key=lambda i: (photos[i].by == "person", photos[i].confidence))
            return Verdict(REFUSED, best, decided_by=by)
        return Verdict(DOUBTFUL, doubtful=tuple(i for i in range(len(photos)) if i not in sure))


def prediction(answer: object) -> Photo:
    """The classifier's answer for one photo ({"label", "confidence", "probabilities"}) as a Photo."""
    if not isinstance(answer, dict) or answer.get("label") not in CLASSES:
        raise ValueError(f"not a review-classifier answer: {str(answer)[:200]}")
    confidence = answer.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise ValueError(f"the answer's confidence is not a probability: {confidence!r}")
    return Photo(answer["label"], float(confidence))
