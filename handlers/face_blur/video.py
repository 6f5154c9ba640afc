"""Streaming video I/O through ffmpeg pipes: probe, decode to raw frames, encode H.264 with the source's audio.

Frames flow decoder process → Python → encoder process one at a time, so memory stays at a few frames
whatever the video's length. Frames travel as planar YUV 4:2:0, the pixel format both H.264 ends use:
no colour conversion on either side and half the bytes of BGR through the pipes. The frame rate is kept
as an exact rational (30000/1001 stays 30000/1001).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

# Audio codecs the MP4 muxer stores as they are; anything else (PCM, …) is re-encoded to AAC for .mp4.
_MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


class VideoError(Exception):
    """The video cannot be read or written; the message says why in words a user understands."""


def ffmpeg_exe() -> str:
    """The ffmpeg binary: $FFMPEG_BINARY, imageio-ffmpeg's bundled build (has libx264 + AAC), or PATH."""
    if os.environ.get("FFMPEG_BINARY"):
        return os.environ["FFMPEG_BINARY"]
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if not found:
            raise VideoError("ffmpeg is not installed (install imageio-ffmpeg or put ffmpeg on PATH)") from None
        return found


@dataclass(frozen=True)
class VideoInfo:
    """What the blur needs to know about a source video."""

    width: int
    height: int
    fps: Fraction
    frames: int  # as the container declares it (0 when unknown)
    video_codec: str
    audio_codecs: tuple[str, ...]

    @property
    def fps_text(self) -> str:
        return f"{self.fps.numerator}/{self.fps.denominator}"


def exact_rate(fps: float) -> Fraction:
    """The rational frame rate behind a float: 29.97002997… → 30000/1001, 25.0 → 25."""
    return Fraction(fps).limit_denominator(1001)


def probe(path: str | Path) -> VideoInfo:
    """Read geometry, frame rate and stream codecs; raise VideoError for anything that is not a video."""
    path = str(path)
    # ffmpeg's own summary of the streams (stderr of `ffmpeg -i`), for the codec names.
    summary = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", path],
                             check=False, capture_output=True, text=True).stderr
    video = re.findall(r"Stream #\S+.*?: Video: (\w+)", summary)
    audio = tuple(re.findall(r"Stream #\S+.*?: Audio: (\w+)", summary))
    if not video:
        reason = summary.strip().splitlines()[-1] if summary.strip() else "unreadable"
        raise VideoError(f"not a video ffmpeg can read: {reason}")
    cap = cv2.VideoCapture(path)
    try:
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok or first is None:
            raise VideoError("the video has no decodable frame (corrupt or unsupported codec)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    if not fps or fps <= 0:
        raise VideoError("the video does not declare a frame rate")
    # The first decoded frame's shape, not the coded size: ffmpeg and OpenCV both apply rotation metadata.
    height, width = first.shape[:2]
    return VideoInfo(width, height, exact_rate(fps), max(frames, 0), video[0], audio)


def frame_count(path: str | Path) -> int:
    """The number of frames a container declares (0 if unknown), without decoding any."""
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    finally:
        cap.release()


@dataclass(frozen=True)
class Encoding:
    """H.264 settings shared by the blur stage and the benchmark's floor."""

    preset: str = "veryfast"
    crf: int = 20

    @classmethod
    def from_env(cls) -> Encoding:
        return cls(os.environ.get("X264_PRESET", cls.preset), int(os.environ.get("X264_CRF", cls.crf)))


class Frame:
    """One decoded picture: a writable buffer with numpy views of its Y, U and V planes (4:2:0)."""

    __slots__ = ("data", "u", "v", "y")

    def __init__(self, data: bytearray, width: int, height: int) -> None:
        cw, ch = (width + 1) // 2, (height + 1) // 2
        flat = np.frombuffer(data, np.uint8)
        self.data = data
        self.y = flat[: width * height].reshape(height, width)
        self.u = flat[width * height: width * height + cw * ch].reshape(ch, cw)
        self.v = flat[width * height + cw * ch:].reshape(ch, cw)

    @staticmethod
    def size(width: int, height: int) -> int:
        return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


def decode_command(source: str | Path) -> list[str]:
    """ffmpeg decoding the first video stream to raw YUV 4:2:0 on stdout, one output frame per input frame."""
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(source),
            "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]


def encode_command(source: str | Path, target: str | Path, info: VideoInfo, enc: Encoding) -> list[str]:
    """ffmpeg encoding raw YUV 4:2:0 frames from stdin to H.264 + faststart, with the source's audio."""
    container = "mov" if str(target).lower().endswith(".mov") else "mp4"
    if not info.audio_codecs:
        audio: list[str] = []
    elif container == "mov" or all(c in _MP4_AUDIO for c in info.audio_codecs):
        audio = ["-map", "1:a", "-c:a", "copy"]
    else:
        audio = ["-map", "1:a", "-c:a", "aac", "-b:a", "192k"]
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{info.width}x{info.height}",
            "-framerate", info.fps_text, "-i", "-",
            "-i", str(source), "-map", "0:v:0", *audio, "-map_metadata", "1",
            "-c:v", "libx264", "-preset", enc.preset, "-crf", str(enc.crf), "-pix_fmt", "yuv420p",
            "-r", info.fps_text, "-movflags", "+faststart", "-f", container, str(target)]


