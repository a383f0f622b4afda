"""Pictures of the fleet and of a run, as Vega-Lite charts (Altair): pure functions, frame in, chart out.

    coverage(servers)   servers per region and state, locked vs unlocked; the unlocked ones listed on hover
    timeline(result)    sent, answered and final over time, retries and throttling marked, servers sent and
                        answered per second against the service's limit, and a latency histogram
    history_chart(runs) runs over time by outcome

Each chart carries only the columns it draws (no endpoint, no key, no message), inline, so a saved notebook
keeps a small spec and JupyterLab and Voilà render it with no JavaScript build. Altair is imported here
only, when a chart is drawn, never by `%load_ext`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pandas as pd

if TYPE_CHECKING:
    import altair as alt

#: Names listed in a coverage tooltip before "and N more".
HOVER_NAMES = 12
#: Outcome colours shared by the timeline and the history chart (successes green, failures red, others grey).
_GOOD = ("locked", "unlocked", "already_locked", "already_unlocked", "planned")
_BAD = (
    "invalid_id", "unauthorized", "forbidden", "not_found", "unsupported_version", "conflict", "rejected",
    "throttled", "server_error", "network_error", "unverified",
)  # fmt: skip
_THROTTLED_STATUS = (429, 417)
#: JupyterLab 4 and Voila render this MIME type with the Vega-Lite they ship; Altair 6's own (v6) they do not.
VEGALITE_MIME = "application/vnd.vegalite.v5+json"
_V5_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
RENDERER = "scp-widgets"


def native_bundle(spec: dict[str, Any], **_: Any) -> dict[str, Any]:
    """An Altair renderer: the spec under the MIME type JupyterLab and Voila draw natively, offline (the
    specs here use nothing newer than Vega-Lite 5), and a line of text for a terminal."""
    title = spec.get("title")
    text = title.get("text") if isinstance(title, dict) else title
    return {VEGALITE_MIME: {**spec, "$schema": _V5_SCHEMA}, "text/plain": f"<chart: {text or 'scp-widgets'}>"}


def use_native_renderer() -> None:
    """Draw charts natively in JupyterLab and Voila, unless the user picked an Altair renderer of their own
    (Altair's default loads Vega from a CDN, which an offline or locked-down console cannot reach)."""
    import altair as alt

    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, native_bundle)
    if alt.renderers.active == "default":
        alt.renderers.enable(RENDERER)


def debug_mode(on: bool) -> Any:
    from altair.utils.schemapi import debug_mode as altair_debug_mode

    return altair_debug_mode(on)


def _inline(values: list[dict[str, Any]]) -> Any:
    """Rows embedded in the spec itself (no data transformer, no file, no row cap). Not validated row by row
    as Altair's debug mode would on creation (0.85 s for 2,000 rows); the spec is validated when drawn."""
    import altair as alt

    with debug_mode(False):
        return alt.Data(values=values)  # type: ignore[no-untyped-call]


def _names(names: pd.Series) -> str:
    listed = [str(n) for n in names.dropna()]
    more = len(listed) - HOVER_NAMES
    text = ", ".join(listed[:HOVER_NAMES])
    return f"{text} and {more} more" if more > 0 else text


def coverage_data(servers: pd.DataFrame) -> pd.DataFrame:
    """One row per region, state and lock status: `servers` counted, `unlocked_names` for the unlocked ones."""
    frame = pd.DataFrame(
        {
            "region": servers["region"].astype("string") if "region" in servers else "",
            "state": servers["state"].astype("string").fillna("unknown"),
            "status": servers["locked"].map({True: "locked", False: "unlocked"}).fillna("unknown").astype(str),
            "name": servers["name"].astype("string").fillna(servers["id"].astype("string")),
        }
    )
    frame["region"] = frame["region"].fillna("").astype(str)
    grouped = frame.groupby(["region", "state", "status"], sort=True, observed=True)
    data = grouped.size().rename("servers").reset_index()
    names = grouped["name"].agg(_names).rename("names").reset_index()
    data = data.merge(names, on=["region", "state", "status"])
    data["unlocked_names"] = data["names"].where(data["status"] == "unlocked", "")
    return data.drop(columns="names").astype({"servers": "int64", "state": str})


def coverage(servers: pd.DataFrame) -> alt.Chart:
    """Servers per region and state, locked vs unlocked (a `list_servers()` frame, with or without regions)."""
    import altair as alt

    use_native_renderer()
    data = coverage_data(servers)
    regions = [r for r in data["region"].unique() if r]
    chart = (
        alt.Chart(_inline(_records(data)))
        .mark_bar()
        .encode(
            x=alt.X("servers:Q", title="servers", stack="zero"),
            y=alt.Y("state:N", title=None),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=["locked", "unlocked", "unknown"], range=["#2e7d32", "#c62828", "#9e9e9e"]),
                legend=alt.Legend(title=None, orient="top"),
            ),
            tooltip=["region:N", "state:N", "status:N", "servers:Q", alt.Tooltip("unlocked_names:N", title="unlocked")],
        )
        .properties(title="Lock coverage", width=360)
    )
    if regions:
        chart = chart.encode(row=alt.Row("region:N", title=None))
    return cast("alt.Chart", chart)


