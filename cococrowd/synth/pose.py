"""Articulated stick-person poses, vectorised over people.

Bodies are built at unit standing height in image orientation (y down) with
the hip centre at the origin. Limb angles are measured from straight down;
"outward" angles are mirrored per side so one parameter table serves both
arms and both legs, and the body's facing decides which side is which."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .skeleton import K

# segment lengths as fractions of standing height
TORSO, NECK = 0.30, 0.115
UPPER_ARM, FOREARM, THIGH, SHIN = 0.17, 0.15, 0.235, 0.235
SHOULDER_HALF, HIP_HALF = 0.12, 0.085
HEAD_A, HEAD_B = 0.055, 0.07  # head ellipse semi-axes
STROKE_R = 0.02  # half the limb stroke width

# pose kinds: standing, both arms raised, one arm raised, walking, sitting
POSE_P = np.array([0.45, 0.08, 0.12, 0.20, 0.15])
# per pose: (lo, hi) of [arm_L, elbow_L, arm_R, elbow_R, leg_L, knee_L, leg_R, knee_R, lean]
_DOWN, _ELB = (0.08, 0.5), (-1.0, 0.5)
_UP, _UPELB = (1.9, 2.9), (-0.6, 0.6)
_LEG, _KNEE, _LEAN = (0.02, 0.22), (-0.15, 0.15), (-0.08, 0.08)
POSE_RANGES = np.array([
    [_DOWN, _ELB, _DOWN, _ELB, _LEG, _KNEE, _LEG, _KNEE, _LEAN],
    [_UP, _UPELB, _UP, _UPELB, _LEG, _KNEE, _LEG, _KNEE, _LEAN],
    [_UP, _UPELB, _DOWN, _ELB, _LEG, _KNEE, _LEG, _KNEE, _LEAN],
    # profile gait: left leg forward, right leg back with bent knee, arms swing opposite
    [(-0.5, -0.1), (-0.3, 0.3), (-0.5, -0.1), (-0.3, 0.3),
     (0.2, 0.5), (-0.3, 0.0), (0.2, 0.5), (0.1, 0.6), (0.0, 0.12)],
    # profile sitting: both thighs forward (the right one mirrored), shins down
    [(-0.2, 0.6), (-1.2, 0.3), (-0.2, 0.6), (-1.2, 0.3),
     (1.2, 1.6), (-1.6, -1.1), (-1.6, -1.2), (1.1, 1.6), (-0.2, 0.05)],
])
PROFILE = np.array([False, False, False, True, True])

NOSE, L_EYE, R_EYE, L_EAR, R_EAR = range(5)
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI, L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK = range(5, 17)


@dataclass
class Poses:
    """People at unit height: keypoints (n, 17, 2), head ellipse centre (n, 2)
    and semi-axes (n, 2), and which face points the view hides (n, 17)."""

    kp: np.ndarray
    head: np.ndarray
    head_axes: np.ndarray
    hidden: np.ndarray
    kind: np.ndarray


def _dir(phi: np.ndarray) -> np.ndarray:
    """Unit vector at angle phi from straight down (positive turns toward +x)."""
    return np.stack([np.sin(phi), np.cos(phi)], axis=-1)


def sample_poses(rng: np.random.Generator, n: int) -> Poses:
    kind = rng.choice(len(POSE_P), size=n, p=POSE_P)
    lo, hi = POSE_RANGES[kind, :, 0], POSE_RANGES[kind, :, 1]
    a = lo + rng.random((n, lo.shape[1])) * (hi - lo)
    # one raised arm: pick the side at random
    swap = (kind == 2) & (rng.random(n) < 0.5)
    a[swap, 0:4] = a[swap][:, [2, 3, 0, 1]]
    arm_l, elb_l, arm_r, elb_r, leg_l, kne_l, leg_r, kne_r, lean = a.T

    profile = PROFILE[kind]
    # side = +1: the person's left is on the image's right (facing the viewer)
    back = ~profile & (rng.random(n) < 0.2)
    side = np.where(profile, rng.choice([-1.0, 1.0], size=n), np.where(back, -1.0, 1.0))
    width = np.where(profile, rng.uniform(0.3, 0.5, n), rng.uniform(0.85, 1.05, n))
    limb = rng.normal(1.0, 0.04, n).clip(0.9, 1.1)  # per-person proportions
    head_scale = rng.normal(1.0, 0.06, n).clip(0.85, 1.15)
    lean = lean * side

    kp = np.zeros((n, K, 2))
    up = np.stack([np.sin(lean), -np.cos(lean)], axis=-1)
    across = np.stack([np.cos(lean), np.sin(lean)], axis=-1)
    sho_c = TORSO * up
    s = side[:, None]
    kp[:, L_SHO] = sho_c + s * (SHOULDER_HALF * width)[:, None] * across
    kp[:, R_SHO] = sho_c - s * (SHOULDER_HALF * width)[:, None] * across
    kp[:, L_HIP, 0] = side * HIP_HALF * width
    kp[:, R_HIP, 0] = -side * HIP_HALF * width
    for sgn, (sho, elb, wri), (hip, kne, ank), (arm, bend), (leg, knee) in (
        (side, (L_SHO, L_ELB, L_WRI), (L_HIP, L_KNE, L_ANK), (arm_l, elb_l), (leg_l, kne_l)),
        (-side, (R_SHO, R_ELB, R_WRI), (R_HIP, R_KNE, R_ANK), (arm_r, elb_r), (leg_r, kne_r)),
    ):
        kp[:, elb] = kp[:, sho] + (UPPER_ARM * limb)[:, None] * _dir(sgn * arm)
        kp[:, wri] = kp[:, elb] + (FOREARM * limb)[:, None] * _dir(sgn * (arm + bend))
        kp[:, kne] = kp[:, hip] + (THIGH * limb)[:, None] * _dir(sgn * leg)
        kp[:, ank] = kp[:, kne] + (SHIN * limb)[:, None] * _dir(sgn * (leg + knee))

    head = sho_c + (NECK * head_scale)[:, None] * up
    axes = np.stack([HEAD_A * head_scale, HEAD_B * head_scale], axis=-1)
    ha, hb = axes[:, 0], axes[:, 1]
    # yaw in [-1, 1]: where the nose points; profiles face the way their left leg steps
    yaw = np.where(profile, 0.85 * side, np.where(back, 0.0, rng.uniform(-0.35, 0.35, n)))
    cos_y = np.sqrt(1.0 - yaw ** 2)
    kp[:, NOSE, 0] = head[:, 0] + 0.9 * yaw * ha
    kp[:, NOSE, 1] = head[:, 1] + 0.15 * hb
    for sgn, eye, ear in ((side, L_EYE, L_EAR), (-side, R_EYE, R_EAR)):
        kp[:, eye, 0] = head[:, 0] + ha * (0.35 * sgn * cos_y + 0.6 * yaw)
        kp[:, eye, 1] = head[:, 1] - 0.15 * hb
        kp[:, ear, 0] = head[:, 0] + ha * (0.7 * sgn * cos_y - 0.3 * yaw)
        kp[:, ear, 1] = head[:, 1]

    hidden = np.zeros((n, K), dtype=bool)
    hidden[back, NOSE] = hidden[back, L_EYE] = hidden[back, R_EYE] = True
    # in profile the far eye and ear are hidden: the left ones when facing +x
    far_left = profile & (side > 0)
    far_right = profile & (side < 0)
    hidden[far_left, L_EYE] = hidden[far_left, L_EAR] = True
    hidden[far_right, R_EYE] = hidden[far_right, R_EAR] = True
    return Poses(kp=kp, head=head, head_axes=axes, hidden=hidden, kind=kind)
