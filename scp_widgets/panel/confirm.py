"""The panel's confirmation step: nothing is sent until Confirm is pressed, for any unlock or a large run.

The step says how many servers, how many are already in the wanted state (from the listing) and how many
pasted entries were left out; Cancel backs out and sends nothing.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as w

from scp_widgets.client.wording import counted
from scp_widgets.engine.settings import CONFIRM_ABOVE  # runs touching more servers ask first (unlocks always ask)


def needs_confirmation(action: str, count: int, above: int = CONFIRM_ABOVE) -> bool:
    return action == "unlock" or count > above


def already_in_state(action: str, ids: Sequence[str], locked: Mapping[str, bool]) -> int:
    """How many of `ids` the listing shows already locked (for lock) or unlocked (for unlock)."""
    wanted = action == "lock"
    return sum(1 for i in ids if i in locked and locked[i] is wanted)


def question(action: str, count: int, already: int, invalid: int, per_region: Mapping[str, int] | None = None) -> str:
    """What Confirm would do, in one line: the action, how many per region, what is skipped, what is sent."""
    state = "locked" if action == "lock" else "unlocked"
    where = f" ({', '.join(f'{region}: {n}' for region, n in per_region.items())})" if per_region else ""
    parts = [
        f"{action.capitalize()} {count} server{'s' if count != 1 else ''}{where}?",
        f"{already} already {state} (per the list; sent too, so their state is confirmed)",
        f"{counted(invalid, 'invalid pasted entry')} left out",
    ]
    return " · ".join(parts) + ". Nothing is sent until you confirm."


class ConfirmStep(w.HBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """A line and two buttons, hidden until `ask`; Confirm runs the held action once, Cancel drops it."""

    def __init__(self) -> None:
        self.line = w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.confirm_button = w.Button(description="Confirm", button_style="danger", tooltip="Confirm")
        # "Back", not "Cancel": the run's own Cancel button stops a run; this one backs out before any
        self.back_button = w.Button(description="Back", tooltip="Back out: send nothing")
        self._held: Callable[[], None] | None = None
        self._on_back: Callable[[], None] | None = None
        self.confirm_button.on_click(lambda _: self.confirm())
        self.back_button.on_click(lambda _: self.back_out())
        super().__init__(
            [self.line, self.confirm_button, self.back_button],
            layout=w.Layout(display="none", align_items="center", flex_flow="row wrap", margin="4px 0",
                            padding="4px 8px", border="1px solid var(--jp-warn-color1, #f57c00)"),
        )  # fmt: skip

    @property
    def pending(self) -> bool:
        return self._held is not None

    def ask(
        self, text: str, run: Callable[[], None], on_back: Callable[[], None] | None = None, *, label: str = "Confirm"
    ) -> None:
        """Show the question (an alert a screen reader announces) with Confirm focused: the button the user
        clicked is disabled now, and focus must not fall back to the page."""
        self._held, self._on_back = run, on_back
        self.line.value = f'<div role="alert" aria-live="assertive"><b>⚠</b> {html.escape(text)}</div>'
        self.confirm_button.description = label
        self.layout.display = "flex"
        self.confirm_button.focus()

    def confirm(self) -> None:
        held = self._held
        self.dismiss()
        if held is not None:
            held()

    def back_out(self) -> None:
        on_back = self._on_back
        self.dismiss()
        if on_back is not None:
            on_back()

    def dismiss(self) -> None:
        self._held = self._on_back = None
        self.line.value = ""
        self.layout.display = "none"
