"""`--method maskrcnn`: crops reach the detector whole and unchanged, its keypoints become COCO
results in crop pixels for the right image and keypoint order, and the weights come from the
cache, a file, or fail with one line. A stand-in detector returns the ground truth, so the
wiring is checked by pycocotools (AP 1.0); the real network runs with random weights."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.synthcrowd import build_synthetic_crowd
import torch
from click.testing import CliRunner
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import baselines.maskrcnn as maskrcnn
from benchmarks.cli import main as bench
from benchmarks.weights import PretrainedWeightsUnavailable, cached_path


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    return build_synthetic_crowd(tmp_path_factory.mktemp("maskrcnn"), 10, 5).parent.parent


@pytest.fixture(scope="module")
def gt_file(crowd):
    return crowd / "annotations" / "crowd_val2014.json"


class GroundTruthDetector:
    """Returns each crop's own annotated people, checking that it got the crop's pixels."""

    def __init__(self, gt_path: Path, crops: Path):
        data = json.loads(gt_path.read_text())
        self.images = data["images"]
        self.people = {im["id"]: [a for a in data["annotations"] if a["image_id"] == im["id"]
                                  and not a["iscrowd"] and any(a["keypoints"][2::3])] for im in self.images}
        self.crops, self.seen = crops, 0

    def to(self, device):
        return self

    def __call__(self, pictures):
        outs = []
        for pic in pictures:
            im = self.images[self.seen]
            self.seen += 1
            assert pic.shape == (3, im["height"], im["width"])
            expected = np.asarray(Image.open(self.crops / im["file_name"]).convert("RGB"), dtype=np.float32)
            np.testing.assert_allclose(pic.permute(1, 2, 0).numpy(), expected / 255.0, atol=1e-6)
            kps = torch.tensor([a["keypoints"] for a in self.people[im["id"]]], dtype=torch.float64).reshape(-1, 17, 3)
            outs.append({"keypoints": kps, "scores": torch.linspace(0.9, 0.5, len(kps))})
        return outs


def pycocotools_ap(gt_path: Path, results: list[dict]) -> float:
    gt = COCO(str(gt_path))
    ev = COCOeval(gt, gt.loadRes(results), "keypoints")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    return float(ev.stats[0])


def test_detector_output_becomes_results_for_the_right_crop(monkeypatch, crowd, gt_file):
    fake = GroundTruthDetector(gt_file, crowd / "val2014")
    monkeypatch.setattr(maskrcnn, "build_detector", lambda *a, **k: (fake, 17))
    results, summary = maskrcnn.MaskRCNNMethod(weights="coco", batch_size=3, progress=False).predict(gt_file)
    assert fake.seen == len(fake.images) == summary["images"]
    assert summary["people"] == len(results) == sum(len(p) for p in fake.people.values())
    assert pycocotools_ap(gt_file, results) == pytest.approx(1.0)


def test_keypoints_are_taken_by_name_from_the_model_order():
    model = ("a", "b", "c")
    assert maskrcnn.keypoint_columns(model, ("c", "a"), "f.json") == [2, 0]
    with pytest.raises(ValueError, match=r"f\.json.*cannot predict \['z'\]"):
        maskrcnn.keypoint_columns(model, ("a", "z"), "f.json")
    out = {"keypoints": torch.tensor([[[1.0, 2.0, 0.3], [3.0, 4.0, 0.2], [5.0, 6.0, 0.1]]]),
           "scores": torch.tensor([0.75])}
    [r] = maskrcnn.detections_to_results(out, [2, 0], image_id=7, category_id=1)
    assert r == {"image_id": 7, "category_id": 1, "keypoints": [5.0, 6.0, 1.0, 1.0, 2.0, 1.0], "score": 0.75}


def test_random_network_from_the_cli_is_scored(crowd, gt_file, tmp_path):
    """The real torchvision network (random weights, small resize) end to end: results inside
    their crops, accepted by `bench score`, reported."""
    small = tmp_path / "few.json"
    data = json.loads(gt_file.read_text())
    data["images"] = data["images"][:3]
    ids = {im["id"] for im in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids]
    small.write_text(json.dumps(data))
    torch.manual_seed(0)
    out = tmp_path / "run"
    result = CliRunner().invoke(bench, ["run", "--method", "maskrcnn", "--weights", "none", "--min-size", "64",
                                        "--max-size", "128", "--box-threshold", "0", "--gt", str(small),
                                        "--images", str(crowd / "val2014"), "--out", str(out),
                                        "--bootstrap", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    size = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    assert results and len(results) <= 20 * len(ids)
    for r in results:
        w, h = size[r["image_id"]]
        xy = np.asarray(r["keypoints"]).reshape(-1, 3)
        # torchvision reads heatmap-bin centres of a 56-bin box, so up to one bin past the crop
        assert xy.shape == (17, 3) and (xy[:, 0] >= -w / 56).all() and (xy[:, 0] <= w + w / 56).all()
        assert (xy[:, 1] >= -h / 56).all() and (xy[:, 1] <= h + h / 56).all()
    assert (out / "report.md").is_file()
    assert json.loads((out / "scores.json").read_text())["ap_ar"]["stats"]["AP"] >= 0.0


def test_weights_file_is_loaded_and_bad_files_are_refused(tmp_path):
    from torchvision.models.detection import keypointrcnn_resnet50_fpn
    torch.manual_seed(1)
    reference = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_keypoints=14)
    path = tmp_path / "k14.pth"
    torch.save({"state_dict": reference.state_dict()}, path)
    model, k = maskrcnn.build_detector(str(path), 17, min_size=64, max_size=128, score_threshold=0.05,
                                       detections=20)
    assert k == 14
    torch.testing.assert_close(model.roi_heads.keypoint_predictor.kps_score_lowres.weight,
                               reference.roi_heads.keypoint_predictor.kps_score_lowres.weight)

    class Exploit:
        def __reduce__(self):
            return (print, ("ran code",))
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(Exploit()))
    for bad, message in ((evil, "loads without running code"), (tmp_path / "missing.pth", "no such file")):
        with pytest.raises(PretrainedWeightsUnavailable, match=message):
            maskrcnn.build_detector(str(bad), 17, min_size=64, max_size=128, score_threshold=0.05, detections=20)
    other = tmp_path / "r18.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, other)
    with pytest.raises(PretrainedWeightsUnavailable, match="not a keypointrcnn_resnet50_fpn"):
        maskrcnn.build_detector(str(other), 17, min_size=64, max_size=128, score_threshold=0.05, detections=20)


def test_coco_weights_come_from_the_cache_and_offline_names_it(monkeypatch, tmp_path):
    import urllib.error

    import torchvision.models._api as weights_api
    from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cached = cached_path(KeypointRCNN_ResNet50_FPN_Weights.COCO_V1)
    assert cached == tmp_path / "checkpoints" / "keypointrcnn_resnet50_fpn_coco-fc266e95.pth"

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    real = weights_api.load_state_dict_from_url
    monkeypatch.setattr(weights_api, "load_state_dict_from_url", offline)
    with pytest.raises(PretrainedWeightsUnavailable) as err:
        maskrcnn.build_detector("coco", 17, min_size=64, max_size=128, score_threshold=0.05, detections=20)
    assert str(cached) in str(err.value) and "--weights PATH" in str(err.value)
    # a file in the cache is read, not downloaded (this one is not the real model, and says so)
    monkeypatch.setattr(weights_api, "load_state_dict_from_url", real)
    cached.parent.mkdir(parents=True)
    torch.save({"backbone.body.conv1.weight": torch.zeros(1)}, cached)
    with pytest.raises(PretrainedWeightsUnavailable, match="does not fit keypointrcnn_resnet50_fpn"):
        maskrcnn.build_detector("coco", 17, min_size=64, max_size=128, score_threshold=0.05, detections=20)


def test_maskrcnn_refuses_options_it_does_not_take(gt_file, tmp_path):
    result = CliRunner().invoke(bench, ["run", "--method", "maskrcnn", "--checkpoint", str(gt_file),
                                        "--gt", str(gt_file), "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "--checkpoint: not an option of --method maskrcnn" in result.output
    assert not (tmp_path / "x").exists()
