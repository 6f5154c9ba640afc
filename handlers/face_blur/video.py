"""Video I/O for the blur, in-process with PyAV (FFmpeg's own libraries): probe, decode, encode H.264.

Frames go decoder → edit → encoder one at a time inside this process, so memory stays at the few frames
the codecs' threads hold, whatever the video's length, and no raw frame is ever copied through a pipe.
Each frame keeps its source timestamp, so the frame rate (30000/1001 stays 30000/1001), the frame count
and variable frame timing all survive. The audio is copied packet for packet (re-encoded to AAC only
where an .mp4 cannot hold it).

Pictures are edited as stored. A phone video is often stored sideways with a display matrix that turns
it upright; face boxes are given upright (as shown), and `VideoInfo.rotation` says how to map them. The
output keeps the stored orientation and the same display matrix.
"""

from __future__ import annotations

import contextlib
import os
import queue
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Generic, TypeVar

import av
import numpy as np

# Audio codecs the MP4 muxer stores as they are; anything else (PCM, …) is re-encoded to AAC for .mp4.
_MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}
# Picture formats edited in place; others (4:2:2, 10-bit, …) are converted to yuv420p first.
_EDITABLE = {"yuv420p", "yuvj420p"}


class VideoError(Exception):
    """The video cannot be read or written; the message says why in words a user understands."""


class UnreadableVideo(VideoError):
    """Not a video that can be read at all: no video stream, no frame rate, no picture that decodes."""


@dataclass(frozen=True)
class VideoInfo:
    """What the blur needs to know about a source video."""

    width: int  # as displayed: stored width and height are swapped for a quarter turn
    height: int
    fps: Fraction
    frames: int  # as the container declares it (0 when unknown)
    video_codec: str
    audio_codecs: tuple[str, ...]
    rotation: int = 0  # degrees the stored picture turns counter-clockwise when shown: 0, 90, 180 or -90

    @property
    def fps_text(self) -> str:
        return f"{self.fps.numerator}/{self.fps.denominator}"


@dataclass(frozen=True)
class Encoding:
    """H.264 settings shared by the blur stage and the benchmark's floor."""

    preset: str = "veryfast"
    crf: int = 20

    @classmethod
    def from_env(cls) -> Encoding:
        return cls(os.environ.get("X264_PRESET", cls.preset), int(os.environ.get("X264_CRF", cls.crf)))


class Frame:
    """One decoded picture as stored, with writable numpy views of its Y, U and V planes (4:2:0).

    The decoder may still predict later frames from this picture, so the planes are copied off it the
    first time they are asked for: frames nobody draws on are never copied.
    """

    __slots__ = ("_planes", "picture")

    def __init__(self, picture: av.VideoFrame) -> None:
        self.picture = picture
        self._planes: tuple[np.ndarray, ...] | None = None

    @property
    def planes(self) -> tuple[np.ndarray, ...]:
        if self._planes is None:
            self.picture.make_writable()
            self._planes = tuple(_plane(self.picture, i) for i in range(3))
        return self._planes

    @property
    def y(self) -> np.ndarray:
        return self.planes[0]

    @property
    def u(self) -> np.ndarray:
        return self.planes[1]

    @property
    def v(self) -> np.ndarray:
        return self.planes[2]

    @property
    def width(self) -> int:
        return self.picture.width

    @property
    def height(self) -> int:
        return self.picture.height


def _plane(picture: av.VideoFrame, index: int) -> np.ndarray:
    plane = picture.planes[index]
    # Rows are `line_size` bytes apart (FFmpeg aligns them); the view hides the padding.
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


def _rotation(picture: av.VideoFrame) -> int:
    """The picture's display rotation (0, 90, 180, -90); UnreadableVideo for a mirroring display matrix."""
    for side in picture.side_data:
        if side.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            a, b, _, c, d, *_ = struct.unpack("<9i", bytes(side))
            if a * d - b * c < 0:
                raise UnreadableVideo("the video's display matrix mirrors the picture, which the blur does not "
                                 "support: export it again without the mirror")
    rotation = round(picture.rotation or 0) % 360  # FFmpeg says -180..180: 180 may come as -180
    if rotation % 90:
        raise UnreadableVideo(f"the video is displayed turned by {rotation} degrees; only quarter turns are supported")
    return -90 if rotation == 270 else rotation


