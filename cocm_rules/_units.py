"""Units of the medical observations an episode may hold: the UCUM codes accepted for each
kind of vital sign or laboratory result, and the explicit conversion of each to the one unit
the facts use.

A unit that is not listed is refused (the episode names the allowed ones), never guessed.
UCUM codes are case-sensitive, but UCUM writes the litre both ``L`` and ``l``, so ``mg/dL``
and ``mg/dl`` are the same unit. These are conversions of units, not clinical thresholds:
every clinical number lives in a ruleset with its source.

Sources of the factors: the international avoirdupois pound is exactly 0.45359237 kg;
glucose mmol/L x 18.016 = mg/dL (molar mass 180.16 g/mol); cholesterol (total, LDL, HDL)
mmol/L x 38.67 = mg/dL and triglycerides mmol/L x 88.57 = mg/dL (AHRQ, "Units of Measure
Conversion Formulas", Evidence Synthesis No. 47, 2007, appendix 2: 38.66976 and 88.57396);
HbA1c in IFCC units (mmol/mol) to NGSP units (%) by the IFCC-NGSP master equation,
NGSP = 0.09148 x IFCC + 2.152 (NGSP, ngsp.org; Hoelzel et al., Clin Chem 2004;50:166-74).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["CANONICAL_UNITS", "UNITS", "Unit", "to_canonical"]


@dataclass(frozen=True)
class Unit:
    """One accepted UCUM unit of a kind of observation and how a value in it is converted to
    the kind's canonical unit."""

    code: str
    convert: Callable[[float], float]
    how: str  # the conversion in words, for the documentation


def _same(x: float) -> float:
    return x


def _times(factor: float) -> Callable[[float], float]:
    return lambda x: x * factor


def _ifcc_to_ngsp(x: float) -> float:
    return 0.09148 * x + 2.152


_KG = (
    Unit("kg", _same, "as sent"),
    Unit("g", _times(0.001), "g / 1000"),
    Unit("[lb_av]", _times(0.45359237), "lb x 0.45359237"),
)
_MM_HG = (Unit("mm[Hg]", _same, "as sent"),)


def _per_litre(factor: float, what: str) -> tuple[Unit, ...]:
    return (
        Unit("mg/dL", _same, "as sent"),
        Unit("mg/dl", _same, "as sent"),
        Unit("mmol/L", _times(factor), f"mmol/L x {factor} ({what})"),
        Unit("mmol/l", _times(factor), f"mmol/L x {factor} ({what})"),
    )


_GLUCOSE = _per_litre(18.016, "glucose")
_CHOLESTEROL = _per_litre(38.67, "cholesterol")

#: The unit each numeric kind of observation is read in (the facts' unit).
CANONICAL_UNITS: Mapping[str, str] = MappingProxyType(
    {
        "body_weight": "kg",
        "bmi": "kg/m2",
        "systolic_bp": "mm[Hg]",
        "diastolic_bp": "mm[Hg]",
        "hba1c": "%",
        "glucose": "mg/dL",
        "fasting_glucose": "mg/dL",
        "ldl": "mg/dL",
        "total_cholesterol": "mg/dL",
        "hdl": "mg/dL",
        "triglycerides": "mg/dL",
    }
)

#: The UCUM units accepted for each numeric kind of observation, by code.
UNITS: Mapping[str, Mapping[str, Unit]] = MappingProxyType(
    {
        kind: MappingProxyType({u.code: u for u in units})
        for kind, units in (
            ("body_weight", _KG),
            ("bmi", (Unit("kg/m2", _same, "as sent"),)),
            ("systolic_bp", _MM_HG),
            ("diastolic_bp", _MM_HG),
            (
                "hba1c",
                (
                    Unit("%", _same, "as sent (NGSP)"),
                    Unit("mmol/mol", _ifcc_to_ngsp, "IFCC mmol/mol x 0.09148 + 2.152 (NGSP master equation)"),
                ),
            ),
            ("glucose", _GLUCOSE),
            ("fasting_glucose", _GLUCOSE),
            ("ldl", _CHOLESTEROL),
            ("total_cholesterol", _CHOLESTEROL),
            ("hdl", _CHOLESTEROL),
            ("triglycerides", _per_litre(88.57, "triglycerides")),
        )
    }
)


def to_canonical(kind: str, value: float, unit: str) -> float:
    """``value`` in ``unit`` as the canonical unit of ``kind`` (both already checked by the
    episode model: a KeyError here is a programming error)."""
    return UNITS[kind][unit].convert(value)
