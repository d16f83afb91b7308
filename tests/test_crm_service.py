"""The local CRM service and its adapters: real HTTP on 127.0.0.1, a real SQLite file, real faults."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import requests

from crmguard.crm.adapters import CrmUnavailable, FileTarget, HubSpotClient, ItemWrite, OutcomeUnknown
from crmguard.crm.objects import OBJECTS
from crmguard.crm.server import running_service
from crmguard.crm.store import CrmStore
from crmguard.errors import BadInput

ACCOUNTS = OBJECTS["accounts"]
CONTACTS = OBJECTS["contacts"]


def write_snapshot(root: Path, stamp: str = "20260101T000000Z") -> Path:
    """A tiny canonical snapshot: two accounts, two contacts, one user."""
    snap = root / "crm" / stamp
    snap.mkdir(parents=True)
    rows = {
        "users": [["user_id", "email", "name", "role", "team", "is_agent"],
                  ["u_ops", "ops@x.test", "Olga Ops", "ops", "revops", "false"]],
        "accounts": [list(ACCOUNTS.columns),
                     ["a1", "Acme", "acme.test", "software", "120", "prospect", "u_ops", "false", "false",
                      "2026-01-01T00:00:00Z", "u_ops"],
                     ["a2", "Beta", "beta.test", "retail", "80", "customer", "u_ops", "false", "false",
                      "2026-01-01T00:00:00Z", "u_ops"]],
        "contacts": [list(CONTACTS.columns),
                     ["c1", "a1", "c1@acme.test", "Ann", "Lee", "CTO", "u_ops", "false", "false", "false",
                      "2026-01-01T00:00:00Z", "u_ops"],
                     ["c2", "a2", "c2@beta.test", "Bob", "Ray", "CFO", "u_ops", "false", "false", "false",
                      "2026-01-01T00:00:00Z", "u_ops"]],
    }
    for name, lines in rows.items():
        with open(snap / f"{name}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows(lines)
    (snap / "manifest.json").write_text(json.dumps({"captured_at": "2026-01-01T00:00:00Z", "source": "test"}))
    return snap


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    data = tmp_path / "crm-data"
    store = CrmStore(data)
    store.seed(write_snapshot(tmp_path / "in"))
    store.close()
    return data


def client(url: str, **kw) -> HubSpotClient:
    return HubSpotClient(url, "usr_crmguard_restore", backoff=0.01, **kw)


def test_batch_read_and_update_use_hubspot_shapes(seeded: Path) -> None:
    with running_service(seeded) as svc:
        raw = requests.post(f"{svc.url}/crm/v3/objects/companies/batch/read",
                            json={"properties": ["name", "lifecyclestage"], "inputs": [{"id": "a1"}, {"id": "zz"}]},
                            headers={"Authorization": "Bearer t"}, timeout=5)
        assert raw.status_code == 207
        body = raw.json()
        # values in HubSpot's own spelling: canonical `prospect` is the lifecycle stage `lead`
        assert body["results"][0]["properties"] == {"name": "Acme", "lifecyclestage": "lead"}
        assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND" and body["errors"][0]["context"]["ids"] == ["zz"]
        assert requests.post(f"{svc.url}/crm/v3/objects/companies/batch/read", json={"inputs": [{"id": "a1"}]},
                             timeout=5).status_code == 401
        api = client(svc.url)
        out = api.write(ACCOUNTS, "update", [ItemWrite("a1", {"industry": "fintech", "employees": None}, "k1")])
        assert out == {"k1": out["k1"]} and out["k1"].written
        live = api.read(ACCOUNTS, ["a1", "a2"], ["industry", "employees", "updated_by"])
        assert live["a1"] == {"industry": "fintech", "employees": None, "updated_by": "usr_crmguard_restore"}
        assert live["a2"]["industry"] == "retail"
        assert svc.store.write_counts() == {"k1": 1}
        api.close()


def test_enumerated_values_travel_in_hubspots_spelling(seeded: Path) -> None:
    with running_service(seeded) as svc:
        api = client(svc.url)
        # the client writes canonical `prospect` as HubSpot's `lead`; the CRM stores it as ingest would read it
        assert api.write(ACCOUNTS, "update", [ItemWrite("a2", {"lifecycle": "prospect"}, "k1")])["k1"].written
        assert svc.store.read(ACCOUNTS, ["a2"])["a2"]["lifecycle"] == "prospect"
        assert api.read(ACCOUNTS, ["a2"], ["lifecycle"]) == {"a2": {"lifecycle": "prospect"}}
        raw = requests.post(f"{svc.url}/crm/v3/objects/companies/batch/read",
                            json={"properties": ["lifecyclestage"], "inputs": [{"id": "a2"}]},
                            headers={"Authorization": "Bearer t"}, timeout=5)
        assert raw.json()["results"][0]["properties"] == {"lifecyclestage": "lead"}
        api.close()


def test_create_keeps_the_record_id_and_locked_records_fail_per_item(seeded: Path) -> None:
    with running_service(seeded, "lock=contacts/c2") as svc:
        api = client(svc.url)
        out = api.write(CONTACTS, "update", [ItemWrite("c1", {"title": "CEO"}, "k1"),
                                             ItemWrite("c2", {"title": "CEO"}, "k2")])
        assert out["k1"].written and not out["k2"].written
        assert "locked" in out["k2"].error
        made = api.write(CONTACTS, "create", [ItemWrite("c9", {"account_id": "a1", "email": "n@acme.test"}, "k3")])
        assert made["k3"].written
        assert api.read(CONTACTS, ["c9"], ["email"]) == {"c9": {"email": "n@acme.test"}}
        api.close()


def test_client_honors_retry_after_and_retries_5xx(seeded: Path) -> None:
    waits: list[float] = []
    with running_service(seeded, "429=1,retry_after=3,500=2") as svc:
        api = client(svc.url, sleep=waits.append)
        assert api.read(ACCOUNTS, ["a1"], ["name"]) == {"a1": {"name": "Acme"}}
        assert api.stats["retries_429"] == 1 and api.stats["retries_5xx"] == 1
        assert waits[0] == 3.0  # the server's Retry-After, not the client's own backoff
        api.close()


def test_rate_limit_answers_429_beyond_the_allowed_rate(seeded: Path) -> None:
    with running_service(seeded, "rate=3/60") as svc:
        codes = [requests.post(f"{svc.url}/crm/v3/objects/companies/batch/read", json={"inputs": [{"id": "a1"}]},
                               headers={"Authorization": "Bearer t"}, timeout=5) for _ in range(4)]
        assert [c.status_code for c in codes] == [200, 200, 200, 429]
        assert int(codes[3].headers["Retry-After"]) >= 1


def test_timeout_after_commit_raises_outcome_unknown_yet_the_write_landed(seeded: Path) -> None:
    with running_service(seeded, "timeout=1") as svc:
        api = client(svc.url)
        with pytest.raises(OutcomeUnknown):
            api.write(ACCOUNTS, "update", [ItemWrite("a1", {"industry": "fintech"}, "k1")])
        assert api.read(ACCOUNTS, ["a1"], ["industry"])["a1"]["industry"] == "fintech"
        assert svc.store.write_counts() == {"k1": 1}
        api.close()


def test_a_create_answered_5xx_is_not_sent_again_blindly(seeded: Path) -> None:
    with running_service(seeded, "500=1") as svc:
        api = client(svc.url)
        made = [ItemWrite("c9", {"account_id": "a1", "email": "n@acme.test"}, "k1")]
        # a gateway 5xx can follow a committed create: resending it could make a second record
        with pytest.raises(OutcomeUnknown, match="after a create"):
            api.write(CONTACTS, "create", made)
        # apply then looks the record up by the id it carries (HubSpot's idProperty), and creates what is missing
        assert api.read(CONTACTS, ["c9"], ["email"], by_record_id=True) == {}
        assert api.write(CONTACTS, "create", made)["k1"].written
        assert api.read(CONTACTS, ["c9"], ["email"], by_record_id=True) == {"c9": {"email": "n@acme.test"}}
        assert svc.store.write_counts() == {"k1": 1}
        refused = requests.post(f"{svc.url}/crm/v3/objects/contacts/batch/read",
                                json={"idProperty": "email", "inputs": [{"id": "n@acme.test"}]},
                                headers={"Authorization": "Bearer t"}, timeout=5)
        assert refused.status_code == 400  # the local service looks records up by id or crmguard_record_id only
        api.close()


def test_persistent_5xx_gives_up_after_bounded_attempts(seeded: Path) -> None:
    with running_service(seeded, "500=1:2:3") as svc:
        api = client(svc.url, max_attempts=3)
        with pytest.raises(CrmUnavailable, match="gave up after 3 attempts"):
            api.write(ACCOUNTS, "update", [ItemWrite("a1", {"industry": "fintech"}, "k1")])
        assert svc.store.write_counts() == {}
        api.close()


def test_export_is_a_canonical_snapshot_equal_to_the_seed(seeded: Path, tmp_path: Path) -> None:
    store = CrmStore(seeded)
    snap = store.export(tmp_path / "out")
    store.close()
    assert snap.parent.name == "crm" and len(snap.name) == 16 and snap.name.endswith("Z")
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["row_counts"]["accounts"] == 2 and manifest["row_counts"]["users"] == 2
    original = (tmp_path / "in" / "crm" / "20260101T000000Z" / "contacts.csv").read_text().splitlines()
    assert (snap / "contacts.csv").read_text().splitlines() == original
    users = (snap / "users.csv").read_text()
    assert "usr_crmguard_restore" in users  # the restore system user exists in every export


def test_seed_names_the_file_and_missing_column(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "in")
    (snap / "deals.csv").write_text("deal_id,name\nd1,Big\n")
    with pytest.raises(BadInput, match=r"deals\.csv: missing column\(s\) account_id"):
        CrmStore(tmp_path / "d").seed(snap)


def test_file_target_writes_hubspot_json_and_bulk_csv(tmp_path: Path) -> None:
    target = FileTarget(tmp_path / "files")
    out = target.write(CONTACTS, "update", [ItemWrite("c1", {"title": "CEO", "owner_id": None}, "k1")])
    assert out["k1"].written
    body = json.loads((tmp_path / "files" / "hubspot" / "0001-contacts-update.json").read_text())
    assert body["inputs"] == [{"id": "c1", "objectWriteTraceId": "k1",
                               "properties": {"hubspot_owner_id": "", "jobtitle": "CEO"}}]
    rows = (tmp_path / "files" / "salesforce" / "0001-Contact-update.csv").read_text().splitlines()
    assert rows == ["Id,OwnerId,Title", "c1,#N/A,CEO"]
    assert target.read(CONTACTS, ["c1", "c2"], ["title"]) == {"c1": {"title": "CEO"}}
