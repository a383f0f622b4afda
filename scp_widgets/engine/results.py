"""Per-server results, the outcome vocabulary, one-sentence messages, and the DataFrame they become."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal

from scp_widgets.client.errors import (
    Aborted,
    NotSent,
    RetryCancelled,
    ScpApiError,
    ScpNetworkError,
    ScpRequestError,
)
from scp_widgets.client.responses import GATEWAY_CODE
from scp_widgets.client.wording import counted

if TYPE_CHECKING:  # pandas (and numpy) are imported when a frame is built, never on the sending path
    import pandas as pd


class Outcome(StrEnum):
    LOCKED = "locked"
    UNLOCKED = "unlocked"
    ALREADY_LOCKED = "already_locked"
    ALREADY_UNLOCKED = "already_unlocked"
    PLANNED = "planned"
    INVALID_ID = "invalid_id"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNSUPPORTED_VERSION = "unsupported_version"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    NETWORK_ERROR = "network_error"
    UNVERIFIED = "unverified"
    CANCELLED = "cancelled"
    # Only in the frame `read_journal` rebuilds for a run that never finished (killed kernel, crash):
    SENT = "sent"  # the change request went out; no answer was recorded
    ACCEPTED = "accepted"  # the service accepted the change (2xx); the read-back never confirmed it


OUTCOME_BY_NAME: dict[str, Outcome] = {str(o): o for o in Outcome}
SUCCESSES = frozenset(
    {Outcome.LOCKED, Outcome.UNLOCKED, Outcome.ALREADY_LOCKED, Outcome.ALREADY_UNLOCKED, Outcome.PLANNED}
)
#: Outcomes worth sending again (the analysis notebook's "retry only the failed rows").
RETRYABLE = frozenset(
    {
        Outcome.THROTTLED, Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR, Outcome.UNVERIFIED, Outcome.CANCELLED,
        Outcome.SENT, Outcome.ACCEPTED,
    }
)  # fmt: skip

_BY_STATUS = {
    401: Outcome.UNAUTHORIZED,
    403: Outcome.FORBIDDEN,
    404: Outcome.NOT_FOUND,
    406: Outcome.UNSUPPORTED_VERSION,
    409: Outcome.CONFLICT,
    417: Outcome.THROTTLED,
    429: Outcome.THROTTLED,
}


#: Rows the run never sent because it stopped sending: the outcome names the cause, the message says "not sent".
#: The error code of a row the run never sent because it stopped sending.
NOT_SENT_CODE = "NOT_SENT"
_NOT_SENT = {"unanswered": Outcome.NETWORK_ERROR, "credentials": Outcome.UNAUTHORIZED, "throttled": Outcome.THROTTLED}


def outcome_for_error(error: ScpRequestError) -> Outcome:
    if isinstance(error, NotSent):
        return _NOT_SENT[error.reason]
    if isinstance(error, Aborted):
        return Outcome.CANCELLED
    if isinstance(error, ScpNetworkError):
        return Outcome.NETWORK_ERROR
    if isinstance(error, ScpApiError):
        if error.code == GATEWAY_CODE:  # the gateway, not the service, answered: say nothing about the server
            return Outcome.SERVER_ERROR if error.status >= 500 else Outcome.REJECTED
        if error.status in _BY_STATUS:
            return _BY_STATUS[error.status]
        return Outcome.SERVER_ERROR if error.status >= 500 else Outcome.REJECTED
    return Outcome.NETWORK_ERROR


def _after(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""


def message_for_error(error: ScpRequestError) -> str:
    """One human sentence for a failed call: what happened and what to do about it."""
    if isinstance(error, NotSent | Aborted):
        return error.message
    if isinstance(error, RetryCancelled):  # a cancel during a retry wait: say so, and what it was retrying
        return f"cancelled while waiting to retry after: {message_for_error(error.last)}"
    if isinstance(error, ScpNetworkError):
        return f"network error{_after(error.attempts)}: {error.message}; check the endpoint and your connection"
    if not isinstance(error, ScpApiError):  # any other failure says its own sentence (never an AssertionError)
        return error.message
    status, detail = error.status, error.message
    if error.code == GATEWAY_CODE:
        return f"{detail}: check the endpoint URL and that requests carry the Scp-* headers"
    match outcome_for_error(error):
        case Outcome.UNAUTHORIZED:
            return "signature rejected (401): check the secret key and the machine clock"
        case Outcome.FORBIDDEN:
            return "access denied (403): the server belongs to another account or the key lacks permission"
        case Outcome.NOT_FOUND:
            return "server not found in this account"
        case Outcome.UNSUPPORTED_VERSION:
            return f"the service refused this API version (406): {detail}"
        case Outcome.CONFLICT:
            return f"the service refused the change (409): {detail}"
        case Outcome.THROTTLED if error.throttled_for is not None:
            return (
                f"throttled by the service ({status}) for {error.throttled_for:.0f} s over {error.attempts} attempts, "
                "the longest a call waits on throttling; try again later or lower the concurrency"
            )
        case Outcome.THROTTLED:
            wait = f", it asked to wait {error.retry_after:g} s" if error.retry_after else ""
            return f"throttled by the service ({status}){_after(error.attempts)}{wait}; lower the concurrency"
        case Outcome.SERVER_ERROR:
            return f"service error ({status}){_after(error.attempts)}: {detail}"
        case _:
            return f"the service refused the request ({status}): {detail}"


@dataclass(slots=True)
class ServerResult:
    """The final word on one requested server. Times are epoch seconds (UTC)."""

    server_id: str
    action: str
    outcome: Outcome
    http_status: int | None = None
    locked: bool | None = None
    attempts: int = 0
    error_code: str | None = None
    message: str | None = None
    request_id: str | None = None
    api_version: str | None = None
    endpoint: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    #: When the change request first went out, and when its last attempt was answered (None: never sent).
    sent_at: float | None = None
    answered_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in SUCCESSES

    def to_record(self) -> dict[str, Any]:
        # Every field is a scalar: a flat copy, not dataclasses.asdict's recursive deep copy (5x the CPU).
        record = {name: getattr(self, name) for name in self.__slots__}
        record["outcome"] = str(self.outcome)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ServerResult:
        fields: dict[str, Any] = {k: record.get(k) for k in cls.__slots__}  # ignore keys a newer writer added
        outcome = fields["outcome"]
        fields["outcome"] = OUTCOME_BY_NAME.get(outcome) or Outcome(str(outcome))  # the dict: 3x faster per row
        fields["attempts"] = int(fields.get("attempts") or 0)
        return cls(**fields)


ACTIONS = ("lock", "unlock")
COLUMNS = (
    "server_id", "action", "outcome", "http_status", "locked", "attempts", "error_code", "message",
    "request_id", "api_version", "endpoint", "started_at", "finished_at", "elapsed_ms", "sent_at", "answered_at",
)  # fmt: skip


def category_dtypes() -> tuple[pd.CategoricalDtype, pd.CategoricalDtype]:
    """The `action` and `outcome` columns' dtypes (pandas imported on use)."""
    import pandas as pd

    return pd.CategoricalDtype(list(ACTIONS)), pd.CategoricalDtype([str(o) for o in Outcome])


