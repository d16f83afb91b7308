"""Pseudonyms are keyed HMAC-SHA256, stable per person, and clear PII needs a logged compliance user."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from crmguard.errors import BadInput
from crmguard.export.chain import seal
from crmguard.export.exporter import ExportRequest, export_audit
from crmguard.export.keys import pseudonym_key
from crmguard.export.pseudonymize import install_macro, pseudonym
from crmguard.export.synthetic import build_audit_tables
from crmguard.warehouse import connect

SHARED = "same.person@example.com"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    with connect(path) as con:
        build_audit_tables(con, 200, days=2)
        con.execute(f"""update main.fct_agent_actions set input = json_object('to', '{SHARED}', 'subject', 'hi')
                        where event_id in ('evt-000000003', 'evt-000000150')""")
        seal(con)
    return path


def _export(warehouse: Path, out: Path, keys: Path, as_user: str | None = None, fmt: str = "jsonl") -> dict:
    request = ExportRequest(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 3), fmt, out, keys, as_user)
    with connect(warehouse, read_only=as_user is None) as con:
        return export_audit(con, request)


def _inputs(out: Path) -> dict[str, dict]:
    lines = (out / "main.fct_agent_actions.jsonl").read_text().splitlines()
    return {row["event_id"]: row for row in map(json.loads, lines)}


def test_sql_macro_is_rfc2104_hmac(tmp_path: Path) -> None:
    key = pseudonym_key(tmp_path)
    con = duckdb.connect()
    install_macro(con, key)
    for value in ("ann@example.com", "Zoë Ångström", "x" * 300, ""):
        assert con.execute("select crmguard_pii(?)", [value]).fetchone()[0] == pseudonym(key, value)
    assert con.execute("select crmguard_pii(null)").fetchone()[0] is None


def test_export_pseudonymizes_emails_by_default(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _export(warehouse, out, tmp_path / "keys")
    text = (out / "main.fct_agent_actions.jsonl").read_text()
    assert "@example.com" not in text
    rows = _inputs(out)
    key = pseudonym_key(tmp_path / "keys")
    assert rows["evt-000000003"]["input"]["to"] == pseudonym(key, SHARED)
    assert rows["evt-000000003"]["input"]["to"] == rows["evt-000000150"]["input"]["to"]  # same person
    assert rows["evt-000000003"]["input"]["subject"] == "hi"  # non-PII keys untouched
    change = rows["evt-000000061"]["changes"][0]
    assert change["field"] == "email" and change["old"] == pseudonym(key, "old61@example.com")
    assert rows["evt-000000062"]["changes"][0]["old"] == "VP"  # non-PII fields untouched
    assert result["manifest"]["pii"]["mode"] == "pseudonymized"


def test_pseudonyms_are_stable_and_keyed(warehouse: Path, tmp_path: Path) -> None:
    for name, keys in (("a", "keys"), ("b", "keys"), ("c", "other-keys")):
        _export(warehouse, tmp_path / name, tmp_path / keys)
    a, b, c = (_inputs(tmp_path / name) for name in "abc")
    token = a["evt-000000003"]["input"]["to"]
    assert token == b["evt-000000003"]["input"]["to"]
    assert token != c["evt-000000003"]["input"]["to"]
    # An unkeyed dictionary attack (hash every known email) finds nothing.
    for digest in (hashlib.sha256, hashlib.md5, hashlib.sha1):
        assert digest(SHARED.encode()).hexdigest()[:24] not in token


def test_include_pii_needs_a_compliance_user_and_is_logged(warehouse: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="has role ops"):
        _export(warehouse, tmp_path / "refused", tmp_path / "keys", as_user="u-ops-1")
    with pytest.raises(BadInput, match="is not in dim_users"):
        _export(warehouse, tmp_path / "refused2", tmp_path / "keys", as_user="mallory")
    assert not (tmp_path / "refused").exists()
    result = _export(warehouse, tmp_path / "clear", tmp_path / "keys", as_user="carol@corp.example")
    assert _inputs(tmp_path / "clear")["evt-000000003"]["input"]["to"] == SHARED
    assert result["manifest"]["pii"] == {"mode": "included", "authorized_by": "carol@corp.example",
                                         "role": "compliance"}
    with connect(warehouse, read_only=True) as con:
        log = con.execute("select user_ref, granted from audit.pii_access_log order by accessed_at").fetchall()
    assert log[-3:] == [("u-ops-1", False), ("mallory", False), ("carol@corp.example", True)]


def test_cli_include_pii_without_user_is_bad_usage(warehouse: Path, tmp_path: Path) -> None:
    cli = str(Path(sys.executable).parent / "crmguard")
    env = {**os.environ, "CRMGUARD_WAREHOUSE": str(warehouse), "CRMGUARD_HOME": str(tmp_path / "keys")}
    run = subprocess.run([cli, "export", "audit", "--from", "2026-01-01", "--to", "2026-01-02", "--out",
                          str(tmp_path / "x"), "--include-pii"], env=env, capture_output=True, text=True)
    assert run.returncode == 2
    assert "--include-pii and --as USER go together" in run.stderr
