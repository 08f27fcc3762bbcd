"""Published numbers of the paper (``../shared/paper.txt``), copied exactly.

Reports show them as separate rows labelled "(paper)"; they are never mixed
into computed scores.
"""
from __future__ import annotations

STATS = ("AP", "AP.5", "AP.75", "AP(M)", "AP(L)", "AR", "AR.5", "AR.75", "AR(M)", "AR(L)")

# Table 1: Results (AP) on COCO-crowd
TABLE1 = {
    "Mask-RCNN": (0.364, 0.598, 0.362, 0.371, 0.398, 0.497, 0.706, 0.519, 0.505, 0.528),
    "CMU-pose": (0.365, 0.599, 0.369, 0.367, 0.378, 0.418, 0.628, 0.429, 0.422, 0.438),
    "AE": (0.438, 0.664, 0.456, 0.440, 0.451, 0.532, 0.740, 0.560, 0.538, 0.554),
    "AE*": (0.396, 0.663, 0.402, 0.409, 0.420, 0.486, 0.728, 0.507, 0.493, 0.515),
    "Ours": (0.433, 0.709, 0.447, 0.440, 0.454, 0.520, 0.761, 0.549, 0.526, 0.545),
}

# Table 2: AP score by number of people (2, 3, 4, 5, >=6)
TABLE2_BUCKETS = ("2", "3", "4", "5", ">=6")
TABLE2 = {
    "AE": (0.503, 0.435, 0.367, 0.405, 0.419),
    "Ours": (0.512, 0.439, 0.393, 0.386, 0.364),
}

# Table 3: AP score by jittering bounding box (+-0, 5, 10, 15 px); the paper's method
TABLE3 = {"Ours": {0: 0.433, 5: 0.426, 10: 0.412, 15: 0.392}}

# Table 4: PCK on the Immediacy dataset (not COCO-crowd; different parts), "-" = not reported
TABLE4_PARTS = ("head", "shoulder", "elbow", "wrist", "hand", "torso", "mean")
TABLE4 = {
    "Yang et al.": (69.5, 63.0, 42.6, 31.8, 29.0, 43.9, 47.0),
    "Ouyang et al.": (67.7, 61.3, 46.4, 35.4, 32.5, 48.9, 49.0),
    "Chu et al.": (82.5, 74.6, 50.1, 38.8, 37.1, 55.4, 56.4),
    "Mask-RCNN": (None, 81.0, 64.3, 55.3, None, None, None),
    "Ours (crowd)": (None, 86.8, 65.5, 63.7, None, None, None),
    "Ours": (95.6, 88.8, 72.4, 74.0, 73.3, 75.1, 79.9),
}
