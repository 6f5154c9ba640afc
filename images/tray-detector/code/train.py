"""Train a GluonCV SSD tray detector from LST files (SageMaker script mode).

Channels: `train` and `test`, each holding one LST file (GluonCV LstDetection: normalised boxes, as
handlers/tray_count/bundle.py writes them), and `images`, the dataset root the LST paths are relative to. Hyperparameters (all optional): `network` (a GluonCV
`ssd_*_custom` model, default ssd_300_mobilenet0.25_custom), `data-shape` (the square input size, default
the network's), `epochs`, `batch-size`, `lr`, `classes` (comma-separated, default `tray`), `seed`,
`pretrained-base` (default 0: nothing is downloaded; 1 fetches ImageNet weights on AWS), `augment` (`full`:
GluonCV's SSD augmentation, colour + random expansion and crop + flip; `light`, the default: colour + flip
only, for a fixed overhead camera that sees trays at one scale, which trains in a fraction of the time).

Every epoch prints `epoch=<n> loss=<l> val_mAP=<m>` for MetricDefinitions; the last lines are the
held-out VOC mAP at IoU 0.5, `test_mAP=<m>`, and the raw score at which a detection becomes more likely a
tray than not, `test_score_threshold=<t>`. The learning rate follows a cosine from `lr` to 0.

The raw scores of an SSD trained briefly are low (true trays at 0.3-0.5), so a fixed threshold downstream
would be arbitrary. The held-out detections calibrate them: isotonic regression of "matches a labelled
tray at IoU 0.5" on the raw score (pool-adjacent-violators) gives, for each raw score, the share of such
detections that were trays. The curve is saved with the model and the inference script answers with the
calibrated score, so 0.5 means "as likely a tray as not" for every model this script trains. The ranking
is unchanged, and so is the mAP (computed on the raw scores).

The model is exported to SM_MODEL_DIR as `model-symbol.json` + `model-0000.params` (what the inference
script and AWS Panorama load) with `classes.json` (classes, input size, calibration) beside them.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
import sys
import time
import warnings

import mxnet as mx
import numpy as np
from gluoncv import model_zoo
from gluoncv.data import LstDetection
from gluoncv.data.batchify import Pad, Stack, Tuple
from gluoncv.data.transforms import bbox as gluon_bbox
from gluoncv.data.transforms import experimental
from gluoncv.data.transforms import image as gluon_image
from gluoncv.data.transforms.presets.ssd import SSDDefaultTrainTransform, SSDDefaultValTransform
from gluoncv.loss import SSDMultiBoxLoss
from gluoncv.utils.metrics.voc_detection import VOC07MApMetric
from mxnet import autograd, gluon


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="ssd_300_mobilenet0.25_custom")
    parser.add_argument("--data-shape", type=int, default=0, help="square input size (default: the network's)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--classes", default="tray")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrained-base", type=int, default=0)
    parser.add_argument("--augment", choices=("full", "light"), default="light")
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "train"))
    parser.add_argument("--test", default=os.environ.get("SM_CHANNEL_TEST", "test"))
    parser.add_argument("--images", default=os.environ.get("SM_CHANNEL_IMAGES", "images"))
    return parser.parse_args(argv)


class LightTrainTransform(SSDDefaultTrainTransform):
    """Colour jitter, the square resize and a horizontal flip: no expansion or crop (one camera, one scale)."""

    def __call__(self, src, label):
        img = experimental.image.random_color_distort(src)
        h, w, _ = img.shape
        img = gluon_image.imresize(img, self._width, self._height, interp=9)
        bbox = gluon_bbox.resize(label, (w, h), (self._width, self._height))
        img, flips = gluon_image.random_flip(img, px=0.5)
        bbox = gluon_bbox.flip(bbox, (self._width, self._height), flip_x=flips[0])
        img = mx.nd.image.normalize(mx.nd.image.to_tensor(img), mean=self._mean, std=self._std)
        cls_targets, box_targets, _ = self._target_generator(
            self._anchors, None, mx.nd.array(bbox[np.newaxis, :, :4]), mx.nd.array(bbox[np.newaxis, :, 4:5]))
        return img, cls_targets[0], box_targets[0]


def lst_in(channel: str) -> str:
    """The one .lst file of a channel."""
    found = sorted(glob.glob(os.path.join(channel, "**", "*.lst"), recursive=True))
    if len(found) != 1:
        raise SystemExit(f"channel {channel} must hold exactly one .lst file, found {len(found) or 'none'}")
    return found[0]


def fail(reason: str) -> None:
    """Tell SageMaker why (FailureReason), then stop."""
    output = os.path.join(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
    if os.path.isdir(output):
        with open(os.path.join(output, "failure"), "w") as f:
            f.write(reason)
    print(reason, file=sys.stderr)
    sys.exit(1)


def evaluate(net, loader, classes: list[str]) -> float:
    """VOC07 mAP at IoU 0.5 over a loader of (image, padded label) batches."""
    metric = VOC07MApMetric(iou_thresh=0.5, class_names=classes)
    for images, labels in loader:
        ids, scores, boxes = net(images.as_in_context(mx.cpu()))
        metric.update(boxes, ids, scores, labels[:, :, :4], labels[:, :, 4:5],
                      labels[:, :, 5:6] if labels.shape[-1] > 5 else None)
    names, values = metric.get()
    return float(values[names.index("mAP")])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N×4) with every box in `b` (M×4), corners."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda boxes: (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def scored_detections(net, loader) -> tuple[np.ndarray, np.ndarray]:
    """Every detection's raw score and whether it found a labelled tray (IoU ≥ 0.5, each tray once)."""
    scores, hits = [], []
    for images, labels in loader:
        ids, batch_scores, boxes = net(images.as_in_context(mx.cpu()))
        for found, score, box, label in zip(ids.asnumpy(), batch_scores.asnumpy(), boxes.asnumpy(),
                                            labels.asnumpy(), strict=True):
            keep = found[:, 0] >= 0
            order = np.argsort(-score[keep, 0])
            score, box = score[keep, 0][order], box[keep][order]
            truth = label[label[:, 4] >= 0, :4]
            taken = np.zeros(len(truth), bool)
            overlaps = box_iou(box, truth) if len(truth) and len(box) else np.zeros((len(box), 0))
            for row, value in enumerate(score):
                best = int(np.argmax(np.where(taken, -1, overlaps[row]))) if len(truth) else -1
                hit = best >= 0 and not taken[best] and overlaps[row, best] >= 0.5
                if hit:
                    taken[best] = True
                scores.append(float(value))
                hits.append(hit)
    return np.array(scores), np.array(hits, float)


