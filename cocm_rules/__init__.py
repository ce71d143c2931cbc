"""cocm_rules: clinical decision rules for Collaborative Care (CoCM) registries.

Score validated measures from YAML definitions, derive facts from a patient's episode as of
an explicit date, and evaluate YAML rulesets into explained alerts.

>>> import cocm_rules
>>> cocm_rules.score("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 1]).flags
['suicide_risk']
"""

from .errors import (
    BackendUnavailable,
    CocmRulesError,
    DefinitionError,
    EngineError,
    InvalidInput,
    MeasureDefinitionError,
    Problem,
    RulesetError,
    SafetyFloorError,
)
from .measures import MeasureDefinition, MeasureLibrary, load_measures
from .scoring import SAFETY_ITEM_MISSING, Score, score

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "CocmRulesError",
    "DefinitionError",
    "EngineError",
    "InvalidInput",
    "MeasureDefinition",
    "MeasureDefinitionError",
    "MeasureLibrary",
    "Problem",
    "RulesetError",
    "SAFETY_ITEM_MISSING",
    "SafetyFloorError",
    "Score",
    "__version__",
    "load_measures",
    "score",
]
