"""A run's finished rows, kept by column: compact, and nothing for the garbage collector to walk.

A `ServerResult` is a Python object with fifteen fields, four of them boxed floats: about 420 bytes a row,
and one object that every full garbage collection visits with the GIL held. At 50,000 servers those full
collections, walking every finished row while the run went on, made a 10 ms main-thread timer up to 170 ms
late, and at 100,000 the rows were a third of the run's peak memory. A row stays a `ServerResult` while it
is in flight (the engine changes it as answers come); once finished, `put` files it here: numbers in typed
arrays, text as references to the strings the row already had, about 100 bytes a row plus its strings.

The table reads as a sequence of `ServerResult`s (each made on demand), and `frame` builds the result
DataFrame straight from the columns, the same frame `to_frame` makes from the objects.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from scp_widgets.engine.results import (
    ACTIONS,
    NOT_SENT_CODE,
    Outcome,
    ServerResult,
    category_dtypes,
    ordered_counts,
    result_frame,
)

if TYPE_CHECKING:  # pandas is imported when the frame is built, never on the sending path (results.py)
    import numpy as np
    import pandas as pd

_OUTCOMES = list(Outcome)
_OUTCOME_CODE = {outcome: code for code, outcome in enumerate(_OUTCOMES)}
_UNSET = 255  # the outcome code of a row not filed yet
_NO_STATUS = 0  # no HTTP status (never sent); 0 is no status a service sends
_LOCKED = {False: 0, True: 1, None: 2}
_LOCKED_VALUE = (False, True, None)
_TEXT = ("server_id", "message", "request_id")  # a reference per row
_CODED = ("action", "error_code", "api_version", "endpoint")  # few distinct values: a code per row
_TIMES = ("started_at", "finished_at", "sent_at", "answered_at")


class ResultTable(Sequence[ServerResult]):
    """`size` rows in request order, filed one by one as they finish (`put`), read as `ServerResult`s."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._filled = 0
        self._outcome = bytearray([_UNSET]) * size
        self._locked = bytearray([_LOCKED[None]]) * size
        self._status = array("H", bytes(2 * size))
        self._attempts = array("l", bytes(array("l").itemsize * size))
        self._text: dict[str, list[str | None]] = {name: [None] * size for name in _TEXT}
        self._coded = {name: _Coded(size) for name in _CODED}
        self._times = {name: array("d", [math.nan]) * size for name in _TIMES}

    def put(self, index: int, result: ServerResult) -> None:
        """File row `index` (each row once; the object is not kept)."""
        if self._outcome[index] == _UNSET:
            self._filled += 1
        self._outcome[index] = _OUTCOME_CODE[result.outcome]
        self._locked[index] = _LOCKED[result.locked]
        self._status[index] = result.http_status or _NO_STATUS
        self._attempts[index] = result.attempts
        text, coded = self._text, self._coded
        text["server_id"][index], text["message"][index] = result.server_id, result.message
        text["request_id"][index] = result.request_id
        coded["action"].put(index, result.action)
        coded["error_code"].put(index, result.error_code)
        coded["api_version"].put(index, result.api_version)
        coded["endpoint"].put(index, result.endpoint)
        times = self._times
        for name in _TIMES:
            value = getattr(result, name)
            times[name][index] = math.nan if value is None else value

    def filled(self, index: int) -> bool:
        return self._outcome[index] != _UNSET

    @property
    def complete(self) -> bool:
        return self._filled == self._size

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> ServerResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[ServerResult]: ...
    def __getitem__(self, index: int | slice) -> ServerResult | list[ServerResult]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(self._size))]
        if not -self._size <= index < self._size:
            raise IndexError("result table index out of range")
        return self._row(index % self._size)

    def __iter__(self) -> Iterator[ServerResult]:
        return (self._row(i) for i in range(self._size))

    def _row(self, index: int) -> ServerResult:
        if not self.filled(index):
            raise LookupError(f"row {index} has no result yet")
        text, times = self._text, self._times
        row = ServerResult(
            str(text["server_id"][index]), str(self._coded["action"].get(index)), _OUTCOMES[self._outcome[index]],
            http_status=self._status[index] or None, locked=_LOCKED_VALUE[self._locked[index]],
            attempts=self._attempts[index], message=text["message"][index], request_id=text["request_id"][index],
        )  # fmt: skip
        for name in _CODED[1:]:
            setattr(row, name, self._coded[name].get(index))
        for name in _TIMES:
            value = times[name][index]
            setattr(row, name, None if math.isnan(value) else value)
        return row

    def counts(self) -> dict[str, int]:
        """Rows per outcome, in `count_outcomes` order."""
        tally = Counter(self._outcome)
        return ordered_counts({str(_OUTCOMES[code]): n for code, n in tally.items() if code != _UNSET})

    def not_sent(self) -> int:
        """Rows the run never sent because it stopped sending (`count_not_sent`)."""
        return self._coded["error_code"].count(NOT_SENT_CODE)

    def frame(self, attrs: Mapping[str, Any] | None = None, *, release: bool = False) -> pd.DataFrame:
        """The run's DataFrame: the same columns, dtypes and values `to_frame` gives for these rows, built
        from the typed columns (2-3x faster than from objects). `release`: let each column go as soon as
        it is converted (the table is empty after): the frame is built at a run's peak memory, and holding
        every column to the end added their size to it (10 MB at 100,000 servers)."""
        if not self.complete:
            raise LookupError(f"{self._size - self._filled} rows have no result yet")
        import numpy as np
        import pandas as pd

        action_dtype, outcome_dtype = category_dtypes()
        text, times = self._text.copy(), self._times.copy()  # popped as converted
        coded = self._coded
        if release:
            self._text, self._times, self._size, self._filled = {}, {}, 0, 0
        columns: dict[str, Any] = {"action": coded["action"].categorical(ACTIONS, action_dtype)}
        for name in _TEXT:
            columns[name] = pd.array(text.pop(name), dtype="string")
        for name in _CODED[1:]:
            columns[name] = pd.array(coded[name].objects(), dtype="string")
        for name in _TIMES:
            columns[name] = _stamps(np.frombuffer(times.pop(name), dtype="float64"))
        status = np.frombuffer(self._status, dtype="uint16").astype("int64")
        locked = np.frombuffer(self._locked, dtype="uint8")
        columns.update(
            outcome=pd.Categorical.from_codes(np.frombuffer(self._outcome, dtype="uint8"), dtype=outcome_dtype),
            http_status=pd.arrays.IntegerArray(status, status == _NO_STATUS),
            locked=pd.arrays.BooleanArray(locked == 1, locked == 2),
            attempts=np.frombuffer(self._attempts, dtype=f"int{8 * self._attempts.itemsize}").astype("int64"),
        )
        return result_frame(columns, attrs)