#: The fields of a `ServerResult`, in order (its constructor's): the columns `result_frame` takes.
RESULT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ServerResult))
_TEXT_FIELDS = ("server_id", "error_code", "message", "request_id", "api_version", "endpoint")
_TIME_FIELDS = ("started_at", "finished_at", "sent_at", "answered_at")


def result_frame(columns: Mapping[str, Any], attrs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The result DataFrame (the contract's columns and dtypes) from one sequence per `RESULT_FIELDS` name:
    lists of the fields' values (the outcome as an `Outcome` or its name, times as epoch seconds or None),
    or, where a caller has them, arrays already of the column's type (a pandas array, a `Categorical`, a
    float array of seconds with NaN for none), used as they are. Every frame of results is built here.

    pandas is imported here, not with the module: a run's sending path needs none of it (the caller's thread
    imports it while the first run sends, `api.lock`)."""
    import numpy as np
    import pandas as pd

    actions, outcomes = category_dtypes()

    def strings(values: Any) -> Any:
        return values if isinstance(values, pd.api.extensions.ExtensionArray) else pd.array(values, dtype="string")

    def times(values: Any) -> pd.DatetimeIndex:
        if isinstance(values, pd.DatetimeIndex):
            return values
        if not isinstance(values, np.ndarray):
            values = np.array([np.nan if v is None else v for v in values], dtype="float64")
        stamps: pd.DatetimeIndex = pd.to_datetime(values * 1e9, unit="ns", utc=True).as_unit("ns")
        return stamps

    def categorical(values: Any, dtype: pd.CategoricalDtype) -> pd.Categorical:
        if isinstance(values, pd.Categorical):
            return values
        return pd.Categorical([None if v is None else str(v) for v in values], dtype=dtype)

    def typed(values: Any, dtype: str) -> Any:
        return values if isinstance(values, pd.api.extensions.ExtensionArray) else pd.array(values, dtype=dtype)

    at = {name: times(columns[name]) for name in _TIME_FIELDS}
    frame = pd.DataFrame(
        {
            **{name: strings(columns[name]) for name in _TEXT_FIELDS},
            "action": categorical(columns["action"], actions),
            "outcome": categorical(columns["outcome"], outcomes),
            "http_status": typed(columns["http_status"], "Int64"),
            "locked": typed(columns["locked"], "boolean"),
            "attempts": np.asarray(columns["attempts"], dtype="int64"),
            **at,
            "elapsed_ms": (at["finished_at"] - at["started_at"]).total_seconds().to_numpy(dtype="float64") * 1000.0,
        },
        columns=list(COLUMNS),
        copy=False,  # the columns are new arrays: copying them (pandas' default for a dict) doubled the peak
    )
    frame.attrs.update(attrs or {})
    return frame


def to_frame(results: Sequence[ServerResult], attrs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per result, in the given order, with the contract's columns and dtypes."""
    return result_frame({name: list(map(attrgetter(name), results)) for name in RESULT_FIELDS}, attrs)


