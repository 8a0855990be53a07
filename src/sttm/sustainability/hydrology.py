"""Pure hydrology functions used by sheet 1 (floods & drought) and the raster engine.

Units: depths in mm, areas in m², volumes in m³, durations in hours.

SCS curve number (USDA NRCS NEH-630 ch. 10; the formula of InVEST Urban Flood Risk Mitigation)::

    S = 25400 / CN - 254            (mm)
    Q = (P - λS)² / (P + (1 - λ)S)  if P > λS else 0

ARPA Lombardia LSPP with GEV growth factor::

    h(D, T) = a1 · wT · D^n,   wT = ε + α/κ · (1 − (ln(T/(T−1)))^κ)

R.R. Lombardia 7/2017 rainfall-curve method ("metodo delle sole piogge"): inflow
φ·S·h(D) against a constant allowed outflow u_lim·S_imp, the required volume is the maximum
over D of their difference, reached at D_w = (0.36·u_lim / (a·n))^(1/(n−1)) with a = a1·wT.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "scs_retention_mm", "scs_runoff_mm", "runoff_coeff_volume_m3", "gev_growth_factor", "lspp_depth_mm",
    "LSPP", "InvarianceVolume", "rainfall_curve_volume", "HydrologyError",
]


class HydrologyError(ValueError):
    pass


def scs_retention_mm(cn):
    """Potential maximum retention S (mm) for curve number(s) ``cn`` in (0, 100]."""
    cn = np.asarray(cn, dtype=float)
    if np.any((cn <= 0) | (cn > 100)):
        raise HydrologyError("curve number must be in (0, 100]")
    return 25400.0 / cn - 254.0


def scs_runoff_mm(p_mm, cn, lam: float = 0.2):
    """Event runoff depth Q (mm) for rainfall ``p_mm`` and curve number(s) ``cn``.

    >>> round(float(scs_runoff_mm(50, 98)), 3)
    44.632
    >>> float(scs_runoff_mm(10, 39))
    0.0
    """
    if np.any(np.asarray(p_mm) < 0):
        raise HydrologyError("rainfall depth must be >= 0")
    s = scs_retention_mm(cn)
    p = np.asarray(p_mm, dtype=float)
    ia = lam * s
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(p > ia, (p - ia) ** 2 / (p + (1.0 - lam) * s), 0.0)
    return q if q.ndim else float(q)


def runoff_coeff_volume_m3(p_mm: float, phi: float, area_m2: float) -> float:
    """Rational-method event volume: φ · P · A."""
    return phi * p_mm / 1000.0 * area_m2


def gev_growth_factor(T: float, alpha: float, kappa: float, epsilon: float) -> float:
    """ARPA Lombardia GEV growth factor wT for return period T (years)."""
    if T <= 1:
        raise HydrologyError("return period must be > 1 year")
    y = math.log(T / (T - 1.0))
    if abs(kappa) < 1e-12:  # Gumbel limit
        return epsilon - alpha * math.log(y)
    return epsilon + alpha / kappa * (1.0 - y ** kappa)


@dataclass(frozen=True)
class LSPP:
    """Depth-duration-frequency parameters of a comune (knowledge-base table ``hydraulic_criticality``)."""

    a1: float
    n: float
    alpha: float
    kappa: float
    epsilon: float

    def __post_init__(self):
        for name in ("a1", "n", "alpha", "kappa", "epsilon"):
            v = getattr(self, name)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                raise HydrologyError(f"LSPP parameter {name!r} is missing (blank in hydraulic_criticality): "
                                     f"pass it explicitly (e.g. --lspp-{name})")
        if not 0 < self.n < 1:
            raise HydrologyError(f"LSPP exponent n = {self.n} outside (0, 1)")
        if self.a1 <= 0:
            raise HydrologyError(f"LSPP a1 = {self.a1} must be > 0")

    def a(self, T: float) -> float:
        return self.a1 * gev_growth_factor(T, self.alpha, self.kappa, self.epsilon)

    def depth_mm(self, duration_h: float, T: float) -> float:
        return self.a(T) * duration_h ** self.n


def lspp_depth_mm(lspp: LSPP, duration_h: float, T: float) -> float:
    return lspp.depth_mm(duration_h, T)


@dataclass(frozen=True)
class InvarianceVolume:
    drained_area_m2: float
    phi: float
    impervious_equivalent_ha: float
    a_mm_h_n: float
    n: float
    ulim_l_s_ha: float
    critical_duration_h: float
    volume_m3: float
    volume_m3_per_ha_imp: float
    outflow_l_s: float


def rainfall_curve_volume(drained_area_m2: float, phi: float, lspp: LSPP, T: float,
                          ulim_l_s_ha: float) -> InvarianceVolume:
    """Storage volume by the rainfall-curve method (R.R. 7/2017 "metodo delle sole piogge").

    ``phi`` is the area-weighted runoff coefficient of the drained area; the allowed outflow is
    ``ulim`` per hectare of impervious-equivalent area φ·S.
    """
    if drained_area_m2 <= 0:
        raise HydrologyError("drained area must be > 0 m²")
    if not 0 < phi <= 1:
        raise HydrologyError(f"runoff coefficient phi = {phi} outside (0, 1]")
    if ulim_l_s_ha <= 0:
        raise HydrologyError("allowed specific discharge must be > 0")
    a, n = lspp.a(T), lspp.n
    s_imp_ha = phi * drained_area_m2 / 10_000.0
    d_w = (0.36 * ulim_l_s_ha / (a * n)) ** (1.0 / (n - 1.0))
    w_per_ha = 10.0 * (a * d_w ** n - 0.36 * ulim_l_s_ha * d_w)  # m³ per ha of impervious equivalent
    w_per_ha = max(w_per_ha, 0.0)
    return InvarianceVolume(drained_area_m2, phi, s_imp_ha, a, n, ulim_l_s_ha, d_w,
                            w_per_ha * s_imp_ha, w_per_ha, ulim_l_s_ha * s_imp_ha)
