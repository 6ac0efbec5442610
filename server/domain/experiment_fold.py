"""Fold visitors and their orders into per-row × arm totals, and the same totals over time.

A row is a group of visitors compared across arms: a persona at the moment of qualifying
(the triggered analysis), "not_qualified", or "all" (intention to treat). The adapter
(server/adapters/experiment_store.py) streams the collections and calls `add` once per
visitor and row; this module keeps only sums, so memory does not grow with visitors.

Over time: each total also goes into minute steps (the minute the visitor entered the
row, the minute of each order, never before the entry), and `series` adds the steps up to
evenly spaced moments. The point at time T is what a read at T would have counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

STEP_MS = 60_000
_INT64_MAX = 2**63 - 1


@dataclass
class Cell:
    """Running totals of one row × arm (money in cents)."""

    visitors: int = 0
    converters: int = 0
    orders: int = 0
    revenue: int = 0
    order_squares: int = 0
    visitor_squares: int = 0

    def add(self, other: Cell) -> None:
        for name in CELL_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_document(self) -> dict[str, int | float]:
        # BSON holds int64: past it (sums of squares of a huge shop) a float is close enough.
        return {k: v if abs(v) <= _INT64_MAX else float(v) for k, v in asdict(self).items()}


CELL_FIELDS = tuple(field.name for field in fields(Cell))
Order = tuple[int, int]  # (placed at, epoch ms; total in cents)


class ExperimentFold:
    def __init__(self) -> None:
        self.cells: defaultdict[tuple[str, str], Cell] = defaultdict(Cell)
        self._steps: defaultdict[tuple[str, str], defaultdict[int, Cell]] = defaultdict(
            lambda: defaultdict(Cell)
        )

    def add(self, row: str, arm: str, entered_ms: int, orders: Iterable[Order]) -> None:
        """Count one visitor in `row` × `arm`, entering at `entered_ms`, with its orders."""
        cell, steps = self.cells[(row, arm)], self._steps[(row, arm)]
        entry = entered_ms // STEP_MS
        cell.visitors += 1
        steps[entry].visitors += 1
        spent = 0
        for count, (at_ms, total) in enumerate(sorted(orders)):
            # An order placed before the visitor entered the row counts from the entry on.
            step = steps[max(entry, at_ms // STEP_MS)]
            grown = (spent + total) ** 2 - spent**2
            for target in (cell, step):
                target.orders += 1
                target.revenue += total
                target.order_squares += total * total
                target.visitor_squares += grown
                target.converters += 1 if count == 0 else 0
            spent += total

    def series(
        self, now_ms: int, points: int = 40
    ) -> dict[tuple[str, str], list[tuple[int, Cell]]]:
        """Cumulative totals per row × arm at up to `points` moments, the last one `now_ms`."""
        minutes = [minute for steps in self._steps.values() for minute in steps]
        if not minutes:
            return {}
        start, end = min(minutes), max(max(minutes), now_ms // STEP_MS)
        span = end - start
        moments = sorted({start + round(span * i / (points - 1)) for i in range(points)})
        out: dict[tuple[str, str], list[tuple[int, Cell]]] = {}
        for key, steps in self._steps.items():
            ordered = sorted(steps.items())
            running, index, snapshots = Cell(), 0, []
            for moment in moments:
                while index < len(ordered) and ordered[index][0] <= moment:
                    running.add(ordered[index][1])
                    index += 1
                snapshots.append((min((moment + 1) * STEP_MS, now_ms), Cell(**asdict(running))))
            out[key] = snapshots
        return out

    def to_summary(
        self, now_ms: int, exposures: Mapping[tuple[str, str], int] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """The summary document's `cells` and `series` (server/domain/experiment_report.py)."""
        exposures = exposures or {}
        cells = [
            {
                "row": row,
                "arm": arm,
                **cell.to_document(),
                "exposures": exposures.get((row, arm), 0),
            }
            for (row, arm), cell in sorted(self.cells.items())
        ]
        points: dict[tuple[str, int], dict[str, Any]] = {}
        for (row, arm), snapshots in self.series(now_ms).items():
            for at_ms, cell in snapshots:
                point = points.setdefault((row, at_ms), {"row": row, "at_ms": at_ms, "arms": {}})
                point["arms"][arm] = cell.to_document()
        return {"cells": cells, "series": [points[key] for key in sorted(points)]}
