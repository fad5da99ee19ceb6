"""Joint sets and conversions, checked on hand-made points."""

from __future__ import annotations

import numpy as np
import pytest

from lifting.joints import (
    COCO,
    H36M,
    H36M_FLIP_PERMUTATION,
    H36M_PARENTS,
    BlazePose,
    blazepose_to_coco,
    blazepose_to_h36m,
    coco_scores_to_h36m,
    coco_to_h36m,
    flip_h36m,
)


def hand_made_coco() -> np.ndarray:
    """A standing person, 17 COCO points in pixels, with round numbers."""
    p = np.zeros((17, 2))
    p[COCO.NOSE] = (100, 40)
    p[COCO.L_EYE] = (106, 34)
    p[COCO.R_EYE] = (94, 34)
    p[COCO.L_EAR] = (112, 38)
    p[COCO.R_EAR] = (88, 38)
    p[COCO.L_SHOULDER] = (130, 80)
    p[COCO.R_SHOULDER] = (70, 80)
    p[COCO.L_ELBOW] = (140, 130)
    p[COCO.R_ELBOW] = (60, 130)
    p[COCO.L_WRIST] = (145, 180)
    p[COCO.R_WRIST] = (55, 180)
    p[COCO.L_HIP] = (120, 200)
    p[COCO.R_HIP] = (80, 200)
    p[COCO.L_KNEE] = (122, 280)
    p[COCO.R_KNEE] = (78, 280)
    p[COCO.L_ANKLE] = (124, 360)
    p[COCO.R_ANKLE] = (76, 360)
    return p


def test_coco_to_h36m_matches_the_demo_formulas_by_hand() -> None:
    h = coco_to_h36m(hand_made_coco())
    # Worked by hand from spec section 8.1 for the points above:
    # shoulder centre S = (100, 80); first thorax = S + (nose - S)/3 = (100, 66.667)
    assert h[H36M.PELVIS] == pytest.approx((100, 200))
    assert h[H36M.HEAD] == pytest.approx(((106 + 94 + 112 + 88) / 4, 34 + 34 - 40))  # (100, 28)
    # spine: mean of shoulders and hips = (100, 140); x += 2 * (x - mean(pelvis.x, thorax.x)) = +0
    assert h[H36M.SPINE] == pytest.approx((100, 140))
    # neck: nose - (nose - S)/4 = (100, 40 + 10) = (100, 50)
    assert h[H36M.NECK_NOSE] == pytest.approx((100, 50))
    # thorax y: 66.667 - (mean(eye y) - nose y) * 2/3 = 66.667 - (34 - 40) * 2/3 = 70.667
    assert h[H36M.THORAX] == pytest.approx((100, 80 - 40 / 3 + 4))
    assert h[H36M.L_SHOULDER] == pytest.approx((130, 80))
    assert h[H36M.R_WRIST] == pytest.approx((55, 180))
    assert h[H36M.L_ANKLE] == pytest.approx((124, 360))
    assert h[H36M.R_KNEE] == pytest.approx((78, 280))


def test_spine_x_adjustment_uses_factor_two() -> None:
    c = hand_made_coco()
    c[COCO.L_SHOULDER, 0] += 12  # shift the shoulder centre by +6 in x; nose stays
    h = coco_to_h36m(c)
    thorax_x = 106 + (100 - 106) / 3  # S.x + (nose.x - S.x)/3 = 104
    spine_x = (142 + 70 + 120 + 80) / 4  # 103
    expected = spine_x + 2 * (spine_x - (100 + thorax_x) / 2)  # 103 + 2 * (103 - 102) = 105
    assert h[H36M.SPINE, 0] == pytest.approx(expected)
    assert expected == pytest.approx(105)


def test_coco_to_h36m_works_on_batches() -> None:
    one = hand_made_coco()
    clip = np.stack([one, one + 5, one * 2])
    out = coco_to_h36m(clip)
    assert out.shape == (3, 17, 2)
    np.testing.assert_allclose(out[1], coco_to_h36m(one + 5))
    with pytest.raises(ValueError, match="17"):
        coco_to_h36m(np.zeros((16, 2)))


def test_coco_scores_to_h36m() -> None:
    s = np.arange(17, dtype=float) / 16
    h = coco_scores_to_h36m(s)
    assert h[H36M.PELVIS] == pytest.approx((s[11] + s[12]) / 2)
    assert h[H36M.THORAX] == pytest.approx((s[5] + s[6]) / 2)
    assert h[H36M.SPINE] == pytest.approx((h[0] + h[8]) / 2)
    assert h[H36M.HEAD] == pytest.approx(s[1:5].mean())
    assert h[H36M.NECK_NOSE] == s[COCO.NOSE]
    assert h[H36M.R_ANKLE] == s[COCO.R_ANKLE]


def test_blazepose_subsets_and_h36m_mapping() -> None:
    rng = np.random.default_rng(1)
    b = rng.normal(size=(33, 3))
    coco = blazepose_to_coco(b)
    np.testing.assert_array_equal(coco[COCO.L_EAR], b[BlazePose.L_EAR])
    np.testing.assert_array_equal(coco[COCO.R_ANKLE], b[BlazePose.R_ANKLE])
    h = blazepose_to_h36m(b)
    np.testing.assert_allclose(h[H36M.PELVIS], (b[BlazePose.L_HIP] + b[BlazePose.R_HIP]) / 2)
    shoulders = (b[BlazePose.L_SHOULDER] + b[BlazePose.R_SHOULDER]) / 2
    np.testing.assert_allclose(h[H36M.THORAX], shoulders + (b[BlazePose.NOSE] - shoulders) / 3)
    np.testing.assert_allclose(h[H36M.SPINE], (h[H36M.PELVIS] + h[H36M.THORAX]) / 2)
    np.testing.assert_allclose(h[H36M.L_WRIST], b[BlazePose.L_WRIST])
    np.testing.assert_allclose(h[H36M.R_HIP], b[BlazePose.R_HIP])


def test_flip_is_an_involution_that_swaps_sides() -> None:
    rng = np.random.default_rng(2)
    p = rng.normal(size=(4, 17, 3))
    f = flip_h36m(p)
    np.testing.assert_allclose(flip_h36m(f), p)
    np.testing.assert_allclose(f[:, H36M.L_WRIST, 0], -p[:, H36M.R_WRIST, 0])
    np.testing.assert_allclose(f[:, H36M.PELVIS, 1:], p[:, H36M.PELVIS, 1:])
    assert sorted(H36M_FLIP_PERMUTATION.tolist()) == list(range(17))


def test_skeleton_parents_form_a_tree() -> None:
    assert len(H36M_PARENTS) == len(H36M) == 17
    assert H36M_PARENTS[H36M.L_WRIST] == H36M.L_ELBOW
    assert H36M_PARENTS[H36M.HEAD] == H36M.NECK_NOSE
    assert all(parent < child for child, parent in enumerate(H36M_PARENTS))
