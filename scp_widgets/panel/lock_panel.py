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

from scp_widgets.api import alist_servers
from scp_widgets.client.credentials import Secret, as_secret
from scp_widgets.client.errors import ScpError, ScpRequestError, ScpUsageError
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.client.versions import BUILTIN_CATALOG, ApiVersion, default_version
from scp_widgets.engine import rerun
from scp_widgets.engine.bulk import CancelToken, Progress
from scp_widgets.engine.connection import Connection
from scp_widgets.engine.results import SUCCESSES, ServerResult, message_for_error, to_frame
from scp_widgets.engine.runner import arun
from scp_widgets.engine.settings import JournalOption, RunOptions, whole_number
from scp_widgets.fleet.windows import pending_notice
from scp_widgets.panel.confirm import CONFIRM_ABOVE, ConfirmStep, already_in_state, needs_confirmation, question
from scp_widgets.panel.history import HistoryView
from scp_widgets.panel.region_picker import RegionPicker
from scp_widgets.panel.results import ResultsArea
from scp_widgets.panel.status import Level, common_failure, muted_line, status_line
from scp_widgets.panel.targets import Targets, names_index, paste_notes, target_line, targets
from scp_widgets.views.progress import Throttle, label, settled
from scp_widgets.views.results_view import level_of

