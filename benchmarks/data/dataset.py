"""The training / prediction dataset over a COCO-crowd file.

Each sample is one crowd region: one affine warp of the pixels (from the
source image when it is there, so zooming out shows real background), the
part targets of Eq. 1, one set of person targets per group member (Eq. 2)
and a mask of the regions to leave out of both losses.

Choices where the paper is silent (written down here and in the README):

* Pixels: train mode reads the source image and cuts the crop through the
  warp; without ``source_images`` in the file (or when the source file is
  missing, with one warning) it warps the crop with black padding. Eval mode
  reads the crop and letterboxes it (centred, black bars). A file without
  crops (``crowd_info.image_dir`` null) has them cut from the source images
  through ``crop_box``, the same pixels `cococrowd build` would write. A crop
  whose size is not the record's width x height is refused (stale crops).
* People: ``people``/``keypoints`` hold the group members (``ignore == 0``)
  that keep at least one labelled keypoint inside the map after
  augmentation, in annotation order. A member with no labelled keypoint
  (``num_keypoints == 0``, or all pushed out of frame) would teach the
  decoder an all-zero "stop" map, so it is left out and its region masked.
* ``max_people = M`` caps the people returned (each costs K x (S/4)^2
  floats of person maps: 1.1 MB at S = 512, K = 17), keeping the M members
  with the most labelled keypoints (ties: annotation order), still listed in
  annotation order; the others stay in the part maps and are not masked. The
  seqpose loss applies the paper's curriculum itself (section 5.1) and trains
  with ``None``: a capped sample looks like an image of M people to it.
* ``mask_beyond_crop`` (off by default, as in the paper) also masks what a
  zoom-out shows beyond the crop box, where people of the source image are
  not annotated in the COCO-crowd file.

Coordinates are continuous pixel coordinates (pixel j covers [j, j + 1)),
as COCO boxes and polygons are; map pixel u is centred on input
``stride * (u + 0.5)`` (see augment.py), which ``affine`` folds in.

Randomness is a function of (seed, epoch, index) only, so samples do not
depend on worker count or order. With DataLoader workers, call
``set_epoch``/``set_max_people`` before iterating and keep
``persistent_workers=False`` so the workers see the new values.
"""
from __future__ import annotations

import os
import warnings
from typing import Callable

import numpy as np
import torch
from PIL import Image

from . import augment, targets
from .crowdfile import CrowdFile, CrowdImage, load_crowd_file


class MissingImageError(FileNotFoundError):
    """An image file named by a COCO-crowd file is not on disk."""


class CropSizeError(ValueError):
    """A crop PNG is not the width x height its COCO-crowd image record says."""


