"""From the model's heatmaps to COCO keypoint results.

* Keypoint location: the arg-max of each person's K maps, moved a quarter pixel toward the
  higher of its two neighbours along x and along y (the usual sub-pixel refinement of
  heatmap pose estimators), in output-map coordinates; then mapped to crop pixels by the
  dataset's ``affine`` (2x3, output map -> crop pixels).
* Flip test: the flipped image's maps are flipped back and their left/right channels swapped
  (pairs found from the keypoint names, ``left_*`` <-> ``right_*``). Part maps are averaged.
  People of the two passes are matched by the Hungarian algorithm on the mean squared
  difference of their heatmaps; a matched pair is averaged; a person of the original pass
  without a partner is kept as it is and an unmatched person of the flipped pass is dropped,
  so the count is the original pass's count.
* Score of a person: the mean of its K keypoint peak values; each keypoint's ``v`` in the
  results is its own peak value (COCO evaluation ignores ``v`` of detections).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def flip_permutation(keypoint_names: list[str]) -> list[int]:
    """Channel order of a horizontally flipped image: ``left_x`` and ``right_x`` swap."""
    index = {name: i for i, name in enumerate(keypoint_names)}
    perm = []
    for name in keypoint_names:
        if name.startswith("left_"):
            partner = "right_" + name[len("left_"):]
        elif name.startswith("right_"):
            partner = "left_" + name[len("right_"):]
        else:
            partner = name
        perm.append(index.get(partner, index[name]))
    return perm


def unflip(maps: torch.Tensor, perm: list[int]) -> torch.Tensor:
    """Bring maps (..., K, H, W) predicted on a flipped image back to the original frame."""
    return maps.flip(-1)[..., perm, :, :]


def refine_peaks(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Arg-max of each map (..., H, W) with a quarter-pixel step toward the higher neighbour.

    Returns (xy (..., 2) in map coordinates, peak values (...))."""
    lead, (h, w) = maps.shape[:-2], maps.shape[-2:]
    flat = maps.reshape(-1, h, w)
    peak, idx = flat.flatten(1).max(dim=1)
    y, x = idx // w, idx % w
    rows = torch.arange(flat.shape[0], device=maps.device)

    def value(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        got = flat[rows, yy.clamp(0, h - 1), xx.clamp(0, w - 1)]
        return torch.where(inside, got, torch.full_like(got, -torch.inf))

    dx = torch.sign(value(y, x + 1) - value(y, x - 1)).nan_to_num(0.0)
    dy = torch.sign(value(y + 1, x) - value(y - 1, x)).nan_to_num(0.0)
    xy = torch.stack([x.float() + 0.25 * dx, y.float() + 0.25 * dy], dim=-1)
    return xy.reshape(*lead, 2), peak.reshape(lead)


def match_people(a: torch.Tensor, b: torch.Tensor) -> list[tuple[int, int]]:
    """Hungarian matching of people (n, K, H, W) and (m, K, H, W) on mean squared difference."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return []
    cost = torch.cdist(a.flatten(1).float(), b.flatten(1).float()).pow(2) / a[0].numel()
    rows, cols = linear_sum_assignment(cost.cpu().numpy().astype(np.float64))
    return list(zip(rows.tolist(), cols.tolist()))


def merge_flip(people: torch.Tensor, flipped_back: torch.Tensor) -> torch.Tensor:
    """Average each original person with its matched flipped-pass person (see module doc)."""
    merged = people.clone()
    for i, j in match_people(people, flipped_back):
        merged[i] = 0.5 * (people[i] + flipped_back[j])
    return merged


def to_crop_coordinates(xy: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine (output map -> crop pixels) to points (..., 2)."""
    return xy @ affine[:, :2].T + affine[:, 2]


def people_to_results(people: torch.Tensor, affine: np.ndarray, image_id: int,
                      category_id: int) -> list[dict]:
    """COCO results for one image's people maps (n, K, H, W)."""
    if people.shape[0] == 0:
        return []
    xy, peak = refine_peaks(people.float())
    xy = to_crop_coordinates(xy.cpu().numpy().astype(np.float64), np.asarray(affine, dtype=np.float64))
    peak = peak.cpu().numpy().astype(np.float64)
    results = []
    for person_xy, person_peak in zip(xy, peak):
        keypoints = np.column_stack([person_xy, person_peak]).round(3).ravel().tolist()
        results.append({"image_id": int(image_id), "category_id": int(category_id),
                        "keypoints": keypoints, "score": round(float(person_peak.mean()), 6)})
    return results
