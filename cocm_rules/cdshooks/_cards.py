"""Alerts as CDS Hooks cards: presentation only, no clinical decision.

CDS Hooks 2.0, "CDS Service Response" / "Card Attributes": a card has a ``summary``
("One-sentence, <140-character summary"), an ``indicator`` (``info``, ``warning`` or
``critical``, in order of increasing urgency), a ``source`` (``label`` REQUIRED; ``url``,
``icon``, ``topic`` a Coding), an optional ``detail`` in GitHub Flavored Markdown, an optional
``uuid`` (sent back in feedback), and optional ``suggestions`` / ``links`` (``label``, ``url``,
``type`` absolute|smart). Optional attributes without a value are omitted ("Use of JSON":
no ``null``, ``""``, ``[]`` or ``{}``).

Mapping (documented in ``docs/cds-hooks.md``): one card per alert category, the
``suicide_risk`` card first, then in the engine's review order; the indicator is
``critical`` for the suicide_risk category or any alert of severity critical, ``warning`` for
high or moderate severity, ``info`` otherwise. Each alert's detail says who it is for (its
recipients); ``card_recipients`` in the configuration keeps only the alerts addressed to one
of the listed roles (suicide-risk alerts are always kept). The engine already decided everything
clinical (which alerts, their severity, priority, message and action); this module only
lays it out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ..alerts import Alert, sort_alerts
from ..fhir import CATEGORY_SYSTEM
from ..lifecycle import card_uuid
from ..vocabulary import RECIPIENT_LABELS, SUICIDE_RISK
from ._config import ServiceConfig

__all__ = [
    "CATEGORY_LABELS",
    "NOTES_SHOWN",
    "SUMMARY_MAX",
    "cards_for",
    "data_error_card",
    "indicator_for",
    "not_enrolled_card",
    "notes_card",
    "truncate",
]

#: CDS Hooks 2.0: the summary is a "<140-character" sentence.
SUMMARY_MAX = 139
#: How many notes (values not used as sent) a card lists before "and N more".
NOTES_SHOWN = 20
#: Display names of alert categories (for the summary and the source topic).
CATEGORY_LABELS: dict[str, str] = {
    "suicide_risk": "Suicide risk",
    "treatment_to_target": "Treatment to target",
    "review_priority": "Psychiatric case review",
    "engagement": "Engagement",
    "relapse_prevention": "Relapse prevention",
    "billing": "Time tracking and billing",
    "smi": "Serious mental illness",
    "comorbidity": "Co-occurring conditions",
    "data_quality": "Data quality",
}
_MD_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "\\*", "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]", "|": "\\|"}
)


def _label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category.replace("_", " ").capitalize())


def _md(text: str) -> str:
    """Plain text made safe inside GitHub Flavored Markdown (no HTML, no stray emphasis)."""
    return " ".join(text.split()).translate(_MD_ESCAPES)


def truncate(text: str, limit: int = SUMMARY_MAX) -> str:
    """``text`` cut to at most ``limit`` characters, ending with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def indicator_for(alerts: Iterable[Alert]) -> str:
    """``critical`` for suicide risk or a critical alert, ``warning`` for high or moderate
    severity, ``info`` otherwise: the engine's severities in CDS Hooks' three words, with
    suicide risk first whatever its severity, as in review order (:mod:`cocm_rules.vocabulary`)."""
    alerts = list(alerts)
    if any(a.category == SUICIDE_RISK or a.severity == "critical" for a in alerts):
        return "critical"
    if any(a.severity in ("high", "moderate") for a in alerts):
        return "warning"
    return "info"


def _summary(category: str, alerts: Sequence[Alert]) -> str:
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return truncate(f"{_label(category)}: {alerts[0].title}", SUMMARY_MAX - len(more)) + more


def _detail(alerts: Sequence[Alert], as_of: dt.date, version: str) -> str:
    parts = []
    for a in alerts:
        action = a.action_text or a.action.replace("_", " ")
        parts.append(
            "\n\n".join(
                [
                    f"**{_md(a.title)}** ({a.severity}, priority {a.priority})",
                    _md(a.message),
                    f"*Recommended action:* {_md(action)}",
                    f"*For:* {_md(', '.join(RECIPIENT_LABELS.get(r, r) for r in a.recipients))}",
                    f"*Rule* `{a.rule_id}` ({_md(a.ruleset)} {_md(a.ruleset_version)}). *Source:* {_md(a.source)}",
                ]
            )
        )
    parts.append(f"Evaluated as of {as_of.isoformat()} by cocm\\_rules {version}.")
    return "\n\n---\n\n".join(parts)


def _source(config: ServiceConfig, label: str, category: str | None) -> dict[str, Any]:
    source: dict[str, Any] = {"label": label}
    if config.source_url:
        source["url"] = config.source_url
    if category is not None:
        source["topic"] = {"system": CATEGORY_SYSTEM, "code": category, "display": _label(category)}
    return source


