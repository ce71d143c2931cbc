"""Rulesets: the YAML language, loading with located errors, the IR and its backends, and the
checks that run a loaded set (the safety floor, the embedded test cases) against the small
:class:`~cocm_rules.rules.evaluator.Evaluator` interface the engine implements.

Only :mod:`cocm_rules.rules._durable` imports durable-rules; the compiled backend needs
nothing beyond the standard library.
"""

from .evaluator import Evaluator
from .ir import ProgramIR, RuleIR
from .loader import Ruleset, RulesetSet, bundled_rulesets_path, load_ruleset, load_rulesets
from .safety import SAFETY_CASES, check_safety_floor
from .testing import CaseResult, run_cases

__all__ = [
    "SAFETY_CASES",
    "CaseResult",
    "Evaluator",
    "ProgramIR",
    "RuleIR",
    "Ruleset",
    "RulesetSet",
    "bundled_rulesets_path",
    "check_safety_floor",
    "load_ruleset",
    "load_rulesets",
    "run_cases",
]
