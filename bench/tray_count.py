"""Tray-count benchmark: how exactly the counter counts noisy detections, and how fast, against a bare decode.

On packing-line videos from bench/packing_line.py (bins filled by hand, hands resting over trays, bins
swapped by a sliding bin), with a simulated detector's faults (missed trays, trays found twice, confident
false positives, jittered boxes):
  accuracy  the share of bins counted exactly (target ≥ 95 %) and the mean absolute error per bin; a line
            whose bins were split or merged counts every bin of it as wrong
  floor     decoding the video to pictures (PyAV), what any counting pipeline must pay
  flow      the detect handler's own work per frame (decode + JPEG for the endpoint) plus the counter: the
            counting flow without the detector's inference, which the endpoint adds (see README)
  counter   count_trays alone, frames per second

    python bench/tray_count.py              # 12 lines of 6 bins, 3 noise seeds each
    python bench/tray_count.py --quick      # 1 line of 2 bins, 1 seed: checks that it runs
    python bench/tray_count.py --endpoint tray-detector --lines 8 --bins 4   # a trained detector instead

With `--endpoint NAME` the detections come from that local SageMaker endpoint of this project (the one
tray-detector-training deploys) instead of the simulated detector, one frame at a time as the detect handler
sends them: the accuracy is then the trained detector's and the counter's together, and `detector` reports
the endpoint's frames/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "handlers"), str(ROOT / "bench")]   # ROOT first: bench/engine.py is a benchmark

import av
import cv2
from packing_line import make_line, noisy_detections
from tray_count.counter import count_trays


def decode(path: Path, jpeg: bool) -> int:
    frames = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            picture = frame.to_ndarray(format="bgr24")
            if jpeg:
                cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 90])
            frames += 1
    return frames


def timed(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=12, help="generated videos (default 12)")
    parser.add_argument("--bins", type=int, default=6, help="bins per video (default 6)")
    parser.add_argument("--seeds", type=int, default=3, help="detector-noise seeds per video (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs, the median is kept (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition: checks that it runs")
    parser.add_argument("--endpoint", help="count what this local SageMaker endpoint detects (e.g. tray-detector)")
    args = parser.parse_args(argv)
    if args.quick:
        args.lines, args.bins, args.seeds, args.repeat = 1, 2, 1, 1
    detector_seconds = 0.0
    if args.endpoint:
        args.seeds = 1

    with tempfile.TemporaryDirectory() as folder:
        lines = [make_line(Path(folder) / f"line-{n}.mp4", args.bins, seed=100 + n) for n in range(args.lines)]
        exact = bins = 0
        errors: list[int] = []
        split_or_merged = 0
        streams = []
        for line in lines:
            for seed in range(args.seeds):
                if args.endpoint:
                    started = time.perf_counter()
                    detections = endpoint_detections(args.endpoint, line.path)
                    detector_seconds += time.perf_counter() - started
                else:
                    detections = noisy_detections(line.frames, seed=seed, width=line.width, height=line.height)
                streams.append(detections)
                counted = count_trays(detections)["bins"]
                bins += len(line.bins)
                if counted != line.bins:
                    print(f"  {line.path.name} (seed {100 + lines.index(line)}): true bins {line.bins}, counted {counted}")
                if len(counted) != len(line.bins):
                    split_or_merged += 1
                    continue
                errors += [abs(a - b) for a, b in zip(counted, line.bins, strict=True)]
                exact += sum(a == b for a, b in zip(counted, line.bins, strict=True))
        frames = sum(len(line.frames) for line in lines)
        video = lines[0].path
        video_frames = len(lines[0].frames)
        floor = timed(lambda: decode(video, jpeg=False), args.repeat)
        handler_work = timed(lambda: decode(video, jpeg=True), args.repeat)
        counter = timed(lambda: [count_trays(s) for s in streams], args.repeat)

    counter_per_frame = counter / (frames * args.seeds)
    flow = handler_work + counter_per_frame * video_frames
    source = f"the {args.endpoint} endpoint's detections" if args.endpoint else f"{args.seeds} noise seed(s)"
    print(f"{args.lines} lines × {args.bins} bins, {source}, {frames} frames at "
          f"{lines[0].width}x{lines[0].height} {lines[0].fps} fps")
    print(f"accuracy  bins counted exactly: {exact}/{bins} = {exact / bins:.1%} (target ≥ 95%); "
          f"mean abs error per bin {statistics.mean(errors) if errors else float('nan'):.3f}; "
          f"lines split or merged: {split_or_merged}")
    print(f"floor     decode: {video_frames / floor:.0f} frames/s")
    print(f"flow      decode + JPEG + count: {video_frames / flow:.0f} frames/s = {flow / floor:.2f}× the floor "
          f"(the detector endpoint's inference comes on top)")
    print(f"counter   count_trays alone: {1 / counter_per_frame:,.0f} frames/s")
    if args.endpoint:
        print(f"detector  decode + JPEG + InvokeEndpoint, one frame at a time: {frames / detector_seconds:.0f} frames/s")
    return 0


def endpoint_detections(endpoint: str, video: Path) -> list[list[dict]]:
    """Every frame's detections from a local endpoint of the project in the current folder, as the handler gets them."""
    from tray_count.detect import detect, jpegs, open_video

    from engine.aws import LocalAWS

    with LocalAWS(Path(".stepsmith")) as aws, open_video(video) as container:
        runtime = aws.client("sagemaker-runtime")
        context = container.streams.video[0].codec_context
        return [detect(runtime, endpoint, jpeg, context.width, context.height, 0.2) for jpeg in jpegs(container)]


if __name__ == "__main__":
    sys.exit(main())
