"""The server chooser at fleet scale: one page of widget state, picks as a set across pages and filters,
and a filter that matches words, not letters inside random ids."""

from __future__ import annotations

import json
import random
import uuid

import pandas as pd
import pytest

from scp_widgets.panel.chooser import PAGE_ROWS, ServerChooser
from scp_widgets.panel.server_index import ServerIndex


def fleet_of(count: int, *, regions: tuple[str, ...] = ()) -> pd.DataFrame:
    rng = random.Random(count)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": [f"{'db' if n % 10 == 0 else 'web'}-{n:05d}" for n in range(count)],
            "state": "ACTIVE",
            "locked": [n % 3 == 0 for n in range(count)],
        }
    )
    if regions:
        frame["region"] = [regions[n % len(regions)] for n in range(count)]
    return frame


def chooser_with(fleet: pd.DataFrame) -> tuple[ServerChooser, list[int]]:
    changes: list[int] = []
    chooser = ServerChooser(on_change=lambda: changes.append(1), on_refresh=lambda: None)
    chooser.load(fleet)
    return chooser, changes


def test_a_50000_server_fleet_puts_one_page_in_the_browser_and_select_shown_picks_all_matches() -> None:
    chooser, _ = chooser_with(fleet_of(50_000))
    assert len(chooser.selector.options) == PAGE_ROWS
    state = json.dumps(chooser.selector.get_state(), default=str)
    assert len(state) < 40_000  # was 450 KB for 10,000 servers: every label was in the widget state
    chooser.pick_shown()
    assert chooser.picked_count == 50_000 and len(chooser.picked) == 50_000
    assert len(chooser.selector.value) == PAGE_ROWS  # the page shows its picks; the rest stay picked
    assert "50000 of 50000 shown · 50000 picked (49750 hidden by the filter or page)" in chooser.hint()


def test_picks_survive_pages_and_filters_and_come_back_in_list_order() -> None:
    chooser, _ = chooser_with(fleet_of(1_000))
    first_page = [value for _, value in chooser.selector.options]
    chooser.selector.value = (first_page[5], first_page[2])
    chooser.turn(+1)
    second_page = [value for _, value in chooser.selector.options]
    assert second_page[0] not in first_page and chooser.selector.value == ()
    chooser.selector.value = (second_page[0],)
    assert chooser.picked == [first_page[2], first_page[5], second_page[0]]  # list order, not click order
    chooser.turn(-1)
    assert set(chooser.selector.value) == {first_page[2], first_page[5]}
    chooser.selector.value = (first_page[2],)  # unpicking on this page leaves the other page's pick alone
    assert chooser.picked == [first_page[2], second_page[0]]
    chooser.turn(-1)  # no page before the first
    assert chooser.previous_button.disabled and [v for _, v in chooser.selector.options] == first_page
    chooser.filter_box.value = "web"
    assert chooser.picked == [first_page[2], second_page[0]]


def test_the_pager_shows_only_when_the_matches_pass_a_page() -> None:
    chooser, _ = chooser_with(fleet_of(PAGE_ROWS * 2 + 10))
    assert chooser.pager.layout.display == "flex" and "rows 1 to 250 of 510" in chooser.page_html.value
    chooser.turn(+1)
    chooser.turn(+1)
    assert "rows 501 to 510 of 510" in chooser.page_html.value and chooser.next_button.disabled
    chooser.filter_box.value = "db"  # a new filter starts at its first page
    assert chooser.pager.layout.display == "none" and len(chooser.selector.options) == 51


def test_a_short_hex_word_matches_names_not_letters_inside_ids() -> None:
    index = ServerIndex(fleet_of(600))
    inside = [i for i in index.ids if "db" in i and "db" not in index.names[i]]
    assert inside  # random ids hold "db" somewhere: the old filter showed them all
    shown = index.match("db")
    assert shown and all(index.names[i].startswith("db-") for i in shown)
    some = index.ids[123]
    assert index.match(some[:6]) == [i for i in index.ids if i.startswith(some[:6])]  # an id's start
    assert index.match(some) == [some]
    middle = some[9:13]
    assert some not in index.match(middle)  # the middle of an id is not its start
    expected = [i for i in index.ids if i.startswith(middle) or middle in index.labels[i].rsplit(" · ", 1)[0]]
    assert index.match(middle) == expected  # an id's start, or a name's digits ("web-00840" for "0840")
    assert all(index.labels[i].endswith("locked · " + i[:8]) for i in index.match("locked"))
    assert index.match("web locked") == [i for i in index.match("locked") if index.names[i].startswith("web")]


def test_names_regions_and_marks_are_read_once_per_listing() -> None:
    fleet = fleet_of(30, regions=("kr-west1", "kr-east1"))
    index = ServerIndex(fleet)
    home = dict(zip(fleet["id"], fleet["region"], strict=True))
    picked = [i for i in fleet["id"] if home[i] == "kr-west1"][:3] + [i for i in fleet["id"] if home[i] == "kr-east1"][
        :1
    ]
    assert index.region_counts([*picked, "not-an-id"]) == {"kr-west1": 3, "kr-east1": 1, "not listed": 1}
    name = index.names[index.ids[0]]
    assert index.by_name[name.lower()] == [index.ids[0]]
    unlocked = next(i for i in index.ids if not index.lock_marks()[i])
    assert index.note_locks({unlocked: True}) and index.lock_marks()[unlocked]
    assert "· locked ·" in index.labels[unlocked]
    assert not index.note_locks({unlocked: True})  # nothing changed: no redraw owed


@pytest.mark.parametrize("count", [0, 1])
def test_an_empty_or_tiny_listing_has_no_pager(count: int) -> None:
    chooser, _ = chooser_with(fleet_of(count))
    assert chooser.pager.layout.display == "none" and len(chooser.selector.options) == count
    chooser.turn(+1)
    assert chooser.hint().startswith(f"{count} of {count} shown")
