"""Train the persona model on simulated visits and write a versioned artifact.

python -m personas_engine.train [--out var/models] [--seed 1] [--n 3600]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from personas_engine.artifacts import DEFAULT_MODELS_DIR, load_model, resolve_version, save_model
from personas_engine.catalog import load_catalog
from personas_engine.features import FEATURE_NAMES
from personas_engine.model import PersonaModel, TrainParams, train
from personas_engine.simulate import SIMULATOR_VERSION, TRAIN_MIXTURE, Mixture, simulate_visits

log = logging.getLogger(__name__)

DEFAULT_VISITS = 3_600  # measured: 1800 showed phones a wrong persona first more often
DEFAULT_SEED = 1


def train_on_simulation(
    n: int = DEFAULT_VISITS, seed: int = DEFAULT_SEED, mixture: Mixture = TRAIN_MIXTURE
) -> PersonaModel:
    """Simulate `n` visits and train a model on them."""
    started = time.perf_counter()
    catalog = load_catalog()
    visits = simulate_visits(n, seed, mixture, catalog)
    data = {
        "source": "simulated",
        "simulator": SIMULATOR_VERSION,
        "visits": n,
        "seed": seed,
        "mixture": asdict(mixture),
        "catalog_products": len(catalog),
    }
    model = train(visits, TrainParams(seed=seed, data=data))
    model.metrics["total_seconds"] = round(time.perf_counter() - started, 2)
    return model


def ensure_model(models_dir: Path = DEFAULT_MODELS_DIR) -> PersonaModel:
    """Load the latest model, training and saving a new one if there is none or it is stale.

    Stale means trained on other features or another simulator version than this code's: an
    old checkout's var/models would otherwise keep predicting from features that changed.
    """
    if resolve_version(models_dir) is not None:
        model = load_model(models_dir)
        simulator = model.params.get("data", {}).get("simulator", SIMULATOR_VERSION)
        if model.feature_names == FEATURE_NAMES and simulator == SIMULATOR_VERSION:
            return model
    log.info("no persona model for this code in %s: training one (up to a minute)", models_dir)
    started = time.perf_counter()
    model = train_on_simulation()
    save_model(model, models_dir)
    log.info("persona model %s trained in %.0f s", model.version, time.perf_counter() - started)
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """Train, save under --out and print the metrics."""
    parser = argparse.ArgumentParser(prog="python -m personas_engine.train")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--n", type=int, default=DEFAULT_VISITS, help="simulated visits")
    args = parser.parse_args(argv)
    model = train_on_simulation(args.n, args.seed)
    folder = save_model(model, args.out)
    print(f"model {model.version} written to {folder}")
    print(json.dumps(model.metrics, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
