"""The blur stage on real generated video: faces hidden, everything else about the video kept."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest
from face_blur.blur import BlurFailed, BlurSettings, anonymise, blur_plane
from face_blur.video import Encoding, probe
from face_blur_checks import assert_faces_blurred, blur_report, decoded, detail_kept, media, psnr

from engine.aws.providers.rekognition import analyse_video


@pytest.fixture(scope="module")
def detections(clip):
    return analyse_video(str(clip.path))[1]


@pytest.fixture(scope="module")
def blurred(clip, detections, tmp_path_factory):
    target = tmp_path_factory.mktemp("out") / "faces.mp4"
    return target, anonymise(clip.path, target, detections)


def test_every_visible_face_is_blurred_in_every_frame_and_the_background_kept(clip, ground_truth, blurred):
    target, result = blurred
    checked = assert_faces_blurred(clip.path, target, ground_truth)
    assert checked > 150  # both faces, nearly every frame: the check really ran
    assert result["tracks"] == 2


# Faces entering and leaving through each of the four edges, at three speeds (the clip's length is the time
# a face takes to cross: 1.2 s is a run, 12 s a slow shuffle the detector finds late at the edge), and
# faces appearing and vanishing in the middle. 320x240, so the whole set costs a few seconds.
EDGE_CLIPS = [("cross-h", 1.2), ("cross-h", 4.0), ("cross-h", 12.0), ("cross-v", 1.2), ("cross-v", 4.0),
              ("cross-v", 12.0), ("out-and-back", 3.0), ("pop", 2.4)]


@pytest.mark.parametrize(("scene", "seconds"), EDGE_CLIPS)
def test_a_face_is_blurred_from_its_first_visible_frame_to_its_last(scene, seconds, tmp_path):
    clip = media.make_clip(tmp_path / f"{scene}.mp4", 320, 240, seconds, audio=False, scene=scene)
    truth = json.loads(clip.path.with_suffix(".faces.json").read_text())
    target = tmp_path / "out.mp4"
    anonymise(clip.path, target, analyse_video(str(clip.path))[1], encoding=Encoding(preset="ultrafast"))
    report = blur_report(clip.path, target, truth)
    print(f"{scene} {seconds} s: {report.checked} face regions, longest unblurred run {report.longest_run} frames")
    assert report.longest_run == 0 and not report.readable, report.readable[:12]
    assert not report.damaged, report.damaged[:12]
    assert report.checked > 0.6 * 2 * clip.frames * (0.5 if scene == "pop" else 1)  # the faces were there


def test_a_strip_of_a_face_at_the_edge_is_blurred_as_hard_as_the_whole_face():
    # Sized by the strip, the blur would leave what the strip shows legible.
    noise = np.random.default_rng(7).integers(0, 256, (120, 120), dtype=np.uint8)
    by_strip, by_face = noise.copy(), noise.copy()
    blur_plane(by_strip, (0, 20, 10, 100), "gaussian", 0.5)
    blur_plane(by_face, (0, 20, 10, 100), "gaussian", 0.5, size=80)
    def detail(plane):
        return float(np.abs(np.diff(plane[20:100, :10].astype(int), axis=1)).mean())
    assert detail(by_face) < 0.5 * detail(by_strip)


def test_frame_count_exact_rate_size_and_audio_are_kept(clip, blurred):
    target, result = blurred
    out = probe(target)
    assert (out.width, out.height) == (320, 240)
    assert out.fps == Fraction(30000, 1001)
    assert out.frames == clip.frames == result["frames"] == 90
    assert out.video_codec == "h264" and out.audio_codecs == ("aac",)


def test_output_is_yuv420p_with_the_index_first_for_streaming(blurred):
    target, _ = blurred
    summary = subprocess.run([media.ffmpeg(), "-hide_banner", "-i", str(target)],
                             check=False, capture_output=True, text=True).stderr
    assert "yuv420p" in summary
    data = target.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart


def test_audio_is_copied_bit_for_bit(clip, blurred, tmp_path):
    def audio_packets(path):
        out = tmp_path / f"{path.stem}.aac.raw"
        subprocess.run([media.ffmpeg(), "-v", "error", "-y", "-i", str(path), "-map", "0:a", "-c", "copy",
                        "-f", "data", str(out)], check=True)
        return out.read_bytes()

    assert audio_packets(clip.path) == audio_packets(blurred[0])


def test_integer_rate_without_audio_in_a_mov(tmp_path):
    clip = media.make_clip(tmp_path / "still.mov", 160, 120, 1.0, fps=25, audio=False)
    target = tmp_path / "out.mov"
    result = anonymise(clip.path, target, [])
    out = probe(target)
    assert result["frames"] == out.frames == 25 and out.fps == 25 and out.audio_codecs == ()
    # No faces: the picture is the source's, up to re-encoding.
    for before, after in zip(decoded(clip.path), decoded(target), strict=True):
        assert psnr(before, after) > 30


def test_pcm_audio_in_a_mov_is_kept(clip, tmp_path):
    source = tmp_path / "pcm.mov"
    subprocess.run([media.ffmpeg(), "-v", "error", "-y", "-i", str(clip.path), "-c:v", "copy", "-c:a", "pcm_s16le",
                    str(source)], check=True)
    anonymise(source, tmp_path / "out.mov", [], encoding=Encoding(preset="ultrafast"))
    assert probe(tmp_path / "out.mov").audio_codecs == ("pcm_s16le",)


@pytest.mark.parametrize(("rotation", "turn_stored"), [(90, "transpose=clock"), (-90, "transpose=cclock"),
                                                      (180, "hflip,vflip")])
def test_a_video_stored_turned_is_blurred_where_its_faces_show(clip, ground_truth, tmp_path, rotation, turn_stored):
    # Phones store video turned, with a display matrix that turns it upright when played.
    stored, source = tmp_path / "stored.mp4", tmp_path / "phone.mp4"
    subprocess.run([media.ffmpeg(), "-v", "error", "-y", "-i", str(clip.path), "-vf", turn_stored,
                    "-c:a", "copy", "-c:v", "libx264", "-crf", "16", str(stored)], check=True)
    subprocess.run([media.ffmpeg(), "-v", "error", "-y", "-display_rotation", str(rotation), "-i", str(stored),
                    "-c", "copy", str(source)], check=True)
    metadata, faces = analyse_video(str(source))
    assert (metadata["FrameWidth"], metadata["FrameHeight"]) == (320, 240)  # boxes are on the upright picture
    target = tmp_path / "out.mp4"
    anonymise(source, target, faces)
    out = probe(target)
    assert (out.width, out.height, out.rotation) == (320, 240, rotation)  # stored as it was, shown upright
    assert assert_faces_blurred(source, target, ground_truth) > 150


@pytest.mark.parametrize("rate", ["24000/1001", "60000/1001", "25/2"])
def test_fractional_frame_rates_and_the_frame_count_are_kept_exactly(rate, tmp_path):
    clip = media.make_clip(tmp_path / "clip.mp4", 160, 120, 1.0, fps=rate, audio=False)
    result = anonymise(clip.path, tmp_path / "out.mp4", [], encoding=Encoding(preset="ultrafast"))
    out = probe(tmp_path / "out.mp4")
    assert out.fps == Fraction(rate) and out.frames == result["frames"] == clip.frames


def test_variable_frame_timing_is_kept_frame_for_frame(clip, tmp_path):
    # Every third frame dropped without retiming: gaps in the timestamps, as phones record in low light.
    source = tmp_path / "vfr.mp4"
    subprocess.run([media.ffmpeg(), "-v", "error", "-y", "-i", str(clip.path), "-vf", "select='not(eq(mod(n,3),2))'",
                    "-fps_mode", "passthrough", "-an", "-c:v", "libx264", "-preset", "ultrafast", str(source)],
                   check=True)
    anonymise(source, tmp_path / "out.mp4", [], encoding=Encoding(preset="ultrafast"))

    def stamps(path):
        with av.open(str(path)) as container:
            return sorted(float(frame.time) for frame in container.decode(video=0))

    assert len(stamps(source)) == 60 and stamps(tmp_path / "out.mp4") == stamps(source)


def test_a_mirroring_display_matrix_is_refused_rather_than_blurring_the_wrong_place(clip, tmp_path):
    source = tmp_path / "mirrored.mp4"
    subprocess.run([media.ffmpeg(), "-v", "error", "-y", "-display_hflip", "-i", str(clip.path), "-c", "copy",
                    str(source)], check=True)
    with pytest.raises(BlurFailed, match="mirrors the picture"):
        anonymise(source, tmp_path / "out.mp4", [])


def test_pcm_audio_in_an_mp4_becomes_aac_of_the_same_length(clip, tmp_path):
    source = tmp_path / "pcm.mp4"  # MP4 players do not play PCM: it is the one audio the blur re-encodes
    subprocess.run([media.ffmpeg(), "-v", "error", "-y", "-i", str(clip.path), "-c:v", "copy", "-c:a", "pcm_s16le",
                    str(source)], check=True)
    anonymise(source, tmp_path / "out.mp4", [], encoding=Encoding(preset="ultrafast"))

    def audio_seconds(path):
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            return stream.codec_context.name, float(stream.duration * stream.time_base)

    (codec, seconds), (_, source_seconds) = audio_seconds(tmp_path / "out.mp4"), audio_seconds(source)
    assert codec == "aac" and abs(seconds - source_seconds) < 0.05


def test_pixelate_hides_faces_too(clip, ground_truth, detections, tmp_path):
    target = tmp_path / "pixelated.mp4"
    anonymise(clip.path, target, detections, BlurSettings(method="pixelate", strength=0.5))
    assert assert_faces_blurred(clip.path, target, ground_truth, max_ratio=0.3, measure=detail_kept) > 150


def test_weaker_strength_keeps_more_detail(clip, detections, tmp_path):
    def detail(strength):
        target = tmp_path / f"s{strength}.mp4"
        anonymise(clip.path, target, detections, BlurSettings(strength=strength), Encoding(preset="ultrafast"))
        frame = list(decoded(target))[45]
        return float(abs(frame[:, 1:].astype(int) - frame[:, :-1].astype(int)).mean())

    assert detail(0.1) > detail(0.9)


def test_not_a_video_fails_with_a_reason(tmp_path):
    source = tmp_path / "notes.mp4"
    source.write_bytes(b"these are not the frames you are looking for" * 100)
    with pytest.raises(BlurFailed, match="cannot read the source video"):
        anonymise(source, tmp_path / "out.mp4", [])


def test_truncated_video_fails_instead_of_writing_half_a_video(clip, tmp_path):
    source = tmp_path / "cut.mp4"
    data = clip.path.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(BlurFailed, match="truncated or corrupt"):
        anonymise(source, tmp_path / "out.mp4", [])


def test_unknown_blur_method_is_refused(monkeypatch):
    monkeypatch.setenv("BLUR_METHOD", "smudge")
    with pytest.raises(BlurFailed, match="gaussian or pixelate"):
        BlurSettings.from_env()


def test_the_blur_check_itself_catches_a_face_left_sharp(clip, ground_truth, tmp_path):
    # Guards the end-to-end assertions: without detections nothing is blurred, and the check must say so.
    target = tmp_path / "untouched.mp4"
    anonymise(clip.path, target, [])
    for measure, limit in ((None, 0.2), (detail_kept, 0.3)):
        kwargs = {"measure": measure} if measure else {}
        with pytest.raises(AssertionError, match="are not blurred; the longest unblurred run is [1-9]"):
            assert_faces_blurred(clip.path, target, ground_truth, max_ratio=limit, **kwargs)


def test_a_failing_edit_stops_the_blur_and_no_picture_it_did_not_finish_is_encoded(clip, detections, tmp_path,
                                                                                    monkeypatch):
    import face_blur.blur as blur_module

    started = []  # the edits begun: each asks the timeline for its boxes first
    boxes_at, blur_region = blur_module.FaceTimeline.boxes_at, blur_module.blur_region

    def counted_boxes_at(timeline, ms):
        started.append(ms)
        return boxes_at(timeline, ms)

    def failing_blur_region(frame, *args):
        if len(started) == 40:
            raise RuntimeError("the blur broke")
        blur_region(frame, *args)

    monkeypatch.setattr(blur_module.FaceTimeline, "boxes_at", counted_boxes_at)
    monkeypatch.setattr(blur_module, "blur_region", failing_blur_region)
    target = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError, match="the blur broke"):
        anonymise(clip.path, target, detections, encoding=Encoding(preset="ultrafast"))
    written = sum(1 for _ in decoded(target)) if target.exists() else 0
    assert written <= 39 < clip.frames  # only pictures whose edit finished, none after the failure
