"""`LockPanel`: pick servers, lock or unlock them, watch the progress and read the results, in a notebook.

    from scp_widgets import LockPanel
    p = LockPanel()        # credentials and endpoint as for `lock`: arguments, SCP_* variables, ~/.scpconf
    p                      # ... click Lock; then p.results is the run's DataFrame

Runs go on the shared background loop thread, so the kernel stays free while servers are locked; the panel
updates its widgets only by setting traits. Keys live in plain Python attributes (wrapped in `Secret`),
never in a trait, so nothing secret reaches the browser or a saved notebook.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as w
import pandas as pd

from scp_widgets.client.credentials import Secret, as_secret
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.client.loop_thread import background_loop
from scp_widgets.client.versions import BUILTIN_CATALOG, ApiVersion
from scp_widgets.engine.bulk import Progress
from scp_widgets.engine.cancel import CancelToken
from scp_widgets.engine.connection import Connection
from scp_widgets.engine.settings import CONFIRM_ABOVE, JournalOption, RunOptions, whole_number
from scp_widgets.fleet.windows import pending_notice
from scp_widgets.panel.chooser import ServerChooser, panel_title
from scp_widgets.panel.confirm import ConfirmStep, already_in_state, needs_confirmation, question
from scp_widgets.panel.history import HistoryView
from scp_widgets.panel.jobs import Jobs, describe
from scp_widgets.panel.options_column import OptionsColumn
from scp_widgets.panel.region_picker import RegionPicker
from scp_widgets.panel.results import ResultsArea
from scp_widgets.panel.run_status import RunStatus, verdict
from scp_widgets.panel.service import load_fleet, rerun_of, run_coroutine
from scp_widgets.panel.status import Level, status_line
from scp_widgets.panel.targets import Targets, paste_notes, target_line

if TYPE_CHECKING:
    import httpx

Action = Literal["lock", "unlock"]
_LOADING = "Loading the server list…"


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
        self._jobs = Jobs()
        self._cancel: CancelToken | None = None
        self._running = False
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
        self.options_column.set_versions(BUILTIN_CATALOG, api_version)
        self._show_target()
        if autoload:
            self.refresh()

    # -- layout -------------------------------------------------------------------------------------------

    def _build(self) -> list[w.Widget]:
        self.title_html = w.HTML(panel_title(""))
        self.chooser = ServerChooser(on_change=self._show_target, on_refresh=self.refresh)
        # the chooser's widgets by their old names (tests and scripts click them)
        self.filter_box, self.refresh_button = self.chooser.filter_box, self.chooser.refresh_button
        self.selector, self.select_shown_button = self.chooser.selector, self.chooser.select_shown_button
        self.clear_button, self.chooser_hint = self.chooser.clear_button, self.chooser.hint_html
        self.options_column = OptionsColumn(self._concurrency, self._today)
        self.paste_box, self.paste_notes = self.options_column.paste_box, self.options_column.paste_notes
        self.version_dropdown = self.options_column.version_dropdown
        self.concurrency_box, self.version_note = self.options_column.concurrency_box, self.options_column.version_note
        self.target_label = w.HTML(layout=w.Layout(min_width="0"))
        self.lock_button = w.Button(description="Lock", button_style="primary", icon="lock", tooltip="Lock")
        self.unlock_button = w.Button(description="Unlock", button_style="warning", icon="unlock", tooltip="Unlock")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True, tooltip="Cancel")
        self.confirm_step = ConfirmStep()
        self.run_status = RunStatus()
        self.progress_bar, self.counts_label = self.run_status.progress_bar, self.run_status.counts_label
        self.status_html = self.run_status.status_html
        self.results_area = ResultsArea(self.retry_failed, self.resume_cancelled)
        self.summary_html, self.table_html = self.results_area.summary_html, self.results_area.table_html
        self._wire()
        wrap = w.Layout(align_items="center", flex_flow="row wrap", width="auto")
        return [
            self.title_html,
            # Two columns side by side when there is room; below about 1,000 px they stack.
            w.HBox([self.chooser, self.options_column], layout=w.Layout(flex_flow="row wrap", width="auto")),
            w.HBox(
                [self.lock_button, self.unlock_button, self.cancel_button, self.target_label],
                layout=w.Layout(align_items="center", flex_flow="row wrap", width="auto", margin="6px 0 0 0"),
            ),
            self.confirm_step,
            w.HBox([self.progress_bar.widget, self.counts_label], layout=wrap),
            self.status_html,
            self.results_area,
        ]

    def _wire(self) -> None:
        self.paste_box.observe(lambda _: self._show_target(), names="value")
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
            return self.chooser.plan(self.paste_box.value)

    def clear(self) -> None:
        """Empty the picks and the paste box, and drop a run waiting for confirmation."""
        self.confirm_step.dismiss()
        self.paste_box.value = ""
        self.chooser.clear()

    def refresh(self) -> None:
        """Reload the server list and the version catalog in the background."""
        self.refresh_button.disabled = True
        self._say("info", _LOADING)
        self._jobs.track(
            background_loop().submit(load_fleet(self._connection, self.region_picker)), self._loaded, self._load_failed
        )

    def run(self, action: Action) -> None:
        """Lock or unlock the target servers; returns at once (see `wait`). An unlock, or a run of more than
        `confirm_above` servers, first waits for Confirm (`confirm_step`): nothing is sent before."""
        plan = self.targets
        self._guarded(action, lambda: self._ask_or_start(action, plan.ids, {}, invalid=len(plan.invalid)))

    def retry_failed(self) -> None:
        """Send again exactly the failed rows of the last run (not invalid ids), with its settings."""
        self._rerun("failed")

    def resume_cancelled(self) -> None:
        """Send exactly the cancelled rows of the last run, with its settings."""
        self._rerun("cancelled")

    def _rerun(self, what: Literal["failed", "cancelled"]) -> None:
        if self.results is None:
            return
        action, ids, settings = rerun_of(self.results, what)
        if not ids:
            self._say("info", f"The last run has no {what} rows to send.")
            return
        self._guarded(action, lambda: self._ask_or_start(action, ids, settings))

    def _guarded(self, action: Action, start: Callable[[], None]) -> None:
        try:
            start()
        except Exception as exc:  # a click must never raise into the kernel: say it in the panel
            self._set_running(False)
            self._say("error", f"Could not {action}: {describe(exc)}")

    def cancel(self) -> None:
        """Stop sending and end the requests in flight (their rows say the change may have been applied)."""
        token = self._cancel
        if token is not None and self._running:
            token.cancel()
            self.cancel_button.disabled = True
            self._say("warn", "Cancelling: ending the requests in flight; the rest will read 'cancelled'.")

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background work started so far is done and shown (for tests and scripts)."""
        self._jobs.wait(timeout)
        self.results_area.charts.wait(timeout)

    # -- background jobs ------------------------------------------------------------------------------

    def _loaded(self, loaded: tuple[tuple[ApiVersion, ...], pd.DataFrame, str]) -> None:
        catalog, fleet, endpoint = loaded
        self.options_column.set_versions(catalog, self.version_dropdown.value)
        self.title_html.value = panel_title(endpoint)
        self.chooser.load(fleet)
        self.results_area.charts.show_coverage_soon(fleet)
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
        already = already_in_state(action, ids, self.chooser.lock_marks())
        self._say("info", "")
        self._set_buttons(busy=True)
        self.confirm_step.ask(
            question(action, len(ids), already, invalid, self.chooser.region_counts(ids)),
            lambda: self._guarded(action, lambda: self._start(action, ids, settings)),
            on_back=lambda: self._backed_out(action), label=f"Confirm {action} of {len(ids)}",
        )  # fmt: skip

    def _backed_out(self, action: Action) -> None:
        self._set_buttons(busy=False)
        (self.lock_button if action == "lock" else self.unlock_button).focus()  # back where the user was
        self._say("info", "Backed out: nothing was sent.")

    def _start(self, action: Action, ids: list[str], settings: dict[str, Any]) -> None:
        if self._running:
            return
        chosen = {"api_version": self.version_dropdown.value, "concurrency": int(self.concurrency_box.value)}
        try:
            options = RunOptions(**{**chosen, **settings, "journal": self._journal})
        except ScpUsageError as exc:
            self._set_running(False)  # the buttons a confirmation disabled come back: one sentence, no dead panel
            self._say("error", f"Nothing was sent: {exc}")
            return
        token = CancelToken()
        self._cancel = token
        self._set_running(True, len(ids))
        self.cancel_button.focus()  # the one button that acts on a running run
        self._say("info", f"{action.capitalize()}ing {len(ids)} server{'s' if len(ids) != 1 else ''}…")
        coro = run_coroutine(action, ids, options, self._connection, self.region_picker, self._on_progress, token)
        self._jobs.track(background_loop().submit(coro), self._finished, self._run_failed)

    def _on_progress(self, progress: Progress) -> None:
        self.run_status.offer(progress, lambda recent: self.results_area.stream(recent, self.chooser.names()))

    def _finished(self, frame: pd.DataFrame) -> None:
        self.results = frame
        self.run_status.finish(frame)  # the bar's colour first: it is on screen when the summary is
        self.results_area.show(frame, self.chooser.names())
        self.chooser.note_lock_states(frame)
        self.results_area.charts.show_coverage_soon(self.chooser.index.current())  # as the run read it back
        self._set_running(False)
        self._say(*verdict(frame))

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
            self.results_area.clear()
            self.run_status.start(total)

    def _set_buttons(self, *, busy: bool) -> None:
        for button in (self.lock_button, self.unlock_button, self.results_area.retry_button):
            button.disabled = busy
        self.results_area.resume_button.disabled = busy

    def _say(self, level: Level, text: str) -> None:
        self.run_status.say(level, text)

    def _show_target(self) -> None:
        self.chooser.hint()
        plan = self.targets
        self.target_label.value = target_line(plan)
        self.paste_notes.value = paste_notes(plan)
