"""--protocol crowdpose equals crowdposetools / xtcocotools exactly.

The reference numbers in reference/crowdpose_reference.json.gz were produced by
crowdposetools (Jeff-sjtu/CrowdPose, built from source) and xtcocotools
(``keypoints_crowd``, ``use_area=False``) on the cases stored beside them;
reference/make_crowdpose_reference.py rebuilds them. Equality is exact (==).
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from benchmarks.scoring import score_files
from benchmarks.scoring.protocol import OFFICIAL_STATS

from .reference.make_crowdpose_reference import REAL_SAMPLE, sample_results
from tests.helpers.scoring import write_json

FIXTURE = Path(__file__).parent / "reference" / "crowdpose_reference.json.gz"
with gzip.open(FIXTURE, "rt") as _f:
    REF = json.load(_f)["cases"]
GENERATED = sorted(k for k in REF if k != "real_sample")


def _files(tmp_path, name):
    case = REF[name]
    return write_json(tmp_path / f"{name}_gt.json", case["gt"]), write_json(tmp_path / f"{name}_res.json",
                                                                          case["results"])


def _official(scores):
    return [scores["crowdpose"]["stats"][k] for k in OFFICIAL_STATS]


def test_fixture_covers_the_rules():
    """The cases hold what the comparison must exercise (not a test of the code)."""
    assert len(GENERATED) >= 10 and all("xtcocotools" in REF[k] for k in REF)
    refs = [REF[k].get("crowdposetools") or REF[k]["xtcocotools"] for k in GENERATED]
    assert any(r[6] == -1 for r in refs) and any(r[8] == -1 for r in refs)     # empty / unscored buckets
    assert all(any(r[i] > 0 for r in refs) for i in (6, 7, 8))                   # every bucket scored somewhere
    cis = {img["crowdIndex"] for k in GENERATED for img in REF[k]["gt"]["images"]}
    assert {0.2, 0.8} <= cis                                                     # bucket boundaries
    assert any("area" in REF[k]["gt"]["annotations"][0] for k in GENERATED)      # an area the protocol ignores


@pytest.mark.parametrize("name", GENERATED)
def test_generated_cases_equal_crowdposetools(tmp_path, name):
    gp, rp = _files(tmp_path, name)
    s = score_files(gp, rp, bootstrap=0, protocol="crowdpose")
    assert _official(s) == REF[name]["xtcocotools"]
    if "crowdposetools" in REF[name]:          # it knows the 14 CrowdPose keypoints only
        assert _official(s) == REF[name]["crowdposetools"]
        assert s["crowdpose"]["summary"] == REF[name]["printed"]
    # the unrounded AP is crowdposetools' stats[0]; the buckets stay unrounded in crowd_index
    ap0 = REF[name]["xtcocotools"][0]
    assert (s["ap_ar"]["stats"]["AP"] is None) if ap0 == -1 else s["ap_ar"]["stats"]["AP"] == ap0
    buckets = {b["label"]: b["stats"]["AP"] for b in s["crowd_index"]["buckets"]}
    for i, label in enumerate(("easy", "medium", "hard")):
        ref = REF[name]["xtcocotools"][6 + i]
        assert (buckets[label] is None) if ref == -1 else buckets[label] == pytest.approx(ref, abs=5e-5 + 1e-12)


def test_real_crowdpose_sample_equals_crowdposetools(real_data, tmp_path):
    gp = real_data / REAL_SAMPLE
    rp = write_json(tmp_path / "res.json", sample_results(json.loads(gp.read_text())))
    s = score_files(gp, rp, bootstrap=50, protocol="crowdpose")
    assert _official(s) == REF["real_sample"]["crowdposetools"] == REF["real_sample"]["xtcocotools"]
    assert s["crowdpose"]["summary"] == REF["real_sample"]["printed"]
    assert s["crowdpose"]["printed"]["AP"] == "0.743" and s["crowdpose"]["printed"]["AP(easy)"] == "-1.000"
    assert s["ap_ar"]["ap_ci"]["low"] <= s["ap_ar"]["stats"]["AP"] <= s["ap_ar"]["ap_ci"]["high"]


def test_coco_protocol_differs_and_is_the_default(tmp_path):
    """The area rule is what separates the protocols; coco stays the default."""
    gp, rp = _files(tmp_path, "g01_all_buckets")
    default = score_files(gp, rp, bootstrap=0)
    assert default["protocol"] == "coco" and default["crowdpose"] is None
    assert score_files(gp, rp, bootstrap=0, protocol="coco")["ap_ar"] == default["ap_ar"]
    crowd = score_files(gp, rp, bootstrap=0, protocol="crowdpose")
    assert crowd["ap_ar"]["stats"]["AP"] != default["ap_ar"]["stats"]["AP"]
    assert crowd["settings"]["protocol"] == "crowdpose" and "0.53" in crowd["settings"]["gt_area"]


def test_without_crowd_index_ap_ar_only(tmp_path):
    """No crowdIndex: AP/AR as crowdposetools gives them, buckets n/a with the reason."""
    case = REF["g07_thirty_images"]
    gt = json.loads(json.dumps(case["gt"]))
    for img in gt["images"]:
        del img["crowdIndex"]
    gp = write_json(tmp_path / "no_ci.json", gt)
    rp = write_json(tmp_path / "res.json", case["results"])
    s = score_files(gp, rp, bootstrap=0, protocol="crowdpose")
    assert _official(s)[:6] == case["crowdposetools"][:6]
    assert _official(s)[6:] == [None, None, None]
    assert s["crowdpose"]["buckets_note"] == "AP easy/medium/hard need each image's crowdIndex; no_ci.json has none"
    assert len(s["crowdpose"]["summary"]) == 6


def test_bad_protocol_and_partial_crowd_index(tmp_path):
    from cococrowd.cocofile import CocoFormatError

    gp, rp = _files(tmp_path, "g03_boundaries_only")
    with pytest.raises(ValueError, match=r"--protocol 'crowd': expected one of coco, crowdpose"):
        score_files(gp, rp, bootstrap=0, protocol="crowd")
    gt = json.loads(gp.read_text())
    del gt["images"][4]["crowdIndex"]
    write_json(gp, gt)
    with pytest.raises(CocoFormatError, match=r"g03_boundaries_only_gt\.json: images\[4\]\.crowdIndex: missing"):
        score_files(gp, rp, bootstrap=0, protocol="crowdpose")
