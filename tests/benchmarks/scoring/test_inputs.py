"""Bad ground-truth, results and option inputs give clear errors naming the file
and the JSON path; an empty results list scores zero."""
from __future__ import annotations

import json

import pytest

from benchmarks.scoring import score_files
from benchmarks.scoring.score import parse_jitter
from cococrowd.cocofile import CocoFormatError

from tests.helpers.scoring import dt, gt_ann, gt_file, image, pose, write_json


def _world(tmp_path, **img_extra):
    a, b = pose(100, 150, 60), pose(220, 150, 60)
    gt = gt_file([image(1, num_people=2, **img_extra), image(2, num_people=1, **img_extra)],
                 [gt_ann(1, 1, a), gt_ann(2, 1, b), gt_ann(3, 2, a)])
    res = [dt(1, a, 0.9), dt(1, b, 0.8), dt(2, a, 0.7)]
    return write_json(tmp_path / "gt.json", gt), res


def _fails(tmp_path, res, match, raw=None, **kw):
    gp, _ = _world(tmp_path)
    rp = tmp_path / "results.json"
    rp.write_text(raw if raw is not None else json.dumps(res))
    with pytest.raises((CocoFormatError, ValueError), match=match):
        score_files(gp, rp, bootstrap=0, **kw)


def test_wrong_keypoint_count_names_file_and_index(tmp_path):
    _, res = _world(tmp_path)
    res[1]["keypoints"] = res[1]["keypoints"][:48]
    _fails(tmp_path, res, r"results\.json: \[1\]\.keypoints: has 48 values, expected 51 \(3 x 17 keypoints\)")


def test_unknown_image_id(tmp_path):
    _, res = _world(tmp_path)
    res[2]["image_id"] = 99
    _fails(tmp_path, res, r"results\.json: \[2\]\.image_id: unknown image id 99 \(not in gt\.json\)")


def test_nan_keypoint(tmp_path):
    _, res = _world(tmp_path)
    res[0]["keypoints"][4] = float("nan")
    _fails(tmp_path, res, r"results\.json: \[0\]\.keypoints\[4\]: must be finite, got nan", raw=json.dumps(res))


def test_missing_score(tmp_path):
    _, res = _world(tmp_path)
    del res[2]["score"]
    _fails(tmp_path, res, r"results\.json: \[2\]\.score: missing key")


def test_score_must_be_a_number(tmp_path):
    _, res = _world(tmp_path)
    res[1]["score"] = "0.9"
    _fails(tmp_path, res, r"\[1\]\.score: must be a number, got '0\.9'")


def test_keypoint_must_be_a_number(tmp_path):
    _, res = _world(tmp_path)
    res[1]["keypoints"][7] = True
    _fails(tmp_path, res, r"\[1\]\.keypoints\[7\]: must be a number, got True")


def test_not_a_list(tmp_path):
    _fails(tmp_path, None, r"results\.json: top level must be a JSON list of detections, got dict",
           raw=json.dumps({"annotations": []}))


def test_item_not_an_object(tmp_path):
    _, res = _world(tmp_path)
    res[1] = [1, 2, 3]
    _fails(tmp_path, res, r"\[1\]: must be an object, got list")


def test_other_category(tmp_path):
    _, res = _world(tmp_path)
    res[0]["category_id"] = 3
    _fails(tmp_path, res, r"\[0\]\.category_id: is 3, but the person category of the ground truth is 1")


def test_bbox_needed_on_every_result_when_the_first_has_one(tmp_path):
    _, res = _world(tmp_path)
    res[0]["bbox"] = [0, 0, 10, 10]
    _fails(tmp_path, res, r"\[1\]\.bbox: must be \[x, y, w, h\]")


def test_malformed_json(tmp_path):
    _fails(tmp_path, None, r"results\.json: malformed JSON", raw="[{")


def test_missing_results_file(tmp_path):
    gp, _ = _world(tmp_path)
    with pytest.raises(CocoFormatError, match="nope.json: file not found"):
        score_files(gp, tmp_path / "nope.json", bootstrap=0)


