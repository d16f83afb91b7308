"""The company at the start of the simulation: users, agents and the CRM's first snapshot.

All columns are built as whole arrays and kept as canonical strings (the exact text a snapshot file
holds), so the first snapshot is just these tables and every later one is these tables plus writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmguard.generate.model import (
    AGENT_KINDS,
    DAY,
    ICP_EMPLOYEES,
    ICP_INDUSTRIES,
    OPEN_STAGES,
    OTHER_INDUSTRIES,
    SEQUENCES,
    START,
    AgentKind,
)
from crmguard.generate.plan import iso, iso_date, pick

FIRST = ("Ana", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hugo", "Ines", "James", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Xenia",
         "Yusuf", "Zoe", "Aiko", "Bruno", "Carla", "Dev", "Emma", "Felix", "Gita", "Hana", "Ivan", "Jonas",
         "Lea", "Marco", "Nina", "Omar", "Priya", "Raj", "Sofia", "Tom", "Ursula", "Viktor", "Wen", "Yara")
LAST = ("Adams", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kim",
        "Lopez", "Meyer", "Novak", "Okafor", "Patel", "Quist", "Rossi", "Silva", "Tanaka", "Ueda", "Vargas",
        "Weber", "Xu", "Yilmaz", "Zimmer", "Andersen", "Brown", "Chen", "Diaz", "Eriksen", "Fontaine",
        "Gupta", "Horvat", "Iyer", "Kowalski", "Larsen", "Moreau", "Nakamura", "Olsen", "Pereira", "Reyes")
WORD_A = ("Blue", "North", "Iron", "Silver", "Bright", "Cedar", "Delta", "Ember", "Frost", "Granite", "Harbor",
          "Indigo", "Juniper", "Keystone", "Lumen", "Maple", "Nova", "Orbit", "Pine", "Quartz", "River",
          "Summit", "Tidal", "Vertex", "Willow", "Zenith", "Atlas", "Beacon", "Copper", "Drift", "Echo",
          "Falcon", "Glacier", "Helix", "Ivory", "Jade", "Kestrel", "Lotus", "Meridian", "Nimbus")
WORD_B = ("Analytics", "Systems", "Health", "Foods", "Logistics", "Labs", "Robotics", "Retail", "Capital",
          "Energy", "Media", "Works", "Networks", "Bio", "Motors", "Textiles", "Pay", "Learning", "Studios",
          "Clinics", "Foundry", "Cloud", "Markets", "Housing", "Security", "Partners", "Devices", "Goods")
TITLES = ("VP Sales", "Head of Revenue Operations", "CFO", "CTO", "Director of IT", "Procurement Manager",
          "Sales Operations Manager", "Chief Marketing Officer", "Engineering Manager", "Office Manager",
          "Head of Finance", "Operations Director", "Product Manager", "Marketing Manager", "CEO")
TEAMS_BY_ROLE = {"sdr": ("na", "emea"), "ae": ("na", "emea"), "ops": ("deal_desk", "revops"),
                 "compliance": ("compliance",), "admin": ("revops",)}
COMPANY_DOMAIN = "northbeam.io"


@dataclass(frozen=True)
class Agent:
    """One agent instance: its kind, CRM user, log offset, releases and the humans it acts for."""

    index: int
    agent_id: str
    kind: AgentKind
    user_id: str
    offset: str
    versions: tuple[str, str]
    release_day: int
    on_behalf_of: tuple[str, ...]


@dataclass
class Company:
    """Users, agents and the CRM tables as of day 0 (canonical strings, one row per object)."""

    tables: dict[str, pd.DataFrame]
    agents: list[Agent]
    humans: dict[str, np.ndarray]
    in_icp: np.ndarray


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _fmt2(values: np.ndarray) -> np.ndarray:
    return np.char.mod("%.2f", np.asarray(values, dtype=float)).astype(object)


def _bools(values: np.ndarray) -> np.ndarray:
    return np.where(values, "true", "false").astype(object)


def _past(rng: np.random.Generator, n: int, max_days: int = 180) -> np.ndarray:
    return iso(START - rng.integers(DAY, max_days * DAY, size=n))


def _users(rng: np.random.Generator, accounts: int, agent_ids: list[str], agent_teams: list[str]) -> pd.DataFrame:
    counts = {"sdr": int(np.clip(accounts // 60, 3, 40)), "ae": int(np.clip(accounts // 40, 3, 60)),
              "ops": int(np.clip(accounts // 400 + 3, 3, 12)), "compliance": 2, "admin": 2}
    roles = np.concatenate([np.full(n, role, dtype=object) for role, n in counts.items()])
    teams = np.concatenate([pick(rng, TEAMS_BY_ROLE[role], n) for role, n in counts.items()])
    n = len(roles)
    first, last = pick(rng, FIRST, n), pick(rng, LAST, n)
    ids = _ids("usr_", n, 5)
    emails = [f"{f.lower()}.{lo.lower()}.{i[-5:]}@{COMPANY_DOMAIN}" for f, lo, i in zip(first, last, ids, strict=True)]
    humans = pd.DataFrame({"user_id": ids, "email": emails, "name": first + " " + last, "role": roles,
                           "team": teams, "is_agent": "false"})
    agents = pd.DataFrame({
        "user_id": [f"usr_agent_{a.replace('-', '_')}" for a in agent_ids],
        "email": [f"{a}@agents.{COMPANY_DOMAIN}" for a in agent_ids],
        "name": [f"{a} (agent)" for a in agent_ids], "role": "agent", "team": agent_teams, "is_agent": "true",
    })
    return pd.concat([humans, agents], ignore_index=True)


def agent_id_for(i: int) -> str:
    """Kinds cycle when there are more than three agents; later instances get a numeric suffix."""
    kind = AGENT_KINDS[i % len(AGENT_KINDS)]
    return kind.agent_id if i < len(AGENT_KINDS) else f"{kind.agent_id}-{i // len(AGENT_KINDS) + 1}"


def _agents(rng: np.random.Generator, n: int, users: pd.DataFrame, days: int) -> list[Agent]:
    agents = []
    for i in range(n):
        kind = AGENT_KINDS[i % len(AGENT_KINDS)]
        agent_id = agent_id_for(i)
        role_users = users.loc[(users["role"] == kind.obo_role), "user_id"].to_numpy()
        major, minor = int(rng.integers(1, 4)), int(rng.integers(0, 9))
        agents.append(Agent(
            index=i, agent_id=agent_id, kind=kind, user_id=f"usr_agent_{agent_id.replace('-', '_')}",
            offset=kind.tz_offsets[(i // len(AGENT_KINDS)) % len(kind.tz_offsets)],
            versions=(f"{major}.{minor}.0", f"{major}.{minor + 1}.0"), release_day=max(1, days // 2),
            on_behalf_of=tuple(rng.choice(role_users, size=min(2, len(role_users)), replace=False)),
        ))
    return agents


def _accounts(rng: np.random.Generator, n: int, humans: dict[str, np.ndarray]) -> pd.DataFrame:
    words = pd.Series(pick(rng, WORD_A, n) + " " + pick(rng, WORD_B, n))
    dup = words.groupby(words).cumcount().to_numpy()
    names = np.where(dup > 0, words + " " + (dup + 1).astype(str), words).astype(object)
    slug = pd.Series(names).str.lower().str.replace(" ", "", regex=False).to_numpy()
    emea = rng.random(n) < 0.35
    tld = np.where(emea, pick(rng, (".de", ".co.uk", ".fr", ".io"), n), pick(rng, (".com", ".com", ".io"), n))
    icp = rng.random(n) < 0.65
    industry = np.where(icp, pick(rng, ICP_INDUSTRIES, n), pick(rng, OTHER_INDUSTRIES, n))
    employees = np.clip(np.exp(rng.normal(np.log(400), 1.5, size=n)), 5, 80_000).astype(np.int64)
    lifecycle = pick(rng, ("prospect", "customer", "churned"), n, p=(0.68, 0.24, 0.08))
    flag = rng.random(n)
    owners = pick(rng, humans["ae"], n)
    return pd.DataFrame({
        "account_id": _ids("acc_", n, 6), "name": names, "domain": (slug + tld).astype(object),
        "industry": industry, "employees": employees.astype(str).astype(object), "lifecycle": lifecycle,
        "owner_id": owners, "legal_hold": _bools(flag < 0.015),
        "security_incident_open": _bools((flag >= 0.015) & (flag < 0.03)),
        "updated_at": _past(rng, n), "updated_by": owners,
    })


def _contacts(rng: np.random.Generator, accounts: pd.DataFrame) -> pd.DataFrame:
    per = 1 + rng.poisson(4.5, size=len(accounts))
    acc = np.repeat(np.arange(len(accounts)), per)
    n = len(acc)
    first, last = pick(rng, FIRST, n), pick(rng, LAST, n)
    local = pd.Series(np.char.add(np.char.add(first.astype(str), "."), last.astype(str))).str.lower()
    account_ids = accounts["account_id"].to_numpy()[acc]
    dup = local.groupby([local, pd.Series(account_ids)]).cumcount().to_numpy()
    local = np.where(dup > 0, local + (dup + 1).astype(str), local)
    flag = rng.random(n)
    owners = accounts["owner_id"].to_numpy()[acc]
    return pd.DataFrame({
        "contact_id": _ids("con_", n, 7), "account_id": account_ids,
        "email": (local + "@" + accounts["domain"].to_numpy()[acc]).astype(object),
        "first_name": first, "last_name": last, "title": pick(rng, TITLES, n), "owner_id": owners,
        "email_opt_out": _bools(flag < 0.03), "email_bounced": _bools((flag >= 0.03) & (flag < 0.05)),
        "do_not_contact": _bools((flag >= 0.05) & (flag < 0.06)),
        "updated_at": _past(rng, n), "updated_by": owners,
    })


def _deals(rng: np.random.Generator, accounts: pd.DataFrame) -> pd.DataFrame:
    life = accounts["lifecycle"].to_numpy()
    u = rng.random(len(accounts))
    open_deal = ((life == "prospect") & (u < 0.35)) | ((life == "customer") & (u < 0.45))
    won = life == "customer"
    lost = life == "churned"
    acc = np.concatenate([np.flatnonzero(won), np.flatnonzero(lost), np.flatnonzero(open_deal)])
    n_won, n_lost, n_open = int(won.sum()), int(lost.sum()), int(open_deal.sum())
    stage = np.concatenate([np.full(n_won, "closed_won", dtype=object), np.full(n_lost, "closed_lost", dtype=object),
                            pick(rng, OPEN_STAGES, n_open, p=(0.25, 0.25, 0.2, 0.15, 0.15))])
    closed = np.arange(len(acc)) < n_won + n_lost
    n = len(acc)
    close = np.where(closed, START - rng.integers(10, 300, size=n) * DAY, START + rng.integers(7, 120, size=n) * DAY)
    product = np.where(life[acc] == "customer", pick(rng, ("Expansion", "Renewal", "Add-on seats"), n),
                       pick(rng, ("Platform", "Pilot", "Enterprise plan"), n))
    domain = accounts["domain"].to_numpy()[acc].astype(str)
    currency = np.where(np.char.endswith(domain, ".de") | np.char.endswith(domain, ".fr"), "EUR",
                        np.where(np.char.endswith(domain, ".co.uk"), "GBP", "USD"))
    owners = accounts["owner_id"].to_numpy()[acc]
    order = np.argsort(acc, kind="stable")
    frame = pd.DataFrame({
        "deal_id": None, "account_id": accounts["account_id"].to_numpy()[acc],
        "name": (accounts["name"].to_numpy()[acc] + " - " + product).astype(object), "pipeline": "new_business",
        "stage": stage, "amount": _fmt2(np.round(np.exp(rng.normal(np.log(30_000), 0.8, size=n)), -2)),
        "currency": currency.astype(object),
        "discount_pct": _fmt2(pick(rng, (0, 0, 0, 5, 10, 12.5, 15), n).astype(float)),
        "close_date": iso_date(close), "owner_id": owners, "updated_at": _past(rng, n), "updated_by": owners,
    }).iloc[order].reset_index(drop=True)
    frame["deal_id"] = _ids("dl_", n, 6)
    return frame


def _enrollments(rng: np.random.Generator, contacts: pd.DataFrame, humans: dict[str, np.ndarray]) -> pd.DataFrame:
    chosen = np.flatnonzero(rng.random(len(contacts)) < 0.08)
    n = len(chosen)
    sdrs = pick(rng, humans["sdr"], n)
    return pd.DataFrame({
        "enrollment_id": _ids("enr_", n, 7), "contact_id": contacts["contact_id"].to_numpy()[chosen],
        "sequence_id": pick(rng, SEQUENCES, n), "status": pick(rng, ("finished", "stopped"), n, p=(0.8, 0.2)),
        "step": rng.integers(1, 9, size=n).astype(str).astype(object), "enrolled_by": sdrs,
        "updated_at": _past(rng, n), "updated_by": sdrs,
    })


def _meetings(rng: np.random.Generator, deals: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    chosen = np.flatnonzero(rng.random(len(deals)) < 0.15)
    first_contact = contacts.drop_duplicates("account_id").set_index("account_id")["contact_id"]
    n = len(chosen)
    starts = START - rng.integers(2, 120, size=n) * DAY + rng.integers(14, 18, size=n) * 3600
    owners = deals["owner_id"].to_numpy()[chosen]
    return pd.DataFrame({
        "meeting_id": _ids("mtg_", n, 6),
        "contact_id": first_contact.reindex(deals["account_id"].to_numpy()[chosen]).to_numpy(),
        "deal_id": deals["deal_id"].to_numpy()[chosen], "owner_id": owners, "starts_at": iso(starts),
        "status": "held", "booked_by": owners, "updated_at": iso(starts + 7200), "updated_by": owners,
    })


def build_company(rng: np.random.Generator, accounts: int, n_agents: int, days: int) -> Company:
    """The users, agents and day-0 CRM of a company with `accounts` accounts."""
    kinds = [AGENT_KINDS[i % len(AGENT_KINDS)] for i in range(n_agents)]
    agent_ids = [agent_id_for(i) for i in range(n_agents)]
    users = _users(rng, accounts, agent_ids, [k.team for k in kinds])
    humans = {role: users.loc[users["role"] == role, "user_id"].to_numpy()
              for role in ("sdr", "ae", "ops", "compliance", "admin")}
    account_table = _accounts(rng, accounts, humans)
    contacts = _contacts(rng, account_table)
    deals = _deals(rng, account_table)
    employees = account_table["employees"].astype(int).to_numpy()
    in_icp = (account_table["industry"].isin(ICP_INDUSTRIES).to_numpy()
              & (employees >= ICP_EMPLOYEES[0]) & (employees <= ICP_EMPLOYEES[1]))
    tables = {"users": users, "accounts": account_table, "contacts": contacts, "deals": deals,
              "sequence_enrollments": _enrollments(rng, contacts, humans),
              "meetings": _meetings(rng, deals, contacts)}
    return Company(tables=tables, agents=_agents(rng, n_agents, users, days), humans=humans, in_icp=in_icp)
