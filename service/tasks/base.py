"""What every task is: the contract a task module fills in, and the shapes it passes along.

A task (forecast, sentiment, ...) owns its route, its graph contract, how a model of it loads
its extras (tokenizer, scalers), how a request is decoded and prepared into graph rows, how
the output is encoded, the rows used by warm-up and by the load self-test, and the request
schema published in OpenAPI. The data plane, the loader and the OpenAPI builder only talk to
this interface, so a new task is one module registered in `service.tasks`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

from contract.card import ModelCard
from contract.graph import GraphContract
from service.tasks.checks import Limits


class Query(Protocol):
    """A decoded request: which model it asks for, and the task's own fields."""

    @property
    def model(self) -> str | None: ...

    @property
    def version(self) -> str | None: ...


@dataclass(frozen=True)
class Prepared:
    """A request checked against one model: the graph rows to batch, and what `encode` needs."""

    rows: list[np.ndarray]
    context: Any


class Codec(ABC):
    """One loaded model's request/answer conversion, built once at load time."""

    def __init__(self, card: ModelCard) -> None:
        self.card = card

    @abstractmethod
    def prepare(self, query: Any, limits: Limits) -> Prepared:
        """Check the query against the model (one 422 listing every problem) and make rows."""

    @abstractmethod
    def encode(self, prepared: Prepared, output: np.ndarray) -> bytes:
        """The JSON answer for the batch output rows of this request."""


class Task(ABC):
    name: str  # the card's `task`
    route: str  # the native POST route
    graph: GraphContract
    summary: str  # one line, for OpenAPI
    response_model: type[BaseModel]

    @abstractmethod
    def decode(self, body: Any, limits: Limits) -> Query:
        """Model-independent checks of a parsed JSON body."""

    @abstractmethod
    def load_codec(self, directory: Path, card: ModelCard) -> Codec:
        """The model's codec, loading its extra files; raises ValueError/OSError naming them."""

    @abstractmethod
    def check_card(self, card: ModelCard) -> list[str]:
        """Problems of the card's task section against the graph contract (empty: fine)."""

    @abstractmethod
    def sample_rows(self, card: ModelCard, seed: int = 0) -> list[np.ndarray]:
        """Graph rows of different lengths, for warm-up and for the load self-test."""

    @abstractmethod
    def output_shape(self, card: ModelCard, batch_size: int) -> tuple[int, ...]:
        """The output shape the graph must give for a batch of sample rows."""

    def check_output(self, output: np.ndarray) -> str | None:
        """Why a self-test output is implausible for this task (None: plausible)."""
        return None if np.all(np.isfinite(output)) else "output is not finite"

    @abstractmethod
    def request_schema(self, limits: Limits, default: ModelCard | None) -> dict[str, Any]:
        """The JSON schema of exactly the bodies `decode` + the default model's `prepare` take."""

    @abstractmethod
    def examples(self, cards: list[ModelCard]) -> dict[str, dict[str, Any]]:
        """Documented request bodies, each naming the served model it is meant for."""
