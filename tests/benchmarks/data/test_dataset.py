"""CocoCrowdDataset: geometry, flips, masks, determinism, eval letterbox.

Expectations are computed independently of the pipeline: pixel values by
scipy's bilinear interpolation of the decoded source image, positions by
hand-written matrices or brightness centroids, disks by brute force.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from benchmarks.data import AugParams
from benchmarks.data.augment import IMAGENET_MEAN, IMAGENET_STD
from benchmarks.data.crowdfile import load_crowd_file
from benchmarks.data.fixtures import COCO_KEYPOINTS, Person, RegionSpec, random_crowd_dataset, write_crowd_dataset

from tests.helpers.data import disk_dataset

K = len(COCO_KEYPOINTS)
LEFT_EYE, RIGHT_EYE = COCO_KEYPOINTS.index("left_eye"), COCO_KEYPOINTS.index("right_eye")
MEAN = np.array(IMAGENET_MEAN)[:, None, None]
STD = np.array(IMAGENET_STD)[:, None, None]
PARAMS = [AugParams(), AugParams(flip=True), AugParams(angle=33.0, scale=0.8),
          AugParams(flip=True, angle=-27.5, scale=1.2)]


def to_pixels(image: torch.Tensor) -> np.ndarray:
    """Undo the ImageNet normalisation: (3, S, S) in 0..255."""
    return (image.numpy() * STD + MEAN) * 255.0


def person(points: dict[int, tuple[float, float]], bbox, segmentation=None) -> Person:
    kps = np.zeros((K, 3))
    for k, (x, y) in points.items():
        kps[k] = (x, y, 2)
    return Person(keypoints=kps, bbox=bbox, segmentation=segmentation)


@pytest.fixture(scope="module")
def random_json(tmp_path_factory):
    return random_crowd_dataset(tmp_path_factory.mktemp("random"), num_sources=3, regions_per_source=2,
                                source_size=(320, 240), people=(2, 5), seed=7)


@pytest.fixture(scope="module")
def blob_json(tmp_path_factory):
    """A grey 200x160 source with a red blob (left eye) and a green blob (right eye)."""
    src = np.full((160, 200, 3), 60, dtype=np.uint8)
    src[48:53, 58:63] = (255, 0, 0)    # pixels 58..62: continuous centre (60.5, 50.5)
    src[70:75, 100:105] = (0, 255, 0)  # centre (102.5, 72.5)
    region = RegionSpec(source="blobs", crop_box=(40, 30, 100, 80),
                        members=[person({LEFT_EYE: (60.5, 50.5), RIGHT_EYE: (102.5, 72.5)}, (45, 35, 80, 60))])
    return write_crowd_dataset(tmp_path_factory.mktemp("blobs"), {"blobs": src}, [region], source_ext=".png")


# ---------------------------------------------------------------- geometry

def test_sample_shapes_and_types(random_json):
    ds = disk_dataset(random_json, input_size=128)
    crowd = load_crowd_file(random_json)
    for i in range(len(ds)):
        s = ds[i]
        p = s["num_people"]
        assert s["image"].shape == (3, 128, 128) and s["image"].dtype == torch.float32
        assert s["parts"].shape == (K, 32, 32) and s["parts"].dtype == torch.float32
        assert s["people"].shape == (p, K, 32, 32) and s["people"].dtype == torch.float32
        assert s["keypoints"].shape == (p, K, 3) and s["keypoints"].dtype == torch.float32
        assert s["mask"].shape == (1, 32, 32) and s["mask"].dtype == torch.float32
        assert s["affine"].shape == (2, 3) and s["affine"].dtype == torch.float64
        assert s["image_id"] == crowd.images[i].id
        assert 1 <= p <= crowd.images[i].members.shape[0]


def test_hand_computed_affine():
    # crop 100x80, S=128, stride 4, rotation 90 degrees: zoom 1.28, the crop centre (50, 40) lands on the
    # input centre (64, 64); a point 10 px right of the centre turns upwards on screen: input (64, 51.2),
    # map ((64 / 4) - 0.5, (51.2 / 4) - 0.5)
    from benchmarks.data.augment import crop_to_input, input_to_map
    m = input_to_map(128, 4) @ crop_to_input(100, 80, 128, AugParams(angle=90.0))
    np.testing.assert_allclose(m[:2] @ [60, 40, 1], [15.5, 12.3], atol=1e-12)
    np.testing.assert_allclose(m[:2] @ [50, 40, 1], [15.5, 15.5], atol=1e-12)
    # flip mirrors about the crop centre: crop x=60 goes where x=40 went without the flip
    mf = input_to_map(128, 4) @ crop_to_input(100, 80, 128, AugParams(flip=True, angle=90.0))
    np.testing.assert_allclose(mf[:2] @ [60, 40, 1], m[:2] @ [40, 40, 1], atol=1e-12)


@pytest.mark.parametrize("use_source", [True, False])
def test_image_pixels_follow_affine(random_json, use_source):
    """Every output pixel equals bilinear interpolation of the source (or crop)
    at the position that ``affine`` names, so images and targets agree."""
    ds = disk_dataset(random_json, input_size=192, use_source_images=use_source, scale=(0.9, 1.1))
    crowd = ds.crowd
    for i in (0, 3):
        rec = crowd.images[i]
        for params in PARAMS:
            s = ds.sample(i, params)
            if use_source:
                picture = np.asarray(Image.open(rec.source_path).convert("RGB"), dtype=np.float64)
                offset = np.array(rec.crop_box[:2])
            else:
                picture = np.asarray(Image.open(rec.crop_path).convert("RGB"), dtype=np.float64)
                offset = np.zeros(2)
            # input pixel (row r, col c) has continuous centre (c + 0.5, r + 0.5) = stride * (u + 0.5)
            r, c = np.mgrid[0:192, 0:192].astype(np.float64)
            u, v = (c + 0.5) / 4 - 0.5, (r + 0.5) / 4 - 0.5
            aff = s["affine"].numpy()
            x = aff[0, 0] * u + aff[0, 1] * v + aff[0, 2] + offset[0]
            y = aff[1, 0] * u + aff[1, 1] * v + aff[1, 2] + offset[1]
            h, w = picture.shape[:2]
            inside = (x > 1) & (x < w - 1) & (y > 1) & (y < h - 1)
            if not use_source:
                inside &= (x > offset[0] + 1) & (x < offset[0] + rec.width - 1)
            got = to_pixels(s["image"])
            for ch in range(3):
                want = ndimage.map_coordinates(picture[..., ch], [y[inside] - 0.5, x[inside] - 0.5], order=1)
                assert np.abs(got[ch][inside] - want).max() <= 1.01, (i, params, ch)
            assert inside.mean() > 0.3
            # beyond the picture (crop without source) the padding is black
            far = (x < -2) | (x > w + 2) | (y < -2) | (y > h + 2)
            if far.any():
                assert np.abs(got[:, far]).max() < 1e-3


def centroid(channel: np.ndarray) -> tuple[float, float]:
    """Brightness-weighted centre in continuous input coordinates."""
    wts = np.clip(channel, 0, None)
    r, c = np.mgrid[0:channel.shape[0], 0:channel.shape[1]]
    return float((wts * (c + 0.5)).sum() / wts.sum()), float((wts * (r + 0.5)).sum() / wts.sum())


@pytest.mark.parametrize("params", PARAMS + [AugParams(angle=12.0, scale=4.0)])
@pytest.mark.parametrize("use_source", [True, False])
def test_keypoints_land_on_their_blobs(blob_json, params, use_source):
    """Under every augmentation the left-eye keypoint sits on the red blob and
    the right eye on the green one; after a flip the red blob (the person's
    left eye, now on the picture's right) is labelled right_eye."""
    size = 128 if params.scale < 2 else 64  # the 4x zoom-out at S=64 goes through the reduce() path
    ds = disk_dataset(blob_json, input_size=size, use_source_images=use_source)
    s = ds.sample(0, params)
    px = to_pixels(s["image"])
    red, green = px[0] - px[1], px[1] - px[0]   # grey background cancels
    kp = s["keypoints"][0].numpy()
    red_label, green_label = (RIGHT_EYE, LEFT_EYE) if params.flip else (LEFT_EYE, RIGHT_EYE)
    tol = 0.1 * size / 64
    for blob, label in ((red, red_label), (green, green_label)):
        assert kp[label, 2] == 2
        expected = 4 * (kp[label, 0] + 0.5), 4 * (kp[label, 1] + 0.5)   # map -> continuous input
        assert np.allclose(centroid(blob), expected, atol=tol), (params, label, centroid(blob), expected)


def test_keypoint_affine_round_trip(random_json):
    """``affine`` maps each output keypoint back to its file position in the
    crop's own frame (after a flip, channel k holds the partner keypoint of
    the unmirrored crop) to well within 0.5 px, people in annotation order."""
    ds = disk_dataset(random_json, input_size=256)
    perm = ds.flip_permutation
    checked = 0
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            rec, flip, s = ds.crowd.images[i], ds.params(i).flip, ds[i]
            members = [m for m in rec.members if (m[:, 2] > 0).any()]
            kps, aff = s["keypoints"].numpy().astype(np.float64), s["affine"].numpy()
            j = 0
            for p in range(len(kps)):
                lab = np.flatnonzero(kps[p, :, 2] > 0)
                crop_xy = kps[p, lab, :2] @ aff[:, :2].T + aff[:, 2]
                src_k = perm[lab] if flip else lab
                while j < len(members) and not np.abs(members[j][src_k, :2] - crop_xy).max() < 0.5:
                    j += 1      # a member skipped because augmentation left none of its keypoints in frame
                assert j < len(members), (epoch, i, p)
                np.testing.assert_array_equal(members[j][src_k, 2], kps[p, lab, 2])
                checked += len(lab)
                j += 1
    assert checked > 300


def test_targets_are_disks_around_output_keypoints(random_json):
    ds = disk_dataset(random_json, input_size=128)
    rows, cols = np.mgrid[0:32, 0:32]
    for i in range(len(ds)):
        s = ds[i]
        kps = s["keypoints"].numpy()
        expected = np.zeros((kps.shape[0], K, 32, 32), dtype=np.float32)
        for p in range(kps.shape[0]):
            for k in range(K):
                if kps[p, k, 2] > 0:
                    expected[p, k] = np.hypot(cols - kps[p, k, 0], rows - kps[p, k, 1]) <= 3
        np.testing.assert_array_equal(s["people"].numpy(), expected)
        np.testing.assert_array_equal(s["parts"].numpy().max(), 1.0 if expected.any() else 0.0)
        # parts cover every drawn person disk (people beyond max_people would add more)
        assert (s["parts"].numpy() >= expected.max(axis=0, initial=0)).all()


# ---------------------------------------------------------------- flips

def test_flip_mirrors_image_and_targets_exactly(random_json):
    ds = disk_dataset(random_json, input_size=128, use_source_images=False)
    perm = torch.as_tensor(ds.flip_permutation)
    for i in range(len(ds)):
        a = ds.sample(i, AugParams(angle=0.0, scale=1.1))
        b = ds.sample(i, AugParams(flip=True, angle=0.0, scale=1.1))
        # one grey level of rounding at most
        assert (b["image"] - a["image"].flip(-1)).abs().max() <= 1.01 / 255 / min(IMAGENET_STD)
        torch.testing.assert_close(b["parts"], a["parts"][perm].flip(-1), rtol=0, atol=0)
        torch.testing.assert_close(b["people"], a["people"][:, perm].flip(-1), rtol=0, atol=0)
        ka, kb = a["keypoints"][:, perm], b["keypoints"]
        torch.testing.assert_close(kb[..., 0], torch.where(ka[..., 2] > 0, 31 - ka[..., 0], 0.0), rtol=0, atol=1e-5)
        torch.testing.assert_close(kb[..., 1:], ka[..., 1:], rtol=0, atol=1e-5)
        # masks rasterise mirrored polygons: allow a rim of pixels on region borders
        assert (b["mask"] != a["mask"].flip(-1)).float().mean() < 0.02


CROWDPOSE = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck")


def test_crowdpose_keypoints_flip_by_name(tmp_path):
    path = random_crowd_dataset(tmp_path, num_sources=1, regions_per_source=2, source_size=(200, 150),
                                keypoint_names=CROWDPOSE, seed=11)
    ds = disk_dataset(path, input_size=64, use_source_images=False)
    assert ds.num_keypoints == 14 and ds.keypoint_names == CROWDPOSE
    a, b = ds.sample(0, AugParams()), ds.sample(0, AugParams(flip=True))
    assert a["parts"].shape == (14, 16, 16) and a["keypoints"].shape[1:] == (14, 3)
    for k, name in enumerate(CROWDPOSE):
        partner = CROWDPOSE.index(name.replace("left", "@").replace("right", "left").replace("@", "right"))
        ka, kb = a["keypoints"][:, partner], b["keypoints"][:, k]
        torch.testing.assert_close(kb[:, 0], torch.where(ka[:, 2] > 0, 15 - ka[:, 0], 0.0), rtol=0, atol=1e-5)
        torch.testing.assert_close(kb[:, 1:], ka[:, 1:], rtol=0, atol=1e-5)


# ---------------------------------------------------------------- masks and people

@pytest.fixture(scope="module")
def mask_json(tmp_path_factory):
    """Crop 120x80: a member on the left, an unlabelled member (polygon) bottom
    middle, an ignored person (box) at the right, an ignored iscrowd RLE top middle."""
    src = np.full((100, 160, 3), 90, dtype=np.uint8)
    member = person({0: (25.0, 20.0), LEFT_EYE: (30.0, 40.0), 11: (28.0, 60.0)}, (15, 15, 30, 60))
    unlabelled = person({}, (60, 60, 20, 25), segmentation=[[60, 60, 80, 60, 80, 85, 60, 85]])
    ignored = person({}, (110, 20, 40, 55))
    region = RegionSpec(source="m", crop_box=(10, 10, 120, 80), members=[member, unlabelled], ignored=[ignored])
    path = write_crowd_dataset(tmp_path_factory.mktemp("mask"), {"m": src}, [region], source_ext=".png")
    # add an iscrowd region as an RLE, as `cococrowd build` writes them
    import json
    from pycocotools import mask as mask_utils
    data = json.loads(path.read_text())
    full = np.zeros((80, 120), dtype=np.uint8)
    full[5:20, 55:75] = 1
    rle = mask_utils.encode(np.asfortranarray(full))
    data["annotations"].append({"id": 99, "image_id": 1, "category_id": 1, "bbox": [55, 5, 20, 15], "area": 300,
                                "segmentation": {"size": [80, 120], "counts": rle["counts"].decode("ascii")},
                                "keypoints": [0] * (3 * K), "num_keypoints": 0, "iscrowd": 1, "ignore": 1})
    path.write_text(json.dumps(data))
    return path


def map_pixel(aff: np.ndarray, crop_xy) -> tuple[int, int]:
    """(row, col) of the map pixel nearest to a crop point, through the inverse of ``affine``."""
    m = np.vstack([aff, [0, 0, 1]])
    u, v, _ = np.linalg.solve(m, [crop_xy[0], crop_xy[1], 1.0])
    return int(round(v)), int(round(u))


@pytest.mark.parametrize("params", [AugParams(), AugParams(flip=True, angle=30.0, scale=0.9)])
def test_mask_covers_ignored_and_unlabelled_not_members(mask_json, params):
    ds = disk_dataset(mask_json, input_size=256)
    s = ds.sample(0, params)
    mask, aff = s["mask"][0].numpy(), s["affine"].numpy()
    assert s["num_people"] == 1                              # the unlabelled member is not a target
    # crop coordinates: ignored box [100, 120] x [10, 65] (clipped), unlabelled polygon [50, 70] x [50, 75],
    # iscrowd RLE [55, 75] x [5, 20]; the member's box [5, 35] x [5, 65]
    for xy in [(110, 30), (105, 60), (60, 60), (55, 70), (65, 12), (58, 8)]:
        assert mask[map_pixel(aff, xy)] == 0, xy
    for xy in [(15, 10), (20, 30), (18, 50), (90, 40), (40, 75), (85, 10)]:
        assert mask[map_pixel(aff, xy)] == 1, xy
    # masked area ~ ignored box (40x55, clipped to 20x55 by the crop) + polygon (20x25) + RLE (20x15)
    zoom_area = abs(np.linalg.det(np.vstack([aff, [0, 0, 1]])))      # crop px^2 per map pixel
    area = (1 - mask).sum() * zoom_area
    assert abs(area - (20 * 55 + 20 * 25 + 20 * 15)) < 0.15 * 1900


def test_mask_beyond_crop_option(mask_json):
    zoom_out = AugParams(scale=1.25)
    plain = disk_dataset(mask_json, input_size=128).sample(0, zoom_out)
    masked = disk_dataset(mask_json, input_size=128, mask_beyond_crop=True).sample(0, zoom_out)
    aff = masked["affine"].numpy()
    corner = map_pixel(aff, (-5, -5))
    assert plain["mask"][0][corner] == 1 and masked["mask"][0][corner] == 0
    assert masked["mask"][0][map_pixel(aff, (40, 40))] == 1
    # the 32x32 map shows 1.25 x 120 = 150 crop px; the 120x80 crop is centred: count the map pixel
    # centres (j + 0.5) inside [16 - 60 z, 16 + 60 z] x [16 - 40 z, 16 + 40 z], z = 32 / 150
    z = 32 / 150
    centres = np.arange(32) + 0.5
    inside = np.sum(np.abs(centres - 16) <= 60 * z) * np.sum(np.abs(centres - 16) <= 40 * z)
    assert (masked["mask"] <= plain["mask"]).all()
    assert (plain["mask"] - masked["mask"]).sum().item() == 32 * 32 - inside


def test_keypoints_pushed_out_of_frame_are_dropped(tmp_path):
    src = np.full((100, 100, 3), 50, dtype=np.uint8)
    near_corner = person({0: (2.0, 2.0), 1: (50.0, 50.0)}, (0, 0, 60, 60))
    corner_only = person({0: (98.0, 98.0)}, (60, 60, 40, 40))
    path = write_crowd_dataset(tmp_path, {"s": src}, [RegionSpec("s", (0, 0, 100, 100), [near_corner, corner_only])])
    ds = disk_dataset(path, input_size=64)
    s = ds.sample(0, AugParams(scale=0.5))          # 2x zoom-in on the centre: corners leave the frame
    assert s["num_people"] == 1                      # the second member has nothing left in frame
    kp = s["keypoints"][0].numpy()
    np.testing.assert_array_equal(kp[0], [0, 0, 0])
    np.testing.assert_allclose(kp[1], [7.5, 7.5, 2])  # crop centre -> input centre 32 -> map 7.5
    assert s["people"][0, 0].sum() == 0 and s["people"][0, 1].sum() > 0
    # the dropped member's box is masked where it is still visible
    assert s["mask"][0, 15, 15] == 0 and s["mask"][0, 0, 0] == 1
    full = ds.sample(0, AugParams())
    assert full["num_people"] == 2 and full["mask"].min() == 1


def test_max_people_keeps_most_complete_in_annotation_order(random_json):
    ds_all = disk_dataset(random_json, input_size=64, max_people=None)
    ds_two = disk_dataset(random_json, input_size=64, max_people=2)
    seen_cut = False
    for i in range(len(ds_all)):
        a, b = ds_all[i], ds_two[i]
        torch.testing.assert_close(a["parts"], b["parts"])
        torch.testing.assert_close(a["mask"], b["mask"])
        assert b["num_people"] == min(2, a["num_people"])
        counts = (a["keypoints"][..., 2] > 0).sum(1).numpy()
        order = sorted(range(len(counts)), key=lambda p: (-counts[p], p))[:2]
        torch.testing.assert_close(b["keypoints"], a["keypoints"][sorted(order)])
        seen_cut |= a["num_people"] > 2
    assert seen_cut
    ds_two.set_max_people(None)
    assert ds_two[0]["num_people"] == ds_all[0]["num_people"]


# ---------------------------------------------------------------- determinism and eval

def test_same_seed_epoch_index_gives_same_sample(random_json):
    a = disk_dataset(random_json, input_size=64, seed=5)
    b = disk_dataset(random_json, input_size=64, seed=5)
    order_a = [a[i] for i in range(len(a))]
    order_b = [b[i] for i in reversed(range(len(b)))][::-1]     # access order must not matter
    for x, y in zip(order_a, order_b):
        for key in x:
            if isinstance(x[key], torch.Tensor):
                torch.testing.assert_close(x[key], y[key], rtol=0, atol=0)
            else:
                assert x[key] == y[key]
    drawn = {(a.params(i).flip, a.params(i).angle, a.params(i).scale) for i in range(len(a))}
    a.set_epoch(1)
    assert drawn.isdisjoint({(a.params(i).flip, a.params(i).angle, a.params(i).scale) for i in range(len(a))})
    c = disk_dataset(random_json, input_size=64, seed=6)
    assert not torch.equal(c[0]["image"], order_a[0]["image"])
    # draws stay in range
    for e in range(5):
        a.set_epoch(e)
        for i in range(len(a)):
            p = a.params(i)
            assert -40 <= p.angle <= 40 and 0.75 <= p.scale <= 1.25


def test_switching_flip_off_keeps_other_draws(random_json):
    on = disk_dataset(random_json, input_size=64, seed=3)
    off = disk_dataset(random_json, input_size=64, seed=3, flip=False, rotate=40)
    flips = []
    for i in range(len(on)):
        assert (on.params(i).angle, on.params(i).scale) == (off.params(i).angle, off.params(i).scale)
        assert off.params(i).flip is False
        flips.append(on.params(i).flip)
    assert any(flips)


def test_eval_mode_letterbox(tmp_path):
    # crop 100x50 of a constant colour; S=64: zoom 0.64, the crop fills x in [0, 64] and y in [16, 48]
    src = np.zeros((80, 140, 3), dtype=np.uint8)
    src[10:60, 20:120] = (200, 100, 50)
    region = RegionSpec("e", (20, 10, 100, 50), [person({0: (45.0, 35.0)}, (30, 20, 40, 30))])
    path = write_crowd_dataset(tmp_path, {"e": src}, [region], source_ext=".png")
    ds = disk_dataset(path, input_size=64, train=False, seed=123)
    ds.set_epoch(9)
    s = ds[0]
    px = to_pixels(s["image"])
    assert np.abs(px[:, :16]).max() < 1e-3 and np.abs(px[:, 48:]).max() < 1e-3    # black bars
    np.testing.assert_allclose(px[:, 17:47], np.broadcast_to(np.array([200, 100, 50.0])[:, None, None], (3, 30, 64)),
                               atol=1e-3)
    # affine by hand: map u -> input 4 (u + 0.5) -> crop (input - (0, 16)) / 0.64
    want = np.array([[4 / 0.64, 0, 2 / 0.64], [0, 4 / 0.64, (2 - 16) / 0.64]])
    np.testing.assert_allclose(s["affine"].numpy(), want, atol=1e-12)
    # keypoint (25, 25) in the crop -> input (16, 32) -> map (3.5, 7.5)
    np.testing.assert_allclose(s["keypoints"][0, 0].numpy(), [3.5, 7.5, 2], atol=1e-5)
    # eval ignores seed and epoch, and reads the crop even where a source exists
    ds2 = disk_dataset(path, input_size=64, train=False)
    assert torch.equal(ds2[0]["image"], s["image"])
    (tmp_path / "source" / "e.png").unlink()
    assert torch.equal(disk_dataset(path, input_size=64, train=False)[0]["image"], s["image"])


def test_train_without_source_falls_back_to_crop_with_warning(tmp_path):
    src = np.full((60, 60, 3), 120, dtype=np.uint8)
    path = write_crowd_dataset(tmp_path, {"w": src}, [RegionSpec("w", (10, 10, 40, 40), [person({0: (30.0, 30.0)},
                                                                                             (15, 15, 30, 30))])])
    (tmp_path / "source" / "w.jpg").unlink()
    ds = disk_dataset(path, input_size=64)
    with pytest.warns(UserWarning, match="source image .*w.jpg.* not found"):
        s = ds.sample(0, AugParams(scale=1.25))
    assert np.abs(to_pixels(s["image"])[:, 0, 0]).max() < 1e-3   # zero padding beyond the crop


def test_real_coco_group_through_build(tmp_path):
    """The two real 2-person groups of COCO image 197388, cut by `cococrowd build`."""
    import pathlib
    real = pathlib.Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "real" / "coco_kp_sample"
    if not real.is_dir():
        pytest.skip("real sample data not present")
    build = pytest.importorskip("cococrowd.build")
    build.run_build(annotations=real / "test_coco.json", images=real, out=tmp_path, workers=1, progress=False)
    path = next((tmp_path / "annotations").glob("crowd_*.json"))
    ds = disk_dataset(path, input_size=256)
    assert len(ds) == 2
    for i in range(len(ds)):
        s = ds[i]
        assert s["num_people"] == 2
        rec = ds.crowd.images[i]
        picture = np.asarray(Image.open(rec.source_path).convert("RGB"), dtype=np.float64)
        # pixels at labelled keypoints match the source there
        aff, kps = s["affine"].numpy(), s["keypoints"].numpy().reshape(-1, 3)
        kps = kps[kps[:, 2] > 0]
        crop_xy = kps[:, :2] @ aff[:, :2].T + aff[:, 2]
        sx, sy = crop_xy[:, 0] + rec.crop_box[0], crop_xy[:, 1] + rec.crop_box[1]
        want = np.stack([ndimage.map_coordinates(picture[..., c], [sy - 0.5, sx - 0.5], order=1) for c in range(3)])
        got = to_pixels(s["image"])
        # keypoint -> input continuous 4 (u + 0.5) -> nearest pixel centre can be 0.5 px away: compare loosely
        cols = np.clip(np.floor(4 * (kps[:, 0] + 0.5)).astype(int), 0, 255)
        rows = np.clip(np.floor(4 * (kps[:, 1] + 0.5)).astype(int), 0, 255)
        assert np.median(np.abs(got[:, rows, cols] - want)) < 12
        assert math.isclose(s["mask"].mean().item(), 1.0, abs_tol=0.5)
