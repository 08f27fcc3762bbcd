"""Per-keypoint OKS sigmas, matched to a file's keypoint names.

COCO-17 values come from pycocotools itself (``Params('keypoints').kpt_oks_sigmas``)
so OKS is bit-identical to pycocotools. CrowdPose's two extra parts (``head``,
``neck``) use crowdposetools' value (0.79 / 10); its other 12 parts share COCO's
values, so one name table serves both schemas. Any other schema needs
user-supplied sigmas (``--sigmas``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from cococrowd.cocofile import CocoFormatError

COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
CROWDPOSE14_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck",
)


def _coco_sigmas() -> np.ndarray:
    from pycocotools.cocoeval import Params

    return np.asarray(Params(iouType="keypoints").kpt_oks_sigmas, dtype=np.float64)


def sigma_table() -> dict[str, float]:
    """keypoint name -> sigma, for every name this module knows."""
    table = dict(zip(COCO17_NAMES, _coco_sigmas().tolist()))
    # crowdposetools: np.array([..., .79, .79]) / 10.0 for head, neck
    head_neck = (np.array([0.79, 0.79]) / 10.0).tolist()
    table.update({"head": head_neck[0], "neck": head_neck[1]})
    return table


def _looks_like_numbers(spec: str) -> bool:
    """A comma or a lone number means a list; never stat it (a long list is no valid file name)."""
    if "," in spec:
        return True
    try:
        float(spec)
    except ValueError:
        return False
    return True


def _read_sigma_file(spec: str, names: list[str]) -> tuple[list, list[str]]:
    path = Path(spec)
    try:
        mapping = json.loads(path.read_text())
    except FileNotFoundError:
        raise CocoFormatError(spec, "", f"sigmas file not found (--sigmas takes {len(names)} comma-separated "
                                        "numbers or a JSON file keypoint name -> sigma)") from None
    except OSError as err:
        raise CocoFormatError(spec, "", f"cannot read sigmas file: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise CocoFormatError(spec, "", "sigmas file is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise CocoFormatError(spec, "", f"malformed JSON: {err.msg}") from None
    if not isinstance(mapping, dict):
        raise CocoFormatError(spec, "", "must be a JSON object mapping keypoint name -> sigma")
    missing = [n for n in names if n not in mapping]
    if missing:
        raise CocoFormatError(spec, "", f"no sigma for keypoint(s) {', '.join(missing)}")
    return [mapping[n] for n in names], [f"{spec}: {n}" for n in names]


def parse_user_sigmas(spec: str, names: list[str]) -> np.ndarray:
    """``spec`` is either K comma-separated numbers (the file's keypoint order)
    or a JSON file mapping each keypoint name to its sigma."""
    k = len(names)
    spec = spec.strip()
    if spec.lower().endswith(".json") or not _looks_like_numbers(spec):
        values, where = _read_sigma_file(spec, names)
    else:
        parts = [p.strip() for p in spec.split(",")]
        values = []
        for i, p in enumerate(parts):
            try:
                values.append(float(p))
            except ValueError:
                raise ValueError(f"--sigmas value {i + 1}: {p!r} is not a number "
                                 f"(expected {k} comma-separated numbers or a JSON file)") from None
        if len(values) != k:
            raise ValueError(f"--sigmas: got {len(values)} values, the person category has {k} keypoints")
        where = [f"--sigmas value {i + 1}" for i in range(k)]
    for w, v in zip(where, values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{w}: sigma must be a positive number, got {v!r}")
    return np.asarray(values, dtype=np.float64)


def resolve_sigmas(names: list[str], user: str | None = None, source: str = "") -> tuple[np.ndarray, str]:
    """Sigmas for keypoints ``names`` (in file order) and a word saying where they came from."""
    if user is not None:
        return parse_user_sigmas(user, names), "user"
    if tuple(names) == COCO17_NAMES:
        return _coco_sigmas(), "coco17"
    table = sigma_table()
    unknown = [n for n in names if n not in table]
    if unknown:
        raise CocoFormatError(source, "categories.keypoints",
                              f"no known OKS sigma for keypoint(s) {', '.join(map(repr, unknown))}; "
                              "pass --sigmas with one value per keypoint")
    kind = "crowdpose14" if tuple(names) == CROWDPOSE14_NAMES else "by-name"
    return np.asarray([table[n] for n in names], dtype=np.float64), kind
