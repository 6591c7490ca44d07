"""Launch decisions: may this person, in this project, open this data, in this setting, now?

The pure part (no database): ``situation`` holds the facts, ``engine`` evaluates the Five Safes Cedar
policies in ``policies/`` over them, ``obligations`` says what the hub must apply to an allowed launch,
and ``scenarios`` runs the YAML policy tests in ``policies/tests``.
"""

from governance.decisions.engine import (
    PolicyEngine,
    PolicyLoadError,
    PolicyStore,
    SafeVerdict,
    Verdict,
    check_policies,
)
from governance.decisions.obligations import Mount, Obligations, compute_obligations
from governance.decisions.scenarios import ScenarioResult, format_results, load_scenarios, run_scenarios
from governance.decisions.situation import SAFES, LaunchSituation

__all__ = [
    "SAFES",
    "LaunchSituation",
    "Mount",
    "Obligations",
    "PolicyEngine",
    "PolicyLoadError",
    "PolicyStore",
    "SafeVerdict",
    "ScenarioResult",
    "Verdict",
    "check_policies",
    "compute_obligations",
    "format_results",
    "load_scenarios",
    "run_scenarios",
]
