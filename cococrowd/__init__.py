"""cococrowd: curate COCO-crowd (crowded-scene crops of COCO person keypoints).

This package never imports torch: curation runs on a machine without it.
"""
__version__ = "0.1.0"

# info.contributor of `cococrowd synth` files: stats leaves the paper's COCO figures out for them
SYNTH_CONTRIBUTOR = "cococrowd synth"