def frame_from_rows(rows: Sequence[Sequence[Any]], attrs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The frame `to_frame` makes, from rows of plain values instead of `ServerResult`s: each row holds the
    values of `RESULT_FIELDS` in that order. Reading a journal back builds its rows this way, without an
    object per server."""
    return result_frame({name: [row[i] for row in rows] for i, name in enumerate(RESULT_FIELDS)}, attrs)


_RANK = {str(o): rank for rank, o in enumerate(Outcome)}


def count_outcomes(outcomes: Iterable[Outcome | str]) -> dict[str, int]:
    """Counts per outcome, most frequent first (ties in `Outcome` order, not in finishing order), no zeros."""
    return ordered_counts(Counter(str(o) for o in outcomes))


def ordered_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """The same counts in a stable order: most frequent first, ties in `Outcome` order; zeros left out."""
    kept = [(k, n) for k, n in counts.items() if n]
    return dict(sorted(kept, key=lambda kv: (-kv[1], _RANK.get(kv[0], len(_RANK)), kv[0])))


def summary_line(
    counts: Mapping[str, int], elapsed_s: float | None = None, *, duplicates: int = 0, not_sent: int = 0
) -> str:
    """e.g. '998 locked, 1 not_found, 1 forbidden in 3.1 s (2 duplicate ids ignored)'; a run that stopped
    sending says how many of its rows were never sent: '300 unauthorized in 0.3 s (284 not sent)'."""
    parts = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n) or "nothing to do"
    line = parts if elapsed_s is None else f"{parts} in {elapsed_s:.1f} s"
    if not_sent:
        line += f" ({not_sent} not sent)"
    return f"{line} ({counted(duplicates, 'duplicate id')} ignored)" if duplicates else line


def count_not_sent(error_codes: Iterable[object]) -> int:
    """Rows the run never sent because it stopped sending (the service gone, credentials refused...).

    Takes the results' codes or a frame's `error_code` column (whose missing values are pd.NA)."""
    return sum(1 for code in error_codes if isinstance(code, str) and code == NOT_SENT_CODE)


def utc_iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


# -- sections: how a row reads to an operator (the faces' sections, and what a rerun sends) ---------------

Section = Literal["failed", "unfinished", "cancelled", "succeeded"]
SECTIONS: tuple[Section, ...] = ("failed", "unfinished", "cancelled", "succeeded")
_SUCCESS_NAMES = frozenset(str(o) for o in SUCCESSES)
#: What a run that died left unknown (read back from its journal): sent, no answer; or accepted, not confirmed.
_UNFINISHED_NAMES = frozenset({str(Outcome.SENT), str(Outcome.ACCEPTED)})


def section_of(outcome: str) -> Section:
    if outcome in _SUCCESS_NAMES:
        return "succeeded"
    if outcome == Outcome.CANCELLED:
        return "cancelled"
    if outcome in _UNFINISHED_NAMES:
        return "unfinished"
    return "failed"


def sections(frame: pd.DataFrame) -> pd.Series:
    """The section of every row ('failed', 'cancelled', 'succeeded'), aligned with the frame."""
    import pandas as pd

    outcomes = frame["outcome"].astype("string")
    result = pd.Series("failed", index=frame.index, dtype="object")
    result[outcomes.isin(list(_SUCCESS_NAMES)).fillna(False).astype(bool)] = "succeeded"
    result[(outcomes == str(Outcome.CANCELLED)).fillna(False).astype(bool)] = "cancelled"
    result[outcomes.isin(list(_UNFINISHED_NAMES)).fillna(False).astype(bool)] = "unfinished"
    return result
