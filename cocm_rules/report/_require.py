"""The optional dependencies of the HTML report (the ``report`` extra), imported when used.

Building the report's data (:func:`~cocm_rules.report.build_report`) needs none of them;
rendering it needs plotly (the charts and plotly.js, inlined) and Jinja2 (the page).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..errors import BackendUnavailable

__all__ = ["jinja2", "plotly_graph_objects", "plotly_js", "require"]

WHAT = "the HTML report"
EXTRA = "report"


def require() -> None:
    """Import everything rendering needs (cheap once imported), or raise BackendUnavailable
    with the install line before any work is done."""
    jinja2()
    plotly_graph_objects()
    try:
        import plotly.offline  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable(WHAT, EXTRA, cause=str(e)) from e


def plotly_graph_objects() -> Any:
    """``plotly.graph_objects``, or BackendUnavailable with the install line."""
    try:
        import plotly.graph_objects as go
    except ImportError as e:
        raise BackendUnavailable(WHAT, EXTRA, cause=str(e)) from e
    return go


@cache
def plotly_js() -> str:
    """plotly.js as shipped inside the plotly package (inlined in the page: nothing is fetched)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise BackendUnavailable(WHAT, EXTRA, cause=str(e)) from e
    js: str = get_plotlyjs()
    if "</script" in js.lower():  # it could not be inlined in a <script> element
        raise BackendUnavailable(WHAT, EXTRA, fix="this plotly release's plotly.js cannot be inlined; install another")
    return js


def jinja2() -> Any:
    """The ``jinja2`` module, or BackendUnavailable with the install line."""
    try:
        import jinja2
    except ImportError as e:
        raise BackendUnavailable(WHAT, EXTRA, cause=str(e)) from e
    return jinja2
