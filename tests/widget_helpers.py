"""Looking into widgets as the front end would: every widget's state, and the Vega-Lite charts an `Output` holds."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from scp_widgets.views.charts import VEGALITE_MIME


def all_widget_states(root: w.Widget) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}

    def visit(widget: w.Widget) -> None:
        if widget.model_id in seen:
            return
        seen[widget.model_id] = widget.get_state()
        for name in widget.keys:
            value = getattr(widget, name)
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, w.Widget):
                    visit(item)

    visit(root)
    return list(seen.values())


def spec_in(output: w.Output) -> dict[str, Any]:
    (shown,) = output.outputs
    spec: dict[str, Any] = shown["data"][VEGALITE_MIME]
    return spec


def rows_in(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a chart draws: the largest inline dataset of its Vega-Lite spec."""

    def values(node: Any) -> list[list[dict[str, Any]]]:
        if isinstance(node, dict):
            own = [node["values"]] if isinstance(node.get("values"), list) else []
            if isinstance(node.get("datasets"), dict):  # top-level named datasets (the timeline's rows)
                own += [v for v in node["datasets"].values() if isinstance(v, list)]
            return own + [v for child in node.values() for v in values(child)]
        if isinstance(node, list):
            return [v for child in node for v in values(child)]
        return []

    return max(values(spec), key=len)
