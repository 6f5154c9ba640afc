"""Serve the review classifier: an image in (application/x-image, image/jpeg, image/png), JSON out.

    {"label": "product", "confidence": 0.97,
     "probabilities": {"full-length": 0.01, "half-length": 0.01, "package": 0.01, "product": 0.97}}

The four functions are SageMaker's inference contract (engine/aws/providers/sagemaker_container.py runs
them locally and in the container alike).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

# One small image per request, with gaps between requests: worker threads that fall asleep in a gap cost
# more to wake than they save. One OpenMP thread (p50 24 → 4 ms per request on a busy 2-core machine), and
# MXNet's single-pool engine instead of its per-device one (with 3 ms between requests: 29 → 6 ms). Set
# before MXNet loads; a model's Environment may still choose otherwise.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MXNET_ENGINE_TYPE", "ThreadedEngine")

import mxnet as mx
import numpy as np
from gluoncv.model_zoo import get_model

IMAGE_TYPES = ("application/x-image", "image/jpeg", "image/png")


class UnsupportedMediaType(ValueError):
    status_code = 415


class BadImage(ValueError):
    status_code = 400


def model_fn(model_dir: str) -> dict:
    folder = Path(model_dir)
    meta = json.loads((folder / "model.json").read_text())
    net = get_model(meta["network"], classes=len(meta["classes"]), pretrained=False)
    net.load_parameters(str(folder / "model.params"), ctx=mx.cpu())
    net.hybridize(static_alloc=True)
    meta["mean"] = np.array(meta["mean"], np.float32)
    meta["std"] = np.array(meta["std"], np.float32)
    return {"net": net, **meta}


def input_fn(body: bytes, content_type: str) -> mx.nd.NDArray:
    if content_type.split(";")[0].strip() not in IMAGE_TYPES:
        raise UnsupportedMediaType(f"content type {content_type} is not an image; send one of {IMAGE_TYPES}")
    try:
        return mx.image.imdecode(bytes(body), flag=1)
    except mx.base.MXNetError:
        raise BadImage("the body is not a readable image") from None


def predict_fn(image: mx.nd.NDArray, model: dict) -> dict:
    size = model["image_size"]
    pixels = mx.image.imresize(image, size, size).asnumpy().astype(np.float32)
    batch = ((pixels - model["mean"]) / model["std"]).transpose(2, 0, 1)[None]
    probabilities = mx.nd.softmax(model["net"](mx.nd.array(batch)))[0].asnumpy()
    best = int(probabilities.argmax())
    return {"label": model["classes"][best], "confidence": round(float(probabilities[best]), 6),
            "probabilities": {name: round(float(p), 6) for name, p in zip(model["classes"], probabilities, strict=True)}}


def output_fn(prediction: dict, accept: str) -> tuple[str, str]:
    if accept not in ("application/json", "*/*", ""):
        raise UnsupportedMediaType(f"the classifier answers application/json, not {accept}")
    return json.dumps(prediction), "application/json"
