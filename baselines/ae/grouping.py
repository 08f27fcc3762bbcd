"""Associative Embedding decoding: group joint detections into people by their tags.

Follows pose-ae-train's ``utils/group.py`` (``HeatmapParser``: NMS, top-k, ``match_by_tag``,
``adjust``) and ``test.py`` (``refine``, person score, flip test), in our map coordinates
(pixel (row i, col j) is (x, y) = (j, i); theirs add 0.5, we do not).

Choices, all theirs unless said:

* NMS keeps a pixel equal to the max of its ``nms_kernel`` window (their ``MaxPool2d(3, 1, 1)``:
  the default is 3, not 5); plateaus keep every pixel of the plateau.
* Candidates: the top ``max_people`` NMS values per joint, kept when ``> detection_threshold``.
* Joints are visited in ``joint_order`` (theirs for COCO-17: face, shoulders, hips, elbows,
  wrists, knees, ankles). The first joint with candidates starts one person per candidate.
  Later candidates are matched against the first ``max_people`` people by the distance of their
  tag to the person's mean tag, ``sqrt(mean over the L tag dims of squared difference)`` (an
  RMS, as theirs, i.e. L2 / sqrt(L)). The assignment (scipy ``linear_sum_assignment``, theirs
  Munkres) minimises ``round(distance) * 100 - detection value`` when ``use_detection_val``
  (tags decide to the integer, detection breaks ties), else the distance; surplus candidates
  face columns of cost 1e10. A matched pair joins only when distance ``< tag_threshold``;
  every other candidate starts a new person. With ``ignore_too_much``, a joint type is skipped
  entirely once ``max_people`` people exist. People are kept in a list: theirs keys them by
  the first tag value, so two new people with equal tags collapse there; not here.
* Person score: mean detection value over all K joints (0 for missing ones), taken before
  refinement, as their ``test.py``.
* ``adjust``: every found joint moves 0.25 px along x and along y toward its higher neighbour in
  the (un-NMSed) detection map; a tie (or the map edge, which compares a pixel with itself)
  moves it by -0.25.
* ``refine``: for each person, mean tag over its found joints (each read at its integer pixel);
  each missing joint goes to ``argmax(det - round(||tag - mean||))`` (plain L2 here, as theirs),
  adjusted as above, when its detection value there is > 0. Theirs writes 1 as that joint's
  value; we write the detection value (its only use downstream is "present").
* Nothing is clipped; their test.py clips the averaged detection maps at 1 before grouping,
  which callers may do.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F

# pose-ae-train's Params.partOrder (1-based there) for the COCO-17 keypoints
COCO17_JOINT_ORDER = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)


@dataclass
class GroupingParams:
    max_people: int = 30
    detection_threshold: float = 0.2
    tag_threshold: float = 1.0
    use_detection_val: bool = True
    ignore_too_much: bool = False
    refine: bool = True
    nms_kernel: int = 3
    joint_order: tuple[int, ...] | None = None

    def order(self, num_keypoints: int) -> list[int]:
        if self.joint_order is not None:
            order = [int(k) for k in self.joint_order]
            if sorted(order) != list(range(num_keypoints)):
                raise ValueError(f"joint_order must be a permutation of range({num_keypoints}), got {order}")
            return order
        return list(COCO17_JOINT_ORDER) if num_keypoints == 17 else list(range(num_keypoints))


def split_outputs(pred: torch.Tensor, num_keypoints: int, tag_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One stack's prediction (C, H, W) -> detection (K, H, W) and tags (K, H, W, tag_dim)."""
    channels, height, width = pred.shape
    if channels != num_keypoints * (1 + tag_dim):
        raise ValueError(f"prediction has {channels} channels, expected {num_keypoints * (1 + tag_dim)}")
    det = pred[:num_keypoints]
    tags = pred[num_keypoints:].reshape(num_keypoints, tag_dim, height, width).permute(0, 2, 3, 1)
    return det, tags


