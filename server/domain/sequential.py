"""Always-valid inference for a difference of means: the normal-mixture sequential test.

Why: the experiments page is live and an owner reads it again and again. A fixed-horizon
95 % interval is only right at one planned look; read after every few visitors, it leaves
out zero in far more than 5 % of experiments with no effect. The mixture sequential
probability ratio test (Robbins 1970; Johari, Koomen, Pekelis and Walsh, "Always valid
inference", Operations Research 2022), in its asymptotic form (Waudby-Smith, Arnold, Wu,
Ramdas and Howard, "Time-uniform central limit theory and asymptotic confidence sequences",
2023), keeps the chance of EVER excluding a true zero under α, whenever one looks.

For an estimate θ̂ with variance V = se² after n units, and a normal mixture of effects
with variance τ², the likelihood ratio against θ = 0 is

    Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))

By Ville's inequality P(Λ ever ≥ 1/α | θ = 0) ≤ α, so p = min(1, 1/Λ) is an always-valid
p-value, and inverting the test gives the interval θ̂ ± r with

    r² = V (V + τ²) / τ² · (2 log(1/α) + log((V + τ²) / V)).

τ² = ρ² · nV, where nV estimates the variance of one unit, and ρ is chosen so that the
interval is tightest after `tuning_n` units: ρ² = (−2 log α + log(1 − 2 log α)) / tuning_n
(Waudby-Smith et al., §3; GrowthBook uses the same rule).
"""

from __future__ import annotations

import math


def mixing_ratio(alpha: float, tuning_n: int) -> float:
    """ρ², the mixture's variance per unit of variance of one observation."""
    log_alpha = math.log(alpha)
    return (-2 * log_alpha + math.log(1 - 2 * log_alpha)) / tuning_n


def mixture(estimate: float, se: float, n: int, alpha: float, tuning_n: int) -> tuple[float, float]:
    """Return (radius, p): the always-valid interval is estimate ± radius."""
    if se <= 0 or n <= 0:
        raise ValueError("need a positive standard error and sample size")
    variance = se * se
    tau2 = mixing_ratio(alpha, tuning_n) * n * variance
    spread = variance + tau2
    radius = math.sqrt(
        variance * spread / tau2 * (2 * math.log(1 / alpha) + math.log(spread / variance))
    )
    log_ratio = 0.5 * math.log(variance / spread) + tau2 * estimate * estimate / (
        2 * variance * spread
    )
    p = 1.0 if log_ratio <= 0 else math.exp(-log_ratio)
    return radius, min(1.0, p)
