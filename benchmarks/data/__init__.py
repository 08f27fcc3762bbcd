"""The data pipeline every learned method trains on: COCO-crowd file -> augmented
crops, their geometry (keypoints in map coordinates, loss mask, affine) and,
through the codec the dataset is given, the method's targets (none by default;
targets.py holds the sequential model's disks); see dataset.py."""
from .augment import AugParams
from .collate import collate_people
from .crowdfile import load_crowd_file
from .dataset import CropSizeError, CocoCrowdDataset, MissingImageError

__all__ = ["AugParams", "CropSizeError", "CocoCrowdDataset", "MissingImageError", "collate_people", "load_crowd_file"]