class CocoCrowdDataset(torch.utils.data.Dataset):
    """The crowd regions of a COCO-crowd file as samples, for any method.

    ``__getitem__(i)`` returns a dict: ``image`` float32 (3, S, S)
    ImageNet-normalised; ``keypoints`` float32 (P, K, 3) map coordinates
    (x, y, v), v = 0 when unlabelled or out of frame; ``mask`` float32
    (1, S/4, S/4), 0 where the losses must not look; ``image_id`` int;
    ``num_people`` int P; ``affine`` float64 (2, 3) from map pixel-index
    coordinates to crop pixel coordinates (``affine @ [x, y, 1]``).

    ``crops_dir`` reads the crops from another folder than the file's
    ``crowd_info.image_dir`` (e.g. jittered or re-encoded copies).
    """

    def __init__(self, gt_json: str | os.PathLike, *, input_size: int = 512, output_stride: int = 4,
                 train: bool = True, rotate: float = 40,
                 scale: tuple[float, float] = (0.75, 1.25), flip: bool = True, use_source_images: bool = True,
                 seed: int = 0, max_people: int | None = None, mask_beyond_crop: bool = False,
                 crops_dir: str | os.PathLike | None = None, encoder: Callable[[dict], dict] | None = None):
        if input_size <= 0 or output_stride <= 0 or input_size % output_stride:
            raise ValueError(f"input_size ({input_size}) must be a positive multiple of output_stride ({output_stride})")
        if not (0 < scale[0] <= scale[1]):
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale!r}")
        if rotate < 0:
            raise ValueError(f"rotate must be >= 0 degrees, got {rotate}")
        if crops_dir is not None and not os.path.isdir(crops_dir):
            raise FileNotFoundError(f"crops_dir {crops_dir}: no such folder")
        self.crowd: CrowdFile = load_crowd_file(gt_json, need_sources=train and use_source_images,
                                                crops_dir=crops_dir)
        self.input_size = int(input_size)
        self.output_stride = int(output_stride)
        self.map_size = self.input_size // self.output_stride
        self.train = bool(train)
        # the method's codec makes its training targets from each sample's geometry (e.g. the
        # sequential model's disks, targets.DiskTargets, adding ``parts`` and ``people``)
        self.encoder = encoder
        self.rotate = float(rotate)
        self.scale = (float(scale[0]), float(scale[1]))
        self.flip = bool(flip)
        self.use_source_images = bool(use_source_images)
        self.mask_beyond_crop = bool(mask_beyond_crop)
        self.seed = int(seed)
        self.epoch = 0
        self.max_people: int | None = None
        self.set_max_people(max_people)
        self._warned_missing_source = False

    # ------------------------------------------------------------ settings

    def __len__(self) -> int:
        return len(self.crowd.images)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch``."""
        self.epoch = int(epoch)

    def set_max_people(self, max_people: int | None) -> None:
        if max_people is not None and max_people < 1:
            raise ValueError(f"max_people must be >= 1 or None, got {max_people}")
        self.max_people = None if max_people is None else int(max_people)

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return self.crowd.keypoint_names

    @property
    def num_keypoints(self) -> int:
        return len(self.crowd.keypoint_names)

    @property
    def flip_permutation(self) -> np.ndarray:
        return self.crowd.flip_permutation

    @property
    def image_ids(self) -> list[int]:
        return [im.id for im in self.crowd.images]

    # ------------------------------------------------------------ samples

    def params(self, index: int) -> augment.AugParams:
        """The augmentation of sample ``index`` in the current epoch (identity in eval mode)."""
        if not self.train:
            return augment.AugParams()
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return augment.draw_params(rng, rotate=self.rotate, scale=self.scale, flip=self.flip)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        return self.sample(index, self.params(index))

    def sample(self, index: int, params: augment.AugParams) -> dict:
        """Sample ``index`` under explicit augmentation ``params``."""
        rec = self.crowd.images[index]
        crop_to_input = augment.crop_to_input(rec.width, rec.height, self.input_size, params)
        crop_to_map = augment.input_to_map(self.input_size, self.output_stride) @ crop_to_input

        pixels, src_to_crop = self._load_pixels(rec)
        warped = augment.warp_image(pixels, crop_to_input @ src_to_crop, self.input_size)
        image = augment.to_normalised_tensor(warped)

        perm = self.crowd.flip_permutation if params.flip else None
        kps = targets.keypoints_to_map(rec.members, crop_to_map, perm, self.map_size)

        visible = (kps[..., 2] > 0).sum(axis=1)
        keep = visible > 0
        masked = list(rec.ignore_regions) + [r for r, v in zip(rec.member_regions, keep) if not v]
        ignore = targets.region_mask(masked, crop_to_map, self.map_size) if masked else None
        if self.mask_beyond_crop:
            outside = ~targets.window_mask(rec.width, rec.height, crop_to_map, self.map_size)
            ignore = outside if ignore is None else ignore | outside
        mask = np.ones((1, self.map_size, self.map_size), dtype=np.float32)
        if ignore is not None:
            mask[0, ignore] = 0.0

        chosen = np.flatnonzero(keep)
        if self.max_people is not None and len(chosen) > self.max_people:
            order = np.argsort(-visible[chosen], kind="stable")[: self.max_people]
            chosen = np.sort(chosen[order])
        affine = np.linalg.inv(crop_to_map)[:2]
        sample = {
            "image": image,
            "keypoints": torch.from_numpy(kps[chosen].astype(np.float32)),
            "mask": torch.from_numpy(mask),
            "image_id": int(rec.id),
            "num_people": int(len(chosen)),
            "affine": torch.from_numpy(np.ascontiguousarray(affine, dtype=np.float64)),
        }
        if self.encoder is None:
            return sample
        # float64 map keypoints of every member (also those beyond max_people: maps of all parts)
        # and which of them are the sample's people, for the encoder only
        sample["keypoints_all"], sample["chosen"] = kps, chosen
        sample = self.encoder(sample)
        sample.pop("keypoints_all", None)
        sample.pop("chosen", None)
        return sample

    def crop_pixels(self, index: int) -> Image.Image:
        """The crop itself (its record's width x height), from the crop file or cut from the
        source as `cococrowd build` would: what a method that reads whole crops sees."""
        return self._load_pixels(self.crowd.images[index], from_source=False)[0]

    def _load_pixels(self, rec: CrowdImage, from_source: bool | None = None) -> tuple[Image.Image, np.ndarray]:
        """The picture to warp and the matrix from its coordinates to crop coordinates;
        ``from_source`` (default: training with source images) reads the whole source image."""
        if from_source is None:
            from_source = self.train and self.use_source_images
        if rec.source_path is not None and (rec.crop_path is None or from_source):
            try:
                img = Image.open(rec.source_path)
                img.load()
            except FileNotFoundError:
                if rec.crop_path is None:
                    raise MissingImageError(
                        f"{rec.source_path}: source image not found for image id {rec.id} ({self.crowd.source}: "
                        f"images[{rec.position}].source_file_name; the file has no crops: crowd_info.image_dir "
                        "is null)") from None
                if not self._warned_missing_source:
                    warnings.warn(f"{self.crowd.source}: source image {rec.source_path} (image id {rec.id}) not "
                                  "found; using the crops with black padding where sources are missing", stacklevel=3)
                    self._warned_missing_source = True
            else:
                if not from_source:  # no crop file: cut it as build would
                    return self._cut_crop(img, rec), np.eye(3)
                return img, augment.translation(-rec.crop_box[0], -rec.crop_box[1])
        try:
            img = Image.open(rec.crop_path)
            img.load()
        except FileNotFoundError:
            raise MissingImageError(f"{rec.crop_path}: crop image not found for image id {rec.id} "
                                    f"({self.crowd.source}: images[{rec.position}].file_name)") from None
        if img.size != (rec.width, rec.height):
            # e.g. a crop left from an earlier build with another --margin
            raise CropSizeError(f"{rec.crop_path}: crop is {img.size[0]}x{img.size[1]} but image id {rec.id} "
                                f"is {rec.width}x{rec.height} in {self.crowd.source} (images[{rec.position}]); "
                                "stale crops? rebuild them with `cococrowd build`")
        return img, np.eye(3)

    @staticmethod
    def _cut_crop(source: Image.Image, rec: CrowdImage) -> Image.Image:
        """The crop as `cococrowd build` cuts it (black beyond the source's edges)."""
        x, y, w, h = (int(round(v)) for v in rec.crop_box)
        if source.mode not in ("RGB", "L"):
            source = source.convert("RGB")
        return source.crop((x, y, x + w, y + h))

    def check_files(self) -> None:
        """Raise :class:`MissingImageError` for the first image whose pixels are not on disk
        (the source image where it is read, else the crop), before any work starts."""
        for rec in self.crowd.images:
            use_source = rec.source_path is not None and (rec.crop_path is None
                                                          or (self.train and self.use_source_images))
            if use_source and rec.source_path.is_file():
                continue
            if rec.crop_path is None:
                raise MissingImageError(
                    f"{rec.source_path}: source image not found for image id {rec.id} ({self.crowd.source}: "
                    f"images[{rec.position}].source_file_name; the file has no crops: crowd_info.image_dir is null)")
            if not rec.crop_path.is_file():
                where = (f"and neither is its source image {rec.source_path} " if use_source else "")
                raise MissingImageError(f"{rec.crop_path}: crop image not found for image id {rec.id} {where}"
                                        f"({self.crowd.source}: images[{rec.position}].file_name)")