def isotonic(scores: np.ndarray, hits: np.ndarray) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators: the non-decreasing step curve of hit rate over raw score, as knots."""
    order = np.argsort(scores, kind="stable")
    blocks: list[list[float]] = []  # hits, count, lowest score, highest score
    for score, hit in zip(scores[order], hits[order], strict=True):
        blocks.append([hit, 1.0, score, score])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1][0] += last[0]
            blocks[-1][1] += last[1]
            blocks[-1][3] = last[3]
    xs: list[float] = []
    ys: list[float] = []
    for hit_sum, count, low, high in blocks:
        for x in (low, high):
            if not xs or x > xs[-1]:
                xs.append(round(float(x), 6))
                ys.append(round(hit_sum / count, 6))
    return xs, ys


def main(argv: list[str]) -> int:
    args = arguments(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)
    mx.random.seed(args.seed)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    train_lst, test_lst = lst_in(args.train), lst_in(args.test)
    train_set = LstDetection(train_lst, root=args.images)
    test_set = LstDetection(test_lst, root=args.images)
    if len(train_set) == 0 or len(test_set) == 0:
        fail(f"no images to train or test on: {len(train_set)} in train, {len(test_set)} in test")
    for name, dataset in (("train", train_set), ("test", test_set)):  # fail now, not mid-epoch
        missing = [path for path in dataset._items if not os.path.isfile(path)]
        if missing:
            fail(f"the {name} LST names {len(missing)} images the images channel does not hold, "
                 f"e.g. {os.path.relpath(missing[0], args.images)}")

    net = model_zoo.get_model(args.network, classes=classes, pretrained_base=bool(args.pretrained_base))
    with warnings.catch_warnings():  # "already initialized" for a pretrained base: intended
        warnings.simplefilter("ignore")
        net.collect_params(".*conv.*weight").initialize(mx.init.Xavier(magnitude=2))
        net.collect_params().initialize()
    size = args.data_shape or int(args.network.split("_")[1])
    with autograd.train_mode():
        _, _, anchors = net(mx.nd.zeros((1, 3, size, size)))
    train_loader = gluon.data.DataLoader(
        train_set.transform((LightTrainTransform if args.augment == "light" else SSDDefaultTrainTransform)(
            size, size, anchors)), args.batch_size, shuffle=True,
        batchify_fn=Tuple(Stack(), Stack(), Stack()), last_batch="rollover", num_workers=0)
    test_loader = gluon.data.DataLoader(
        test_set.transform(SSDDefaultValTransform(size, size)), args.batch_size, shuffle=False,
        batchify_fn=Tuple(Stack(), Pad(pad_val=-1)), last_batch="keep", num_workers=0)
    loss_fn = SSDMultiBoxLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": args.lr})
    steps, step = args.epochs * max(1, math.ceil(len(train_set) / args.batch_size)), 0
    print(f"training {args.network} at {size}px on {len(train_set)} images, testing on {len(test_set)}",
          flush=True)
    for epoch in range(1, args.epochs + 1):
        started, total, batches = time.time(), 0.0, 0
        for batch in train_loader:  # the loader's shared-memory arrays, moved to where the net lives
            images, cls_targets, box_targets = (part.as_in_context(mx.cpu()) for part in batch)
            trainer.set_learning_rate(args.lr * 0.5 * (1 + math.cos(math.pi * step / steps)))
            step += 1
            with autograd.record():
                cls_preds, box_preds, _ = net(images)
                sum_loss, _, _ = loss_fn([cls_preds], [box_preds], [cls_targets], [box_targets])
            autograd.backward(sum_loss)
            trainer.step(1)
            total += float(sum(loss.mean().asscalar() for loss in sum_loss))
            batches += 1
        val_map = evaluate(net, test_loader, classes)
        print(f"epoch={epoch} loss={total / max(1, batches):.4f} val_mAP={val_map:.4f} "
              f"images_per_s={len(train_set) / (time.time() - started):.1f}", flush=True)
    # BatchNorm's running statistics follow the last augmented batches, whatever the learning rate, and
    # the held-out mAP jumps from epoch to epoch with them. One pass over the training images as the model
    # will see them (no augmentation) sets them to those images' statistics before scoring.
    settle_loader = gluon.data.DataLoader(
        train_set.transform(SSDDefaultValTransform(size, size)), args.batch_size, shuffle=True,
        batchify_fn=Tuple(Stack(), Pad(pad_val=-1)), last_batch="discard", num_workers=0)
    for images, _ in settle_loader:
        with autograd.record():
            cls_preds, _, _ = net(images.as_in_context(mx.cpu()))
        cls_preds.backward()  # MXNet's BatchNorm updates its statistics on the backward pass; no step is taken
    test_map = evaluate(net, test_loader, classes)
    scores, hits = scored_detections(net, test_loader)
    calibration = isotonic(scores, hits) if hits.any() else ([0.0, 1.0], [0.0, 0.0])
    calibrated = np.interp(scores, *calibration) if len(scores) else scores
    # The raw score from which a detection is more likely a tray than not (1 when none ever is).
    threshold = float(scores[calibrated >= 0.5].min()) if (calibrated >= 0.5).any() else 1.0
    os.makedirs(args.model_dir, exist_ok=True)
    net.hybridize()
    net(mx.nd.zeros((1, 3, size, size)))
    net.export(os.path.join(args.model_dir, "model"))
    with open(os.path.join(args.model_dir, "classes.json"), "w") as f:
        json.dump({"classes": classes, "data_shape": size, "network": args.network,
                   "calibration": {"raw": calibration[0], "calibrated": calibration[1]}}, f)
    print(f"test_mAP={test_map:.4f}", flush=True)
    print(f"test_score_threshold={threshold:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
