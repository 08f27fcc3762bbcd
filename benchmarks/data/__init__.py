"""The data pipeline every learned method trains on: COCO-crowd file -> augmented
crops, their geometry (keypoints in map coordinates, loss mask, affine) and,
through the method's codec, its targets (the disk targets of dataset.py are the
default encoder); see dataset.py."""
from .augment import AugParams
from .collate import collate_people
from .crowdfile import load_crowd_file
from .dataset import CropSizeError, CrowdPoseDataset, MissingImageError

__all__ = ["AugParams", "CropSizeError", "CrowdPoseDataset", "MissingImageError", "collate_people", "load_crowd_file"]
