"""COCO-17 person category: keypoint names, skeleton and the strokes drawn."""
from __future__ import annotations

KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
# 1-based, exactly as in COCO's person_keypoints files
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
            [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
PERSON_CATEGORY = {"supercategory": "person", "id": 1, "name": "person",
                   "keypoints": KEYPOINTS, "skeleton": SKELETON}

K = len(KEYPOINTS)
BODY = list(range(5, 17))  # shoulders..ankles: the joints strokes are drawn between
# strokes drawn as thick lines: the skeleton's body edges (0-based); the face is the head ellipse
LIMBS = [(a - 1, b - 1) for a, b in SKELETON if a > 5 and b > 5]
