"""Policy as code: a fixed rule library, YAML policies validated with line numbers, compiled to typed
parameter tables that the dbt models in dbt_project/models/policy evaluate against every agent action.

`crmguard build` calls `publish_for_build` first, so the verdicts always use the policy named by
CRMGUARD_POLICY (default policies/default.yml).
"""

from __future__ import annotations

import os
from pathlib import Path

from crmguard.paths import DEFAULT_POLICY
from crmguard.policy.compile import publish_policy
from crmguard.policy.loader import Policy, load_policy
from crmguard.warehouse import connect

POLICY_ENV = "CRMGUARD_POLICY"


def active_policy_path() -> Path:
    """The policy the build evaluates: CRMGUARD_POLICY, else policies/default.yml."""
    return Path(os.environ.get(POLICY_ENV) or DEFAULT_POLICY)


def publish_for_build(warehouse: Path, policy_path: Path | None = None) -> Policy:
    """Validate the active policy and write its rule tables into the warehouse before dbt runs."""
    with connect(warehouse) as con:
        return publish_active_policy(con, policy_path)


def publish_active_policy(con, policy_path: Path | None = None) -> Policy:
    """The same on an open connection (a caller that also checks the raw layer opens the file once)."""
    policy = load_policy(policy_path or active_policy_path())
    publish_policy(con, policy)
    return policy