logger = logging.getLogger(__name__)
Action = Literal["lock", "unlock"]
_LOADING = "Loading the server list…"
_BAR_STYLES = {"ok": "success", "warn": "warning", "error": "danger"}


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
        confirm_above: int = CONFIRM_ABOVE,
        regions: str | Sequence[str] | None = None,
        endpoints: dict[str, str] | None = None,
    ) -> None:
        secret_key = as_secret(secret_key)  # first: no frame holds it in clear
        # Plain attributes, not traits: ipywidgets syncs traits to the browser and into saved notebooks.
        self._connection = Connection(endpoint, region, environment, access_key, secret_key, transport=transport)
        self._concurrency = whole_number("concurrency", concurrency)  # a mistake shows now, not at the first click
        self._journal = journal
        self._confirm_above = confirm_above
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
        self._marks_stale = False
        self._version_warning = ""
        self._streamed: list[ServerResult] = []
        self.results: pd.DataFrame | None = None
        self.history = HistoryView()  # past runs from the journal folder (panel_history.py)
        self._layout: list[w.Widget] = [*self._build(), self.history]
        super().__init__(self._layout, layout=w.Layout(max_width="1100px", width="auto", min_width="0"))
        self.history.follow(self.summary_html)  # a finished run appears in the open History at once
        self.add_class("scp-panel")
        self.region_picker = RegionPicker(regions, endpoints, on_change=self.refresh) if regions else None
        if self.region_picker is not None:  # under the title: the list and every run span the picked regions
            title, *rest = self._layout
            self.children = (title, self.region_picker, *rest)
        self._set_versions(BUILTIN_CATALOG, api_version)
        self._show_target()
        if autoload:
            self.refresh()

    # -- layout -------------------------------------------------------------------------------------------

    def _build(self) -> list[w.Widget]:
        self.title_html = w.HTML(_title(""))
        self.filter_box = w.Text(
            placeholder="Filter: name, state, id or 'locked' (space = and)", layout=w.Layout(flex="1 1 auto")
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh", tooltip="Reload the server list")
        self.selector = w.SelectMultiple(options=[], rows=12, layout=_fill())
        self.select_shown_button = w.Button(description="Select shown", layout=w.Layout(width="auto"))
        self.clear_button = w.Button(
            description="Clear", layout=w.Layout(width="auto"), tooltip="Clear the picks and the paste box"
        )
        self.chooser_hint = w.HTML()
        self.paste_box = w.Textarea(
            placeholder="Paste server ids, console URLs or server names: separated by commas, spaces or new lines",
            rows=8,
            layout=_fill(),
        )
        self.paste_notes = w.HTML(layout=_fill())
        self.version_dropdown = w.Dropdown(description="API version", layout=w.Layout(width="auto"))
        self.concurrency_box = w.BoundedIntText(
            value=self._concurrency, min=1, max=1000, description="Concurrency",
            tooltip="Requests in flight at once (lower it when rows say 'throttled')", layout=w.Layout(width="200px"),
            style={"description_width": "initial"},
        )  # fmt: skip
        self.version_note = w.HTML()
        self.target_label = w.HTML(layout=w.Layout(min_width="0"))
        self.lock_button = w.Button(description="Lock", button_style="primary", icon="lock", tooltip="Lock")
        self.unlock_button = w.Button(description="Unlock", button_style="warning", icon="unlock", tooltip="Unlock")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True, tooltip="Cancel")
        self.confirm_step = ConfirmStep()
        self.progress_bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="240px"))
        self.counts_label = w.HTML(layout=w.Layout(min_width="0"))
        self.status_html = w.HTML(layout=_fill())
        self.results_area = ResultsArea(self.retry_failed, self.resume_cancelled)
        self._wire()
        wrap = w.Layout(align_items="center", flex_flow="row wrap", width="auto")
        return [
            self.title_html,
            # Two columns side by side when there is room; below about 1,000 px they stack.
            w.HBox([self._chooser(), self._paste_column()], layout=w.Layout(flex_flow="row wrap", width="auto")),
            w.HBox(
                [self.lock_button, self.unlock_button, self.cancel_button, self.target_label],
                layout=w.Layout(align_items="center", flex_flow="row wrap", width="auto", margin="6px 0 0 0"),
            ),
            self.confirm_step,
            w.HBox([self.progress_bar, self.counts_label], layout=wrap),
            self.status_html,
            self.results_area,
        ]

    @property
    def summary_html(self) -> w.HTML:
        return self.results_area.summary_html

    @property
    def table_html(self) -> w.HTML:
        return self.results_area.table_html

    def _chooser(self) -> w.VBox:
        return w.VBox(
            [
                w.HTML("<b>Servers</b>"),
                w.HBox([self.filter_box, self.refresh_button], layout=_fill()),
                self.selector,
                w.HBox(
                    [self.select_shown_button, self.clear_button, self.chooser_hint],
                    layout=w.Layout(align_items="center", flex_flow="row wrap"),
                ),
            ],
            layout=w.Layout(flex="3 1 480px", min_width="0", margin="0 16px 0 0"),
        )

    def _paste_column(self) -> w.VBox:
        return w.VBox(
            [
                w.HTML("<b>Or paste ids, console URLs or names</b>"),
                self.paste_box,
                self.paste_notes,
                self.version_dropdown,
                self.concurrency_box,
                self.version_note,
            ],
            layout=w.Layout(flex="2 1 300px", min_width="0"),
        )

    def _wire(self) -> None:
        self.filter_box.observe(lambda _: self._show_fleet(), names="value")
        self.selector.observe(self._on_select, names="value")
        self.paste_box.observe(lambda _: self._show_target(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.select_shown_button.on_click(lambda _: self._pick_shown())
        self.clear_button.on_click(lambda _: self.clear())
        self.lock_button.on_click(lambda _: self.run("lock"))
        self.unlock_button.on_click(lambda _: self.run("unlock"))
        self.cancel_button.on_click(lambda _: self.cancel())

    # -- public ---------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def target_ids(self) -> list[str]:
        """What Lock/Unlock would act on: the picked servers (list order), then the pasted entries resolved to
        ids, each once; entries that are not an id, a console URL or a listed name are left out."""
        return self.targets.ids

    @property
    def targets(self) -> Targets:
        with self._guard:
            return targets(self._picked, self.paste_box.value, names_index(self._names()))

    def clear(self) -> None:
        """Empty the picks and the paste box, and drop a run waiting for confirmation."""
        self.confirm_step.dismiss()
        with self._guard:
            self._picked = []
        self.paste_box.value = ""
        self._show_fleet()

    def refresh(self) -> None:
        """Reload the server list and the version catalog in the background."""
        self.refresh_button.disabled = True
        self._say("info", _LOADING)
        self._track(background_loop().submit(self._load()), self._loaded, self._load_failed)

    def run(self, action: Action) -> None:
        """Lock or unlock the target servers; returns at once (see `wait`). An unlock, or a run of more than
        `confirm_above` servers, first waits for Confirm (`confirm_step`): nothing is sent before."""
        plan = self.targets
        self._guarded(action, lambda: self._ask_or_start(action, plan.ids, {}, invalid=len(plan.invalid)))

    def retry_failed(self) -> None:
        """Send again exactly the failed rows of the last run (not invalid ids), with its settings."""
        self._rerun(rerun.failed_ids, "failed")

    def resume_cancelled(self) -> None:
        """Send exactly the cancelled rows of the last run, with its settings."""
        self._rerun(rerun.cancelled_ids, "cancelled")

    def _rerun(self, pick: Callable[[pd.DataFrame], list[str]], what: str) -> None:
        frame = self.results
        if frame is None:
            return
        action: Action = "unlock" if rerun.action_of(frame) == "unlock" else "lock"
        ids = pick(frame)
        if not ids:
            self._say("info", f"The last run has no {what} rows to send.")
            return
        settings = {k: v for k, v in rerun.same_settings(frame).items() if k != "endpoint"}  # same connection
        self._guarded(action, lambda: self._ask_or_start(action, ids, settings))

    def _guarded(self, action: Action, start: Callable[[], None]) -> None:
        try:
            start()
        except Exception as exc:  # a click must never raise into the kernel: say it in the panel
            self._set_running(False)
            self._say("error", f"Could not {action}: {_describe(exc)}")

    def cancel(self) -> None:
        """Stop sending and end the requests in flight (their rows say the change may have been applied)."""
        token = self._cancel
        if token is not None and self._running:
            token.cancel()
            self.cancel_button.disabled = True
            self._say("warn", "Cancelling: ending the requests in flight; the rest will read 'cancelled'.")

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
        if self.region_picker is not None:
            return await self.region_picker.load(self._connection)
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
        self.title_html.value = _title(endpoint)
        self._show_fleet()
        self.refresh_button.disabled = False
        notice = pending_notice()
        if notice:  # a dead process left servers unlocked: say so until relock_pending() runs
            self._say("warn", notice)
        elif self.status_html.value == status_line("info", _LOADING):  # leave any other message standing
            self._say("info", "")

    def _ask_or_start(self, action: Action, ids: list[str], settings: dict[str, Any], invalid: int = 0) -> None:
        if self._running or self.confirm_step.pending:
            return
        if not ids:
            self._say("error", "Nothing to do: pick servers in the list or paste ids first.")
            return
        if not needs_confirmation(action, len(ids), self._confirm_above):
            self._start(action, ids, settings)
            return
        already = already_in_state(action, ids, self._lock_marks())
        self._say("info", "")
        self._set_buttons(busy=True)
        self.confirm_step.ask(
            question(action, len(ids), already, invalid),
            lambda: self._guarded(action, lambda: self._start(action, ids, settings)),
            on_back=self._backed_out,
        )

    def _backed_out(self) -> None:
        self._set_buttons(busy=False)
        self._say("info", "Cancelled: nothing was sent.")

    def _start(self, action: Action, ids: list[str], settings: dict[str, Any]) -> None:
        if self._running:
            return
        chosen = {"api_version": self.version_dropdown.value, "concurrency": int(self.concurrency_box.value)}
        try:
            options = RunOptions(**{**chosen, **settings, "journal": self._journal})
        except ScpUsageError as exc:
            self._say("error", f"Nothing was sent: {exc}")
            return
        token = CancelToken()
        self._cancel = token
        self._set_running(True, len(ids))
        self._say("info", f"{action.capitalize()}ing {len(ids)} server{'s' if len(ids) != 1 else ''}…")
        if self.region_picker is not None:  # each id goes to the picked region whose listing holds it
            coro = self.region_picker.run(action, ids, options, self._connection, self._on_progress, token)
        else:
            coro = arun(action, ids, options, connection=self._connection, progress=self._on_progress, cancel=token)
        self._track(background_loop().submit(coro), self._finished, self._run_failed)

    def _on_progress(self, progress: Progress) -> None:
        # On the loop thread, once per event: collect every finished row, redraw at most ~10 times a second.
        if progress.last is not None:
            self._streamed.append(progress.last)
        self._throttle.offer(progress, self._show_progress)

    def _show_progress(self, progress: Progress) -> None:
        self.progress_bar.max = max(progress.total, 1)
        self.progress_bar.value = settled(progress)
        self._show_label(label(progress))
        if self._streamed:
            self.results_area.stream(to_frame(list(self._streamed)), self._names())

    def _finished(self, frame: pd.DataFrame) -> None:
        self.results = frame
        self.progress_bar.max = max(len(frame), 1)
        self.progress_bar.value = len(frame)
        counts = {str(k): int(v) for k, v in frame["outcome"].value_counts().items() if v}
        self._show_label(label(Progress(len(frame), len(frame), counts, 0.0)))
        self.progress_bar.bar_style = _BAR_STYLES[level_of(frame)]
        self.results_area.show(frame, self._names())
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
        self._set_buttons(busy=running)
        self.cancel_button.disabled = not running
        if running:
            self.progress_bar.bar_style = ""
            self.results_area.clear()
            self._streamed = []
            self._throttle = Throttle()
            self.progress_bar.max, self.progress_bar.value = max(total, 1), 0
            self._show_label(f"0/{total}")

    def _set_buttons(self, *, busy: bool) -> None:
        for button in (self.lock_button, self.unlock_button, self.results_area.retry_button):
            button.disabled = busy
        self.results_area.resume_button.disabled = busy

    def _show_label(self, text: str) -> None:
        self.counts_label.value = f"<span style='font-variant-numeric:tabular-nums'>{html.escape(text)}</span>"

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
                self._marks_stale = False
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

    def _show_target(self) -> None:
        shown = len(self.selector.options)
        hidden = len(self._picked) - len(self.selector.value)
        hint = f"{shown} of {len(self._labels)} shown · {len(self._picked)} picked"
        hint += f" ({hidden} hidden by the filter)" if hidden else ""
        if self._marks_stale:
            hint += " · lock marks update on the next filter or Refresh"
        self.chooser_hint.value = _muted(hint)
        plan = self.targets
        self.target_label.value = target_line(plan)
        self.paste_notes.value = paste_notes(plan)

    def _lock_marks(self) -> dict[str, bool]:
        fleet = self._fleet
        if fleet is None:
            return {}
        return {str(i): bool(v) for i, v in zip(fleet["id"], fleet["locked"], strict=True) if not pd.isna(v)}

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
            labels = {str(row.id): _label(row) for row in fleet.itertuples()}
            # Redrawing the list's options resets its scroll position in the browser: the new marks are
            # shown at the next redraw the user asks for (filter, Refresh, Select shown, Clear).
            self._marks_stale = labels != self._labels
            self._labels = labels
        self._show_target()


# Picked rows in the list: the theme's strongest text on its third layout colour, bold (the browser's default
# is grey on grey in a dark theme); >= 6:1 in the light, dark and high-contrast themes. Chrome paints an
# option's background only through a gradient.
_PICKED = "var(--jp-layout-color3,#bdbdbd)"
_PANEL_CSS = (
    ".scp-panel .widget-select-multiple select option:checked{"
    f"background:{_PICKED} linear-gradient(0deg,{_PICKED},{_PICKED});"
    "color:var(--jp-ui-font-color0,#000);font-weight:600}"
)


def _title(endpoint: str) -> str:
    where = f" <span style='color:var(--jp-ui-font-color2,#616161)'>· {_escape(endpoint)}</span>" if endpoint else ""
    return f"<style>{_PANEL_CSS}</style><b style='font-size:14px'>SCP virtual servers: lock / unlock</b>{where}"


def _fill() -> w.Layout:
    # "auto" stretches to the column; "100%" overflows it by the widget's own margin.
    return w.Layout(width="auto")


def _label(row: Any) -> str:
    """'web-001 · ACTIVE · locked · 2a9be312': name first for scanning, a short id to tell twins apart."""
    parts = [str(row.name) if not pd.isna(row.name) else "(no name)", str(row.state)]
    if "region" in row._fields and not pd.isna(row.region):
        parts.insert(1, str(row.region))
    if not pd.isna(row.locked) and bool(row.locked):
        parts.append("locked")
    parts.append(str(row.id)[:8])
    return " · ".join(parts)


def _muted(text: str) -> str:
    return f"<span style='color:var(--jp-ui-font-color2,#616161)'>{_escape(text)}</span>"


def _escape(text: str) -> str:
    return html.escape(text)


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
