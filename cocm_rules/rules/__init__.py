"""Rulesets: the YAML language, loading with located errors, the IR and its backends.

Only :mod:`cocm_rules.rules._durable` imports durable-rules; the compiled backend needs
nothing beyond the standard library.
"""

from .ir import ProgramIR, RuleIR
from .loader import Ruleset, RulesetSet, bundled_rulesets_path, load_ruleset, load_rulesets
from .safety import SAFETY_CASES, check_safety_floor
from .testing import CaseResult, run_tests

__all__ = [
    "SAFETY_CASES",
    "CaseResult",
    "ProgramIR",
    "RuleIR",
    "Ruleset",
    "RulesetSet",
    "bundled_rulesets_path",
    "check_safety_floor",
    "load_ruleset",
    "load_rulesets",
    "run_tests",
]
