"""Moving geometry into crop coordinates, against hand-computed and mask-level truths."""
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cococrowd.regions import (boxes_to_crops, clip_box, keypoints_to_crops, polygons_to_crops,
                               segmentation_to_crop, to_crop, union_crop_box)


def test_union_crop_box_snaps_outwards_and_clips():
    boxes = np.array([[10.4, 20.6, 30.0, 40.0], [35.2, 15.1, 10.0, 10.0]])
    # x: 10.4 -> 10, right 45.2 -> 46; y: 15.1 -> 15, bottom 60.6 -> 61
    assert union_crop_box(boxes, 0, 100, 100) == (10, 15, 36, 46)
    # margin 12 runs past the top-left and the 50x50 image's right/bottom
    assert union_crop_box(boxes, 12, 50, 50) == (0, 3, 50, 47)


def test_boxes_keep_size_inside_and_clip_outside():
    crops = np.array([[100, 50, 200, 100], [100, 50, 200, 100]])
    boxes = np.array([[110.3, 60.7, 20.1, 30.2], [90.0, 40.0, 50.0, 200.0]])
    out = boxes_to_crops(boxes, crops)
    assert out[0].tolist() == [10.3, 10.7, 20.1, 30.2]
    assert out[1].tolist() == [0.0, 0.0, 40.0, 100.0]
    assert clip_box([0, 0, 10, 10], (100, 50, 200, 100)) is None


def test_keypoints_inside_move_outside_vanish():
    kps = np.array([[[105, 55, 2], [99, 55, 2], [299, 149, 1], [300, 120, 2], [120, 60, 0], [100, 50, 2]]])
    moved, n = keypoints_to_crops(kps, np.array([[100, 50]]), np.array([[200, 100]]))
    # x == 300 is the crop's right border, past its last pixel column (299)
    assert moved[0].tolist() == [[5, 5, 2], [0, 0, 0], [199, 99, 1], [0, 0, 0], [0, 0, 0], [0, 0, 2]]
    assert n.tolist() == [3]


def test_polygon_inside_is_shifted_exactly():
    segs = [[[110.5, 60.25, 150.0, 60.25, 150.0, 90.0]], [], {"counts": "x", "size": [1, 1]}]
    out = polygons_to_crops(segs, np.array([[100, 50, 200, 100]] * 3))
    assert out[0] == [[10.5, 10.25, 50.0, 10.25, 50.0, 40.0]]
    assert out[1] == [] and out[2] is None


def test_polygon_clipped_to_crop_matches_mask_truth():
    h, w = 80, 120
    poly = [10.0, 10.0, 110.0, 10.0, 110.0, 70.0, 10.0, 70.0]  # 100 x 60 rectangle
    crop = (60, 30, 40, 40)  # cuts off all but a 40 x 40 corner
    segm, area = segmentation_to_crop([poly], crop, 6000.0)
    assert segm is not None and len(segm) == 1
    a = np.array(segm[0]).reshape(-1, 2)
    assert a.min() >= 0 and a[:, 0].max() <= 40 and a[:, 1].max() <= 40
    full = mask_utils.decode(mask_utils.frPyObjects([poly], h, w)).max(axis=2)
    expected = full[30:70, 60:100].sum()
    assert area == pytest.approx(expected, abs=40)  # rasterisation of the clipped edge
    assert area < 6000


def test_malformed_polygons_take_the_exact_path():
    out = polygons_to_crops([[[1.0, 2.0, 3.0, 4.0]], [[110.0, 60.0, 120.0, 60.0, 120.0, 70.0]]],
                            np.array([[100, 50, 200, 100]] * 2))
    assert out[0] is None
    assert out[1] == [[10.0, 10.0, 20.0, 10.0, 20.0, 20.0]]
    segm, area = segmentation_to_crop([[1.0, 2.0, 3.0, 4.0]], (0, 0, 10, 10), 5.0)
    assert segm == []  # a two-point "polygon" has no area


def test_rle_is_cut_to_the_crop():
    rng = np.random.default_rng(0)
    m = (rng.random((50, 70)) > 0.5).astype(np.uint8)
    rle = mask_utils.encode(np.asfortranarray(m))
    rle["counts"] = rle["counts"].decode()
    crop = (60, 40, 20, 20)  # reaches past the mask's right and bottom edges
    cut, area = segmentation_to_crop(rle, crop, float(m.sum()))
    sub = mask_utils.decode(cut)
    expected = np.zeros((20, 20), np.uint8)
    expected[:10, :10] = m[40:50, 60:70]
    assert np.array_equal(sub, expected)
    assert area == expected.sum()


def test_to_crop_one_annotation():
    ann = {"bbox": [110, 60, 20, 30], "area": 600, "keypoints": [115, 65, 2] + [0, 0, 0] * 16,
           "segmentation": [[110, 60, 130, 60, 130, 90, 110, 90]]}
    out = to_crop(ann, (100, 50, 200, 100), 17)
    assert out["keypoints"][:3] == [15, 15, 2] and out["num_keypoints"] == 1
    assert out["bbox"] == [10.0, 10.0, 20.0, 30.0] and out["area"] == 600
    assert out["segmentation"] == [[10.0, 10.0, 30.0, 10.0, 30.0, 40.0, 10.0, 40.0]]
    assert to_crop(ann, (0, 0, 50, 50), 17) is None


def test_area_without_segmentation_follows_the_clipped_box():
    ann = {"bbox": [90, 60, 20, 30], "area": 300.0, "keypoints": [0, 0, 0] * 17}
    out = to_crop(ann, (100, 50, 200, 100), 17)  # half of the box's width is left
    assert out["bbox"] == [0.0, 10.0, 10.0, 30.0]
    assert out["area"] == 150.0 and out["segmentation"] == []
    assert to_crop(dict(ann, bbox=[110, 60, 20, 30]), (100, 50, 200, 100), 17)["area"] == 300.0


def test_batched_clipping_matches_shapely_one_by_one():
    from shapely import make_valid
    from shapely.geometry import Polygon, box

    from cococrowd.regions import clip_polygon_sets

    rng = np.random.default_rng(1)
    segs, crops = [], []
    for _ in range(200):
        segs.append([(rng.uniform(0, 200, 2 * int(m))).round(2).tolist() for m in rng.integers(3, 9, rng.integers(1, 3))])
        crops.append([int(v) for v in (*rng.integers(0, 100, 2), *rng.integers(20, 120, 2))])
    out = clip_polygon_sets(segs, np.array(crops))
    for seg, (x, y, w, h), clipped in zip(segs, crops, out):
        for p, q in zip([p for p in seg], clipped):
            assert all(0 <= v <= (w if k % 2 == 0 else h) for k, v in enumerate(q))
        expected = sum(make_valid(Polygon(np.array(p).reshape(-1, 2) - (x, y))).intersection(box(0, 0, w, h)).area
                       for p in seg)
        got = sum(Polygon(np.array(q).reshape(-1, 2)).area for q in clipped)
        assert got == pytest.approx(expected, rel=1e-3, abs=1.0)  # output rounded to 0.01 px
    with pytest.raises(ValueError, match="odd number"):
        clip_polygon_sets([[[1.0, 2.0, 3.0]]], np.array([[0, 0, 5, 5]]))