def test_empty_results_score_zero(tmp_path):
    gp, _ = _world(tmp_path)
    rp = write_json(tmp_path / "results.json", [])
    s = score_files(gp, rp, bootstrap=50)
    assert all(v == 0.0 for k, v in s["ap_ar"]["stats"].items() if k not in ("AP(M)", "AR(M)", "AP(L)", "AR(L)"))
    assert s["ap_ar"]["ap_ci"]["low"] == s["ap_ar"]["ap_ci"]["high"] == 0.0
    assert s["counting"]["predicted_people"] == 0 and s["pck"]["mean"] == 0.0
    assert s["inputs"]["results"]["detections"] == 0


def test_partial_num_people_is_an_error(tmp_path):
    gp, res = _world(tmp_path)
    d = json.loads(gp.read_text())
    del d["images"][1]["num_people"]
    write_json(gp, d)
    rp = write_json(tmp_path / "results.json", res)
    with pytest.raises(CocoFormatError, match=r"gt\.json: images\[1\]\.num_people: missing, while other images"):
        score_files(gp, rp, bootstrap=0)


def test_bad_crowd_index(tmp_path):
    gp, res = _world(tmp_path, crowdIndex=0.3)
    d = json.loads(gp.read_text())
    d["images"][0]["crowdIndex"] = "high"
    write_json(gp, d)
    rp = write_json(tmp_path / "results.json", res)
    with pytest.raises(CocoFormatError, match=r"images\[0\]\.crowdIndex: must be a finite number >= 0, got 'high'"):
        score_files(gp, rp, bootstrap=0)


def test_unknown_keypoint_names_need_sigmas(tmp_path):
    names = [f"p{i}" for i in range(4)]
    xy = pose(100, 150, 60)[:4]
    gt = write_json(tmp_path / "gt.json", gt_file([image(1)], [gt_ann(1, 1, xy)], names=names))
    rp = write_json(tmp_path / "results.json", [dt(1, xy, 0.9)])
    with pytest.raises(CocoFormatError, match=r"gt\.json: categories\.keypoints: no known OKS sigma for keypoint"):
        score_files(gt, rp, bootstrap=0)
    s = score_files(gt, rp, bootstrap=0, sigmas="0.05,0.05,0.1,0.1")
    assert s["settings"]["sigmas"] == {"source": "user", "values": [0.05, 0.05, 0.1, 0.1]}
    assert s["ap_ar"]["stats"]["AP"] == pytest.approx(1.0)
    sig_file = write_json(tmp_path / "sig.json", {n: 0.07 for n in names})
    assert score_files(gt, rp, bootstrap=0, sigmas=str(sig_file))["settings"]["sigmas"]["values"] == [0.07] * 4
    with pytest.raises(ValueError, match="got 3 values, the person category has 4 keypoints"):
        score_files(gt, rp, bootstrap=0, sigmas="0.05,0.05,0.1")
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        score_files(gt, rp, bootstrap=0, sigmas="0.05,0.05,0.1,-1")
    write_json(sig_file, {"p0": 0.1})
    with pytest.raises(CocoFormatError, match=r"sig\.json: no sigma for keypoint\(s\) p1, p2, p3"):
        score_files(gt, rp, bootstrap=0, sigmas=str(sig_file))


def test_bad_ground_truth_keypoints(tmp_path):
    gp, res = _world(tmp_path)
    d = json.loads(gp.read_text())
    d["annotations"][2]["keypoints"][5] = "x"
    write_json(gp, d)
    rp = write_json(tmp_path / "results.json", res)
    with pytest.raises(CocoFormatError, match=r"gt\.json: annotations\[2\]\.keypoints\[5\]"):
        score_files(gp, rp, bootstrap=0)


def test_jitter_spec_parsing():
    assert parse_jitter("5=a.json,b.json") == (5.0, "a.json", "b.json")
    for bad in ("5", "5=a.json", "x=a.json,b.json", "5=a.json,"):
        with pytest.raises(ValueError, match="--jitter"):
            parse_jitter(bad)


