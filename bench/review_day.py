"""Generate a day of customer reviews for workflows/review-inspection.yaml, with the true labels kept aside.

    python bench/review_day.py build/day --date 2026-12-03 --reviews 200
    stepsmith s3 cp --recursive build/day/reviews s3://stepsmith-reviewuploadsbucket/reviews

writes, under OUT/reviews/dt=DATE/, one `<review>.json` per review ({review_id, type, user_id, images})
and its photos under images/ (drawn by bench/review_images.py: package, product, full-length,
half-length), and OUT/truth.json (never uploaded): each review's true photo classes, whether it deserves
its credits, and why it is broken if it is. Both review types and all four classes occur; about
`--broken` of the reviews are broken: a photo that is missing, an unknown review type, or a photo that
is not an image.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

EARNING = {"Product": "product", "Style": "full-length"}   # the credit rules the workflow's spec sets
BROKEN = ("missing image", "unknown type", "unreadable image")


def _drawing():
    """bench/review_images.py as a module (its photo drawing and classes)."""
    name = "bench_review_images"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("review_images.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass(frozen=True)
class Day:
    """A generated day: the folder to upload (`reviews/`), and each review's truth by review id."""

    folder: Path
    date: str
    truth: dict[str, dict]

    @property
    def prefix(self) -> str:
        return f"reviews/dt={self.date}/"


def make_day(out: str | Path, *, date: str, reviews: int, seed: int = 11, size: int = 64,
             broken: float = 0.04, earning_share: float = 0.5) -> Day:
    """Draw a day of `reviews` reviews into `out`; `earning_share` of the good ones deserve credits."""
    drawing = _drawing()
    out = Path(out)
    day = out / "reviews" / f"dt={date}"
    (day / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth: dict[str, dict] = {}
    for index in range(reviews):
        review_id = f"r{date.replace('-', '')}-{index:05d}"
        review_type = ("Product", "Style")[index % 2]
        count = 1 if rng.random() < 0.8 else 2
        deserves = rng.random() < earning_share
        others = [c for c in drawing.CLASSES if c != EARNING[review_type]]
        classes = [str(rng.choice(others)) for _ in range(count)]
        if deserves:
            classes[int(rng.integers(0, count))] = EARNING[review_type]
        fault = BROKEN[int(rng.integers(0, len(BROKEN)))] if rng.random() < broken else None
        keys = []
        for n, cls in enumerate(classes):
            key = f"{day.relative_to(out).as_posix()}/images/{review_id}-{n}.jpg"
            keys.append(key)
            if fault == "missing image" and n == 0:
                continue
            if fault == "unreadable image" and n == 0:
                (out / key).write_bytes(b"this is not a photo\n" * 4)
                continue
            cv2.imwrite(str(out / key), drawing.DRAW[cls](rng, size), [cv2.IMWRITE_JPEG_QUALITY, 90])
        metadata = {"review_id": review_id, "type": "Video" if fault == "unknown type" else review_type,
                    "user_id": f"u{int(rng.integers(1, 10_000)):05d}", "images": keys}
        (day / f"{review_id}.json").write_text(json.dumps(metadata), encoding="utf-8")
        truth[review_id] = {"type": review_type, "classes": classes, "deserves": deserves, "broken": fault}
    (out / "truth.json").write_text(json.dumps({"date": date, "reviews": truth}, indent=1), encoding="utf-8")
    return Day(out, date, truth)


def score(truth: dict[str, dict], rows: list[dict]) -> dict:
    """How the decisions compare with the truth: precision of automatic credits, share decided automatically."""
    by_id = {row["review_id"]: row for row in rows}
    good = [rid for rid, t in truth.items() if t["broken"] is None]
    auto = [rid for rid in good if by_id.get(rid, {}).get("decided_by") == "model"]
    credited = [rid for rid in auto if by_id[rid]["decision"] == "credited"]
    refused = [rid for rid in auto if by_id[rid]["decision"] == "refused"]
    return {
        "reviews": len(truth), "good": len(good),
        "auto_credited": len(credited), "auto_refused": len(refused),
        "precision_auto_credits": (sum(truth[r]["deserves"] for r in credited) / len(credited)) if credited else None,
        "accuracy_auto_refusals": (sum(not truth[r]["deserves"] for r in refused) / len(refused)) if refused else None,
        "share_automated": len(auto) / len(good) if good else None,
        "broken_reported": sum(by_id.get(rid, {}).get("decision") == "error"
                               for rid, t in truth.items() if t["broken"]),
        "broken": sum(t["broken"] is not None for t in truth.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="the folder to write (not with --quick)")
    parser.add_argument("--date", default="2026-12-03", help="the day (YYYY-MM-DD)")
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--size", type=int, default=64, help="photo width and height in pixels")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--broken", type=float, default=0.04, help="share of broken reviews (0-1)")
    parser.add_argument("--quick", action="store_true", help="a day of 12 small reviews in a temporary folder (CI)")
    args = parser.parse_args()
    if args.quick:
        with tempfile.TemporaryDirectory() as folder:
            day = make_day(folder, date=args.date, reviews=12, size=32, broken=0.25, seed=args.seed)
            photos = list((day.folder / day.prefix / "images").iterdir())
            print(f"--quick: {len(day.truth)} reviews, {len(photos)} photos, "
                  f"{sum(t['broken'] is not None for t in day.truth.values())} broken")
            raise SystemExit(0 if len(day.truth) == 12 and photos else 1)
    if args.out is None:
        parser.error("the output folder is required (or --quick)")
    day = make_day(args.out, date=args.date, reviews=args.reviews, size=args.size, seed=args.seed,
                   broken=args.broken)
    kinds = {kind: sum(t["broken"] == kind for t in day.truth.values()) for kind in BROKEN}
    print(f"{len(day.truth)} reviews of {day.date} in {day.folder / 'reviews'} "
          f"(broken: {', '.join(f'{n} {kind}' for kind, n in kinds.items())}); truth in {day.folder / 'truth.json'}")


if __name__ == "__main__":
    main()
