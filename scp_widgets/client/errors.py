"""The exceptions scp-widgets raises.

Two families: `ScpUsageError` for a user's mistake (bad id, unknown region, retired version, missing
credentials), always one sentence and raised before anything is sent; and `ScpRequestError` for a call the
service (or the network) refused. No exception ever carries a secret or a signature.
"""

from __future__ import annotations

from typing import Literal


class ScpError(Exception):
    """Base class of every scp-widgets error."""


class ScpUsageError(ScpError, ValueError):
    """A user mistake, caught before any request is sent. Its message is one sentence."""


class CredentialsError(ScpUsageError):
    """No usable access key / secret key. `outside_python` is the same sentence for a face whose user cannot
    pass `access_key=` (a magic, the app): it names only the environment and the credentials file."""

    def __init__(self, message: str, outside_python: str | None = None) -> None:
        super().__init__(message)
        self.outside_python = outside_python or message


class EndpointError(ScpUsageError):
    """No endpoint, an unknown environment or region, or an unsafe URL."""


class UnsupportedVersionError(ScpUsageError):
    """The API version asked for is unknown, planned or retired."""


class InvalidServerIdError(ScpUsageError):
    """A server id that is not a UUID."""


class JournalError(ScpError, ValueError):
    """A journal file that is not an scp-widgets journal, or holds a corrupt record; one sentence naming the line."""


class JournalUnwritable(ScpUsageError):
    """A run's journal cannot be opened or started (a full disk, a folder gone, a file another run holds):
    nothing has been sent. A maintenance window's re-lock then runs without one (locking matters more)."""


class ScpRequestError(ScpError):
    """A request that did not succeed, after any retries. `attempts` counts the HTTP attempts made."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        #: The sentence a public call shows instead (what failed where, and what to do), when it set one.
        self.explanation: str | None = None

    def __str__(self) -> str:
        return self.explanation or super().__str__()


class ScpApiError(ScpRequestError):
    """The service answered with a non-2xx status.

    `code` is the SCP error code when the body had one, `request_id` the service's request id, and
    `retry_after` the seconds the service asked us to wait (429 and friends), when it said so.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        #: Seconds this call spent being throttled before giving up (set when it ran out of patience).
        self.throttled_for: float | None = None

    def __str__(self) -> str:
        if self.explanation:
            return self.explanation
        code = f" {self.code}" if self.code else ""
        rid = f" [request {self.request_id}]" if self.request_id else ""
        return f"HTTP {self.status}{code}: {self.message}{rid}"

    def __repr__(self) -> str:
        return f"ScpApiError(status={self.status}, code={self.code!r}, request_id={self.request_id!r})"


class ScpNetworkError(ScpRequestError):
    """No HTTP answer: connection refused or dropped, or a timeout."""


StopReason = Literal["unanswered", "credentials", "throttled"]


class NotSent(ScpRequestError):
    """The run stopped sending before this call went out (the service is gone, refused the credentials, or
    throttled everything); `reason` says which. `message` is the sentence for the row."""

    def __init__(self, reason: StopReason, message: str) -> None:
        super().__init__(message, attempts=0)
        self.reason = reason


class Aborted(ScpRequestError):
    """A cancel ended this call. `in_flight`: an attempt was on the wire, so the change may have been applied."""

    def __init__(self, *, in_flight: bool, attempts: int) -> None:
        what = "cancelled while the request was in flight" if in_flight else "cancelled before it was sent"
        super().__init__(what, attempts=attempts)
        self.in_flight = in_flight


class RetryCancelled(ScpRequestError):
    """A run was cancelled while this call waited to retry; `last` is the failure it was retrying."""

    def __init__(self, last: ScpRequestError) -> None:
        super().__init__(f"cancelled while waiting to retry after: {last}", attempts=last.attempts)
        self.last = last
