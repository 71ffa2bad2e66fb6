"""The one tokenizer of the sentiment model, shared by training and serving.

Pure Python and stdlib (no TensorFlow, no numpy), so the service and the training package
turn a review into the same ids by construction. It follows the notes'
`Tokenizer(num_words, oov_token)`: 0 is padding, 1 is out-of-vocabulary, and the most
frequent words of the training texts get the ids 2, 3, ... up to `num_words - 1`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contract.card import VOCABULARY_FILE, TokenizerSpec

PAD_ID = 0
OOV_ID = 1
FIRST_WORD_ID = 2

Truncation = Literal["pre", "post"]

_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
# A word (letters/digits/underscore, with inner apostrophes: "don't", "it's"), or one
# punctuation character on its own: "great!!" -> ["great", "!", "!"].
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
# The same rule for ASCII-only text, which matches about a fifth faster with explicit classes.
# \x1c-\x1f are whitespace to `str.isspace` and to the Unicode pattern's \s, not to ASCII's.
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9_]+(?:'[A-Za-z0-9_]+)*|[^A-Za-z0-9_\s\x1c-\x1f]", re.ASCII)


@dataclass(frozen=True)
class Encoded:
    ids: list[int]  # after truncation; never contains 0 (padding)
    n_tokens: int  # before truncation
    truncated: bool


class Tokenizer:
    def __init__(
        self,
        vocabulary: Sequence[str],
        *,
        num_words: int,
        oov_token: str,
        max_length: int,
        truncation: Truncation,
        lowercase: bool = True,
    ) -> None:
        if num_words < FIRST_WORD_ID:
            raise ValueError(f"num_words must be >= {FIRST_WORD_ID}, got {num_words}")
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        if truncation not in ("pre", "post"):
            raise ValueError(f"truncation must be 'pre' or 'post', got {truncation!r}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("the vocabulary contains duplicate words")
        self.vocabulary: tuple[str, ...] = tuple(vocabulary)
        self.num_words = num_words
        self.oov_token = oov_token
        self.max_length = max_length
        self.truncation: Truncation = truncation
        self.lowercase = lowercase
        # Only ids below num_words are ever produced; rarer words map to OOV.
        usable = self.vocabulary[: num_words - FIRST_WORD_ID]
        self._ids: dict[str, int] = {word: i + FIRST_WORD_ID for i, word in enumerate(usable)}

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        *,
        num_words: int,
        oov_token: str,
        max_length: int,
        truncation: Truncation,
        lowercase: bool = True,
    ) -> Tokenizer:
        """Vocabulary of the `num_words - 2` most frequent words; ties go alphabetically."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_tokenize(text, lowercase))
        counts.pop(oov_token, None)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        vocabulary = [word for word, _ in ranked[: max(num_words - FIRST_WORD_ID, 0)]]
        return cls(
            vocabulary,
            num_words=num_words,
            oov_token=oov_token,
            max_length=max_length,
            truncation=truncation,
            lowercase=lowercase,
        )

    @classmethod
    def load(cls, directory: Path, spec: TokenizerSpec) -> Tokenizer:
        path = directory / spec.vocabulary_file
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != spec.vocabulary_sha256:
            raise ValueError(
                f"{path}: sha256 {digest} does not match the card's {spec.vocabulary_sha256}"
            )
        vocabulary = json.loads(raw.decode("utf-8"))
        if not isinstance(vocabulary, list) or not all(isinstance(w, str) for w in vocabulary):
            raise ValueError(f"{path}: expected a JSON list of words")
        return cls(
            vocabulary,
            num_words=spec.num_words,
            oov_token=spec.oov_token,
            max_length=spec.max_length,
            truncation=spec.truncation,
            lowercase=spec.lowercase,
        )

    def vocabulary_bytes(self) -> bytes:
        """The exact bytes of vocabulary.json (a JSON list; word i has id i + 2)."""
        text = json.dumps(list(self.vocabulary), ensure_ascii=False, separators=(",", ":"))
        return (text + "\n").encode("utf-8")

    def save(self, directory: Path) -> str:
        """Write vocabulary.json into `directory`; return its sha256."""
        raw = self.vocabulary_bytes()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / VOCABULARY_FILE).write_bytes(raw)
        return hashlib.sha256(raw).hexdigest()

    def spec(self, vocabulary_sha256: str) -> TokenizerSpec:
        return TokenizerSpec(
            num_words=self.num_words,
            oov_token=self.oov_token,
            max_length=self.max_length,
            truncation=self.truncation,
            lowercase=self.lowercase,
            vocabulary_file=VOCABULARY_FILE,
            vocabulary_sha256=vocabulary_sha256,
        )

    def tokenize(self, text: str) -> list[str]:
        return _tokenize(text, self.lowercase)

    def encode(self, text: str) -> Encoded:
        """Ids of `text`, cut to max_length ("pre" drops the start, "post" the end).

        An empty or whitespace-only text gives no ids (n_tokens == 0).
        """
        lookup = self._ids.get
        ids = [lookup(token, OOV_ID) for token in _tokenize(text, self.lowercase)]
        n_tokens = len(ids)
        if n_tokens <= self.max_length:
            return Encoded(ids=ids, n_tokens=n_tokens, truncated=False)
        kept = ids[-self.max_length :] if self.truncation == "pre" else ids[: self.max_length]
        return Encoded(ids=kept, n_tokens=n_tokens, truncated=True)

    def encode_batch(self, texts: Sequence[str]) -> list[Encoded]:
        return [self.encode(text) for text in texts]


def _tokenize(text: str, lowercase: bool) -> list[str]:
    if "<" in text:
        text = _HTML_BREAK.sub(" ", text)
    if lowercase:
        text = text.lower()
    return (_ASCII_TOKEN if text.isascii() else _TOKEN).findall(text)
