"""The registered tasks. A new task is one module with a `Task` subclass, added here."""

from __future__ import annotations

from service.tasks.base import Codec, Prepared, Query, Task
from service.tasks.forecast import ForecastTask
from service.tasks.sentiment import SentimentTask

TASKS: dict[str, Task] = {task.name: task for task in (ForecastTask(), SentimentTask())}
ROUTES: dict[str, Task] = {task.route: task for task in TASKS.values()}

__all__ = ["ROUTES", "TASKS", "Codec", "Prepared", "Query", "Task"]
