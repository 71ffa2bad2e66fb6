from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from contract.card import VOCABULARY_FILE
from contract.text import _ASCII_TOKEN, _TOKEN, OOV_ID, Encoded, Tokenizer

TEXTS = [
    "A great movie!<br /><br />Great acting, great story.",
    "A bad movie. Bad acting; bad story...",
    "The movie was great, not bad.",
]


def _fit(max_length: int = 5, truncation: str = "pre", num_words: int = 100) -> Tokenizer:
    return Tokenizer.fit(
        TEXTS,
        num_words=num_words,
        oov_token="<OOV>",
        max_length=max_length,
        truncation=truncation,  # type: ignore[arg-type]
    )


def test_tokenize_removes_html_breaks_lowercases_and_splits_punctuation() -> None:
    tokenizer = _fit()
    assert tokenizer.tokenize("Great!<br /><br/>It's <BR>GOOD, really.") == [
        "great",
        "!",
        "it's",
        "good",
        ",",
        "really",
        ".",
    ]
    assert "br" not in tokenizer.tokenize("one<br />two")


def test_lowercase_false_keeps_case() -> None:
    tokenizer = Tokenizer(
        ["Good"], num_words=10, oov_token="<OOV>", max_length=5, truncation="pre", lowercase=False
    )
    assert tokenizer.tokenize("Good good") == ["Good", "good"]
    assert tokenizer.encode("Good good").ids == [2, OOV_ID]


def test_fit_ranks_by_frequency_then_alphabetically() -> None:
    tokenizer = _fit()
    # "." 6 times, then "bad" and "great" 4 times each: ties are alphabetical.
    assert tokenizer.vocabulary[:4] == (".", "bad", "great", "movie")
    assert tokenizer.encode("bad great.").ids == [3, 4, 2]
    # Refitting the same texts in another order gives the same vocabulary.
    again = Tokenizer.fit(
        reversed(TEXTS), num_words=100, oov_token="<OOV>", max_length=5, truncation="pre"
    )
    assert again.vocabulary == tokenizer.vocabulary


def test_unknown_words_are_oov_and_ids_never_pad() -> None:
    tokenizer = _fit()
    encoded = tokenizer.encode("Great zebra")
    assert encoded.ids == [tokenizer.encode("great").ids[0], OOV_ID]
    assert 0 not in tokenizer.encode(" ".join(TEXTS) + " unseen words here").ids


def test_num_words_limits_the_ids() -> None:
    tokenizer = _fit(num_words=4, max_length=50)  # ids 0, 1, 2 ("."), 3 ("bad")
    assert tokenizer.vocabulary == (".", "bad")
    ids = tokenizer.encode(TEXTS[1]).ids
    assert max(ids) == 3
    assert ids.count(OOV_ID) == len(ids) - 7  # all but three "bad"s and four "."s


def test_truncation_pre_keeps_the_end_and_post_keeps_the_start() -> None:
    text = "bad bad great movie acting story"  # ids 3 3 4 5 8 9
    pre = _fit(max_length=2, truncation="pre")
    post = _fit(max_length=2, truncation="post")
    full = _fit(max_length=100).encode(text).ids
    assert pre.encode(text) == Encoded(ids=full[-2:], n_tokens=6, truncated=True)
    assert post.encode(text) == Encoded(ids=full[:2], n_tokens=6, truncated=True)
    assert pre.encode("bad great") == Encoded(ids=full[1:3], n_tokens=2, truncated=False)


def test_empty_text_has_no_ids() -> None:
    assert _fit().encode("   ") == Encoded(ids=[], n_tokens=0, truncated=False)


def test_encode_batch_matches_encode() -> None:
    tokenizer = _fit()
    assert tokenizer.encode_batch(TEXTS) == [tokenizer.encode(t) for t in TEXTS]


def test_save_load_roundtrip(tmp_path: Path) -> None:
    tokenizer = _fit(num_words=7, max_length=3, truncation="post")
    sha = tokenizer.save(tmp_path)
    spec = tokenizer.spec(sha)
    assert spec.num_words == 7 and spec.max_length == 3 and spec.truncation == "post"
    assert json.loads((tmp_path / VOCABULARY_FILE).read_text("utf-8")) == list(tokenizer.vocabulary)
    loaded = Tokenizer.load(tmp_path, spec)
    assert loaded.vocabulary == tokenizer.vocabulary
    for text in [*TEXTS, "nothing known here"]:
        assert loaded.encode(text) == tokenizer.encode(text)


def test_load_rejects_a_changed_vocabulary(tmp_path: Path) -> None:
    tokenizer = _fit()
    spec = tokenizer.spec(tokenizer.save(tmp_path))
    (tmp_path / VOCABULARY_FILE).write_text('["evil","words"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=VOCABULARY_FILE):
        Tokenizer.load(tmp_path, spec)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_words": 1}, "num_words"),
        ({"max_length": 0}, "max_length"),
        ({"truncation": "middle"}, "truncation"),
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {
        "num_words": 10,
        "oov_token": "<OOV>",
        "max_length": 5,
        "truncation": "pre",
    }
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Tokenizer(["a"], **settings)  # type: ignore[arg-type]


def test_duplicate_vocabulary_is_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Tokenizer(["a", "a"], num_words=10, oov_token="<OOV>", max_length=5, truncation="pre")


def test_ascii_pattern_tokenizes_exactly_like_the_unicode_one() -> None:
    rng = random.Random(7)
    alphabet = [chr(code) for code in range(128)] + list("'a ") * 20
    texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 40))) for _ in range(20_000)]
    texts += ["a\x1cb\x1d c\x1e\x1fd", "don't 'quoted' it''s", "x_y 3.5 ___ -- !?"]
    for text in texts:
        assert _ASCII_TOKEN.findall(text) == _TOKEN.findall(text), repr(text)