def _seconds(times: pd.Series, origin: pd.Timestamp) -> pd.Series:
    return ((times - origin).dt.total_seconds()).round(4).astype("Float64")


def timeline_data(result: pd.DataFrame) -> pd.DataFrame:
    """One row per row of the result frame: seconds from the run's start when each request was sent,
    answered and final, the answer's latency, the attempts, and whether throttling or retries touched it."""
    sent = result["sent_at"] if "sent_at" in result else result["started_at"]
    answered = result["answered_at"] if "answered_at" in result else result["finished_at"]
    origin = result["started_at"].min()
    if pd.isna(origin):
        origin = pd.Timestamp(0, tz="UTC")
    status = result["http_status"].astype("Int64")
    data = pd.DataFrame(
        {
            "row": range(len(result)),
            "server_id": result["server_id"].astype(str).to_numpy(),
            "outcome": result["outcome"].astype(str).to_numpy(),
            "attempts": result["attempts"].astype("int64").to_numpy(),
            "sent": _seconds(sent, origin).to_numpy(),
            "answered": _seconds(answered, origin).to_numpy(),
            "final": _seconds(result["finished_at"], origin).to_numpy(),
        }
    )
    data["latency_ms"] = ((data["answered"] - data["sent"]) * 1000).round(1)
    throttled = status.isin(_THROTTLED_STATUS).fillna(False).to_numpy() | (data["outcome"] == "throttled").to_numpy()
    data["mark"] = "first try"
    data.loc[data["attempts"] > 1, "mark"] = "retried"
    data.loc[throttled, "mark"] = "throttled"
    return data


#: Bin widths of the timeline's rate panel, seconds: the smallest giving at most RATE_BINS bins is used.
_RATE_STEPS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
RATE_BINS = 30


def rate_step(duration: Any) -> float:
    """The rate panel's bin width for a run lasting `duration` seconds (NA or 0: the smallest)."""
    seconds = 0.0 if pd.isna(duration) else float(duration)
    return next((step for step in _RATE_STEPS if seconds / step <= RATE_BINS), _RATE_STEPS[-1])


