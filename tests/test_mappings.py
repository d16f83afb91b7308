"""Salesforce / HubSpot exports -> canonical snapshot columns through the declarative YAML mappings.

Fixtures in tests/fixtures/salesforce/ and tests/fixtures/hubspot/ are written from the public field
references: Salesforce Data Loader CSV (Account, Contact, Opportunity, User, ActionCadenceTracker, Event;
`2020-10-22T21:03:23.000+0000` timestamps), HubSpot CSV with internal property names (epoch-ms and ISO
dates), HubSpot CRM v3 API records ({id, properties}) as JSON lines, and the owners API as a JSON array.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from crmguard.adapters.crm_exports import export_snapshot, load_mapping, map_snapshot_dir, mapped_files
from crmguard.crm.objects import OBJECTS
from crmguard.errors import BadInput

FIXTURES = Path(__file__).parent / "fixtures"
SALESFORCE = FIXTURES / "salesforce" / "20260105T000000Z"
HUBSPOT = FIXTURES / "hubspot" / "20260105T000000Z"


def _rows(table: pa.Table) -> dict[str, dict[str, object]]:
    """Rows by their id (the first canonical column)."""
    return {row[table.column_names[0]]: row for row in table.to_pylist()}


def test_salesforce_export_maps_onto_canonical_columns() -> None:
    tables = map_snapshot_dir(SALESFORCE, load_mapping("salesforce"))
    assert set(tables) == set(OBJECTS)
    for name, table in tables.items():
        assert table.column_names == [*OBJECTS[name].columns, "_extra", "_line"]
    acme = _rows(tables["accounts"])["0015e00000A1b2cAAB"]
    assert (acme["domain"], acme["industry"], acme["lifecycle"], acme["employees"]) == (
        "acme.com", "software", "customer", "1200"
    )  # fmt: skip
    assert acme["updated_at"] == "2020-10-22T21:03:23Z" and acme["updated_by"] == "0055e000001AbCeAAK"
    assert json.loads(acme["_extra"]) == {"BillingCity": "Berlin", "Custom_Score__c": "87"}
    globex = _rows(tables["accounts"])["0015e00000A1b2dAAB"]
    assert globex["name"] == "Globex, Inc." and globex["legal_hold"] == "true"
    assert json.loads(globex["_extra"])["BillingCity"] == "Springfield\nOregon"
    kim = _rows(tables["contacts"])["0035e00000C1d2fAAF"]
    assert (kim["email_opt_out"], kim["email_bounced"], kim["do_not_contact"], kim["email"]) == (
        "true", "false", "true", None
    )  # fmt: skip
    deals = _rows(tables["deals"])
    assert (
        deals["0065e00000D1e2fAAG"]["stage"] == "proposal"
        and deals["0065e00000D1e2gAAG"]["stage"] == "discovery"
    )
    assert (
        deals["0065e00000D1e2fAAG"]["amount"] == "12000.00"
        and deals["0065e00000D1e2fAAG"]["pipeline"] == "new_business"
    )
    assert [r["status"] for r in tables["sequence_enrollments"].to_pylist()] == ["active", "finished"]
    assert tables["meetings"].to_pylist()[0]["starts_at"] == "2026-01-08T15:00:00Z"
    assert [r["name"] for r in tables["users"].to_pylist()] == ["Ana Lopez", "Outbound Agent"]
    assert [r["_line"] for r in tables["users"].to_pylist()] == [2, 3]


def test_hubspot_csv_api_json_lines_and_owner_array() -> None:
    mapping = load_mapping("hubspot")
    tables = map_snapshot_dir(HUBSPOT, mapping)
    assert set(tables) == {"users", "accounts", "contacts", "deals"}
    assert {p.name for p in mapped_files(HUBSPOT, mapping).values()} == {
        "owners.json", "companies.csv", "contacts.jsonl", "deals.csv"
    }  # fmt: skip
    companies = _rows(tables["accounts"])
    assert companies["5001"]["updated_at"] == "2020-10-22T21:03:23Z"  # epoch ms
    assert companies["5002"]["updated_at"] == "2021-01-02T08:00:00Z"  # ISO
    assert companies["5002"]["lifecycle"] == "prospect" and companies["5002"]["domain"] == "globex.io"
    assert companies["5002"]["legal_hold"] == "false"  # empty -> the mapping's default
    contacts = _rows(tables["contacts"])
    assert (
        contacts["7001"]["email_bounced"] == "true"
        and contacts["7002"]["updated_at"] == "2020-10-23T10:00:00Z"
    )
    assert json.loads(contacts["7001"]["_extra"])["hs_lead_status"] == "OPEN"
    deals = _rows(tables["deals"])
    assert (deals["9001"]["stage"], deals["9001"]["close_date"], deals["9001"]["pipeline"]) == (
        "proposal", "2026-03-31", "new_business"
    )  # fmt: skip
    assert deals["9002"]["stage"] == "qualification" and deals["9002"]["currency"] == "USD"
    owners = _rows(tables["users"])
    assert owners["41629780"]["is_agent"] == "true" and owners["41629779"]["name"] == "Ana Lopez"


def test_missing_required_source_column_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copytree(SALESFORCE, tmp_path / "snap")
    contact = tmp_path / "snap" / "Contact.csv"
    rows = list(csv.reader(contact.open()))
    drop = rows[0].index("HasOptedOutOfEmail")
    with contact.open("w", newline="") as handle:
        csv.writer(handle).writerows([r[:drop] + r[drop + 1 :] for r in rows])
    with pytest.raises(BadInput, match=r"Contact\.csv .*missing required column HasOptedOutOfEmail") as info:
        map_snapshot_dir(tmp_path / "snap", load_mapping("salesforce"))
    assert "\n" not in str(info.value)


def test_unreadable_value_names_file_line_and_column(tmp_path: Path) -> None:
    shutil.copytree(HUBSPOT, tmp_path / "snap")
    deals = tmp_path / "snap" / "deals.csv"
    deals.write_text(deals.read_text().replace("1767529800000", "yesterday"))
    with pytest.raises(
        BadInput, match=r"deals\.csv:2: hs_lastmodifieddate or updatedAt 'yesterday' is not a timestamp"
    ):
        map_snapshot_dir(tmp_path / "snap", load_mapping("hubspot"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "objects:\n  widgets:\n    files: [W]\n    columns: {}\n",
            "objects.widgets: unknown canonical object",
        ),
        (
            "objects:\n  users:\n    files: [U]\n    columns: {colour: {from: C}}\n",
            "columns.colour: not a canonical",
        ),
        (
            "objects:\n  users:\n    files: [U]\n    columns: {role: {from: R, transform: upper}}\n",
            "is not one of",
        ),
        ("objects:\n  users:\n    files: [U]\n    columns: {role: {form: R}}\n", "unknown key 'form'"),
        ("name: x\n", "a mapping needs `objects:`"),
    ],
)
def test_bad_mapping_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.yml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message) as info:
        load_mapping(path)
    assert str(path) in str(info.value)


def test_unknown_mapping_name_says_what_to_use() -> None:
    with pytest.raises(BadInput, match="use salesforce, hubspot or a YAML file"):
        load_mapping("zoho")


def test_a_customer_mapping_file_renames_and_maps_values(tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "reps.csv").write_text("RepId,Mail,Kind,Agent\nr1,a@x.io,Closer,Y\n")
    mapping = tmp_path / "mine.yml"
    mapping.write_text(
        "name: mine\nobjects:\n  users:\n    files: [reps]\n    columns:\n"
        "      user_id: {from: RepId}\n      email: {from: Mail}\n"
        "      role: {from: Kind, transform: lower, map: {closer: ae}}\n"
        "      is_agent: {from: Agent, transform: boolean}\n"
    )
    row = map_snapshot_dir(tmp_path / "snap", load_mapping(mapping))["users"].to_pylist()[0]
    assert (row["user_id"], row["role"], row["is_agent"], row["name"], row["_extra"]) == (
        "r1",
        "ae",
        "true",
        None,
        None,
    )


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_canonical_snapshot_survives_export_and_mapping(tmp_path: Path, crm: str) -> None:
    """Canonical -> CRM export (Salesforce timestamps / HubSpot epoch ms) -> mapping == canonical."""
    canonical = tmp_path / "canonical"
    canonical.mkdir()
    original = map_snapshot_dir(SALESFORCE, load_mapping("salesforce"))
    for name, table in original.items():
        with (canonical / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(OBJECTS[name].columns)
            writer.writerows([[row[c] for c in OBJECTS[name].columns] for row in table.to_pylist()])
    mapping = load_mapping(crm)
    written = export_snapshot(canonical, tmp_path / crm, mapping)
    assert len(written) == len(mapping.objects)
    back = map_snapshot_dir(tmp_path / crm, mapping)
    for name in mapping.objects:
        columns = list(OBJECTS[name].columns)
        assert back[name].select(columns).to_pylist() == original[name].select(columns).to_pylist(), name


def test_parquet_export_values_are_read_as_text(tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    duckdb.execute(
        f"COPY (SELECT 'r1' AS RepId, 42 AS Emp, true AS Agent) TO '{tmp_path / 'snap' / 'reps.parquet'}' (FORMAT parquet)"
    )
    mapping = tmp_path / "mine.yml"
    mapping.write_text(
        "objects:\n  users:\n    files: [reps]\n    columns:\n"
        "      user_id: {from: RepId}\n      is_agent: {from: Agent, transform: boolean}\n"
    )
    row = map_snapshot_dir(tmp_path / "snap", load_mapping(mapping))["users"].to_pylist()[0]
    assert (row["user_id"], row["is_agent"], json.loads(row["_extra"]), row["_line"]) == (
        "r1",
        "true",
        {"Emp": "42"},
        1,
    )


def test_ingest_cli_loads_a_salesforce_export_with_custom_fields(tmp_path: Path) -> None:
    from conftest import CRMGUARD, run_cli

    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    out = json.loads(run_cli("ingest", "--mapping", "salesforce", str(SALESFORCE), "--warehouse", str(warehouse),
                             "--json").stdout)  # fmt: skip
    assert (out["loaded"], out["rejected"], out["files"][0]["status"]) == (11, 0, "loaded")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        source, counts = con.execute(
            "SELECT source, manifest->>'$.row_counts.contacts' FROM raw.crm_snapshots"
        ).fetchone()
        extra = con.execute(
            "SELECT _extra->>'$.BillingCity' FROM raw.crm_accounts WHERE account_id = '0015e00000A1b2cAAB'"
        ).fetchone()[0]
    finally:
        con.close()
    assert (source, counts, extra) == ("salesforce", "2", "Berlin")
    broken = tmp_path / "20260106T000000Z"
    shutil.copytree(SALESFORCE, broken)
    (broken / "Opportunity.csv").write_text("Id,Name\n006x,Only two columns\n")
    proc = subprocess.run([CRMGUARD, "ingest", "--mapping", "salesforce", str(broken), "--warehouse", str(warehouse)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "missing required column StageName" in proc.stderr


def test_timestamps_do_not_depend_on_the_process_time_zone(tmp_path: Path) -> None:
    """Times without an offset are UTC, whatever TZ the process runs under (DuckDB reads TZ at start)."""
    snapshot = tmp_path / "20260105T000000Z"
    shutil.copytree(SALESFORCE, snapshot)
    account = snapshot / "Account.csv"
    account.write_text(account.read_text().replace("2020-10-22T21:03:23.000+0000", "2020-10-22 21:03:23"))
    code = (
        "import json, sys; from pathlib import Path; "
        "from crmguard.adapters.crm_exports import load_mapping, map_snapshot_dir; "
        "t = map_snapshot_dir(Path(sys.argv[1]), load_mapping('salesforce'))['accounts']; "
        "print(json.dumps(t.column('updated_at').to_pylist()))"
    )
    for zone in ("UTC", "Asia/Kolkata", "America/New_York"):
        proc = subprocess.run([sys.executable, "-c", code, str(snapshot)], capture_output=True, text=True,
                              env={**os.environ, "TZ": zone}, check=True)  # fmt: skip
        assert json.loads(proc.stdout) == ["2020-10-22T21:03:23Z", "2021-01-02T08:00:00Z"], zone
