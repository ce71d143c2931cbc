"""cocm_rules: clinical decision rules for Collaborative Care (CoCM) registries.

Score validated measures from YAML definitions, derive facts from a patient's episode as of
an explicit date, and evaluate YAML rulesets into explained alerts::

    measures/*.yaml -> score() -> Score
    episode (JSON) -> derive_facts(episode, as_of) -> Engine (rulesets/*.yaml) -> Alert[]

>>> import cocm_rules
>>> cocm_rules.score("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 1]).flags
['suicide_risk']
"""

from .alerts import Acknowledgement, Alert
from .engine import Engine, ruleset_coverage, run_tests
from .episode import Episode, episode_json_schema, parse_episode
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
    StoreError,
)
from .facts import FactSpec, catalog, derive_facts
from .measures import MeasureDefinition, MeasureLibrary, load_measures
from .records import PatientResult, RecordError
from .rules import Ruleset, RulesetSet, load_rulesets
from .scoring import SAFETY_ITEM_MISSING, Score, score

__version__ = "0.1.0"

__all__ = [
    "Acknowledgement",
    "Alert",
    "BackendUnavailable",
    "CocmRulesError",
    "DefinitionError",
    "Engine",
    "EngineError",
    "Episode",
    "FactSpec",
    "InvalidInput",
    "MeasureDefinition",
    "MeasureDefinitionError",
    "MeasureLibrary",
    "PatientResult",
    "Problem",
    "RecordError",
    "Ruleset",
    "RulesetError",
    "RulesetSet",
    "SAFETY_ITEM_MISSING",
    "SafetyFloorError",
    "Score",
    "StoreError",
    "__version__",
    "catalog",
    "derive_facts",
    "episode_json_schema",
    "load_measures",
    "load_rulesets",
    "parse_episode",
    "ruleset_coverage",
    "run_tests",
    "score",
]
