"""Seeded, labelled visits in the tracker's own batch schema, for training and evaluation.

python -m personas_engine.simulate --n 10 --seed 1            # NDJSON batches
python -m personas_engine.simulate --n 3 --seed 1 --labels    # {"label", "batch"} lines
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from personas_engine.catalog import Product, load_catalog, products_from
from personas_engine.sim_page import Device, batch_page
from personas_engine.sim_personas import STEPS, land, sample_traits
from personas_engine.sim_visit import VisitSim
from personas_engine.vocabulary import PERSONAS

EPOCH_BASE = 1_760_000_000_000  # an arbitrary day; only differences matter
SIMULATOR_VERSION = 3  # bump when behaviour changes, so model versions change with it


@dataclass(frozen=True)
class Mixture:
    """How clear-cut and how noisy simulated visitors are."""

    dominant_min: float = 0.65  # weight of the dominant persona, uniform in [min, max]
    dominant_max: float = 1.0
    pure_fraction: float = 0.3  # share of visits with a single persona
    noise: float = 0.12  # chance of an off-script action before each episode
    variation: float = 0.2  # spread of individual traits beyond the persona's ranges
    sparse_pointer: float = 0.3  # share of desktop visitors with sparse (scripted) pointers
    phone: float = 0.55  # share of visitors on a phone (most shop traffic)
    tablet: float = 0.1  # share on a tablet; the rest are on a desktop
    shift: float = 0.2  # share of mixed visits whose minor persona takes over at the end
    late_batch: float = 0.03  # chance a page's last batch arrives after the next page's first
    duplicate: float = 0.01  # chance a batch is delivered twice

    def __post_init__(self) -> None:
        if not 0.5 <= self.dominant_min <= self.dominant_max <= 1.0:
            raise ValueError("need 0.5 <= dominant_min <= dominant_max <= 1")
        for name in (
            "pure_fraction",
            "noise",
            "sparse_pointer",
            "phone",
            "tablet",
            "shift",
            "late_batch",
            "duplicate",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if self.phone + self.tablet > 1.0:
            raise ValueError("phone + tablet must be at most 1")

    @property
    def touch(self) -> float:
        """Return the share of visitors on a touch screen (phones and tablets)."""
        return self.phone + self.tablet


TRAIN_MIXTURE = Mixture()
# Held out: murkier visitors, more scripted pointers, more noise, more phones and more
# journeys that change partway than training ever saw.
EVAL_MIXTURE = Mixture(
    dominant_min=0.6,
    dominant_max=0.95,
    pure_fraction=0.15,
    noise=0.2,
    variation=0.3,
    sparse_pointer=0.45,
    phone=0.6,
    tablet=0.08,
    shift=0.35,
)


@dataclass
class SimulatedVisit:
    """One labelled visit: its batches in arrival order and how it was made."""

    label: str
    weights: dict[str, float]
    batches: list[dict[str, Any]]
    device: str
    pointer: str
    by_url: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def simulate_visits(
    n: int,
    seed: int,
    mixture: Mixture = TRAIN_MIXTURE,
    catalog: Sequence[Product] | Iterable[Mapping[str, Any]] | None = None,
) -> list[SimulatedVisit]:
    """Simulate `n` labelled visits, a third of each persona, reproducibly from `seed`."""
    products = _products(catalog)
    master = random.Random(seed)
    seeds = [master.getrandbits(64) for _ in range(n)]
    return [
        simulate_visit(random.Random(s), products, PERSONAS[i % len(PERSONAS)], mixture)
        for i, s in enumerate(seeds)
    ]


def _products(catalog: Sequence[Product] | Iterable[Mapping[str, Any]] | None) -> list[Product]:
    if catalog is None:
        return load_catalog()
    items = list(catalog)
    if all(isinstance(item, Product) for item in items):
        return [item for item in items if isinstance(item, Product)]
    return products_from(item for item in items if isinstance(item, Mapping))


def simulate_visit(
    rng: random.Random, catalog: list[Product], dominant: str, mixture: Mixture
) -> SimulatedVisit:
    """Simulate one visit whose dominant persona is `dominant`."""
    weights = {dominant: 1.0}
    if rng.random() >= mixture.pure_fraction:
        share = rng.uniform(mixture.dominant_min, mixture.dominant_max)
        if share < 1.0:
            weights = {
                dominant: share,
                rng.choice([p for p in PERSONAS if p != dominant]): 1 - share,
            }
    device = _device(rng, mixture)
    by_url = device.pointer == "sparse" and rng.random() < 0.5
    traits = sample_traits(rng, weights, mixture.variation)
    start = EPOCH_BASE + rng.randrange(30 * 86_400_000)
    sim = VisitSim(rng, catalog, device, traits, by_url=by_url, start_abs=start)
    land(sim, dominant)
    shifts = len(weights) > 1 and rng.random() < mixture.shift
    episodes = round(sim.jitter(traits.episodes, 0.25))
    for actor in _actors(rng, weights, dominant, episodes, shift=shifts):
        if rng.random() < mixture.noise:
            sim.noise()
        STEPS[actor](sim)(sim)
        if sim.ordered:
            break
    sim.page.read(sim.jitter(traits.think_s * 1500))
    vid, sid = sim.new_id("v"), sim.new_id("s")
    return SimulatedVisit(
        label=dominant,
        weights=weights,
        batches=_deliver(rng, sim, vid, sid, mixture),
        device=device.kind,
        pointer=device.pointer,
        by_url=by_url,
        extra={"shift": shifts},
    )


def _actors(
    rng: random.Random, weights: Mapping[str, float], dominant: str, n: int, *, shift: bool
) -> list[str]:
    # Episodes are shared out by the weights (stochastic rounding), not drawn one by one: with
    # three episodes, independent draws would often give the minor persona most of the visit.
    n = max(1, n)
    minor = [p for p in weights if p != dominant]
    if not minor:
        return [dominant] * n
    k = min(int((1 - weights[dominant]) * n + rng.random()), (n - 1) // 2)
    if shift:  # an explorer who starts to hurry: the minor persona ends the visit
        return [dominant] * (n - k) + [minor[0]] * k
    return [dominant, *rng.sample([minor[0]] * k + [dominant] * (n - 1 - k), k=n - 1)]


def _device(rng: random.Random, mixture: Mixture) -> Device:
    roll = rng.random()
    if roll < mixture.touch:
        if roll < mixture.phone:
            return Device(
                "mobile",
                rng.choice((360, 375, 390, 412, 430)),
                rng.choice((640, 740, 812, 844, 915)),
                "touch",
            )
        return Device(
            "tablet",
            rng.choice((768, 810, 820, 1024)),
            rng.choice((1024, 1080, 1180, 1366)),
            "touch",
        )
    vw, vh = rng.choice(((1280, 720), (1366, 768), (1440, 900), (1536, 864), (1920, 1080)))
    return Device("desktop", vw, vh, "sparse" if rng.random() < mixture.sparse_pointer else "dense")


def _deliver(
    rng: random.Random, sim: VisitSim, vid: str, sid: str, mixture: Mixture
) -> list[dict[str, Any]]:
    # Each batch gets an arrival time; sorting by it interleaves page views the way the
    # network does (an unload beacon can land after the next page's first batch).
    arrivals: list[tuple[int, int, dict[str, Any]]] = []
    for i, page in enumerate(sim.pages):
        unload = sim.pages[i + 1].t0 if i + 1 < len(sim.pages) else page.now + 500
        page_batches = batch_page(rng, page, vid=vid, sid=sid, unload_abs=unload)
        for j, (at, batch) in enumerate(page_batches):
            if j == len(page_batches) - 1 and rng.random() < mixture.late_batch:
                at += rng.randint(300, 2_500)
            arrivals.append((at, len(arrivals), batch))
            if rng.random() < mixture.duplicate:
                arrivals.append((at + rng.randint(1_000, 5_000), len(arrivals), batch))
    arrivals.sort(key=lambda item: (item[0], item[1]))
    return [batch for _, _, batch in arrivals]


def main(argv: Sequence[str] | None = None) -> int:
    """Print simulated batches as NDJSON."""
    parser = argparse.ArgumentParser(prog="python -m personas_engine.simulate")
    parser.add_argument("--n", type=int, default=10, help="number of visits")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--eval-mixture", action="store_true", help="use the held-out mixture")
    parser.add_argument("--labels", action="store_true", help='wrap lines as {"label", "batch"}')
    args = parser.parse_args(argv)
    mixture = EVAL_MIXTURE if args.eval_mixture else TRAIN_MIXTURE
    out = sys.stdout.buffer
    for visit in simulate_visits(args.n, args.seed, mixture):
        for batch in visit.batches:
            line = {"label": visit.label, "batch": batch} if args.labels else batch
            out.write(orjson.dumps(line) + b"\n")
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