def _stamps(seconds: np.ndarray[Any, np.dtype[np.float64]]) -> pd.DatetimeIndex:
    import pandas as pd

    stamps: pd.DatetimeIndex = pd.to_datetime(seconds * 1e9, unit="ns", utc=True).as_unit("ns")
    return stamps


class _Coded:
    """A text column of few distinct values (the action, error code, version, endpoint): a 4-byte code per
    row and each value once, where a list held an 8-byte reference per row."""

    __slots__ = ("_code", "codes", "values")

    def __init__(self, size: int) -> None:
        self.codes = array("I", bytes(4 * size))
        self.values: list[str | None] = [None]
        self._code: dict[str | None, int] = {None: 0}

    def put(self, index: int, value: str | None) -> None:
        code = self._code.get(value)
        if code is None:
            code = self._code[value] = len(self.values)
            self.values.append(value)
        self.codes[index] = code

    def get(self, index: int) -> str | None:
        return self.values[self.codes[index]]

    def count(self, value: str) -> int:
        code = self._code.get(value)
        return 0 if code is None else self.codes.count(code)

    def objects(self) -> np.ndarray[Any, np.dtype[np.object_]]:
        import numpy as np

        values: np.ndarray[Any, np.dtype[np.object_]] = np.array(self.values, dtype=object)
        column: np.ndarray[Any, np.dtype[np.object_]] = values[np.frombuffer(self.codes, dtype="uint32")]
        return column

    def categorical(self, names: Sequence[str], dtype: pd.CategoricalDtype) -> pd.Categorical:
        import numpy as np
        import pandas as pd

        lookup = np.array([names.index(v) if v in names else -1 for v in self.values], dtype="int8")
        return pd.Categorical.from_codes(lookup[np.frombuffer(self.codes, dtype="uint32")], dtype=dtype)