def test_jitter_of_another_ground_truth_is_refused(tmp_path):
    gp, res = _world(tmp_path, crop_box=[10, 10, 400, 300])
    d = json.loads(gp.read_text())
    for img in d["images"]:
        img["crop_box"], img["base_crop_box"] = [15, 10, 400, 300], [11, 10, 400, 300]
    jit = write_json(tmp_path / "gt_j.json", d)
    rp = write_json(tmp_path / "results.json", res)
    with pytest.raises(CocoFormatError,
                       match=r"gt_j\.json: images\[0\]\.base_crop_box: is \[11\.0, 10\.0, 400\.0, 300\.0\] but"):
        score_files(gp, rp, jitter=[(5, jit, rp)], bootstrap=0)


def test_jitter_image_missing_from_base(tmp_path):
    gp, res = _world(tmp_path, crop_box=[10, 10, 400, 300])
    d = json.loads(gp.read_text())
    for img in d["images"]:
        img["base_crop_box"] = img["crop_box"]
    d["images"][1]["id"] = 7
    for a in d["annotations"]:
        a["image_id"] = 7 if a["image_id"] == 2 else a["image_id"]
    jit = write_json(tmp_path / "gt_j.json", d)
    rp = write_json(tmp_path / "results.json", res[:2])
    with pytest.raises(CocoFormatError, match=r"gt_j\.json: images\[1\]\.id: image id 7 is not in the base"):
        score_files(gp, rp, jitter=[(5, jit, rp)], bootstrap=0)


def test_negative_bootstrap(tmp_path):
    gp, res = _world(tmp_path)
    with pytest.raises(ValueError, match="bootstrap must be >= 0"):
        score_files(gp, write_json(tmp_path / "r.json", res), bootstrap=-1)


def _jittered(tmp_path, gp, name="gt_j.json", jitter_px=None, shift=(5, 0)):
    """``gp`` as a jittered variant: crop boxes moved by ``shift``, base_crop_box kept."""
    d = json.loads(gp.read_text())
    for img in d["images"]:
        x, y, w, h = img["crop_box"]
        img["base_crop_box"], img["crop_box"] = img["crop_box"], [x + shift[0], y + shift[1], w, h]
    if jitter_px is not None:
        d["crowd_info"] = {"jitter_px": jitter_px, "jitter_seed": 0}
    return write_json(tmp_path / name, d)


def test_jitter_level_must_match_the_files_jitter_px(tmp_path):
    gp, res = _world(tmp_path, crop_box=[10, 10, 400, 300])
    rp = write_json(tmp_path / "results.json", res)
    jit = _jittered(tmp_path, gp, "crowd_test_jitter10.json", jitter_px=10)
    with pytest.raises(CocoFormatError,
                       match=r"crowd_test_jitter10\.json: crowd_info\.jitter_px: is 10, but --jitter says 5$"):
        score_files(gp, rp, jitter=[f"5={jit},{rp}"], bootstrap=0)
    s = score_files(gp, rp, jitter=[f"10={jit},{rp}"], bootstrap=0)     # the right level is accepted
    assert [lv["level"] for lv in s["ap_under_jitter"]["levels"]] == [0, 10]


def test_unjittered_file_is_refused_above_level_0(tmp_path):
    gp, res = _world(tmp_path, crop_box=[10, 10, 400, 300])
    rp = write_json(tmp_path / "results.json", res)
    with pytest.raises(CocoFormatError, match=r"gt\.json: images\[0\]\.base_crop_box: missing: not a jittered "
                                              r"variant \(make one with cococrowd jitter\)"):
        score_files(gp, rp, jitter=[f"5={gp},{rp}"], bootstrap=0)
    # one image without base_crop_box is enough to refuse a variant
    d = json.loads(_jittered(tmp_path, gp).read_text())
    del d["images"][1]["base_crop_box"]
    part = write_json(tmp_path / "gt_part.json", d)
    with pytest.raises(CocoFormatError, match=r"gt_part\.json: images\[1\]\.base_crop_box: missing"):
        score_files(gp, rp, jitter=[f"5={part},{rp}"], bootstrap=0)