def merge_flip(det: torch.Tensor, tags: torch.Tensor, det_flipped: torch.Tensor, tags_flipped: torch.Tensor,
               flip_permutation: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip test: average detections, concatenate tags (K, H, W, 2L): [plain, flipped-back].

    The flipped pass is mirrored back along W and its channels permuted: channel k of the result
    is channel ``flip_permutation[k]`` of the flipped pass (their ``[..., ::-1][flipRef]``).
    """
    perm = torch.as_tensor(list(flip_permutation), dtype=torch.long, device=det.device)
    if sorted(perm.tolist()) != list(range(det.shape[0])):
        raise ValueError(f"flip_permutation must be a permutation of range({det.shape[0]})")
    det_back = det_flipped.flip(-1)[perm]
    tags_back = tags_flipped.flip(2)[perm]
    return (det + det_back) / 2, torch.cat([tags, tags_back], dim=-1)


def _candidates(det: torch.Tensor, tags: torch.Tensor, params: GroupingParams):
    """Top-k NMS peaks per joint: (x, y) int (K, n, 2), values (K, n), tags (K, n, L)."""
    num_kp, height, width = det.shape
    kernel = params.nms_kernel
    pooled = F.max_pool2d(det[None], kernel, 1, kernel // 2)[0]
    peaks = (det * (pooled == det)).reshape(num_kp, -1)
    val, ind = peaks.topk(min(params.max_people, height * width), dim=1)
    tag = torch.gather(tags.reshape(num_kp, height * width, -1), 1,
                       ind[..., None].expand(-1, -1, tags.shape[-1]))
    loc = torch.stack((ind % width, ind // width), dim=-1)
    return loc.numpy(), val.double().numpy(), tag.double().numpy()


def _match(loc, val, tag, params: GroupingParams, order: list[int]):
    """Greedy joint-by-joint assignment; returns people as (locs (K,2) int, vals (K,), tags list)."""
    num_kp = loc.shape[0]
    people: list[dict] = []

    def new_person(k, i):
        person = {"loc": np.zeros((num_kp, 2), np.int64), "val": np.zeros(num_kp),
                  "found": np.zeros(num_kp, bool), "tags": []}
        people.append(person)
        add(person, k, i)

    def add(person, k, i):
        person["loc"][k], person["val"][k], person["found"][k] = loc[k, i], val[k, i], True
        person["tags"].append(tag[k, i])

    for k in order:
        keep = np.nonzero(val[k] > params.detection_threshold)[0]
        if not people:
            for i in keep:
                new_person(k, i)
            continue
        if params.ignore_too_much and len(people) >= params.max_people:
            continue
        if len(keep) == 0:
            continue
        targets = people[:params.max_people]
        means = np.stack([np.mean(p["tags"], axis=0) for p in targets])
        dist = np.sqrt(((tag[k, keep][:, None] - means[None]) ** 2).mean(-1))   # (n, people)
        cost = np.round(dist) * 100 - val[k, keep][:, None] if params.use_detection_val else dist.copy()
        if cost.shape[0] > cost.shape[1]:
            cost = np.concatenate([cost, np.full((cost.shape[0], cost.shape[0] - cost.shape[1]), 1e10)], 1)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            if c < len(targets) and dist[r, c] < params.tag_threshold:
                add(targets[c], k, keep[r])
            else:
                new_person(k, keep[r])
    return people


def _adjusted(det: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """Quarter-pixel step toward the higher neighbour along each axis (ties: -0.25)."""
    height, width = det.shape
    ax = x + (0.25 if det[y, min(x + 1, width - 1)] > det[y, max(x - 1, 0)] else -0.25)
    ay = y + (0.25 if det[min(y + 1, height - 1), x] > det[max(y - 1, 0), x] else -0.25)
    return ax, ay


def group(det: torch.Tensor, tags: torch.Tensor, params: GroupingParams | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """People from detection maps (K, H, W) and tag maps (K, H, W, L).

    Returns keypoints (N, K, 3) float32 map coordinates (x, y, detection value; all 0 for a
    joint neither found nor refined) and scores (N,) float32.
    """
    params = params or GroupingParams()
    det = torch.as_tensor(det).detach().float().cpu()
    tags = torch.as_tensor(tags).detach().float().cpu()
    if tags.dim() == 3:
        tags = tags[..., None]
    if det.dim() != 3 or tags.shape[:3] != det.shape:
        raise ValueError(f"det must be (K, H, W) and tags (K, H, W, L), got {tuple(det.shape)}, {tuple(tags.shape)}")
    num_kp = det.shape[0]
    order = params.order(num_kp)
    people = _match(*_candidates(det, tags, params), params, order)
    det_np, tags_np = det.numpy().astype(np.float64), tags.numpy().astype(np.float64)
    keypoints = np.zeros((len(people), num_kp, 3), np.float32)
    scores = np.zeros(len(people), np.float32)
    for n, person in enumerate(people):
        found = person["found"]
        scores[n] = person["val"].mean()
        for k in np.nonzero(found)[0]:
            x, y = person["loc"][k]
            keypoints[n, k] = (*_adjusted(det_np[k], x, y), person["val"][k])
        if params.refine:
            _refine(det_np, tags_np, person, found, keypoints[n])
    return keypoints, scores


def _refine(det: np.ndarray, tags: np.ndarray, person: dict, found: np.ndarray, out: np.ndarray) -> None:
    """Fill each missing joint at argmax(det - round(L2 tag distance to the person's mean))."""
    ks = np.nonzero(found)[0]
    if len(ks) == 0:
        return
    loc = person["loc"]
    mean = np.mean([tags[k, loc[k, 1], loc[k, 0]] for k in ks], axis=0)
    for k in np.nonzero(~found)[0]:
        dist = np.sqrt(((tags[k] - mean) ** 2).sum(-1))
        y, x = np.unravel_index(np.argmax(det[k] - np.round(dist)), det[k].shape)
        value = det[k, y, x]
        if value > 0:
            out[k] = (*_adjusted(det[k], int(x), int(y)), value)
