"""Rows as frozen records: each room reads its query's rows into dataclasses of its own, and
`Record.from_row` builds one by the names of its fields, so a misspelt or missing column is
a `KeyError` on the first row rather than a blank on a page (extra columns, such as a
join's, are ignored)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self


class Record:
    """Base of a `@dataclass(frozen=True, slots=True)` built from a row by field name."""

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]]  # the dataclass's fields, in order

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        return cls(*(row[name] for name in cls.__match_args__))