def _records(data: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: missing values become null (Vega-Lite skips them)."""
    plain = data.astype(object).where(data.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in plain.to_dict("records")]


TIMELINE_DATA = "run_rows"
#: Rows a timeline carries at most: past this the spec would weigh megabytes in the page, the widget state
#: and a saved notebook (50,000 rows were 10 MB), so an even sample stands in, each row weighted.
TIMELINE_POINTS = 2000


def weighted_sample(data: pd.DataFrame, points: int = TIMELINE_POINTS) -> pd.DataFrame:
    """`data` with a `weight` column: every row (weight 1) when it fits in `points`; else every retried or
    throttled row (up to half the points) and an even sample of the rest, each standing for its share."""
    data = data.assign(weight=1.0)
    if len(data) <= points:
        return data
    marked = data[data["mark"] != "first try"].head(points // 2)
    rest = data.drop(index=marked.index)
    keep = points - len(marked)
    step = len(rest) / keep
    sample = rest.iloc[[int(i * step) for i in range(keep)]].assign(weight=step)
    return pd.concat([marked, sample]).sort_values("row", ignore_index=True)


def timeline(
    result: pd.DataFrame, *, rate_limit: float | None = None, points: int = TIMELINE_POINTS
) -> alt.VConcatChart:
    """A run that explains itself: when each server was sent, answered and final (cumulative), the rows that
    needed retries or met throttling, servers sent and answered per second against `rate_limit` (the
    service's limit, requests/s, when known; else `attrs['rate_limit']`), and a histogram of the answers'
    latency. A run of more than `points` rows is drawn from a weighted sample of them (the title says so)."""
    import altair as alt

    use_native_renderer()
    data = weighted_sample(timeline_data(result), points)
    # The rows once, as a top-level named dataset: inline in each of the six charts below, Altair deep-copied
    # them six times over on the way to the spec (0.4 s for 2,000 rows).
    base = alt.Chart(alt.NamedData(name=TIMELINE_DATA))
    progress = (
        base.transform_fold(["sent", "answered", "final"], as_=["event", "t"])
        .transform_filter("isValid(datum.t)")
        .transform_window(done="sum(weight)", sort=[{"field": "t"}], groupby=["event"])
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("t:Q", title="seconds since the run started"),
            y=alt.Y("done:Q", title="servers"),
            color=alt.Color("event:N", sort=["sent", "answered", "final"], legend=alt.Legend(orient="top", title=None)),
        )
    )
    marks = (
        base.transform_filter("datum.mark != 'first try' && isValid(datum.answered)")
        .mark_point(shape="triangle-up", filled=True, size=60)
        .encode(
            x="answered:Q",
            y=alt.value(8),
            color=alt.Color("mark:N", scale=alt.Scale(domain=["retried", "throttled"], range=["#ef6c00", "#6a1b9a"])),
            tooltip=["server_id:N", "outcome:N", "attempts:Q", "mark:N", "latency_ms:Q"],
        )
    )
    run = alt.layer(progress, marks).resolve_scale(color="independent").properties(width=420, height=180)
    limit = rate_limit if rate_limit is not None else result.attrs.get("rate_limit")
    # servers first sent, and servers answered (their last attempt), per second, in bins that fit the run's
    # length (a 0.2 s run in 1 s bins was one dot): against the service's limit, the answered line is the
    # rate achieved; first sends above it are what throttling and retries absorbed
    step = rate_step(data[["sent", "answered"]].max().max())
    rate = (
        base.transform_fold(["sent", "answered"], as_=["event", "t"])
        .transform_filter("isValid(datum.t)")
        .transform_calculate(bin=f"floor(datum.t / {step}) * {step}")
        .transform_aggregate(servers="sum(weight)", groupby=["bin", "event"])
        .transform_calculate(per_second=f"datum.servers / {step}")
        .mark_line(point=True, interpolate="step-after")
        .encode(
            x=alt.X("bin:Q", title=f"seconds ({step:g} s bins)"),
            y=alt.Y("per_second:Q", title="servers per second"),
            color=alt.Color("event:N", sort=["sent", "answered"], legend=None),
            tooltip=["event:N", "bin:Q", "servers:Q", "per_second:Q"],
        )
    )
    if isinstance(limit, int | float):
        rule = alt.Chart(_inline([{"limit": float(limit)}])).mark_rule(color="#c62828", strokeDash=[4, 3])
        rate = alt.layer(rate, rule.encode(y="limit:Q", tooltip=["limit:Q"]))
    latency = (
        base.transform_filter("isValid(datum.latency_ms)")
        .mark_bar(color="#546e7a")
        .encode(
            x=alt.X("latency_ms:Q", bin=alt.Bin(maxbins=30), title="latency (ms)"),
            y=alt.Y("sum(weight):Q", title="servers"),
        )
    )
    side = alt.hconcat(rate.properties(width=200, height=120), latency.properties(width=200, height=120))
    title = str(result.attrs.get("summary") or "Run timeline")
    if len(data) < len(result):
        title += f" (drawn from a sample of {len(data):,} of {len(result):,} rows)"
    chart = alt.vconcat(run, side).properties(title=title)
    with debug_mode(False):  # the rows are checked when the spec is (on drawing), not each on its own here
        chart.datasets = {TIMELINE_DATA: _records(data)}
    return chart


def history_data(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run and outcome with a count: the outcome columns of a `history()` frame, folded."""
    known = set(_GOOD) | set(_BAD) | {"cancelled", "sent", "accepted"}
    outcomes = [c for c in runs.columns if c in known]
    long = runs[["run_id", "action", "started_at", *outcomes]].melt(
        id_vars=["run_id", "action", "started_at"], var_name="outcome", value_name="servers"
    )
    long = long[pd.to_numeric(long["servers"], errors="coerce").fillna(0) > 0]
    return pd.DataFrame(
        {
            "run_id": long["run_id"].astype(str),
            "action": long["action"].astype(str),
            "started_at": pd.to_datetime(long["started_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "outcome": long["outcome"].astype(str),
            "servers": long["servers"].astype("int64"),
        }
    ).reset_index(drop=True)


def history_chart(runs: pd.DataFrame) -> alt.Chart:
    """Runs over time, each a bar of its servers by outcome (a `history()` frame)."""
    import altair as alt

    use_native_renderer()
    data = history_data(runs)
    domain = [*_GOOD, "cancelled", "sent", "accepted", *_BAD]
    palette = ["#2e7d32"] * len(_GOOD) + ["#9e9e9e"] * 3 + ["#c62828"] * len(_BAD)
    chart = (
        alt.Chart(_inline(_records(data)))
        .mark_bar()
        .encode(
            # ordinal, one bar per run in time order: on a time scale, runs seconds apart were slivers
            # under millisecond ticks (".500"), and a year of runs is still read left to right
            x=alt.X("started_at:O", title="run started (UTC)", sort="ascending", axis=alt.Axis(labelAngle=-35)),
            y=alt.Y("sum(servers):Q", title="servers"),
            color=alt.Color("outcome:N", scale=alt.Scale(domain=domain, range=palette), legend=None),
            tooltip=["run_id:N", "action:N", "started_at:N", "outcome:N", "servers:Q"],
        )
        .properties(title="Runs by outcome", width=420, height=160)
    )
    return cast("alt.Chart", chart)
