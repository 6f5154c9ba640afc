"""The labelled review-photo generator: Ground Truth manifests, determinism, deliberately wrong labels."""
import json

import cv2
from sagemaker_checks import review_images


def test_a_set_has_every_class_in_ground_truth_format_and_is_reproducible(tmp_path):
    generator = review_images()
    first = generator.make_set(tmp_path / "a", per_class=3, seed=5, bucket="datasets", prefix="reviews/x/")
    again = generator.make_set(tmp_path / "b", per_class=3, seed=5, bucket="datasets", prefix="reviews/x/")
    lines = [json.loads(line) for line in first.manifest.read_text().splitlines()]
    assert len(lines) == 12 and first.manifest.read_text() == again.manifest.read_text()
    for line in lines:
        name = line["source-ref"].rsplit("/", 1)[1]
        assert line["source-ref"] == f"s3://datasets/reviews/x/images/{name}"
        metadata = line["review-class-metadata"]
        assert metadata["class-name"] == generator.CLASSES[line["review-class"]] == first.truth[name]
        assert metadata["type"] == "groundtruth/image-classification" and metadata["human-annotated"] == "yes"
        assert cv2.imread(str(first.folder / "images" / name)).shape == (64, 64, 3)
    assert sorted(first.truth.values()) == sorted(generator.CLASSES * 3)


def test_shuffled_labels_are_wrong_for_about_that_share_and_the_truth_is_kept(tmp_path):
    generator = review_images()
    worse = generator.make_set(tmp_path, per_class=50, seed=9, shuffle_labels=0.4)
    lines = [json.loads(line) for line in worse.manifest.read_text().splitlines()]
    wrong = sum(line["review-class-metadata"]["class-name"] != worse.truth[line["source-ref"].rsplit("/", 1)[1]]
                for line in lines)
    assert 0.3 < wrong / len(lines) < 0.5
