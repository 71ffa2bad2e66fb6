from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from training.sentiment.data import DataError, Reviews, dedupe, load_reviews, stratified_split

_POSITIVE = ["great", "wonderful", "loved", "brilliant", "moving", "superb", "Fantastic!"]
_NEGATIVE = ["awful", "boring", "hated", "terrible", "dull", "waste", "Worst..."]
_FILLER = [
    "the", "movie", "film", "plot", "acting", "was", "and", "a", "it's", "director", "scene",
    "story", "really", "quite", ",", ".", "Actors", "café", "(1999)", "ending", "don't",
]  # fmt: skip


def make_reviews(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` synthetic (review, sentiment) rows, half positive: sentiment words among filler,
    HTML line breaks, punctuation and mixed case, so the tokenizer has real work to do."""
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        positive = index % 2 == 0
        cue = _POSITIVE if positive else _NEGATIVE
        words = [rng.choice(_FILLER) for _ in range(rng.randint(5, 60))]
        for _ in range(rng.randint(1, 4)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(cue))
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words) + 1), "<br /><br />")
        rows.append((" ".join(words) + f" #{index}", "positive" if positive else "negative"))
    return rows


def write_csv(
    path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("review", "sentiment")
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_with_named_columns(tmp_path: Path) -> None:
    rows = [("Good one", "POS"), ("bad, bad", "neg "), ("fine", "pos")]
    path = write_csv(tmp_path / "r.csv", rows, header=("text", "label"))
    reviews = load_reviews(path, text_column="text", label_column="label")
    assert reviews.texts == ["Good one", "bad, bad", "fine"]
    assert reviews.labels == [1, 0, 1]


def test_zero_one_labels(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [("a", "1"), ("b", "0")])
    assert load_reviews(path).labels == [1, 0]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [(("1", "-1"), [1, 0]), (("True", "false"), [1, 0]), (("1.0", "0.0"), [1, 0])],
)
def test_other_two_class_spellings(
    tmp_path: Path, labels: tuple[str, str], expected: list[int]
) -> None:
    path = write_csv(tmp_path / "r.csv", [("a", labels[0]), ("b", labels[1])])
    assert load_reviews(path).labels == expected


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_tab_and_semicolon_files_with_a_bom_and_padded_names(
    tmp_path: Path, delimiter: str
) -> None:
    path = tmp_path / "r.tsv"
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow((" review ", "sentiment"))
        writer.writerows([("Good, really; good", "positive"), ("bad\tbad", "negative")])
    reviews = load_reviews(path)
    assert reviews.texts == ["Good, really; good", "bad\tbad"]
    assert reviews.labels == [1, 0]


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [("a", "positive")], header=("text", "sentiment"))
    with pytest.raises(DataError, match=r"missing column\(s\) \['review'\]"):
        load_reviews(path)


def test_labels_outside_two_classes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [("a", "positive"), ("b", "negative"), ("c", "meh")])
    with pytest.raises(DataError, match=r"two classes.*meh"):
        load_reviews(path)


def test_a_single_class_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [("a", "positive"), ("b", "pos")])
    with pytest.raises(DataError, match="only one class"):
        load_reviews(path)


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load_reviews(empty)
    header_only = write_csv(tmp_path / "header.csv", [])
    with pytest.raises(DataError, match="no reviews"):
        load_reviews(header_only)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_reviews(tmp_path / "nope.csv")


def test_aclimdb_folder_layout(tmp_path: Path) -> None:
    for part in ("train", "test"):
        for name in ("pos", "neg"):
            folder = tmp_path / "aclImdb" / part / name
            folder.mkdir(parents=True)
            (folder / "0_7.txt").write_text(f"{part} {name} review", encoding="utf-8")
    reviews = load_reviews(tmp_path)  # the folder holding aclImdb/ works, and so does aclImdb/
    assert sorted(zip(reviews.texts, reviews.labels, strict=True)) == [
        ("test neg review", 0),
        ("test pos review", 1),
        ("train neg review", 0),
        ("train pos review", 1),
    ]
    assert len(load_reviews(tmp_path / "aclImdb")) == 4


def test_empty_aclimdb_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="aclImdb"):
        load_reviews(tmp_path)


def test_dedupe_keeps_first_copy_and_drops_conflicts() -> None:
    reviews = Reviews(
        texts=["a", "b", "a", "c", "c", "  ", "d"],
        labels=[1, 0, 1, 1, 0, 1, 0],
        source="test",
    )
    unique, removed = dedupe(reviews)
    assert unique.texts == ["a", "b", "d"]
    assert unique.labels == [1, 0, 0]
    assert removed == 4


def test_stratified_split_is_seeded_disjoint_and_balanced() -> None:
    rows = make_reviews(1000)
    rows += rows[:20]  # 20 exact duplicates
    reviews = Reviews([t for t, _ in rows], [int(s == "positive") for _, s in rows], "test")
    split = stratified_split(reviews, validation_size=100, test_size=0.1, seed=7)
    assert split.duplicates_removed == 20
    assert (len(split.train), len(split.validation), len(split.test)) == (800, 100, 100)
    parts = [set(split.train.texts), set(split.validation.texts), set(split.test.texts)]
    assert sum(len(p) for p in parts) == len(set.union(*parts)) == 1000
    for part in (split.validation, split.test):
        assert np.mean(part.labels) == pytest.approx(0.5, abs=0.01)
    again = stratified_split(reviews, validation_size=100, test_size=0.1, seed=7)
    assert again.test.texts == split.test.texts
    other = stratified_split(reviews, validation_size=100, test_size=0.1, seed=8)
    assert other.test.texts != split.test.texts


def test_split_too_small() -> None:
    reviews = Reviews(["a", "b", "c", "d"], [0, 1, 0, 1], "tiny")
    with pytest.raises(DataError, match="cannot give"):
        stratified_split(reviews, validation_size=2, test_size=2, seed=0)