def test_level_0_accepts_the_unjittered_file_itself(tmp_path):
    gp, res = _world(tmp_path, crop_box=[10, 10, 400, 300])
    rp = write_json(tmp_path / "results.json", res)
    s = score_files(gp, rp, jitter=[f"0={gp},{rp}"], bootstrap=0)
    (row,) = s["ap_under_jitter"]["levels"]
    assert row["level"] == 0 and row["stats"] == s["ap_ar"]["stats"]
    # ... but not another file without base_crop_box whose crops differ from --gt's
    d = json.loads(gp.read_text())
    d["images"][0]["crop_box"] = [12, 10, 400, 300]
    other = write_json(tmp_path / "other.json", d)
    with pytest.raises(CocoFormatError, match=r"other\.json: images\[0\]\.crop_box: is \[12\.0, 10\.0, 400\.0, "
                                              r"300\.0\] but the --gt file's crop_box of image 1 is \[10\.0"):
        score_files(gp, rp, jitter=[f"0={other},{rp}"], bootstrap=0)
    # nor a jittered variant given as level 0
    jit = _jittered(tmp_path, gp, jitter_px=5)
    with pytest.raises(CocoFormatError, match=r"crowd_info\.jitter_px: is 5, but --jitter says 0"):
        score_files(gp, rp, jitter=[f"0={jit},{rp}"], bootstrap=0)


def test_jitter_needs_crop_boxes_in_the_base_file(tmp_path):
    plain, res = _world(tmp_path)                                   # plain COCO: no crop_box
    (tmp_path / "crowd").mkdir()
    with_boxes, _ = _world(tmp_path / "crowd", crop_box=[10, 10, 400, 300])
    rp = write_json(tmp_path / "results.json", res)
    jit = _jittered(tmp_path, with_boxes)
    with pytest.raises(CocoFormatError, match=r"gt\.json: images\[0\]\.crop_box: missing: --jitter needs"):
        score_files(plain, rp, jitter=[f"5={jit},{rp}"], bootstrap=0)


def test_bench_score_jitter_error_is_one_line_with_exit_code_2(tmp_path):
    from click.testing import CliRunner
    from benchmarks.cli import main
    gp, res = _world(tmp_path, crop_box=[10, 10, 400, 300])
    rp = write_json(tmp_path / "results.json", res)
    jit = _jittered(tmp_path, gp, "crowd_test_jitter10.json", jitter_px=10)
    r = CliRunner().invoke(main, ["score", "--gt", str(gp), "--results", str(rp), "--jitter", f"5={jit},{rp}",
                                  "--out", str(tmp_path / "out"), "--bootstrap", "0"])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and len(r.output.strip().splitlines()) == 1
    assert "crowd_test_jitter10.json: crowd_info.jitter_px: is 10, but --jitter says 5" in r.output
    assert not (tmp_path / "out" / "scores.json").exists()


def test_ground_truth_far_off_keypoint_scores_as_pycocotools_does(tmp_path):
    """A ground-truth keypoint at 1e308: pycocotools scores it (that keypoint never matches);
    so does bench score, PCK included (its Hungarian costs overflowed to inf before)."""
    from tests.helpers.scoring import pycoco
    a, b = pose(100, 150, 60), pose(220, 150, 60)
    far = a.copy()
    far[3] = (1e308, 1e308)
    box = gt_ann(1, 1, a)["bbox"]                     # the person's box; only one keypoint is far
    gt = gt_file([image(1, num_people=2)], [gt_ann(1, 1, far, bbox=box), gt_ann(2, 1, b)])
    path = write_json(tmp_path / "gt.json", gt)
    res = [dt(1, a, 0.9), dt(1, b, 0.8)]
    s = score_files(path, write_json(tmp_path / "res.json", res), bootstrap=0)
    assert s["ap_ar"]["stats"]["AP"] == pytest.approx(pycoco(path, res).stats[0], abs=1e-12)
    assert s["pck"]["mean"] < 1.0


@pytest.mark.parametrize("flag", [5, -1])
def test_ground_truth_visibility_flags_are_checked_as_build_checks_them(tmp_path, flag):
    a = pose(100, 150, 60)
    ann = gt_ann(1, 1, a)
    ann["keypoints"][2] = flag
    path = write_json(tmp_path / "gt.json", gt_file([image(1, num_people=1)], [ann]))
    with pytest.raises(CocoFormatError, match=r"annotations\[0\]\.keypoints"):
        score_files(path, write_json(tmp_path / "res.json", [dt(1, a, 0.9)]), bootstrap=0)
