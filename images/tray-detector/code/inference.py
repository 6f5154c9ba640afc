"""Serve the tray detector: an image in (application/x-image, image/jpeg, image/png), boxes out as JSON.

    {"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}   # corners normalised to 0..1

That is the response format of SageMaker's built-in object detection, so a caller works with either.
Detections under the `score_threshold` of the request's Accept parameters (`application/json;
score_threshold=0.2`, default 0.2) are left out. The four functions are SageMaker's inference contract.
"""
from __future__ import annotations

import json
from pathlib import Path

import mxnet as mx
from gluoncv.data.transforms.presets.ssd import transform_test
from mxnet import gluon

IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")
DEFAULT_THRESHOLD = 0.2


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
    height, width = image.shape[:2]
    size = model["data_shape"]
    batch, _ = transform_test(image, short=size, max_size=size)
    ids, scores, boxes = model["net"](batch)
    scale_x = width / batch.shape[3]
    scale_y = height / batch.shape[2]
    found = []
    for cid, score, box in zip(ids[0].asnumpy()[:, 0], scores[0].asnumpy()[:, 0], boxes[0].asnumpy(), strict=True):
        if cid < 0:
            continue
        x0, y0, x1, y1 = box
        found.append([int(cid), round(float(score), 4),
                      round(max(0.0, min(1.0, x0 * scale_x / width)), 5), round(max(0.0, min(1.0, y0 * scale_y / height)), 5),
                      round(max(0.0, min(1.0, x1 * scale_x / width)), 5), round(max(0.0, min(1.0, y1 * scale_y / height)), 5)])
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
