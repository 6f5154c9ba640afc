"""Train the review classifier: a small ResNet (GluonCV's CIFAR ResNet-20, MXNet) from scratch.

Input: a SageMaker Ground Truth image-classification output manifest in the `train` channel (and
optionally one in `validation`): JSON lines with `source-ref`, the label attribute (class index) and
`<attribute>-metadata` with `class-name`. The images are found in the channel as the local SageMaker
and an AugmentedManifestFile channel lay them out (`<channel>/<bucket>/<key>`), or under the channel's
prefix (an S3Prefix channel holding the manifest and the images).

Output: the model (`model.params`, `model.json` with the classes and input size) in SM_MODEL_DIR; a
metric line per epoch for MetricDefinitions, e.g.

    epoch=3 train_loss=0.4123 train_accuracy=0.8811 validation_accuracy=0.8500 validation_macro_f1=0.8473
    validation_recall_package=0.9000 ...

and `metrics.json` (macro-F1, per-class recall, confusion matrix) in SM_OUTPUT_DATA_DIR. Bad data ends
the job with a reason in /opt/ml/output/failure (SageMaker's FailureReason).

Evaluation only: with a `model` channel holding a model.tar.gz this script trained, nothing is trained;
that model is scored on the `validation` channel (else `train`) and the same metric lines are printed —
so a candidate and the production model are measured by the same code on the same held-out set, and no
SageMaker Model has to be created before the quality gate.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from gluoncv.model_zoo import get_model
from mxnet import autograd, gluon

MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


class DataProblem(Exception):
    """The data cannot train a model; the message is the job's FailureReason."""