def _grow_pipe(stream: object) -> None:
    # A 1 MiB pipe (Linux default is 64 KiB) lets a whole 720p frame through per write: fewer stalls.
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError, AttributeError):
        pass


def frames(source: str | Path, info: VideoInfo, free: queue.Queue[bytearray] | None = None) -> Iterator[Frame]:
    """Decode frames one by one into writable Frames; VideoError if decoding fails.

    With `free`, frame buffers are taken from (and must be given back to) that queue instead of being
    allocated per frame: fresh multi-megabyte buffers cost page faults on every frame.
    """
    size = Frame.size(info.width, info.height)
    proc = subprocess.Popen(decode_command(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _grow_pipe(proc.stdout)
    errors: list[bytes] = []
    drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    drain.start()
    try:
        while True:
            buf = free.get() if free is not None else bytearray(size)
            view = memoryview(buf)
            got = 0
            while got < size:
                n = proc.stdout.readinto(view[got:])
                if not n:
                    break
                got += n
            if got == 0:
                if free is not None:
                    free.put(buf)
                break
            if got < size:
                raise VideoError("the video ends in the middle of a frame (truncated or corrupt)")
            yield Frame(buf, info.width, info.height)
    finally:
        proc.stdout.close()
        code = proc.wait()
        drain.join()
    if code != 0:
        message = b"".join(errors).decode(errors="replace").strip().splitlines()
        raise VideoError(f"decoding failed: {message[-1] if message else f'ffmpeg exited {code}'}")


def transcode(source: str | Path, target: str | Path, info: VideoInfo, enc: Encoding,
              edit: Callable[[int, Frame], None]) -> int:
    """Decode `source`, call edit(index, frame) to change each frame in place, encode to `target`.

    Returns the number of frames written. Writing runs on its own thread so encoding overlaps decoding.
    """
    proc = subprocess.Popen(encode_command(source, target, info, enc), stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _grow_pipe(proc.stdin)
    errors: list[bytes] = []
    drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    drain.start()
    pending: queue.Queue[Frame | None] = queue.Queue(maxsize=4)
    # Enough buffers for every frame that can be in flight: queued, being written, being decoded/edited.
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(pending.maxsize + 3):
        free.put(bytearray(Frame.size(info.width, info.height)))
    broken: list[BaseException] = []

    def write() -> None:
        while (frame := pending.get()) is not None:
            if not broken:
                try:
                    proc.stdin.write(frame.data)
                except (BrokenPipeError, OSError) as error:  # the encoder died; its stderr says why
                    broken.append(error)
            free.put(frame.data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    count = 0
    try:
        for count, frame in enumerate(frames(source, info, free), start=1):
            edit(count - 1, frame)
            pending.put(frame)
            if broken:
                break
    finally:
        pending.put(None)
        writer.join()
        try:
            proc.stdin.close()
        except OSError:
            pass
        code = proc.wait()
        drain.join()
    if code != 0 or broken:
        message = b"".join(errors).decode(errors="replace").strip().splitlines()
        raise VideoError(f"encoding failed: {message[-1] if message else f'ffmpeg exited {code}'}")
    if count == 0:
        raise VideoError("the video has no frames")
    return count
