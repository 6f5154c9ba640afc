"""Serve the tray detector: an image in (application/x-image, image/jpeg, image/png), boxes out as JSON.

    {"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}   # corners normalised to 0..1

That is the response format of SageMaker's built-in object detection, so a caller works with either.
Detections under the `score_threshold` of the request's Accept parameters (`application/json;
score_threshold=0.2`, default 0.2) are left out. The four functions are SageMaker's inference contract.

The frame is resized to the model's square input exactly as training's validation transform does (a
frame resized keeping its aspect ratio shows the network trays of another shape, and their scores fall).
A model trained with a calibration curve (train.py) answers calibrated scores: the share of held-out
detections with that raw score that were trays, so 0.5 is "as likely a tray as not".
"""
from __future__ import annotations

import json
from pathlib import Path

import mxnet as mx
import numpy as np
from gluoncv.data.transforms import image as gluon_image
from mxnet import gluon

IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")
DEFAULT_THRESHOLD = 0.2
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as SSDDefaultValTransform


class UnsupportedMediaType(ValueError):
    status_code = 415


class BadImage(ValueError):
    status_code = 400


def model_fn(model_dir: str) -> dict:
    folder = Path(model_dir)
    meta = json.loads((folder / "classes.json").read_text())
    net = gluon.SymbolBlock.imports(str(folder / "model-symbol.json"), ["data"],
                                                   str(folder / "model-0000.params"), ctx=mx.cpu())
    net.hybridize(static_alloc=True)
    return {"net": net, **meta}


def input_fn(body: bytes, content_type: str) -> mx.nd.NDArray:
    if content_type.split(";")[0].strip() not in IMAGE_TYPES:
        raise UnsupportedMediaType(f"content type {content_type} is not an image; send one of {IMAGE_TYPES}")
    try:
        return mx.image.imdecode(bytes(body), flag=1)
    except mx.base.MXNetError:
        raise BadImage("the body is not a readable image") from None


def predict_fn(image: mx.nd.NDArray, model: dict) -> dict:
    size = model["data_shape"]
    resized = gluon_image.imresize(image, size, size, interp=9)  # SSDDefaultValTransform's resize
    batch = mx.nd.image.normalize(mx.nd.image.to_tensor(resized), mean=MEAN, std=STD).expand_dims(0)
    ids, scores, boxes = model["net"](batch)
    ids, scores, boxes = ids[0].asnumpy()[:, 0], scores[0].asnumpy()[:, 0], boxes[0].asnumpy()
    calibration = model.get("calibration")
    if calibration:
        scores = np.interp(scores, calibration["raw"], calibration["calibrated"])
    corners = np.clip(boxes / size, 0.0, 1.0)  # the square input's pixels → 0..1 of the frame
    found = [[int(cid), round(float(score), 4), *(round(float(v), 5) for v in box)]
             for cid, score, box in zip(ids, scores, corners, strict=True) if cid >= 0]
    return {"prediction": found}


def output_fn(prediction: dict, accept: str) -> tuple[str, str]:
    kind, _, parameters = (accept or "application/json").partition(";")
    if kind.strip() not in ("application/json", "*/*"):
        raise UnsupportedMediaType(f"the detector answers application/json, not {accept}")
    threshold = DEFAULT_THRESHOLD
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip() == "score_threshold":
            try:
                threshold = float(value)
            except ValueError:
                raise UnsupportedMediaType(f"score_threshold={value!r} is not a number") from None
    kept = [p for p in prediction["prediction"] if p[1] >= threshold]
    return json.dumps({"prediction": kept}), "application/json"
