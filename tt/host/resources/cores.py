"""How tt-metal spreads an op's work units (tiles, tile rows, heads) over a core grid (tt_metal/common/work_split.cpp,
split_work_to_cores): min(units, cores) cores get work, the first `units % cores` of them one unit more."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkSplit:
    busy_cores: int
    units_per_core: int  # on the busiest core

    @classmethod
    def of(cls, units: int, grid: tuple[int, int]) -> "WorkSplit":
        cores = grid[0] * grid[1]
        busy = min(units, cores)
        return cls(busy, -(-units // cores) if units else 0)


def extent(count: int, grid: tuple[int, int]) -> tuple[int, int]:
    """(x, y) extent of `count` cores filled row by row from (0, 0)."""
    return (min(count, grid[0]), max(1, -(-count // grid[0]))) if count else (0, 0)
