"""`LockPanel`: pick servers, lock or unlock them, watch the progress and read the results, in a notebook.

    from scp_widgets import LockPanel
    p = LockPanel()        # credentials and endpoint as for `lock`: arguments, SCP_* variables, ~/.scpconf
    p                      # ... click Lock; then p.results is the run's DataFrame

Runs go on the shared background loop thread, so the kernel stays free while servers are locked; the panel
updates its widgets only by setting traits. Keys live in plain Python attributes (wrapped in `Secret`),
never in a trait, so nothing secret reaches the browser or a saved notebook.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import html
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import httpx
import ipywidgets as w
import pandas as pd

from .api import Connection, alist_servers, arun, plan_ids
from .bulk import CancelToken, Progress
from .credentials import Secret, as_secret
from .errors import ScpError, ScpRequestError, ScpUsageError
from .ids import normalise_id, split_ids
from .loop_thread import background_loop
from .options import JournalOption, RunOptions, whole_number
from .panel_history import HistoryView
from .panel_table import Level, common_failure, muted_line, results_table, status_line, summary_html
from .progress import Throttle, counts_text
from .results import SUCCESSES, message_for_error
from .versions import BUILTIN_CATALOG, ApiVersion, default_version

logger = logging.getLogger(__name__)
Action = Literal["lock", "unlock"]
_LOADING = "Loading the server list…"


class _Job:
    """A background future plus an event set once its results are on screen (what `wait` waits for)."""

    def __init__(self, future: concurrent.futures.Future[Any]) -> None:
        self.future = future
        self.shown = threading.Event()


class LockPanel(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """Lock and unlock SCP virtual servers from a notebook; `panel.results` is the last run's DataFrame."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        environment: str | None = None,
        api_version: str | None = None,
        concurrency: int = 16,
        access_key: str | None = None,
        secret_key: str | Secret | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        journal: JournalOption = True,
        autoload: bool = True,
        today: dt.date | None = None,
    ) -> None:
        secret_key = as_secret(secret_key)  # first: no frame holds it in clear
        # Plain attributes, not traits: ipywidgets syncs traits to the browser and into saved notebooks.
        self._connection = Connection(endpoint, region, environment, access_key, secret_key, transport=transport)
        self._concurrency = whole_number("concurrency", concurrency)  # a mistake shows now, not at the first click
        self._journal = journal
        self._today = today
        self._guard = threading.RLock()
        self._jobs: list[_Job] = []
        self._cancel: CancelToken | None = None
        self._running = False
        self._throttle = Throttle()
        self._fleet: pd.DataFrame | None = None
        self._labels: dict[str, str] = {}
        self._picked: list[str] = []
        self._syncing = False
        self._version_warning = ""
        self.results: pd.DataFrame | None = None
        self.history = HistoryView()  # past runs from the journal folder (panel_history.py)
        super().__init__([*self._build(), self.history], layout=w.Layout(max_width="1100px"))
        self.history.follow(self.summary_html)  # a finished run appears in the open History at once
        self._set_versions(BUILTIN_CATALOG, api_version)
        self._show_target()
        if autoload:
            self.refresh()

    # -- layout -------------------------------------------------------------------------------------------

    def _build(self) -> list[w.Widget]:
        self.title_html = w.HTML("<b style='font-size:14px'>SCP virtual servers: lock / unlock</b>")
        self.filter_box = w.Text(
            placeholder="Filter: name, state, id or 'locked' (space = and)", layout=w.Layout(flex="1 1 auto")
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh", tooltip="Reload the server list")
        self.selector = w.SelectMultiple(options=[], rows=12, layout=_fill())
        self.select_shown_button = w.Button(description="Select shown", layout=w.Layout(width="auto"))
        self.clear_button = w.Button(description="Clear", layout=w.Layout(width="auto"))
        self.chooser_hint = w.HTML()
        self.paste_box = w.Textarea(
            placeholder="Paste server ids here: separated by commas, spaces or new lines",
            rows=8,
            layout=_fill(),
        )
        self.version_dropdown = w.Dropdown(description="API version", layout=w.Layout(width="auto"))
        self.version_note = w.HTML()
        self.target_label = w.HTML()
        self.lock_button = w.Button(description="Lock", button_style="primary", icon="lock")
        self.unlock_button = w.Button(description="Unlock", button_style="warning", icon="unlock")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress_bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="320px"))
        self.counts_label = w.HTML()
        self.status_html = w.HTML(layout=_fill())
        self.summary_html = w.HTML(layout=_fill())
        self.table_html = w.HTML(layout=_fill())
        self._wire()
        return [
            self.title_html,
            w.HBox([self._chooser(), self._paste_column()], layout=_fill()),
            w.HBox(
                [self.lock_button, self.unlock_button, self.cancel_button, self.target_label],
                layout=w.Layout(align_items="center", margin="6px 0 0 0"),
            ),
            w.HBox([self.progress_bar, self.counts_label], layout=w.Layout(align_items="center")),
            self.status_html,
            self.summary_html,
            self.table_html,
        ]

    def _chooser(self) -> w.VBox:
        return w.VBox(
            [
                w.HTML("<b>Servers</b>"),
                w.HBox([self.filter_box, self.refresh_button], layout=_fill()),
                self.selector,
                w.HBox(
                    [self.select_shown_button, self.clear_button, self.chooser_hint],
                    layout=w.Layout(align_items="center"),
                ),
            ],
            layout=w.Layout(flex="3 1 0%", min_width="360px"),
        )

    def _paste_column(self) -> w.VBox:
        return w.VBox(
            [w.HTML("<b>Or paste ids</b>"), self.paste_box, self.version_dropdown, self.version_note],
            layout=w.Layout(flex="2 1 0%", min_width="260px", margin="0 0 0 16px"),
        )

    def _wire(self) -> None:
        self.filter_box.observe(lambda _: self._show_fleet(), names="value")
        self.selector.observe(self._on_select, names="value")
        self.paste_box.observe(lambda _: self._show_target(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.select_shown_button.on_click(lambda _: self._pick_shown())
        self.clear_button.on_click(lambda _: self._clear_picks())
        self.lock_button.on_click(lambda _: self.run("lock"))
        self.unlock_button.on_click(lambda _: self.run("unlock"))
        self.cancel_button.on_click(lambda _: self.cancel())

    # -- public ---------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def target_ids(self) -> list[str]:
        """What Lock/Unlock would act on: the picked servers (list order), then the pasted ids, each once."""
        pasted = [normalise_id(i) for i in split_ids(self.paste_box.value)]
        return list(dict.fromkeys(i for i in [*self._picked, *pasted] if i))

    def refresh(self) -> None:
        """Reload the server list and the version catalog in the background."""
        self.refresh_button.disabled = True
        self._say("info", _LOADING)
        self._track(background_loop().submit(self._load()), self._loaded, self._load_failed)

    def run(self, action: Action) -> None:
        """Start locking or unlocking the target servers; returns at once (see `wait`)."""
        try:
            self._start(action)
        except Exception as exc:  # a click must never raise into the kernel: say it in the panel
            self._set_running(False)
            self._say("error", f"Could not {action}: {_describe(exc)}")

    def cancel(self) -> None:
        """Stop sending; requests in flight finish, the rest come back `cancelled`."""
        token = self._cancel
        if token is not None and self._running:
            token.cancel()
            self.cancel_button.disabled = True
            self._say("warn", "Cancelling: waiting for the requests in flight; the rest will read 'cancelled'.")

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background work started so far is done and shown (for tests and scripts)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self._jobs):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.shown.wait(left):
                raise TimeoutError(f"the panel was still busy after {timeout} s")

    # -- background jobs ------------------------------------------------------------------------------

    def _track(
        self, future: concurrent.futures.Future[Any], show: Callable[[Any], None], fail: Callable[[str], None]
    ) -> None:
        job = _Job(future)
        with self._guard:
            self._jobs = [j for j in self._jobs if not j.shown.is_set()] + [job]

        def done(f: concurrent.futures.Future[Any]) -> None:
            # Runs on the loop thread: anything raised here would only reach a log, so catch and show it.
            try:
                show(f.result())
            except Exception as exc:
                fail(_describe(exc))
            finally:
                job.shown.set()

        future.add_done_callback(done)

    async def _load(self) -> tuple[tuple[ApiVersion, ...], pd.DataFrame, str]:
        client = self._connection.client(retries=2, timeout=15.0, concurrency=4)
        try:
            fleet = await alist_servers(client=client)  # through our client: its catalog, fetched once, is reused
            return await client.catalog(), fleet, client.endpoint
        finally:
            await client.aclose()

    def _loaded(self, loaded: tuple[tuple[ApiVersion, ...], pd.DataFrame, str]) -> None:
        catalog, fleet, endpoint = loaded
        with self._guard:
            self._fleet = fleet.sort_values(["name", "id"], na_position="last", ignore_index=True)
            self._labels = {str(row.id): _label(row) for row in self._fleet.itertuples()}
            self._picked = [i for i in self._picked if i in self._labels]
        self._set_versions(catalog, self.version_dropdown.value)
        self.title_html.value = (
            "<b style='font-size:14px'>SCP virtual servers: lock / unlock</b>"
            f" <span style='color:var(--jp-ui-font-color2,#616161)'>· {_escape(endpoint)}</span>"
        )
        self._show_fleet()
        self.refresh_button.disabled = False
        if self.status_html.value == status_line("info", _LOADING):  # leave any other message standing
            self._say("info", "")

    def _start(self, action: Action) -> None:
        if self._running:
            return
        ids = self.target_ids
        if not ids:
            self._say("error", "Nothing to do: pick servers in the list or paste ids first.")
            return
        try:
            options = RunOptions(
                api_version=self.version_dropdown.value, concurrency=self._concurrency, journal=self._journal
            )
        except ScpUsageError as exc:
            self._say("error", f"Nothing was sent: {exc}")
            return
        total = len(plan_ids(ids)[0])
        token = CancelToken()
        self._cancel = token
        self._set_running(True, total)
        self._say("info", f"{action.capitalize()}ing {total} server{'s' if total != 1 else ''}…")
        coro = arun(action, ids, options, connection=self._connection, progress=self._on_progress, cancel=token)
        self._track(background_loop().submit(coro), self._finished, self._run_failed)

    def _on_progress(self, progress: Progress) -> None:
        if self._throttle.due(progress):
            self._show_counts(progress.done, progress.total, progress.counts)

    def _finished(self, frame: pd.DataFrame) -> None:
        self.results = frame
        counts = {str(k): int(v) for k, v in frame["outcome"].value_counts().items() if v}
        self._show_counts(len(frame), len(frame), counts)
        self.progress_bar.bar_style = _bar_style(frame)
        self.summary_html.value = summary_html(frame)
        self.table_html.value = results_table(frame, self._names())
        self._note_lock_states(frame)
        self._set_running(False)
        self._say(*_verdict(frame))

    def _load_failed(self, reason: str) -> None:
        self.refresh_button.disabled = False
        self._say("error", f"Could not list the servers: {reason}")

    def _run_failed(self, reason: str) -> None:
        self._set_running(False)
        self._say("error", f"Nothing was sent: {reason}")

    # -- widget state ---------------------------------------------------------------------------------

    def _set_running(self, running: bool, total: int = 0) -> None:
        self._running = running
        self.lock_button.disabled = running
        self.unlock_button.disabled = running
        self.cancel_button.disabled = not running
        if running:
            self.progress_bar.bar_style = ""
            self.summary_html.value = ""
            self._throttle = Throttle()
            self._show_counts(0, total, {})

    def _show_counts(self, done: int, total: int, counts: dict[str, int]) -> None:
        self.progress_bar.max = max(total, 1)
        self.progress_bar.value = done
        text = html.escape(counts_text(done, total, counts))
        self.counts_label.value = f"<span style='font-variant-numeric:tabular-nums'>{text}</span>"

    def _say(self, level: Level, text: str) -> None:
        self.status_html.value = status_line(level, text)

    def _set_versions(self, catalog: Sequence[ApiVersion], wanted: str | None) -> None:
        today = self._today or dt.date.today()
        callable_ = [v for v in catalog if v.status_on(today).callable]
        blocked = [v for v in catalog if not v.status_on(today).callable]
        numbers = [v.number for v in callable_]
        default = default_version(catalog, today).number if callable_ else None
        self.version_dropdown.options = [(v.label(today), v.number) for v in callable_]
        self.version_dropdown.value = wanted if wanted in numbers else default
        if wanted and wanted not in numbers:  # only a constructor argument can ask for one: say so by the list
            self._version_warning = status_line("warn", f"API version {wanted} is not usable today; using {default}.")
        note = "; ".join(v.label(today) for v in blocked)
        self.version_note.value = self._version_warning + (muted_line(f"Not selectable: {note}") if note else "")

    # -- the server chooser ---------------------------------------------------------------------------

    def _shown_ids(self) -> list[str]:
        terms = self.filter_box.value.lower().split()
        return [i for i, label in self._labels.items() if all(t in f"{label} {i}".lower() for t in terms)]

    def _show_fleet(self) -> None:
        """Fill the list from the filter; picks hidden by the filter are kept, not dropped."""
        with self._guard:
            shown = self._shown_ids()
            visible = set(shown)
            self._syncing = True
            try:
                self.selector.options = [(self._labels[i], i) for i in shown]
                self.selector.value = tuple(i for i in self._picked if i in visible)
            finally:
                self._syncing = False
        self._show_target()

    def _on_select(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        with self._guard:
            visible = {value for _, value in self.selector.options}
            chosen = set(change["new"]) | {i for i in self._picked if i not in visible}
            self._picked = [i for i in self._labels if i in chosen]
        self._show_target()

    def _pick_shown(self) -> None:
        with self._guard:
            chosen = set(self._picked) | set(self._shown_ids())
            self._picked = [i for i in self._labels if i in chosen]
        self._show_fleet()

    def _clear_picks(self) -> None:
        with self._guard:
            self._picked = []
        self._show_fleet()

    def _show_target(self) -> None:
        shown = len(self.selector.options)
        hidden = len(self._picked) - len(self.selector.value)
        hint = f"{shown} of {len(self._labels)} shown · {len(self._picked)} picked"
        self.chooser_hint.value = _muted(hint + (f" ({hidden} hidden by the filter)" if hidden else ""))
        pasted = len(self.target_ids) - len(self._picked)
        target = f"Target: {len(self.target_ids)} server{'s' if len(self.target_ids) != 1 else ''}"
        self.target_label.value = _muted(target + (f" ({pasted} pasted)" if pasted else ""))

    def _names(self) -> dict[str, str]:
        fleet = self._fleet
        if fleet is None:
            return {}
        return {str(i): str(n) for i, n in zip(fleet["id"], fleet["name"], strict=True) if not pd.isna(n)}

    def _note_lock_states(self, frame: pd.DataFrame) -> None:
        """Update the 'locked' marks from what the run read back, without another listing call."""
        with self._guard:
            fleet = self._fleet
            if fleet is None:
                return
            ok = frame[frame["outcome"].astype("string").isin([str(o) for o in SUCCESSES]) & frame["locked"].notna()]
            states = dict(zip(ok["server_id"], ok["locked"], strict=True))
            fleet["locked"] = [states.get(i, old) for i, old in zip(fleet["id"], fleet["locked"], strict=True)]
            self._labels = {str(row.id): _label(row) for row in fleet.itertuples()}
        self._show_fleet()


def _fill() -> w.Layout:
    # "auto" stretches to the column; "100%" overflows it by the widget's own margin.
    return w.Layout(width="auto")


def _label(row: Any) -> str:
    """'web-001 · ACTIVE · locked · 2a9be312': name first for scanning, a short id to tell twins apart."""
    parts = [str(row.name) if not pd.isna(row.name) else "(no name)", str(row.state)]
    if not pd.isna(row.locked) and bool(row.locked):
        parts.append("locked")
    parts.append(str(row.id)[:8])
    return " · ".join(parts)


def _muted(text: str) -> str:
    return f"<span style='color:var(--jp-ui-font-color2,#616161)'>{_escape(text)}</span>"


def _escape(text: str) -> str:
    return html.escape(text)


def _bar_style(frame: pd.DataFrame) -> str:
    if frame.attrs.get("cancelled"):
        return "warning"
    ok = frame["outcome"].astype("string").isin([str(o) for o in SUCCESSES])
    return "success" if bool(ok.all()) else "danger"


def _verdict(frame: pd.DataFrame) -> tuple[Level, str]:
    """The status line after a run: the one reason when everything failed alike, else a deprecation note."""
    failure = None if frame.attrs.get("cancelled") else common_failure(frame)
    if failure:
        return "error", failure
    if frame.attrs.get("warning"):
        return "warn", str(frame.attrs["warning"])
    return "info", ""


def _describe(exc: BaseException) -> str:
    """One line for the panel, never a traceback."""
    if isinstance(exc, ScpRequestError):
        return message_for_error(exc)
    if isinstance(exc, ScpError):
        return str(exc)
    logger.error("scp-widgets panel: unexpected error", exc_info=exc)  # the traceback goes to the log only
    return f"{type(exc).__name__}: {exc}"