def _open(path: str | Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except av.FFmpegError as error:
        raise UnreadableVideo(f"not a video FFmpeg can read: {error.strerror}") from None


def _video_stream(container: av.container.InputContainer) -> tuple[av.video.VideoStream, Fraction]:
    """The first video stream and its frame rate; UnreadableVideo when there is none."""
    if not container.streams.video:
        raise UnreadableVideo("the file has no video stream")
    stream = container.streams.video[0]
    fps = stream.average_rate or stream.guessed_rate
    if not fps or fps <= 0:
        raise UnreadableVideo("the video does not declare a frame rate")
    return stream, Fraction(fps)


def _info(container: av.container.InputContainer, stream: av.video.VideoStream, fps: Fraction,
          first: av.VideoFrame) -> VideoInfo:
    """What the video is, from its container and its first picture (which carries the orientation)."""
    rotation = _rotation(first)
    width, height = (first.height, first.width) if rotation in (90, -90) else (first.width, first.height)
    return VideoInfo(width, height, fps, stream.frames or 0, stream.codec_context.name,
                     tuple(a.codec_context.name for a in container.streams.audio), rotation)


def probe(path: str | Path) -> VideoInfo:
    """Read geometry, frame rate, orientation and stream codecs; VideoError for anything that is not a video."""
    with _open(path) as container:
        stream, fps = _video_stream(container)
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as error:
            raise UnreadableVideo(f"the video's first frame does not decode: {error.strerror}") from None
        if first is None:
            raise UnreadableVideo("the video has no decodable frame (corrupt or unsupported codec)")
        return _info(container, stream, fps, first)


def _metadata(tags: dict) -> dict:
    # The encoder tag names the tool that wrote the source; FFmpeg writes its own.
    return {k: v for k, v in tags.items() if k != "encoder"}


def transcode(source: str | Path, target: str | Path, enc: Encoding,
              start: Callable[[VideoInfo], Callable[[float, Frame], None]]) -> tuple[int, VideoInfo]:
    """Decode `source`, call edit(milliseconds, frame) to change each picture in place, encode to `target`.

    `start(info)` is called once, when the first picture has decoded (it carries the orientation), and
    returns `edit`: the source is opened and its first picture decoded once, not once more to probe it.
    UnreadableVideo when that first picture never comes, VideoError for what goes wrong after it.
    Returns the number of frames written and what the video is. Decoding, editing, and encoding with
    muxing each run on a thread of their own (_Editor, _Writer), so all three overlap (PyAV and OpenCV
    let go of the GIL inside the codecs and filters).
    """
    with _open(source) as inp, contextlib.ExitStack() as output:
        src, fps = _video_stream(inp)
        src.thread_type = "AUTO"  # frame and slice threads, as the ffmpeg command line decodes
        audio_in = list(inp.streams.audio)
        early: list[av.Packet] = []  # audio ahead of the first picture: the output starts with that picture
        writer: _Writer | None = None
        editor: _Editor | None = None  # both start with the first picture
        begin = src.start_time or 0
        ms_per_tick = float(src.time_base * 1000)
        count, last_pts = 0, None
        try:
            for packet in inp.demux(src, *audio_in):
                if editor is not None and (editor.failure or writer.failure):
                    break
                if packet.stream.type == "audio":
                    if editor is None:
                        early.append(packet)
                    else:
                        editor.put(packet)
                    continue
                for picture in packet.decode():
                    if editor is None:
                        info = _info(inp, src, fps, picture)
                        edit = start(info)
                        writer = _output(output, inp, src, target, info, enc, audio_in)
                        editor = _Editor(edit, writer)
                        for held in early:
                            editor.put(held)
                    count += 1
                    if picture.pts is None or (last_pts is not None and picture.pts <= last_pts):
                        # No usable timestamp (rare, broken muxers): the next one a frame later.
                        picture.pts = (last_pts or 0) + max(1, round(1 / (fps * src.time_base)))
                    last_pts = picture.pts
                    if picture.format.name not in _EDITABLE:
                        picture = picture.reformat(format="yuv420p")
                    picture.pict_type = av.video.frame.PictureType.NONE  # x264 picks frame types itself
                    editor.put(((picture.pts - begin) * ms_per_tick, picture))
        except av.FFmpegError as error:
            if editor is None:
                raise UnreadableVideo(f"the video's first frame does not decode: {error.strerror}") from None
            raise VideoError(f"the video does not decode: {error.strerror}") from None
        finally:
            if editor is not None:
                editor.finish()
                writer.finish()
        if editor is None:
            raise UnreadableVideo("the video has no decodable frame (corrupt or unsupported codec)")
        if editor.failure:
            raise editor.failure[0]  # the edit's own error (a bug, or BlurFailed), as it is
        if writer.failure:
            error = writer.failure[0]
            if not isinstance(error, av.FFmpegError):
                raise error  # a bug, not a bad video: as it is
            raise VideoError(f"the video could not be encoded: {error.strerror}")
    # Counted as they are muxed, so the result need not be opened again to check it.
    if writer.frames_written != count:
        raise VideoError(f"the encoder wrote {writer.frames_written} frames instead of {count}")
    return count, info


def _output(output: contextlib.ExitStack, inp: av.container.InputContainer, src: av.video.VideoStream,
            target: str | Path, info: VideoInfo, enc: Encoding, audio_in: list[av.audio.AudioStream]) -> _Writer:
    """Open `target` (closed with `output`) with an H.264 stream like the source's and a copy of its audio;
    the writer thread that encodes and muxes into it."""
    container = "mov" if str(target).lower().endswith(".mov") else "mp4"
    out = output.enter_context(av.open(str(target), "w", format=container, options={"movflags": "+faststart"}))
    out.metadata.update(_metadata(inp.metadata))
    video = out.add_stream("libx264", rate=info.fps, options={"preset": enc.preset, "crf": str(enc.crf)})
    # Frame threads, as many as x264 picks for the cores: the ffmpeg command line's defaults (PyAV's
    # would make x264 cut every picture into slices, a different and slower encoding).
    video.codec_context.thread_count, video.codec_context.thread_type = 0, "AUTO"
    video.width, video.height = src.codec_context.width, src.codec_context.height
    # The source's clock, not 1/fps: frames keep their own timestamps, gaps and all.
    video.pix_fmt, video.time_base, video.codec_context.time_base = "yuv420p", src.time_base, src.time_base
    for name in ("color_range", "colorspace", "color_primaries", "color_trc"):
        setattr(video.codec_context, name, getattr(src.codec_context, name))
    video.metadata.update(_metadata(src.metadata))
    if info.rotation:
        video.set_display_rotation(info.rotation)
    audio_out = {a.index: _audio_stream(out, a, container) for a in audio_in}
    return _Writer(out, video, audio_out)


T = TypeVar("T")


class _Stage(Generic[T]):
    """One thread behind a bounded queue: what is put is handled on that thread, in order, and finish()
    waits until all of it is. A failure is kept in `failure`, for transcode() to re-raise."""

    def __init__(self, maxsize: int, name: str) -> None:
        self.failure: list[Exception] = []
        self.pending: queue.Queue[T | None] = queue.Queue(maxsize=maxsize)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def put(self, item: T) -> None:
        self.pending.put(item)

    def finish(self) -> None:
        self.pending.put(None)
        self.thread.join()

    def _run(self) -> None:
        raise NotImplementedError


class _Editor(_Stage[tuple[float, av.VideoFrame] | av.Packet]):
    """Edits pictures on a thread of its own, between the decoder and the writer, and passes them (and
    the audio, in order) on: decoding, editing and encoding then overlap, where editing on the decoding
    thread left a core idle while a picture was blurred (OpenCV and the codecs let go of the GIL)."""

    def __init__(self, edit: Callable[[float, Frame], None], writer: _Writer) -> None:
        self.edit, self.writer = edit, writer
        super().__init__(maxsize=4, name="editor")

    def _run(self) -> None:
        # After a failure the queue is still drained, but nothing more reaches the writer: a picture
        # that was not edited must never be encoded.
        while (item := self.pending.get()) is not None:
            if self.failure:
                continue
            if isinstance(item, tuple):
                ms, picture = item
                try:
                    self.edit(ms, Frame(picture))
                except Exception as error:  # noqa: BLE001 - transcode() re-raises it
                    self.failure.append(error)
                    continue
                item = picture
            self.writer.put(item)


class _Writer(_Stage[av.VideoFrame | av.Packet]):
    """Encodes pictures and muxes every packet on one thread, in the order they are put."""

    def __init__(self, out: av.container.OutputContainer, video: av.video.VideoStream,
                 audio: dict[int, tuple[av.audio.AudioStream, bool]]) -> None:
        self.out, self.video, self.audio = out, video, audio
        self.frames_written = 0  # video packets muxed: one per frame encoded
        # A few pictures in flight are enough to keep the encoder busy; more would only hold memory.
        super().__init__(maxsize=8, name="encoder")

    def _run(self) -> None:
        while (item := self.pending.get()) is not None:
            if not self.failure:
                self._guarded(self._write, item)
        if not self.failure:
            self._guarded(self._flush)

    def _guarded(self, step: Callable, *args: object) -> None:
        # Any failure is kept for the caller, and the queue still drained: a writer that died would
        # leave the decoding thread blocked on a full queue.
        try:
            step(*args)
        except Exception as error:  # noqa: BLE001 - transcode() re-raises it
            self.failure.append(error)

    def _write(self, item: av.VideoFrame | av.Packet) -> None:
        if isinstance(item, av.VideoFrame):
            self._mux_video(self.video.encode(item))
        else:
            _write_audio(self.out, item, *self.audio[item.stream.index])

    def _mux_video(self, packets: list[av.Packet]) -> None:
        self.out.mux(packets)
        self.frames_written += len(packets)

    def _flush(self) -> None:
        self._mux_video(self.video.encode(None))
        for stream, reencoded in self.audio.values():
            if reencoded:
                self.out.mux(stream.encode(None))


def _audio_stream(out: av.container.OutputContainer, stream: av.audio.AudioStream,
                  container: str) -> tuple[av.audio.AudioStream, bool]:
    """(output stream, re-encoded?): a copy of `stream`, or AAC where the container cannot hold its codec."""
    reencode = container == "mp4" and stream.codec_context.name not in _MP4_AUDIO
    if reencode:
        copy = out.add_stream("aac", rate=stream.codec_context.sample_rate, layout=_named_layout(stream))
        copy.bit_rate = 192_000
    else:
        copy = out.add_stream_from_template(stream)
    copy.metadata.update(_metadata(stream.metadata))
    return copy, reencode


# FFmpeg's default layout for a channel count.
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _named_layout(stream: av.audio.AudioStream) -> str:
    """The stream's channel layout by name: PCM often declares only "2 channels", which AAC refuses."""
    layout = stream.codec_context.layout
    if layout.name.endswith("channels") and layout.nb_channels in _LAYOUTS:
        return _LAYOUTS[layout.nb_channels]
    return layout.name


def _write_audio(out: av.container.OutputContainer, packet: av.Packet, stream: av.audio.AudioStream,
                 reencode: bool) -> None:
    if packet.dts is None:  # the demuxer's end-of-stream marker
        return
    if reencode:
        for samples in packet.decode():
            samples.pts = None  # the encoder numbers AAC frames itself
            out.mux(stream.encode(samples))
    else:
        packet.stream = stream
        out.mux(packet)
