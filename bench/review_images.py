"""Generate labelled review photos of MUSINSA's four classes, with SageMaker Ground Truth manifests.

The classes differ the way the real photos do — by what is in the picture and how it is framed, never
by a colour code (every colour is drawn at random for every class):

    package      a cardboard-like box seen from above at an angle, anywhere in the frame
    product      one product (a shirt, a shoe or a bottle) centred on a plain, light background
    full-length  a whole person, head to feet, filling the frame's height
    half-length  a person's head and shoulders, cut off by the frame's bottom edge

    python bench/review_images.py out/ --per-class 120 --held-out 40        # train/ + held-out/
    python bench/review_images.py out/ --shuffle-labels 0.4                  # a deliberately worse set

Each set is a folder of JPEGs and `output.manifest`, in the format a Ground Truth image-classification
labelling job writes: one JSON line per image with `source-ref` (the image's S3 URI, from --bucket and
--prefix), the label attribute (the class index) and `<attribute>-metadata` (class-name, confidence,
human-annotated, job-name, type). Upload the folder to that bucket and prefix to use it.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("package", "product", "full-length", "half-length")
LABEL_ATTRIBUTE = "review-class"
JOB_NAME = "labeling-job/review-classes"


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * factor))) for c in colour)


def _background(rng: np.random.Generator, size: int, plain: bool) -> np.ndarray:
    if plain:
        tone = rng.integers(200, 256)
        tint = rng.integers(-12, 13, 3)
        return np.clip(np.full((size, size, 3), tone, np.int16) + tint, 0, 255).astype(np.uint8)
    # A room or a floor: a gradient between two random colours, blotches and sensor noise.
    a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    ramp = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    image = a * (1 - ramp) + b * ramp
    image = np.repeat(image, size, axis=1)
    for _ in range(rng.integers(2, 6)):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.circle(image, centre, int(rng.integers(size // 10, size // 3)), _colour(rng), -1)
    image = cv2.GaussianBlur(image, (0, 0), size / 16)
    image += rng.normal(0, 8, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def _package(rng: np.random.Generator, size: int) -> np.ndarray:
    image = _background(rng, size, plain=rng.random() < 0.3)
    width = rng.uniform(0.35, 0.6) * size
    height = rng.uniform(0.25, 0.45) * size
    depth = rng.uniform(0.15, 0.3) * size
    x0 = rng.uniform(0.05 * size, size - width - depth * 0.8)
    y0 = rng.uniform(depth * 0.6 + 0.05 * size, size - height - 0.05 * size)
    colour = _colour(rng) if rng.random() < 0.5 else (int(rng.integers(60, 110)), int(rng.integers(120, 170)),
                                                       int(rng.integers(170, 220)))
    dx, dy = depth * 0.8, -depth * 0.6
    front = np.array([[x0, y0], [x0 + width, y0], [x0 + width, y0 + height], [x0, y0 + height]])
    top = np.array([[x0, y0], [x0 + dx, y0 + dy], [x0 + width + dx, y0 + dy], [x0 + width, y0]])
    side = np.array([[x0 + width, y0], [x0 + width + dx, y0 + dy], [x0 + width + dx, y0 + height + dy],
                     [x0 + width, y0 + height]])
    for face, factor in ((front, 1.0), (top, 1.25), (side, 0.7)):
        cv2.fillPoly(image, [face.astype(np.int32)], _shade(colour, factor), cv2.LINE_AA)
        cv2.polylines(image, [face.astype(np.int32)], True, _shade(colour, 0.5), 1, cv2.LINE_AA)
    tape = _shade(_colour(rng), 1.0)
    middle = x0 + width / 2
    cv2.line(image, (int(middle), int(y0)), (int(middle + dx), int(y0 + dy)), tape, max(1, size // 24), cv2.LINE_AA)
    cv2.line(image, (int(middle), int(y0)), (int(middle), int(y0 + height)), tape, max(1, size // 24), cv2.LINE_AA)
    return image


def _product(rng: np.random.Generator, size: int) -> np.ndarray:
    image = _background(rng, size, plain=True)
    colour = _colour(rng)
    cx, cy = size / 2 + rng.uniform(-0.06, 0.06) * size, size / 2 + rng.uniform(-0.06, 0.06) * size
    scale = rng.uniform(0.5, 0.75) * size
    kind = rng.integers(0, 3)
    if kind == 0:     # a shirt laid flat
        s = scale / 2
        shirt = np.array([[-0.5, -0.9], [-0.15, -1.0], [0.15, -1.0], [0.5, -0.9], [1.0, -0.5], [0.75, -0.25],
                          [0.5, -0.4], [0.5, 1.0], [-0.5, 1.0], [-0.5, -0.4], [-0.75, -0.25], [-1.0, -0.5]])
        cv2.fillPoly(image, [(shirt * s + [cx, cy]).astype(np.int32)], colour, cv2.LINE_AA)
    elif kind == 1:   # a shoe in profile
        cv2.ellipse(image, (int(cx), int(cy)), (int(scale / 2), int(scale / 5)), 0, 180, 360, colour, -1, cv2.LINE_AA)
        cv2.rectangle(image, (int(cx - scale / 2), int(cy)), (int(cx + scale / 2), int(cy + scale / 12)),
                      _shade(colour, 0.5), -1)
    else:             # a bottle standing up
        w, h = scale / 4, scale * 0.7
        cv2.rectangle(image, (int(cx - w / 2), int(cy - h / 2 + h / 4)), (int(cx + w / 2), int(cy + h / 2)), colour, -1)
        cv2.rectangle(image, (int(cx - w / 6), int(cy - h / 2)), (int(cx + w / 6), int(cy - h / 4)),
                      _shade(colour, 0.7), -1)
    return cv2.GaussianBlur(image, (3, 3), 0)


def _person(rng: np.random.Generator, size: int, whole: bool) -> np.ndarray:
    image = _background(rng, size, plain=rng.random() < 0.3)
    skin = tuple(int(v) for v in rng.integers(90, 240, 3))
    top, bottom = _colour(rng), _colour(rng)
    cx = size / 2 + rng.uniform(-0.12, 0.12) * size
    if whole:
        height = rng.uniform(0.8, 0.95) * size
        y0 = rng.uniform(0.02, size - height - 0.02 * size if size - height > 0.04 * size else 0.03 * size)
        head = height / 8
        shoulders = height / 4.5
    else:
        height = size * 1.6            # the body continues below the frame
        head = rng.uniform(0.13, 0.18) * size
        y0 = rng.uniform(0.05, 0.15) * size
        shoulders = rng.uniform(0.7, 0.9) * size / 2
    cv2.ellipse(image, (int(cx), int(y0 + head)), (int(head * 0.8), int(head)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    neck = y0 + 2 * head
    torso_bottom = neck + (height * 0.38 if whole else height)
    torso = np.array([[cx - shoulders, neck + head * 0.3], [cx + shoulders, neck + head * 0.3],
                      [cx + shoulders * 0.75, torso_bottom], [cx - shoulders * 0.75, torso_bottom]])
    cv2.fillPoly(image, [torso.astype(np.int32)], top, cv2.LINE_AA)
    arm = max(2, int(shoulders / 3))
    for side in (-1, 1):
        start = (int(cx + side * shoulders * 0.95), int(neck + head * 0.5))
        end = (int(cx + side * shoulders * 1.15), int(neck + (height * 0.4 if whole else size)))
        cv2.line(image, start, end, _shade(top, 0.85), arm, cv2.LINE_AA)
    if whole:
        leg = max(2, int(shoulders / 2.5))
        feet = y0 + height
        for side in (-1, 1):
            cv2.line(image, (int(cx + side * shoulders * 0.4), int(torso_bottom)),
                     (int(cx + side * shoulders * 0.55), int(feet - leg / 2)), bottom, leg, cv2.LINE_AA)
            cv2.ellipse(image, (int(cx + side * shoulders * 0.65), int(feet - leg / 3)), (leg, max(1, leg // 2)),
                        0, 0, 360, _shade(bottom, 0.4), -1, cv2.LINE_AA)
    return image


DRAW = {
    "package": _package,
    "product": _product,
    "full-length": lambda rng, size: _person(rng, size, whole=True),
    "half-length": lambda rng, size: _person(rng, size, whole=False),
}


@dataclass(frozen=True)
class LabelledSet:
    """A generated set: its folder, manifest, and the true class of each image (by file name)."""

    folder: Path
    manifest: Path
    truth: dict[str, str]


def make_set(folder: str | Path, *, per_class: int, seed: int, size: int = 64, bucket: str = "datasets",
             prefix: str = "reviews/", shuffle_labels: float = 0.0, name: str = "set") -> LabelledSet:
    """Draw `per_class` images of each class into `folder` and write its Ground Truth `output.manifest`.

    `shuffle_labels` (0-1) gives that share of images a wrong label (the truth keeps the right one).
    """
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines, truth = [], {}
    entries = [(cls, i) for i in range(per_class) for cls in CLASSES]
    for cls, index in entries:
        file_name = f"{name}-{cls}-{index:04d}.jpg"
        image = DRAW[cls](rng, size)
        cv2.imwrite(str(folder / "images" / file_name), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        label = cls
        if shuffle_labels and rng.random() < shuffle_labels:
            label = CLASSES[(CLASSES.index(cls) + int(rng.integers(1, len(CLASSES)))) % len(CLASSES)]
        truth[file_name] = cls
        key = f"{prefix.rstrip('/')}/images/{file_name}" if prefix else f"images/{file_name}"
        lines.append({
            "source-ref": f"s3://{bucket}/{key}",
            LABEL_ATTRIBUTE: CLASSES.index(label),
            f"{LABEL_ATTRIBUTE}-metadata": {
                "class-name": label, "confidence": round(float(rng.uniform(0.86, 0.99)), 2),
                "type": "groundtruth/image-classification", "job-name": JOB_NAME, "human-annotated": "yes",
                "creation-date": "2026-12-01T09:00:00.000000"},
        })
    manifest = folder / "output.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return LabelledSet(folder, manifest, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="the folder to write (not with --quick)")
    parser.add_argument("--per-class", type=int, default=120)
    parser.add_argument("--held-out", type=int, default=40, help="held-out images per class (0: none)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bucket", default="datasets")
    parser.add_argument("--prefix", default="reviews/")
    parser.add_argument("--shuffle-labels", type=float, default=0.0)
    parser.add_argument("--quick", action="store_true", help="two photos a class in a temporary folder (CI)")
    args = parser.parse_args()
    if args.quick:
        with tempfile.TemporaryDirectory() as folder:
            made = make_set(Path(folder), per_class=2, seed=args.seed, size=32, bucket=args.bucket,
                            prefix=args.prefix, name="quick")
            lines = made.manifest.read_text().splitlines()
            print(f"--quick: {len(made.truth)} photos, {len(lines)} manifest lines")
            raise SystemExit(0 if len(lines) == len(made.truth) == 8 else 1)
    if args.out is None:
        parser.error("the output folder is required (or --quick)")
    train = make_set(args.out / "train", per_class=args.per_class, seed=args.seed, size=args.size,
                     bucket=args.bucket, prefix=f"{args.prefix.rstrip('/')}/train/", name="train",
                     shuffle_labels=args.shuffle_labels)
    print(f"{len(train.truth)} images, manifest {train.manifest}")
    if args.held_out:
        held = make_set(args.out / "held-out", per_class=args.held_out, seed=args.seed + 1000, size=args.size,
                        bucket=args.bucket, prefix=f"{args.prefix.rstrip('/')}/held-out/", name="held")
        print(f"{len(held.truth)} held-out images, manifest {held.manifest}")


if __name__ == "__main__":
    main()
