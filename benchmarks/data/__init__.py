"""Data pipeline of the sequential pose model: COCO-crowd file -> augmented
images, part / person heatmap targets and loss masks (see dataset.py)."""
from .augment import AugParams
from .collate import collate_people
from .crowdfile import load_crowd_file
from .dataset import CropSizeError, CrowdPoseDataset, MissingImageError

__all__ = ["AugParams", "CropSizeError", "CrowdPoseDataset", "MissingImageError", "collate_people", "load_crowd_file"]
