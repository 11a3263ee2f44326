"""Status machines: a StrEnum plus an explicit map of allowed moves, checked in one place."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from core.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


def transition(moves: Mapping[S, frozenset[S]], current: S, target: S, *, what: str) -> S:
    """Return `target` if `current -> target` is an allowed move, else raise IllegalTransition."""
    if target not in moves.get(current, frozenset()):
        raise IllegalTransition(
            f"{what} cannot move from {current.value} to {target.value}",
            field="status",
            extra={"from": current.value, "to": target.value},
        )
    return target
