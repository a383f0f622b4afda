"""`RunOptions`: the settings of one bulk run, checked once, in the caller's thread, before anything is sent.

The engine (`bulk.run_bulk`) and `api.arun` take one `RunOptions` instead of loose arguments; `lock`,
`unlock`, the magics and the panel build it. A wrong type or an out-of-range value is one `ScpUsageError`
sentence that names the setting, the allowed values and what was given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from os import PathLike
from typing import Any

from scp_widgets.client.errors import ScpUsageError
from scp_widgets.client.wording import a_type

JournalOption = str | PathLike[str] | bool | None

#: (low, high) of each numeric setting; the magics' `%config` checks the same ranges.
RANGES: dict[str, tuple[float, float]] = {
    "concurrency": (1, 1000),
    "retries": (0, 20),
    "timeout": (0.001, 3600),
    "verify_timeout": (0, 3600),
}


def _given(value: Any) -> str:
    return f"{value!r} ({a_type(value)})"


def whole_number(name: str, value: Any) -> int:
    """An int in RANGES[name] (not a bool, a float or a str that looks like one)."""
    low, high = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScpUsageError(f"{name} must be a whole number from {low:g} to {high:g}, not {_given(value)}.")
    _in_range(name, value)
    return value


def seconds(name: str, value: Any) -> float:
    """A number of seconds in RANGES[name]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        low, high = RANGES[name]
        raise ScpUsageError(f"{name} must be a number of seconds from {low:g} to {high:g}, not {_given(value)}.")
    _in_range(name, value)
    return float(value)


def _in_range(name: str, value: float) -> None:
    low, high = RANGES[name]
    if not low <= value <= high:
        raise ScpUsageError(f"{name} must be between {low:g} and {high:g}, not {value!r}.")


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ScpUsageError(f"{name} must be True or False, not {_given(value)}.")
    return value


def version_text(value: Any) -> str | None:
    """`api_version` as text: "1.3", or 1.3 written as a float (read as written: repr(1.3) is '1.3')."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    raise ScpUsageError(f"api_version must be text like '1.3', not {_given(value)}.")


def optional_text(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ScpUsageError(f"{name} must be a string, not {_given(value)}.")
    return value


def journal_option(value: Any) -> JournalOption:
    if value is None or isinstance(value, bool | str | PathLike):
        return value
    raise ScpUsageError(f"journal must be True, False or a file path, not {_given(value)}.")


@dataclass(frozen=True)
class RunOptions:
    """How one bulk run behaves (see `scp_widgets.lock` for each setting's meaning)."""

    api_version: str | None = None
    concurrency: int = 16
    retries: int = 3
    timeout: float = 15.0
    verify: bool = True
    verify_timeout: float = 10.0
    preflight: bool = False
    dry_run: bool = False
    journal: JournalOption = True
    journal_fsync: bool = False

    def __post_init__(self) -> None:
        checked = {
            "api_version": version_text(self.api_version),
            "concurrency": whole_number("concurrency", self.concurrency),
            "retries": whole_number("retries", self.retries),
            "timeout": seconds("timeout", self.timeout),
            "verify_timeout": seconds("verify_timeout", self.verify_timeout),
            "verify": flag("verify", self.verify),
            "preflight": flag("preflight", self.preflight),
            "dry_run": flag("dry_run", self.dry_run),
            "journal": journal_option(self.journal),
            "journal_fsync": flag("journal_fsync", self.journal_fsync),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)


#: Unlocks of more servers than this need an explicit yes: `confirm=True`, the magics' `--yes`, the panel's Confirm.
CONFIRM_ABOVE = 25
#: A kernel's own threshold (`%env SCP_WIDGETS_CONFIRM_ABOVE=100`), for operators who unlock large sets daily.
CONFIRM_ABOVE_ENV = "SCP_WIDGETS_CONFIRM_ABOVE"


def confirm_above() -> int:
    """The threshold in force: SCP_WIDGETS_CONFIRM_ABOVE when it is a whole number >= 0, else CONFIRM_ABOVE."""
    text = os.environ.get(CONFIRM_ABOVE_ENV, "").strip()
    if not text:
        return CONFIRM_ABOVE
    if not text.isdigit():
        raise ScpUsageError(f"{CONFIRM_ABOVE_ENV} must be a whole number of servers such as 100, not {text!r}.")
    return int(text)


def check_unlock_confirmed(count: int, *, confirm: bool, what: str = "") -> None:
    """One sentence before anything is sent when an unlock of `count` servers needs `confirm=True`."""
    limit = confirm_above()
    if not confirm and count > limit:
        raise ScpUsageError(
            f"Unlocking {count} servers{what} needs confirm=True (in a magic: --yes), as more than {limit} do; "
            "nothing was sent. Check the list first with dry_run=True (--dry-run)."
        )


#: The settings a rerun reuses: what the user asked for, never what a run spent.
RERUN_SETTINGS = (
    "api_version",
    "concurrency",
    "retries",
    "timeout",
    "verify",
    "verify_timeout",
    "preflight",
    "dry_run",
)


def settings_record(options: RunOptions) -> dict[str, Any]:
    """The settings as JSON for a journal header (`settings`); the journal path itself is not a setting."""
    return {name: getattr(options, name) for name in RERUN_SETTINGS}


def settings_from_record(record: Any) -> RunOptions | None:
    """The settings a journal header recorded, or None when it has none that check (an older or odd file)."""
    if not isinstance(record, dict):
        return None
    try:
        return RunOptions(**{k: v for k, v in record.items() if k in RERUN_SETTINGS})
    except (ScpUsageError, TypeError):
        return None


@dataclass(frozen=True)
class RunOutcome:
    """What happened in one run: counts, time, retries spent. Kept apart from `RunOptions` so that nothing a
    run spent is ever taken for what the user asked (a rerun once reused the 27 retries spent as its setting)."""

    counts: dict[str, int]
    elapsed_s: float
    retries_spent: int
    retries_denied: int
    cancelled: bool
    not_sent: int
    summary: str

    def record(self) -> dict[str, Any]:
        """The footer fields of the journal (and the frame's attrs) for this outcome."""
        return {
            "counts": self.counts, "elapsed_s": self.elapsed_s, "retries_spent": self.retries_spent,
            "retries_denied": self.retries_denied, "cancelled": self.cancelled, "not_sent": self.not_sent,
            "summary": self.summary,
        }  # fmt: skip


__all__ = [
    "CONFIRM_ABOVE",
    "RANGES",
    "RERUN_SETTINGS",
    "JournalOption",
    "RunOptions",
    "RunOutcome",
    "settings_from_record",
    "settings_record",
]
