"""Crowd-pose scoring of any COCO keypoint results file (``bench score``)."""
