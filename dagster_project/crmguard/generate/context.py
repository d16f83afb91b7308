"""What every activity and incident generator shares: the company, the plan, the reserved objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crmguard.generate.company import Agent, Company
from crmguard.generate.model import DAY, SLOT, START
from crmguard.generate.plan import PRIO_MANDATORY, Plan, pick

TRANSIENT_ERRORS = ("429 Too Many Requests: CRM API rate limit", "504 Gateway Timeout", "connection reset by peer")


def _rows(value: Any, idx: np.ndarray) -> Any:
    """The given rows of a column; scalars stay scalars."""
    if isinstance(value, list):
        return np.asarray(value, dtype=object)[idx]
    return value[idx] if isinstance(value, np.ndarray) else value


@dataclass
class Ctx:
    """The shared state of one generation run.

    Incidents are planned first and reserve the accounts, contacts and deals they need, so clean
    activity never touches them and every incident stays pure.
    """

    rng: np.random.Generator
    company: Company
    plan: Plan
    days: int
    reserved: dict[str, np.ndarray] = field(default_factory=dict)
    tails_used: set[tuple[int, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        for name in ("accounts", "contacts", "deals"):
            self.reserved[name] = np.zeros(len(self.company.tables[name]), dtype=bool)

    @property
    def end(self) -> int:
        return START + self.days * DAY

    def table(self, name: str) -> pd.DataFrame:
        return self.company.tables[name]

    def agents_of(self, agent_id: str) -> list[Agent]:
        return [a for a in self.company.agents if a.kind.agent_id == agent_id]

    def account_row(self) -> pd.Series:
        """Per contact, the row number of its account (contacts are laid out account by account)."""
        accounts = self.table("accounts")["account_id"]
        return pd.Series(np.arange(len(accounts)), index=accounts.to_numpy())

    def pool_accounts(self) -> np.ndarray:
        """Accounts the clean outbound agent may work: prospects inside the ICP with no flag."""
        acc = self.table("accounts")
        return ((acc["lifecycle"] == "prospect").to_numpy() & self.company.in_icp
                & (acc["legal_hold"] == "false").to_numpy() & (acc["security_incident_open"] == "false").to_numpy()
                & ~self.reserved["accounts"])

    def clean_contacts(self) -> np.ndarray:
        """Contacts with no suppression flag and not reserved by an incident."""
        con = self.table("contacts")
        return ((con["email_opt_out"] == "false").to_numpy() & (con["email_bounced"] == "false").to_numpy()
                & (con["do_not_contact"] == "false").to_numpy() & ~self.reserved["contacts"])

    def free_tail(self, agent: Agent, lo_day: int = 1, hi_day: int | None = None) -> int:
        """The start time of an unused slot tail of this agent, where an incident or a stop can run alone."""
        hi = self.days if hi_day is None else hi_day
        for _ in range(10_000):
            slot = int(self.rng.integers(lo_day * (DAY // SLOT), hi * (DAY // SLOT) - 1))
            if (agent.index, slot) not in self.tails_used:
                self.tails_used.add((agent.index, slot))
                return START + slot * SLOT
        raise RuntimeError("no free slot left for another incident; generate more days")

    def obo(self, agent: Agent, n: int) -> np.ndarray:
        return pick(self.rng, agent.on_behalf_of, n)

    def tool_calls(self, agent: Agent, n: int, fail_rate: float = 0.03, **cols: Any) -> np.ndarray:
        """Tool calls of one agent; a share fails transiently first and is retried successfully.

        The failed attempt comes 5-40 s before the call, with the same call id; the returned keys are
        those of the final (succeeded) attempts, which carry the claimed changes.
        """
        cols.setdefault("obo", self.obo(agent, n))
        cols.setdefault("prio", PRIO_MANDATORY)
        failing = np.flatnonzero(self.rng.random(n) < fail_rate)
        failed_cols = {k: _rows(v, failing) for k, v in cols.items()}
        failed_cols["t"] = np.asarray(cols["t"], dtype=np.int64)[failing] - self.rng.integers(5, 40, len(failing))
        failed_keys = self.plan.add_events(len(failing), agent=agent.index, status="failed",
                                           error=pick(self.rng, TRANSIENT_ERRORS, len(failing)),
                                           **failed_cols)
        attempt = np.ones(n, dtype=np.int64)
        retry_of = np.full(n, -1, dtype=np.int64)
        attempt[failing] = 2
        retry_of[failing] = failed_keys
        call = retry_of.copy()
        return self.plan.add_events(n, agent=agent.index, attempt=attempt, retry_of=retry_of, call=call, **cols)