def _links(config: ServiceConfig, category: str) -> list[dict[str, str]]:
    links = [*config.card_links.get(category, []), *config.card_links.get("*", [])]
    return [{"label": link.label, "url": link.url, "type": "absolute"} for link in links]


def _shown(alert: Alert, config: ServiceConfig) -> bool:
    """Whether the configuration shows this alert: its category is one shown, and it is
    addressed to one of ``card_recipients`` (a suicide-risk alert, to anyone)."""
    if config.card_categories is not None and alert.category not in config.card_categories:
        return False
    wanted = config.card_recipients
    return wanted is None or alert.category == SUICIDE_RISK or any(r in wanted for r in alert.recipients)


def cards_for(alerts: Sequence[Alert], config: ServiceConfig, *, as_of: dt.date, version: str) -> list[dict[str, Any]]:
    """One card per alert category, in review order (suicide risk first, whatever the
    priorities: :func:`~cocm_rules.alerts.sort_alerts`)."""
    groups: dict[str, list[Alert]] = {}
    for a in sort_alerts(alerts):  # the one review order (vocabulary), so groups follow it
        if _shown(a, config):
            groups.setdefault(a.category, []).append(a)
    cards = []
    for category in groups:
        group = groups[category]
        rulesets = list(dict.fromkeys(f"{a.ruleset} {a.ruleset_version}" for a in group))
        ids = [a.alert_id for a in group if a.alert_id is not None]
        card: dict[str, Any] = {
            # stable: derived from the alerts' identities, so feedback can be matched to them
            "uuid": card_uuid(ids) if len(ids) == len(group) else str(uuid.uuid4()),
            "summary": _summary(category, group),
            "indicator": indicator_for(group),
            "detail": _detail(group, as_of, version),
            "source": _source(config, truncate(f"cocm_rules: {', '.join(rulesets)}", 100), category),
        }
        links = _links(config, category)
        if links:
            card["links"] = links
        cards.append(card)
    return cards


def data_error_card(reason: str, config: ServiceConfig, *, version: str) -> dict[str, Any]:
    """The card shown when the patient's FHIR data cannot be read: no alert was computed, and
    the clinician is told so rather than shown nothing."""
    return {
        "uuid": str(uuid.uuid4()),
        "summary": "Collaborative Care rules could not read this patient's FHIR data",
        "indicator": "warning",
        "detail": (
            "No Collaborative Care alerts, including suicide-risk alerts, were computed for this patient: "
            f"the data could not be read.\n\n> {_md(reason)}\n\n"
            f"Check the record or the service configuration. (cocm\\_rules {version})"
        ),
        "source": _source(config, "cocm_rules", None),
    }


def not_enrolled_card(why: str, config: ServiceConfig, *, version: str) -> dict[str, Any]:
    """The card that says only the suicide-risk rules ran, because the patient is not enrolled
    (``why``: plain text saying what the data lacks)."""
    return {
        "uuid": str(uuid.uuid4()),
        "summary": "Not enrolled in Collaborative Care: only the suicide-risk rules were run",
        "indicator": "info",
        "detail": (
            f"{_md(why)}\n\n"
            "The suicide-risk rules were run on this patient's measures, whatever the enrollment; any "
            "suicide-risk alert is on its own card. No other Collaborative Care rule (treatment to target, "
            "engagement, psychiatric case review, ...) could run: they need an active enrollment, an "
            "EpisodeOfCare with a registry status, a program and a start date.\n\n"
            f"(cocm\\_rules {version})"
        ),
        "source": _source(config, "cocm_rules", None),
    }


def notes_card(notes: Sequence[Any], config: ServiceConfig, *, version: str) -> dict[str, Any]:
    """The card that lists the patient's FHIR values that were not used as sent (kept as
    invalid, set aside): the rules ran on the rest, and the clinician is told what was left."""
    lines = [f"- {_md(str(n))}" for n in notes[:NOTES_SHOWN]]
    if len(notes) > NOTES_SHOWN:
        lines.append(f"- and {len(notes) - NOTES_SHOWN} more")
    return {
        "uuid": str(uuid.uuid4()),
        "summary": truncate(f"Some of this patient's FHIR data was not used as sent ({len(notes)})"),
        "indicator": "info",
        "detail": (
            "The rules ran on the rest of the data. An administration with an impossible value is scored as "
            "invalid (a data-quality alert; for a safety question, suicide risk cannot be ruled out).\n\n"
            + "\n".join(lines)
            + f"\n\nCorrect the record where it is kept. (cocm\\_rules {version})"
        ),
        "source": _source(config, "cocm_rules", None),
    }