def fail(message: str) -> None:
    Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"), "failure").write_text(message)
    print(f"failed: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def find_manifest(channel: Path) -> Path:
    found = sorted(p for p in channel.rglob("*") if p.suffix in (".manifest", ".jsonl") and p.is_file())
    if not found:
        raise DataProblem(f"no Ground Truth manifest (*.manifest or *.jsonl) in channel {channel.name}")
    return found[0]


def locate(channel: Path, uri: str) -> Path | None:
    """The local file for an s3:// URI: <channel>/<bucket>/<key>, else the key's longest suffix present."""
    if not uri.startswith("s3://"):
        return None
    parts = uri[5:].split("/")
    for start in range(len(parts)):
        candidate = channel.joinpath(*parts[start:])
        if candidate.is_file():
            return candidate
    return None


def read_manifest(channel: Path, label_attribute: str | None) -> tuple[list[tuple[Path, str]], str]:
    manifest = find_manifest(channel)
    rows: list[tuple[Path, str]] = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        attribute = label_attribute or next(
            (key[: -len("-metadata")] for key in record if key.endswith("-metadata")
             and isinstance(record[key], dict) and "class-name" in record[key]), None)
        if attribute is None or f"{attribute}-metadata" not in record:
            raise DataProblem(f"{manifest.name} line {number}: no label attribute with -metadata.class-name")
        label_attribute = attribute
        path = locate(channel, str(record.get("source-ref", "")))
        if path is None:
            raise DataProblem(f"{manifest.name} line {number}: image {record.get('source-ref')} is not in the channel")
        rows.append((path, str(record[f"{attribute}-metadata"]["class-name"])))
    if not rows:
        raise DataProblem(f"{manifest.name} is empty")
    return rows, label_attribute or ""


def load_images(rows: list[tuple[Path, str]], classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.empty((len(rows), 3, size, size), np.float32)
    labels = np.empty(len(rows), np.float32)
    for i, (path, name) in enumerate(rows):
        try:
            image = mx.image.imdecode(path.read_bytes(), flag=1)   # RGB, HWC
        except mx.base.MXNetError:
            raise DataProblem(f"{path.name} is not a readable image") from None
        image = mx.image.imresize(image, size, size).asnumpy().astype(np.float32)
        images[i] = ((image - MEAN) / STD).transpose(2, 0, 1)
        labels[i] = classes.index(name)
    return images, labels


def in_validation(path: Path, fraction: float) -> bool:
    # Deterministic: the same image is always on the same side, whatever the manifest's order.
    digest = hashlib.sha256(path.name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def scores(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix."""
    n = len(classes)
    confusion = np.zeros((n, n), int)
    for t, p in zip(truth.astype(int), predicted.astype(int), strict=True):
        confusion[t, p] += 1
    recall, precision, f1 = {}, {}, {}
    for i, name in enumerate(classes):
        tp = confusion[i, i]
        r = tp / confusion[i].sum() if confusion[i].sum() else 0.0
        p = tp / confusion[:, i].sum() if confusion[:, i].sum() else 0.0
        recall[name], precision[name] = float(r), float(p)
        f1[name] = float(2 * p * r / (p + r)) if p + r else 0.0
    return {"accuracy": float((truth == predicted).mean()), "macro_f1": float(np.mean(list(f1.values()))),
            "recall": recall, "precision": precision, "f1": f1, "confusion": confusion.tolist(),
            "classes": classes}


def evaluate(net: gluon.HybridBlock, images: np.ndarray, labels: np.ndarray, classes: list[str],
             batch_size: int) -> dict:
    predicted = []
    for start in range(0, len(images), batch_size):
        batch = mx.nd.array(images[start:start + batch_size])
        predicted.append(net(batch).argmax(axis=1).asnumpy())
    return scores(labels, np.concatenate(predicted), classes)


def metric_line(epoch: int, result: dict, extra: str = "") -> str:
    recalls = " ".join(f"validation_recall_{name}={value:.4f}" for name, value in result["recall"].items())
    return (f"epoch={epoch} {extra}validation_accuracy={result['accuracy']:.4f} "
            f"validation_macro_f1={result['macro_f1']:.4f} {recalls}")


def evaluate_only(model_channel: Path, data_channel: Path) -> None:
    """Score an existing model.tar.gz on a held-out manifest; print the metric lines, write metrics.json."""
    archives = sorted(model_channel.rglob("*.tar.gz"))
    if not archives:
        raise DataProblem(f"the model channel holds no .tar.gz ({model_channel})")
    with tempfile.TemporaryDirectory() as scratch:
        with tarfile.open(archives[0]) as tar:
            tar.extractall(scratch, filter="data")
        meta = json.loads(Path(scratch, "model.json").read_text())
        net = get_model(meta["network"], classes=len(meta["classes"]), pretrained=False)
        net.load_parameters(str(Path(scratch, "model.params")), ctx=mx.cpu())
    net.hybridize(static_alloc=True)
    rows, _ = read_manifest(data_channel, meta.get("label_attribute"))
    unknown = sorted({name for _, name in rows} - set(meta["classes"]))
    if unknown:
        raise DataProblem(f"the held-out set has classes the model does not know: {unknown}")
    images, labels = load_images(rows, meta["classes"], meta["image_size"])
    result = evaluate(net, images, labels, meta["classes"], 64)
    print(f"evaluating {archives[0].name} on {len(rows)} images", flush=True)
    print(metric_line(0, result), flush=True)
    output = Path(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    output.mkdir(parents=True, exist_ok=True)
    (output / "metrics.json").write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.002)
    parser.add_argument("--optimizer", default="adam", help="adam or nag (SGD with Nesterov momentum)")
    parser.add_argument("--network", default="cifar_resnet20_v1")
    parser.add_argument("--label-attribute", default=None)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    started = time.monotonic()
    if os.environ.get("SM_CHANNEL_MODEL"):
        held_channel = os.environ.get("SM_CHANNEL_VALIDATION") or os.environ.get("SM_CHANNEL_TRAIN")
        try:
            if not held_channel:
                raise DataProblem("evaluation needs a validation (or train) channel with the held-out manifest")
            evaluate_only(Path(os.environ["SM_CHANNEL_MODEL"]), Path(held_channel))
        except (DataProblem, KeyError, ValueError, OSError) as error:
            fail(f"DataError: {error}")
        return
    try:
        rows, attribute = read_manifest(Path(os.environ["SM_CHANNEL_TRAIN"]), args.label_attribute)
        validation_dir = os.environ.get("SM_CHANNEL_VALIDATION")
        if validation_dir:
            held, _ = read_manifest(Path(validation_dir), attribute)
            train = rows
        else:
            held = [row for row in rows if in_validation(row[0], args.validation_fraction)]
            train = [row for row in rows if not in_validation(row[0], args.validation_fraction)]
        classes = sorted({name for _, name in rows} | {name for _, name in held})
        if len(classes) < 2:
            raise DataProblem(f"the manifest names {len(classes)} class(es); at least two are needed")
        train_x, train_y = load_images(train, classes, args.image_size)
        held_x, held_y = load_images(held, classes, args.image_size)
    except (DataProblem, KeyError, ValueError) as error:
        fail(f"{type(error).__name__ if not isinstance(error, DataProblem) else 'DataError'}: {error}")
    print(f"classes={classes} train_images={len(train)} validation_images={len(held)} "
          f"label_attribute={attribute}", flush=True)

    net = get_model(args.network, classes=len(classes), pretrained=False)
    net.initialize(mx.init.Xavier(magnitude=2), ctx=mx.cpu())
    net.hybridize(static_alloc=True)
    steps = max(1, args.epochs * ((len(train_x) + args.batch_size - 1) // args.batch_size))
    schedule = mx.lr_scheduler.CosineScheduler(max_update=steps, base_lr=args.learning_rate,
                                               final_lr=args.learning_rate / 100)
    settings = {"learning_rate": args.learning_rate, "wd": 1e-4, "lr_scheduler": schedule}
    if args.optimizer == "nag":
        settings["momentum"] = 0.9
    trainer = gluon.Trainer(net.collect_params(), args.optimizer, settings)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    rng = np.random.default_rng(args.seed)
    result: dict = {}
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(train_x))
        total, correct, seen = 0.0, 0, 0
        for start in range(0, len(order) - args.batch_size + 1 if len(order) >= args.batch_size else 1,
                           args.batch_size):
            index = order[start:start + args.batch_size]
            batch = train_x[index].copy()
            flip = rng.random(len(index)) < 0.5
            batch[flip] = batch[flip][:, :, :, ::-1]          # mirror images: a person or box is still one
            data, label = mx.nd.array(batch), mx.nd.array(train_y[index])
            with autograd.record():
                output = net(data)
                loss = loss_fn(output, label)
            loss.backward()
            trainer.step(len(index))
            total += float(loss.sum().asscalar())
            correct += int((output.argmax(axis=1) == label).sum().asscalar())
            seen += len(index)
        result = evaluate(net, held_x, held_y, classes, 64)
        print(metric_line(epoch, result, f"train_loss={total / max(seen, 1):.4f} "
                                         f"train_accuracy={correct / max(seen, 1):.4f} "), flush=True)

    model_dir = Path(os.environ["SM_MODEL_DIR"])
    net.save_parameters(str(model_dir / "model.params"))
    (model_dir / "model.json").write_text(json.dumps({
        "network": args.network, "classes": classes, "image_size": args.image_size,
        "mean": MEAN.tolist(), "std": STD.tolist(), "label_attribute": attribute}))
    output = Path(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    output.mkdir(parents=True, exist_ok=True)
    (output / "metrics.json").write_text(json.dumps({**result, "seconds": time.monotonic() - started}, indent=1))
    print(f"final validation_macro_f1={result['macro_f1']:.4f} seconds={time.monotonic() - started:.1f}", flush=True)


if __name__ == "__main__":
    main()
