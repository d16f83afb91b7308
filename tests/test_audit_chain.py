"""The hash chain: every kind of tampering done directly in DuckDB is caught and the first row named."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crmguard.export.chain import chain, genesis, hashed_rows_sql, seal
from crmguard.export.registry import REGISTRY, table_columns
from crmguard.export.synthetic import sealed_warehouse
from crmguard.export.tamper import verify
from crmguard.warehouse import connect

ACTIONS = "main.fct_agent_actions"


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    return sealed_warehouse(tmp_path / "warehouse.duckdb", actions=300, days=3)


def _verify(path: Path, since: dt.date | None = None) -> dict:
    with connect(path, read_only=True) as con:
        return verify(con, since)


def _tamper(path: Path, sql: str) -> None:
    with connect(path) as con:
        con.execute(sql)


def test_untouched_chain_verifies(warehouse: Path) -> None:
    result = _verify(warehouse)
    assert result["ok"], result["findings"]
    assert result["rows_checked"][ACTIONS] == 300


def test_chain_links_rows_and_days() -> None:
    """Changing one earlier content hash changes every later chain hash and the later days' heads."""
    day1, day2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    hashes = [hashlib.sha256(bytes([i])).digest() for i in range(4)]
    days = [day1, day1, day2, day2]
    base = chain("t", days, hashes)
    changed = chain("t", days, [hashes[0], hashlib.sha256(b"x").digest(), *hashes[2:]])
    assert base.chain_hashes[0] == changed.chain_hashes[0]
    assert all(a != b for a, b in zip(base.chain_hashes[1:], changed.chain_hashes[1:], strict=True))
    assert [h[0] for h in base.day_heads] == [day1, day2]
    assert base.day_heads[1][2] != changed.day_heads[1][2]
    expected_first = hashlib.sha256(hashlib.sha256(genesis("t") + b"2026-01-01").digest() + hashes[0]).digest()
    assert base.chain_hashes[0] == expected_first


def test_altered_row_is_named(warehouse: Path) -> None:
    _tamper(warehouse, f"update {ACTIONS} set status = 'succeeded' where event_id = 'evt-000000150'")
    result = _verify(warehouse)
    assert not result["ok"]
    first = result["findings"][0]
    assert (first["table"], first["kind"], first["row_key"]) == (ACTIONS, "altered", "evt-000000150")
    assert "evt-000000150" in result["first"]


def test_inserted_row_is_named(warehouse: Path) -> None:
    _tamper(warehouse, f"insert into {ACTIONS} select * replace ('evt-forged' as event_id) from {ACTIONS} "
                       "where event_id = 'evt-000000200'")
    first = _verify(warehouse)["findings"][0]
    assert (first["kind"], first["row_key"]) == ("inserted", "evt-forged")


def test_duplicated_row_is_an_insert(warehouse: Path) -> None:
    _tamper(warehouse, f"insert into {ACTIONS} select * from {ACTIONS} where event_id = 'evt-000000010'")
    first = _verify(warehouse)["findings"][0]
    assert (first["kind"], first["row_key"]) == ("inserted", "evt-000000010")


def test_deleted_row_is_named(warehouse: Path) -> None:
    _tamper(warehouse, f"delete from {ACTIONS} where event_id = 'evt-000000250'")
    first = _verify(warehouse)["findings"][0]
    assert (first["kind"], first["row_key"], first["day"]) == ("deleted", "evt-000000250", "2026-01-03")


def test_first_of_several_changes_is_reported(warehouse: Path) -> None:
    _tamper(warehouse, f"delete from {ACTIONS} where event_id in ('evt-000000250', 'evt-000000120')")
    result = _verify(warehouse)
    assert result["findings"][0]["row_key"] == "evt-000000120"
    assert result["findings"][0]["problems_in_table"] == 2


def test_rewritten_stored_hash_breaks_the_stored_chain(warehouse: Path) -> None:
    """A forger who edits a row and then overwrites its sealed content hash is still caught."""
    with connect(warehouse) as con:
        con.execute(f"update {ACTIONS} set error = 'forged' where event_id = 'evt-000000100'")
        table = REGISTRY[0]
        new_hash = con.execute(f"select content_hash from ({hashed_rows_sql(table, table_columns(con, table))}) "
                               "where row_key = 'evt-000000100'").fetchone()[0]
        con.execute("update audit.row_hashes set content_hash = ? where table_name = ? "
                    "and row_key = 'evt-000000100'", [new_hash, ACTIONS])
    first = _verify(warehouse)["findings"][0]
    assert (first["kind"], first["row_key"]) == ("chain_state_altered", "evt-000000100")


def test_deleting_row_and_its_hash_is_caught(warehouse: Path) -> None:
    _tamper(warehouse, f"delete from {ACTIONS} where event_id = 'evt-000000050'; "
                       f"delete from audit.row_hashes where table_name = '{ACTIONS}' and row_key = 'evt-000000050'")
    first = _verify(warehouse)["findings"][0]
    assert first["kind"] == "chain_state_altered"
    assert first["day"] == "2026-01-01"


def test_altered_day_head_is_caught(warehouse: Path) -> None:
    _tamper(warehouse, f"update audit.day_heads set head_hash = repeat('0', 64) where table_name = '{ACTIONS}' "
                       "and day = date '2026-01-02'")
    first = _verify(warehouse)["findings"][0]
    assert (first["kind"], first["day"]) == ("day_head_altered", "2026-01-02")


def test_since_skips_earlier_days_but_keeps_the_link(warehouse: Path) -> None:
    _tamper(warehouse, f"delete from {ACTIONS} where event_id = 'evt-000000010'")
    assert _verify(warehouse, dt.date(2026, 1, 2))["ok"]
    assert not _verify(warehouse, dt.date(2026, 1, 1))["ok"]


def test_reseal_after_rebuild_starts_a_new_seal(warehouse: Path) -> None:
    with connect(warehouse) as con:
        con.execute(f"delete from {ACTIONS} where event_id = 'evt-000000010'")
        assert seal(con).seal_id == 2
    assert _verify(warehouse)["ok"]


def test_cli_exit_codes(warehouse: Path) -> None:
    env = {**os.environ, "CRMGUARD_WAREHOUSE": str(warehouse)}
    cli = [str(Path(sys.executable).parent / "crmguard")]
    ok = subprocess.run([*cli, "audit", "verify", "--json"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    _tamper(warehouse, f"update {ACTIONS} set agent_id = 'x' where event_id = 'evt-000000001'")
    bad = subprocess.run([*cli, "audit", "verify"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "evt-000000001" in bad.stderr and "altered" in bad.stderr
    usage = subprocess.run([*cli, "audit", "verify", "--since", "yesterday"], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "--since" in usage.stderr


def test_rows_logged_after_the_seal_are_unsealed_not_tampering(warehouse: Path) -> None:
    """A restore write logged after the last build is new, not forged; a back-dated copy is an insert."""
    _tamper(warehouse, f"insert into {ACTIONS} select * replace ('evt-late' as event_id, "
                       f"now()::timestamp + interval 1 minute as occurred_at) from {ACTIONS} limit 1")
    result = _verify(warehouse)
    assert result["ok"], result["findings"]
    assert result["rows_newer_than_seal"] == {ACTIONS: 1}
