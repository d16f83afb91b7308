"""Signed exports: an untouched export verifies, every file-level attack is caught and named."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from crmguard.errors import BadInput, CheckFailed
from crmguard.export.exporter import ExportRequest, export_audit
from crmguard.export.keys import PUBLIC_KEY
from crmguard.export.synthetic import sealed_warehouse
from crmguard.export.verify import verify_exports
from crmguard.warehouse import connect

ACTIONS_FILE = "main.fct_agent_actions.parquet"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sealed_warehouse(tmp_path_factory.mktemp("wh") / "warehouse.duckdb", actions=400, days=4)


def _export(warehouse: Path, out: Path, keys: Path, file_format: str = "parquet",
            start: str = "2026-01-01", end: str = "2026-01-03", as_user: str | None = None) -> dict:
    request = ExportRequest(dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end), file_format,
                            out, keys, as_user)
    with connect(warehouse, read_only=as_user is None) as con:
        return export_audit(con, request)


def _findings(keys: Path, *dirs: Path) -> list[str]:
    result = verify_exports(list(dirs), keys / PUBLIC_KEY)
    return [f for r in result["exports"] for f in r["findings"]]


@pytest.fixture()
def exported(warehouse: Path, tmp_path: Path) -> tuple[Path, Path]:
    keys = tmp_path / "keys"
    out = tmp_path / "export"
    _export(warehouse, out, keys)
    return out, keys


def test_untouched_export_verifies(exported: tuple[Path, Path]) -> None:
    out, keys = exported
    assert _findings(keys, out) == []
    body = json.loads((out / "manifest.json").read_text())
    actions = next(f for f in body["files"] if f["path"] == ACTIONS_FILE)
    assert actions["rows"] == duckdb.sql(f"select count(*) from read_parquet('{out / ACTIONS_FILE}')").fetchone()[0]
    assert actions["rows"] == 200  # 400 actions over 4 days, window = first 2 days
    heads = body["chain"]["tables"]["main.fct_agent_actions"]["days"]
    assert [d["day"] for d in heads] == ["2026-01-01", "2026-01-02"]
    assert body["previous_manifest"] is None and body["sequence"] == 1
    assert "signature" not in json.dumps(body)


def test_flipped_byte_is_caught(exported: tuple[Path, Path]) -> None:
    out, keys = exported
    path = out / ACTIONS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    findings = _findings(keys, out)
    assert any(f.startswith(f"{ACTIONS_FILE} was altered") for f in findings), findings


def test_truncated_file_is_caught(exported: tuple[Path, Path]) -> None:
    out, keys = exported
    path = out / "main.fct_approvals.parquet"
    path.write_bytes(path.read_bytes()[:-100])
    findings = _findings(keys, out)
    assert any(f.startswith("main.fct_approvals.parquet was truncated") for f in findings), findings


def test_removed_file_is_caught(exported: tuple[Path, Path]) -> None:
    out, keys = exported
    (out / "main.fct_stop_events.parquet").unlink()
    assert _findings(keys, out) == ["main.fct_stop_events.parquet is missing (removed)"]


def test_added_file_is_caught(exported: tuple[Path, Path]) -> None:
    out, keys = exported
    (out / "extra.csv").write_text("a\n1\n")
    assert _findings(keys, out) == ["extra.csv is not in the manifest (added or renamed)"]


def test_renamed_file_is_caught(exported: tuple[Path, Path]) -> None:
    out, keys = exported
    (out / ACTIONS_FILE).rename(out / "actions.parquet")
    assert _findings(keys, out) == [f"{ACTIONS_FILE} was renamed to actions.parquet"]


def test_reordered_manifest_fails_the_signature(exported: tuple[Path, Path]) -> None:
    out, keys = exported
    body = json.loads((out / "manifest.json").read_text())
    body["files"].reverse()
    (out / "manifest.json").write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    findings = _findings(keys, out)
    assert findings and findings[0].startswith("signature does not match manifest.json"), findings


def test_edited_row_count_fails_the_signature(exported: tuple[Path, Path]) -> None:
    out, keys = exported
    text = (out / "manifest.json").read_text().replace('"rows": 200', '"rows": 199')
    (out / "manifest.json").write_text(text)
    assert _findings(keys, out)[0].startswith("signature does not match")


def test_swapped_manifest_is_caught(warehouse: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first, second = tmp_path / "first", tmp_path / "second"
    _export(warehouse, first, keys)
    _export(warehouse, second, keys, start="2026-01-03", end="2026-01-05")
    for name in ("manifest.json", "manifest.json.sig"):
        shutil.copyfile(second / name, first / name)
    findings = _findings(keys, first)
    assert any("was altered" in f for f in findings), findings


def test_exports_form_a_chain_and_order_is_checked(warehouse: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first, second = tmp_path / "first", tmp_path / "second"
    _export(warehouse, first, keys)
    result = _export(warehouse, second, keys, start="2026-01-03", end="2026-01-05")
    link = result["manifest"]["previous_manifest"]
    assert link["sequence"] == 1 and result["manifest"]["sequence"] == 2
    assert _findings(keys, first, second) == []
    reordered = _findings(keys, second, first)
    assert any("names no previous export" in f for f in reordered), reordered


def test_other_key_is_rejected(exported: tuple[Path, Path], warehouse: Path, tmp_path: Path) -> None:
    out, _ = exported
    other_keys = tmp_path / "other-keys"
    _export(warehouse, tmp_path / "other", other_keys)
    findings = _findings(other_keys, out)
    assert findings[0].startswith("signature does not match")
    assert any("not the pinned public key" in f for f in findings)


def test_empty_window_is_signed(warehouse: Path, tmp_path: Path) -> None:
    keys, out = tmp_path / "keys", tmp_path / "quiet"
    result = _export(warehouse, out, keys, start="2027-01-01", end="2027-01-02")
    assert all(f["rows"] == 0 for f in result["manifest"]["files"])
    assert (out / "manifest.json.sig").is_file()
    assert _findings(keys, out) == []


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "ocsf"])
def test_every_format_verifies(warehouse: Path, tmp_path: Path, file_format: str) -> None:
    keys, out = tmp_path / "keys", tmp_path / file_format
    result = _export(warehouse, out, keys, file_format=file_format)
    assert sum(f["rows"] for f in result["manifest"]["files"]) > 0
    assert _findings(keys, out) == []
    victim = out / result["manifest"]["files"][0]["path"]
    victim.write_bytes(victim.read_bytes()[:-10])
    assert _findings(keys, out)


def test_export_refuses_a_tampered_window(warehouse: Path, tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    with connect(copy) as con:
        con.execute("delete from main.fct_agent_actions where event_id = 'evt-000000005'")
    with pytest.raises(CheckFailed, match="2026-01-01 differ from the sealed chain"):
        _export(copy, tmp_path / "out", tmp_path / "keys")


def test_export_never_overwrites(exported: tuple[Path, Path], warehouse: Path) -> None:
    out, keys = exported
    with pytest.raises(BadInput, match="must be new or empty"):
        _export(warehouse, out, keys)


def test_cli_export_and_verify_exit_codes(warehouse: Path, tmp_path: Path) -> None:
    cli = str(Path(sys.executable).parent / "crmguard")
    env = {**os.environ, "CRMGUARD_WAREHOUSE": str(warehouse), "CRMGUARD_HOME": str(tmp_path / "keys")}
    out = tmp_path / "cli-export"
    made = subprocess.run([cli, "export", "audit", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02",
                           "--out", str(out), "--json"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["manifest"]["window"] == {"from": "2026-01-01T00:00:00Z",
                                                             "to": "2026-01-02T00:00:00Z"}
    ok = subprocess.run([cli, "export", "verify", str(out)], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (out / "main.fct_stop_events.parquet").unlink()
    bad = subprocess.run([cli, "export", "verify", str(out)], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "main.fct_stop_events.parquet is missing (removed)" in bad.stderr
    wrong = subprocess.run([cli, "export", "audit", "--from", "2026-01-02", "--to", "2026-01-01", "--out",
                            str(tmp_path / "x")], env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "must be after --from" in wrong.stderr
