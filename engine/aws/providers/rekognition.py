"""Local Rekognition Video face detection: StartFaceDetection / GetFaceDetection with a real detector.

Frames are decoded with PyAV. Faces are found offline by OpenCV's frontal-face LBP cascade
(`lbpcascade_frontalface.xml`, copied from OpenCV's data files, Apache-2.0; nothing is downloaded).
opencv-python's wheel ships only the Haar cascades; on our test media the LBP one finds as many faces
or more, at a third of the cost.

The job behaves like the service's: the video is read from S3 when the job starts
(InvalidS3ObjectException if it is missing), analysed in the background (JobStatus IN_PROGRESS →
SUCCEEDED, or FAILED with a StatusMessage for a video that cannot be decoded or is not H.264), sampled
every 200 ms of video time, and answered with VideoMetadata, Faces[].Timestamp (ms) and
Face.BoundingBox ratios, MaxResults/NextToken paging, and the same JobId for a repeated
ClientRequestToken.

GetFaceDetection waits up to `LocalRekognition.answer_wait_s` (real seconds) for a running job before
answering IN_PROGRESS, so a workflow polling on a virtual clock does not spin through its timeout.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import tempfile
import threading
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.aws.providers import ServiceError, register

SAMPLE_INTERVAL_MS = 200  # Rekognition Video reports faces about five times a second
FULL_SEARCH_EVERY = 4  # samples: a whole-frame search every 800 ms, the others near known faces
MAX_PAGE = 1000
MAX_VIDEO_BYTES = 10 * 1024**3  # the service's limit for stored videos
_TOKEN = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


@dataclass
class FaceJob:
    """One face-detection job and, once finished, its results."""

    job_id: str
    video: dict
    job_tag: str | None
    status: str = "IN_PROGRESS"
    status_message: str | None = None
    metadata: dict | None = None
    faces: list[dict] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


CASCADE = Path(__file__).with_name("lbpcascade_frontalface.xml")


class CascadeFaceDetector:
    """An OpenCV frontal-face cascade; boxes in pixels with a confidence (0-100) and quality measures."""

    def __init__(self, cascade: str | Path = CASCADE, max_height: int = 360, box_scale: float = 0.95,
                 border: float = 1 / 6) -> None:
        import cv2

        self.cv2 = cv2
        self.path = str(cascade)
        self.max_height = max_height
        # The LBP cascade's boxes come out about 6% larger than the face (median on our test media);
        # shrunk about their centre they frame the face as the Haar cascade's and Rekognition's do, so
        # the blur's padding means the same with either.
        self.box_scale = box_scale
        # The mirrored border around the searched picture, as a share of its height (see detect). Measured
        # by bench/face_blur.py: wider borders find no more faces cut by the edge and cost more.
        self.border = border
        self._local = threading.local()
        self._cascade()  # fail here, not in a worker, if the cascade is missing

    def _cascade(self) -> Any:
        # A CascadeClassifier keeps per-image state while it detects: one per thread.
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = self.cv2.CascadeClassifier(self.path)
            if cascade.empty():
                raise RuntimeError(f"the face cascade could not be loaded from {self.path}")
        return cascade

    def detect(self, gray: Any, seeds: list[dict] | None = None) -> list[dict]:
        """Faces in one greyscale picture (a frame's luma plane):
        [{"box": (x, y, w, h) in frame pixels, "confidence", "brightness", "sharpness"}].

        Without `seeds` the whole frame is searched. With seeds (faces found in a recent frame) only the
        neighbourhood of each is, for faces of a similar size: a fraction of the work.
        Boxes may reach past the frame's edges (Left/Top < 0), as Rekognition's do for cut-off faces.
        """
        cv2 = self.cv2
        height, width = gray.shape
        scale = min(1.0, self.max_height / height)
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        # The cascade needs a whole face pattern, so it misses faces cut by the frame's edge. A mirrored
        # border completes them (about 1.8x the work, the price of not leaving half faces unblurred);
        # the mirror images themselves are dropped below: their centres lie outside the frame.
        pad = round(small.shape[0] * self.border)
        padded = cv2.equalizeHist(cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REFLECT))
        min_side = max(20, round(small.shape[0] * 0.05))
        if seeds is None:
            windows = [(0, 0, padded.shape[1], padded.shape[0], min_side)]
        else:
            windows = []
            for seed in seeds:
                x, y, w, h = (v * scale for v in seed["box"])
                # In the 600 ms from a full search to its last seeded sample a face moves less than its own
                # size and shrinks by less than a quarter: smaller sizes, the costliest to search, are skipped.
                x0, y0 = max(0, round(x + pad - w)), max(0, round(y + pad - h))
                x1, y1 = min(padded.shape[1], round(x + pad + 2 * w)), min(padded.shape[0], round(y + pad + 2 * h))
                windows.append((x0, y0, x1, y1, max(min_side, round(min(w, h) * 0.75))))
        found: list[dict] = []
        inset = (1 - self.box_scale) / 2
        for wx0, wy0, wx1, wy1, smallest in windows:
            rects, _, weights = self._cascade().detectMultiScale3(
                padded[wy0:wy1, wx0:wx1], scaleFactor=1.2, minNeighbors=5, minSize=(smallest, smallest),
                outputRejectLevels=True)
            for (x, y, w, h), weight in zip(list(rects), list(weights), strict=False):
                box = (round((x + inset * w + wx0 - pad) / scale), round((y + inset * h + wy0 - pad) / scale),
                       round(w * self.box_scale / scale), round(h * self.box_scale / scale))
                if not (0 <= box[0] + box[2] / 2 < width and 0 <= box[1] + box[3] / 2 < height):
                    continue
                if any(_overlap(box, other["box"]) > 0.5 for other in found):
                    continue  # the same face seen from two overlapping windows
                found.append(self._describe(gray, box, float(weight)))
        return found

    def _describe(self, gray: Any, box: tuple[int, int, int, int], weight: float) -> dict:
        x0, y0, w0, h0 = box
        face = gray[max(0, y0):y0 + h0, max(0, x0):x0 + w0]
        sharp = float(self.cv2.Laplacian(face, self.cv2.CV_64F).var()) if face.size else 0.0
        return {
            "box": box,
            # The cascade's last-stage score, squashed onto Rekognition's 0-100 scale.
            "confidence": 100.0 / (1.0 + math.exp(-weight)),
            "brightness": float(face.mean()) / 2.55 if face.size else 0.0,
            "sharpness": min(100.0, sharp / 10.0),
        }


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max(1, min(a[2] * a[3], b[2] * b[3]))


def _upright_luma(picture: Any) -> Any:
    """The picture's luma plane (what a greyscale detector needs) as displayed: stored sideways video
    is turned by its display matrix, as Rekognition reports boxes on the picture people see."""
    import numpy as np

    plane = picture.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    turns = round(picture.rotation or 0) // 90  # counter-clockwise quarter turns, as np.rot90 counts them
    return np.ascontiguousarray(np.rot90(luma, turns) if turns % 4 else luma)


def analyse_video(path: str, detector: CascadeFaceDetector | None = None,
                  interval_ms: int = SAMPLE_INTERVAL_MS) -> tuple[dict, list[dict]]:
    """(VideoMetadata, Faces) for a local video file, as GetFaceDetection reports them.

    Raises ValueError with the job's StatusMessage when the video cannot be analysed.
    """
    import av

    detector = detector or CascadeFaceDetector()
    try:
        container = av.open(path)
    except av.FFmpegError:
        raise ValueError("Unsupported codec/format: the video could not be decoded.") from None
    with container:
        if not container.streams.video:
            raise ValueError("Unsupported codec/format: the file has no video stream.")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec != "h264":
            raise ValueError(f"Unsupported codec: {codec}. Amazon Rekognition Video needs H.264.")
        rate = stream.average_rate or stream.guessed_rate
        if not rate or rate <= 0:
            raise ValueError("Unsupported format: the video declares no frame rate.")
        stream.thread_type = "AUTO"
        start, seconds_per_tick = stream.start_time or 0, stream.time_base
        # Sampled frames are analysed on worker threads (OpenCV and PyAV release the GIL) while decoding
        # goes on; a bounded number in flight keeps memory at a few frames. Every FULL_SEARCH_EVERY-th
        # sample searches the whole frame; the samples between search only around the faces it found (or
        # the whole frame again when it found none). A face that appears in between is reported from the
        # next full search on, 800 ms late at most: the blur holds every box for a second before its
        # first report, so the face is still covered from its first frame.
        workers = max(1, min(4, os.cpu_count() or 1))
        pending: deque[tuple[int, int, int, Future]] = deque()
        faces: list[dict] = []
        full_search: Future | None = None
        sample = 0

        def seeded(image: Any, search: Future) -> list[dict]:
            seeds = search.result()
            return detector.detect(image, seeds) if seeds else detector.detect(image)

        def finish(block: bool) -> None:
            while pending and (block or pending[0][3].done() or len(pending) > 2 * workers):
                stamp, w, h, future = pending.popleft()
                faces.extend(_face_detection(stamp, face, w, h) for face in future.result())

        index, t_ms, next_sample, width, height = 0, 0.0, 0.0, 0, 0
        with ThreadPoolExecutor(workers, thread_name_prefix="faces") as pool:
            try:
                for picture in container.decode(stream):
                    t_ms = float((picture.pts - start) * seconds_per_tick * 1000) if picture.pts is not None \
                        else index * 1000.0 / float(rate)
                    index += 1
                    if t_ms + 1e-6 < next_sample:
                        continue
                    image = _upright_luma(picture)
                    height, width = image.shape
                    if full_search is None or sample % FULL_SEARCH_EVERY == 0:
                        full_search = future = pool.submit(detector.detect, image)
                    else:
                        future = pool.submit(seeded, image, full_search)
                    pending.append((round(t_ms), width, height, future))
                    finish(block=False)
                    next_sample += interval_ms
                    sample += 1
            except av.FFmpegError:
                raise ValueError("Unsupported codec/format: a frame could not be decoded.") from None
            finally:
                finish(block=True)
        if index == 0:
            raise ValueError("Unsupported codec/format: the video has no decodable frame.")
        full_range = stream.codec_context.color_range == 2 or stream.codec_context.pix_fmt.startswith("yuvj")
    metadata = {
        "Codec": "h264",
        "DurationMillis": round(t_ms + 1000.0 / float(rate)),
        "Format": "QuickTime / MOV",
        "FrameRate": float(rate),
        "FrameHeight": height,
        "FrameWidth": width,
        "ColorRange": "FULL" if full_range else "LIMITED",
    }
    return metadata, faces


def _face_detection(timestamp: int, face: dict, width: int, height: int) -> dict:
    x, y, w, h = face["box"]
    return {
        "Timestamp": timestamp,
        "Face": {
            "BoundingBox": {"Width": w / width, "Height": h / height, "Left": x / width, "Top": y / height},
            "Quality": {"Brightness": face["brightness"], "Sharpness": face["sharpness"]},
            "Confidence": face["confidence"],
        },
    }


class LocalRekognition:
    """The face-detection jobs of one local AWS."""

    answer_wait_s = 5.0

    def __init__(self) -> None:
        self.jobs: dict[str, FaceJob] = {}
        self.tokens: dict[str, str] = {}
        self.lock = threading.Lock()

    def start_face_detection(self, params: dict) -> dict:
        video = params.get("Video") or {}
        s3_object = video.get("S3Object") or {}
        bucket, key = s3_object.get("Bucket"), s3_object.get("Name")
        if not bucket or not key:
            raise ServiceError("InvalidParameterException", "Video.S3Object needs Bucket and Name.")
        token = params.get("ClientRequestToken")
        if token is not None and not _TOKEN.match(token):
            raise ServiceError("InvalidParameterException", "ClientRequestToken must match [a-zA-Z0-9-_]{1,64}.")
        with self.lock:
            if token and token in self.tokens:
                job = self.jobs[self.tokens[token]]
                if job.video != video:
                    raise ServiceError("IdempotentParameterMismatchException",
                                       "ClientRequestToken was already used with different parameters.")
                return {"JobId": job.job_id}
        path = self._download(bucket, key, s3_object.get("Version"))
        job_id = hashlib.sha256((token or uuid.uuid4().hex).encode()).hexdigest()
        job = FaceJob(job_id, video, params.get("JobTag"))
        with self.lock:
            if token and token in self.tokens:  # a concurrent duplicate won the race
                os.unlink(path)
                return {"JobId": self.tokens[token]}
            self.jobs[job_id] = job
            if token:
                self.tokens[token] = job_id
        threading.Thread(target=self._run, args=(job, path), daemon=True, name=f"rekognition-{job_id[:8]}").start()
        return {"JobId": job_id}

    def _download(self, bucket: str, key: str, version: str | None) -> str:
        import boto3
        from botocore.exceptions import ClientError

        s3 = boto3.client("s3")
        extra = {"VersionId": version} if version else {}
        try:
            head = s3.head_object(Bucket=bucket, Key=key, **extra)
            if head.get("ContentLength", 0) > MAX_VIDEO_BYTES:
                raise ServiceError("VideoTooLargeException", "The video is larger than 10 GB.")
            fd, path = tempfile.mkstemp(prefix="rekognition-", suffix=os.path.splitext(key)[1])
            os.close(fd)
            s3.download_file(bucket, key, path, ExtraArgs=extra or None)
        except ClientError:
            raise ServiceError("InvalidS3ObjectException",
                               "Unable to get object metadata from S3. Check object key, region and/or "
                               "access permissions.") from None
        return path

    def _run(self, job: FaceJob, path: str) -> None:
        try:
            job.metadata, job.faces = analyse_video(path)
            job.status = "SUCCEEDED"
        except ValueError as error:
            job.status, job.status_message = "FAILED", str(error)
        except Exception as error:  # noqa: BLE001 - the job must end either way; the message says what broke
            job.status, job.status_message = "FAILED", f"Internal error analysing the video: {error}"
        finally:
            os.unlink(path)
            job.done.set()

    def get_face_detection(self, params: dict) -> dict:
        job = self.jobs.get(params.get("JobId", ""))
        if job is None:
            raise ServiceError("ResourceNotFoundException", "The job id is not known.")
        job.done.wait(self.answer_wait_s)
        answer: dict[str, Any] = {"JobStatus": job.status, "JobId": job.job_id, "Video": job.video}
        if job.job_tag:
            answer["JobTag"] = job.job_tag
        if job.status == "IN_PROGRESS":
            return answer
        if job.status == "FAILED":
            answer["StatusMessage"] = job.status_message
            return answer
        page = min(int(params.get("MaxResults") or MAX_PAGE), MAX_PAGE)
        start = _offset(params.get("NextToken"), job.job_id)
        answer["VideoMetadata"] = job.metadata
        answer["Faces"] = job.faces[start:start + page]
        if start + page < len(job.faces):
            answer["NextToken"] = base64.urlsafe_b64encode(f"{job.job_id}:{start + page}".encode()).decode()
        return answer


def _offset(token: str | None, job_id: str) -> int:
    if not token:
        return 0
    try:
        owner, offset = base64.urlsafe_b64decode(token.encode()).decode().rsplit(":", 1)
        if owner == job_id and int(offset) >= 0:
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ServiceError("InvalidPaginationTokenException", "Invalid Token")


_instances_lock = threading.Lock()


def rekognition_for(aws: Any) -> LocalRekognition:
    """The job store belonging to one local AWS (kept in its `store`: jobs live as long as it does)."""
    with _instances_lock:
        return aws.store.setdefault("rekognition", LocalRekognition())


register("rekognition", "StartFaceDetection", lambda params, aws: rekognition_for(aws).start_face_detection(params))
register("rekognition", "GetFaceDetection", lambda params, aws: rekognition_for(aws).get_face_detection(params))
