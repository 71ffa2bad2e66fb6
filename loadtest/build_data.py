"""Regenerate the committed request material under `loadtest/data/` (a development tool).

    python -m loadtest.build_data series    # real series from statsmodels' datasets
    python -m loadtest.build_data reviews   # held-out reviews from the sentiment test split

Needs the `train` extra (statsmodels; the sentiment pipeline's data module). The load test
itself only reads the JSON files this writes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from loadtest.data import REVIEWS_FILE, SERIES_FILE

DEFAULT_CARD = Path("models/sentiment/1/card.json")


def _interpolated(values: list[float]) -> list[float]:
    """Fill NaN gaps linearly (co2 has 59 missing weeks)."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    missing = np.isnan(array)
    index = np.arange(len(array))
    array[missing] = np.interp(index[missing], index[~missing], array[~missing])
    return [float(v) for v in array]


def real_series() -> list[dict[str, Any]]:
    import statsmodels.api as sm

    datasets = sm.datasets
    sunspots = datasets.sunspots.load_pandas().data["SUNACTIVITY"].tolist()
    co2 = _interpolated(datasets.co2.load_pandas().data["co2"].tolist())
    nile = datasets.nile.load_pandas().data["volume"].tolist()
    elnino = datasets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy().ravel().tolist()
    macro = datasets.macrodata.load_pandas().data
    picked = {
        "sunspots (yearly, 1700-2008)": sunspots,
        "co2 Mauna Loa (weekly, 1958-2001, gaps interpolated)": co2,
        "nile volume (yearly, 1871-1970)": nile,
        "elnino sea surface temperature (monthly, 1950-2010)": elnino,
        "US real GDP (quarterly, 1959-2009)": macro["realgdp"].tolist(),
        "US unemployment rate (quarterly, 1959-2009)": macro["unemp"].tolist(),
        "US inflation rate (quarterly, 1959-2009)": macro["infl"].tolist(),
    }
    return [
        {"name": name, "values": [round(float(v), 4) for v in values]}
        for name, values in picked.items()
    ]


def write_series(path: Path) -> None:
    series = real_series()
    document = {
        "source": "statsmodels.datasets (sunspots, co2, nile, elnino, macrodata)",
        "command": "python -m loadtest.build_data series",
        "series": series,
    }
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{path}: {len(series)} series, {sum(len(s['values']) for s in series)} points")


def split_settings(card_path: Path) -> dict[str, Any]:
    """The sentiment split (sizes and seed) as recorded in the served model's card.

    The training pipeline records `{"seed": 42, "train": n, "validation": n, "test": n, ...}`
    (somewhere under the card's `training`); the counts are the sizes to pass again.
    """
    card = json.loads(card_path.read_text(encoding="utf-8"))
    found = [node for node in _dicts(card.get("training", {})) if "seed" in node and "test" in node]
    if not found:
        raise SystemExit(
            f"{card_path}: no split (seed, validation, test) under 'training'; "
            "pass --validation-size, --test-size and --split-seed"
        )
    split = found[0]
    return {
        "validation_size": int(split["validation"]),
        "test_size": int(split["test"]),
        "seed": int(split["seed"]),
    }


def _dicts(node: Any) -> list[dict[str, Any]]:
    if not isinstance(node, dict):
        return []
    return [node, *(d for value in node.values() for d in _dicts(value))]


def write_reviews(path: Path, count: int, settings: dict[str, Any], sample_seed: int) -> None:
    from training.sentiment.data import LABELS, load_reviews, stratified_split

    split = stratified_split(load_reviews(), **settings)
    test = split.test
    rng = random.Random(sample_seed)
    by_label: dict[int, list[int]] = {0: [], 1: []}
    for index, label in enumerate(test.labels):
        by_label[label].append(index)
    picked = [i for label in (0, 1) for i in rng.sample(by_label[label], count // 2)]
    rng.shuffle(picked)
    reviews = [{"text": test.texts[i], "label": LABELS[test.labels[i]]} for i in picked]
    document = {
        "source": "IMDB (Maas et al. 2011), held-out TEST split of training.sentiment.data",
        "split": settings,
        "sample_seed": sample_seed,
        "command": "python -m loadtest.build_data reviews",
        "reviews": reviews,
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    words = sorted(len(r["text"].split()) for r in reviews)
    print(f"{path}: {len(reviews)} reviews, median {words[len(words) // 2]} words")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.build_data", description=__doc__)
    parser.add_argument("what", choices=["series", "reviews"])
    parser.add_argument("--out", type=Path, help="output file (default: the committed one)")
    parser.add_argument("--count", type=int, default=200, help="reviews to sample")
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD, help="sentiment card")
    parser.add_argument("--validation-size", type=float)
    parser.add_argument("--test-size", type=float)
    parser.add_argument("--split-seed", type=int)
    parser.add_argument("--sample-seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.what == "series":
        write_series(args.out or SERIES_FILE)
        return 0
    flags = (args.validation_size, args.test_size, args.split_seed)
    if all(flag is not None for flag in flags):
        settings = {
            "validation_size": int(args.validation_size)
            if args.validation_size >= 1
            else args.validation_size,
            "test_size": int(args.test_size) if args.test_size >= 1 else args.test_size,
            "seed": args.split_seed,
        }
    else:
        settings = split_settings(args.card)
    write_reviews(args.out or REVIEWS_FILE, args.count, settings, args.sample_seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
