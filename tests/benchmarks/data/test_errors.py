"""Bad input to the data pipeline: clear errors naming the file and field."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmarks.data import CropSizeError, CocoCrowdDataset, MissingImageError
from benchmarks.data.fixtures import random_crowd_dataset
from cococrowd.cocofile import CocoFormatError


@pytest.fixture()
def crowd_json(tmp_path):
    return random_crowd_dataset(tmp_path, num_sources=1, regions_per_source=2, source_size=(160, 120), seed=4)


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_missing_crop_names_file_and_image_id(crowd_json):
    data = json.loads(crowd_json.read_text())
    crop = crowd_json.parent / data["crowd_info"]["image_dir"] / data["images"][1]["file_name"]
    crop.unlink()
    ds = CocoCrowdDataset(crowd_json, input_size=64, train=False)
    ds[0]
    with pytest.raises(MissingImageError) as err:
        ds[1]
    msg = str(err.value)
    assert crop.name in msg and "image id 2" in msg and "images[1].file_name" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_missing_crop_and_source_in_train_mode(crowd_json):
    data = json.loads(crowd_json.read_text())
    (crowd_json.parent / data["crowd_info"]["image_dir"] / data["images"][0]["file_name"]).unlink()
    (crowd_json.parents[1] / "source" / data["images"][0]["source_file_name"]).unlink()
    ds = CocoCrowdDataset(crowd_json, input_size=64)
    with pytest.warns(UserWarning, match="not found"), pytest.raises(MissingImageError, match="image id 1"):
        ds[0]


def test_file_without_crowd_info(crowd_json):
    edit(crowd_json, lambda d: d.pop("crowd_info"))
    with pytest.raises(CocoFormatError) as err:
        CocoCrowdDataset(crowd_json)
    assert str(crowd_json) in str(err.value) and "crowd_info: missing key" in str(err.value)


@pytest.mark.parametrize("change, field", [
    (lambda d: d["crowd_info"].pop("image_dir"), "crowd_info.image_dir"),
    (lambda d: d["crowd_info"].pop("source_images"), "crowd_info.source_images"),
    (lambda d: d["crowd_info"].update(image_dir=7), "crowd_info.image_dir"),
    (lambda d: d["crowd_info"].update(image_dir=""), "crowd_info.image_dir"),
    (lambda d: d.update(crowd_info=[]), "crowd_info"),
    (lambda d: d["images"][1].pop("crop_box"), "images[1].crop_box"),
    (lambda d: d["images"][0].update(crop_box=[0, 0, -3, 5]), "images[0].crop_box"),
    (lambda d: d["images"][0].update(crop_box=[0, 0, 3]), "images[0].crop_box"),
    (lambda d: d["images"][1].pop("source_file_name"), "images[1].source_file_name"),
    (lambda d: d["annotations"][2].pop("ignore"), "annotations[2].ignore"),
    (lambda d: d["annotations"][0].update(ignore=3), "annotations[0].ignore"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2]), "annotations[0].keypoints"),
    (lambda d: d["annotations"][1]["keypoints"].__setitem__(4, None), "annotations[1].keypoints[4]"),
    (lambda d: d["annotations"][1]["keypoints"].__setitem__(5, 3), "annotations[1].keypoints[5]"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(0, "x"), "annotations[0].keypoints[0]"),
])
def test_bad_crowd_fields_are_named(crowd_json, change, field):
    edit(crowd_json, change)
    with pytest.raises(CocoFormatError) as err:
        CocoCrowdDataset(crowd_json)
    assert err.value.path == field and str(crowd_json) in str(err.value)


def test_source_fields_only_needed_when_used(crowd_json):
    edit(crowd_json, lambda d: [im.pop("crop_box") for im in d["images"]])
    assert len(CocoCrowdDataset(crowd_json, input_size=64, train=False)) == 2
    assert len(CocoCrowdDataset(crowd_json, input_size=64, use_source_images=False)) == 2


def test_null_source_folder_uses_crops(crowd_json):
    edit(crowd_json, lambda d: d["crowd_info"].update(source_images=None))
    ds = CocoCrowdDataset(crowd_json, input_size=64)
    assert ds.crowd.images[0].source_path is None
    assert np.isfinite(ds[0]["image"].numpy()).all()


def test_missing_json_and_bad_arguments(tmp_path, crowd_json):
    with pytest.raises(CocoFormatError, match="file not found"):
        CocoCrowdDataset(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="multiple of output_stride"):
        CocoCrowdDataset(crowd_json, input_size=130)
    with pytest.raises(ValueError, match="scale"):
        CocoCrowdDataset(crowd_json, scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="max_people"):
        CocoCrowdDataset(crowd_json, max_people=0)
    with pytest.raises(IndexError):
        CocoCrowdDataset(crowd_json, input_size=64)[2]


def test_crops_dir_overrides_the_files_folder(crowd_json, tmp_path):
    data = json.loads(crowd_json.read_text())
    crops = crowd_json.parent / data["crowd_info"]["image_dir"]
    moved = tmp_path / "elsewhere"
    crops.rename(moved)
    with pytest.raises(MissingImageError):
        CocoCrowdDataset(crowd_json, input_size=64, train=False)[0]
    ds = CocoCrowdDataset(crowd_json, input_size=64, train=False, crops_dir=moved)
    assert ds[0]["image"].shape == (3, 64, 64)
    with pytest.raises(FileNotFoundError, match="crops_dir .*missing: no such folder"):
        CocoCrowdDataset(crowd_json, crops_dir=tmp_path / "missing")


def test_stale_crop_of_another_size_is_refused(crowd_json):
    data = json.loads(crowd_json.read_text())
    img = data["images"][1]
    crop = crowd_json.parent / data["crowd_info"]["image_dir"] / img["file_name"]
    from PIL import Image
    with Image.open(crop) as im:          # as if cut by an earlier build with a wider --margin
        im.resize((img["width"] + 6, img["height"] + 4)).save(crop)
    ds = CocoCrowdDataset(crowd_json, input_size=64, train=False)
    ds[0]
    with pytest.raises(CropSizeError) as err:
        ds[1]
    msg = str(err.value)
    assert str(crop) in msg and "image id 2" in msg and str(crowd_json) in msg
    assert f"{img['width'] + 6}x{img['height'] + 4}" in msg and f"{img['width']}x{img['height']}" in msg


def _without_crops(crowd_json):
    return edit(crowd_json, lambda d: d["crowd_info"].update(image_dir=None))


def test_null_image_dir_cuts_the_crops_from_the_sources(crowd_json):
    with_crops = CocoCrowdDataset(crowd_json, input_size=64, train=False)
    expected = [with_crops[i]["image"] for i in range(len(with_crops))]
    _without_crops(crowd_json)
    ds = CocoCrowdDataset(crowd_json, input_size=64, train=False)
    assert all(im.crop_path is None for im in ds.crowd.images)
    for i, image in enumerate(expected):       # the same pixels as the crop files: both cut at crop_box
        assert torch.equal(ds[i]["image"], image)
    for use_sources in (True, False):           # training reads the sources either way
        train = CocoCrowdDataset(crowd_json, input_size=64, use_source_images=use_sources)
        assert np.isfinite(train[0]["image"].numpy()).all()
    # a missing source is named, not replaced by a crop that does not exist
    data = json.loads(crowd_json.read_text())
    source = crowd_json.parents[1] / "source" / data["images"][1]["source_file_name"]
    source.unlink()
    with pytest.raises(MissingImageError, match=r"source image not found for image id 2 .*images\[1\]"
                                                r"\.source_file_name.*crowd_info\.image_dir is null"):
        ds[1]
    with pytest.raises(MissingImageError, match="image id 1 "):   # both regions share the one source
        ds.check_files()


def test_null_image_dir_without_sources_is_a_clear_error(crowd_json):
    _without_crops(crowd_json)
    edit(crowd_json, lambda d: d["crowd_info"].update(source_images=None))
    with pytest.raises(CocoFormatError) as err:
        CocoCrowdDataset(crowd_json, input_size=64, train=False)
    assert err.value.path == "crowd_info.image_dir" and str(crowd_json) in str(err.value)
    assert "no pixels to read" in str(err.value)


def test_null_image_dir_with_a_crops_folder_reads_the_crops(crowd_json):
    crops = crowd_json.parent / json.loads(crowd_json.read_text())["crowd_info"]["image_dir"]
    _without_crops(crowd_json)
    edit(crowd_json, lambda d: d["crowd_info"].update(source_images=None))
    ds = CocoCrowdDataset(crowd_json, input_size=64, train=False, crops_dir=crops)
    assert ds[0]["image"].shape == (3, 64, 64)


def test_check_files_finds_a_missing_image_before_any_sample(crowd_json):
    data = json.loads(crowd_json.read_text())
    (crowd_json.parent / data["crowd_info"]["image_dir"] / data["images"][1]["file_name"]).unlink()
    CocoCrowdDataset(crowd_json, input_size=64).check_files()          # training reads the sources
    with pytest.raises(MissingImageError, match=r"crop image not found for image id 2 .*images\[1\]\.file_name"):
        CocoCrowdDataset(crowd_json, input_size=64, train=False).check_files()
    (crowd_json.parents[1] / "source" / data["images"][1]["source_file_name"]).unlink()
    with pytest.raises(MissingImageError, match="neither is its source image"):
        CocoCrowdDataset(crowd_json, input_size=64).check_files()
