"""A trajectory as a plotly figure: the totals over weeks in treatment and the target lines.

Presentation only: every number comes from the :class:`~.Trajectory` (the scorer's totals,
the measure file's targets). The figure is built with plotly's graph objects (so every
property is validated) and handed to plotly.js in the page as JSON. Text shown by plotly is
HTML-escaped first: plotly.js reads a few tags in labels, and labels come from data files.
"""

from __future__ import annotations

import html
from typing import Any

from . import _require
from ._trajectory import Trajectory

__all__ = ["CHART_CONFIG", "figure"]

#: plotly.js options of every chart: fits its box; no toolbar (it would cover the note that a
#: target is unconfirmed, top right; hovering a point still shows its date, week and total).
CHART_CONFIG = {"displayModeBar": False, "displaylogo": False, "responsive": True}

#: Line styles: the totals, then the target lines (color-blind-safe Okabe-Ito colors).
TOTAL_COLOR = "#0072B2"
LINE_STYLE = {
    "response": {"color": "#E69F00", "dash": "dash", "width": 2},
    "remission": {"color": "#009E73", "dash": "dot", "width": 2},
}
UNCONFIRMED_COLOR = "#B00020"


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _x_span(t: Trajectory) -> tuple[Any, Any]:
    """Where the target lines start and end: the initial assessment (or the first point) to
    as_of, widened to every point."""
    if t.start is not None:
        xs = [p.weeks for p in t.points if p.weeks is not None]
        end = t.as_of_weeks if t.as_of_weeks is not None else 0.0
        return min([0.0, *xs]), max([end, *xs])
    dates = [p.date for p in t.points]
    return (min(dates).isoformat() if dates else t.as_of.isoformat()), t.as_of.isoformat()


def figure(t: Trajectory) -> dict[str, Any]:
    """The plotly figure (``data`` and ``layout``, as JSON-ready dicts) of one trajectory.

    Raises :class:`~cocm_rules.BackendUnavailable` without plotly (the ``report`` extra).
    """
    go = _require.plotly_graph_objects()
    by_weeks = t.start is not None
    xs = [p.weeks if by_weeks else p.date.isoformat() for p in t.points]
    traces = [
        go.Scatter(
            x=xs,
            y=[p.total for p in t.points],
            mode="lines+markers",
            name=_text(f"{t.name} total"),
            line={"color": TOTAL_COLOR, "width": 2},
            marker={"size": 8},
            customdata=[
                [p.date.isoformat(), "" if p.weeks is None else int(p.weeks // 1), p.band or ""] for p in t.points
            ],
            hovertemplate="%{customdata[0]}"
            + (" \N{MIDDLE DOT} week %{customdata[1]}" if by_weeks else "")
            + "<br>total %{y} (%{customdata[2]})<extra></extra>",
        )
    ]
    x0, x1 = _x_span(t)
    for line in t.lines:
        traces.append(
            go.Scatter(
                x=[x0, x1],
                y=[line.total, line.total],
                mode="lines",
                name=_text(line.label),
                line=LINE_STYLE[line.target],
                hoverinfo="name",
            )
        )
    annotations = []
    if t.unconfirmed:
        what = " and ".join(line.target for line in t.unconfirmed)
        annotations.append(
            {
                "text": _text(f"{t.name} {what} target{'s' if len(t.unconfirmed) > 1 else ''} UNCONFIRMED"),
                "xref": "paper",
                "yref": "paper",
                "x": 1,
                "y": 1.02,
                "xanchor": "right",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"color": UNCONFIRMED_COLOR, "size": 12},
            }
        )
    y_range = None
    if t.range is not None:
        pad = (t.range[1] - t.range[0]) * 0.03  # a point at the floor or the top stays whole
        y_range = [t.range[0] - pad, t.range[1] + pad]
    layout = go.Layout(
        template="none",
        title={"text": _text(t.name), "x": 0, "xanchor": "left", "font": {"size": 15}},
        height=340,
        margin={"l": 56, "r": 16, "t": 40, "b": 40},
        font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12},
        xaxis={
            "title": {"text": "weeks since the initial assessment" if by_weeks else "date"},
            "zeroline": False,
            **({"type": "date"} if not by_weeks else {}),
        },
        yaxis={"title": {"text": _text(f"{t.name} total")}, "range": y_range, "zeroline": False},
        legend={"orientation": "h", "y": -0.3, "x": 0, "yanchor": "top"},
        annotations=annotations,
        showlegend=True,
    )
    return dict(go.Figure(data=traces, layout=layout).to_plotly_json())
