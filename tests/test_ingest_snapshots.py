"""CRM snapshot ingest: all objects in one transaction, values as exported, refused whole on any defect."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from crmguard.crm.objects import OBJECTS
from crmguard.ingest import ingest_paths
from crmguard.warehouse import connect

STAMP = "20260105T000000Z"


def row(name: str, n: int) -> dict[str, str]:
    """A canonical row whose every value is text, like an export writes it."""
    values = {c: f"{c}-{n}" for c in OBJECTS[name].columns}
    values[OBJECTS[name].id_column] = f"{name[0]}{n}"
    if "amount" in values:
        values["amount"] = "12000.00"
    if "is_agent" in values:
        values["is_agent"] = "true"
    return values


def write_snapshot(root: Path, stamp: str = STAMP, rows: int = 2, fmt: str = "csv",
                   columns: dict[str, list[str]] | None = None, counts: dict[str, int] | None = None,
                   captured_at: str | None = None) -> Path:
    """A snapshot folder root/crm/<stamp>/ with `rows` rows per object; overrides break it on purpose."""
    folder = root / "crm" / stamp
    folder.mkdir(parents=True)
    for name, obj in OBJECTS.items():
        names = (columns or {}).get(name, list(obj.columns))
        data = [{c: row(name, n).get(c, "x") for c in names} for n in range(rows)]
        target = folder / f"{name}.{fmt}"
        if fmt == "csv":
            with target.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=names, lineterminator="\n")
                writer.writeheader()
                writer.writerows(data)
        elif fmt == "jsonl":
            target.write_text("".join(json.dumps(d) + "\n" for d in data), encoding="utf-8")
        else:
            con = duckdb.connect()
            con.execute("CREATE TABLE t AS SELECT * FROM (VALUES " + ", ".join(
                "(" + ", ".join(f"'{d[c]}'" for c in names) + ")" for d in data) + ") AS v(" + ", ".join(names) + ")")
            con.execute(f"COPY t TO '{target}' (FORMAT parquet)")
            con.close()
    manifest = {"captured_at": captured_at or f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T00:00:00Z",
                "source": "test", "row_counts": {name: rows for name in OBJECTS} | (counts or {})}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def counts(warehouse: Path) -> dict[str, int]:
    with connect(warehouse, read_only=True) as con:
        return {name: con.execute(f"select count(*) from raw.crm_{name}").fetchone()[0] for name in OBJECTS}


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_snapshot_loads_every_object_as_text_with_lineage(tmp_path: Path, warehouse: Path, fmt: str) -> None:
    folder = write_snapshot(tmp_path, fmt=fmt)
    result = ingest_paths(warehouse, [folder]).to_json()
    assert result["files"][0]["status"] == "loaded" and result["loaded"] == 2 * len(OBJECTS)
    assert counts(warehouse) == {name: 2 for name in OBJECTS}
    with connect(warehouse, read_only=True) as con:
        deal = con.execute("select amount, _snapshot_id, strftime(_captured_at, '%Y-%m-%d %H:%M:%S'), _line, _extra, "
                           "_file from raw.crm_deals order by deal_id limit 1").fetchone()
        snap = con.execute("select snapshot_id, source, manifest ->> '$.row_counts.users' from raw.crm_snapshots").fetchall()
    first_line = 2 if fmt == "csv" else 1
    assert deal == ("12000.00", STAMP, "2026-01-05 00:00:00", first_line, None, str(folder / f"deals.{fmt}"))
    assert snap == [(STAMP, "test", "2")]
    assert ingest_paths(warehouse, [folder]).to_json()["skipped_files"] == 1
    assert counts(warehouse) == {name: 2 for name in OBJECTS}


REFUSALS = [
    ({"columns": {"contacts": [c for c in OBJECTS["contacts"].columns if c != "email"]}},
     "contacts.csv: missing column email"),
    ({"columns": {"deals": [*OBJECTS["deals"].columns, "probability"]}}, "deals.csv: unexpected column probability"),
    ({"counts": {"accounts": 3}}, "accounts.csv: 2 rows but the manifest says 3"),
    ({"captured_at": "2026-01-05T00:00:01Z"}, "does not match the directory name"),
]


@pytest.mark.parametrize(("broken", "message"), REFUSALS, ids=["missing", "extra", "count", "captured_at"])
def test_defective_snapshot_is_refused_whole(tmp_path: Path, warehouse: Path, broken: dict, message: str) -> None:
    good = write_snapshot(tmp_path / "1-good", stamp="20260104T000000Z")
    folder = write_snapshot(tmp_path / "2-bad", **broken)
    result = ingest_paths(warehouse, [good, folder])
    assert [f.status for f in result.files] == ["loaded", "rejected"]
    assert message in result.files[1].error
    assert counts(warehouse) == {name: 2 for name in OBJECTS}  # only the good snapshot's rows
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select snapshot_id from raw.crm_snapshots").fetchall() == [("20260104T000000Z",)]
        ledger = con.execute("select status, error from raw.load_ledger where path = ?", [str(folder)]).fetchall()
        rejects = con.execute("select file, line, reason from raw.rejects").fetchall()
    assert ledger == [("rejected", result.files[1].error)]
    assert rejects == [(str(folder), None, result.files[1].error)]


def test_snapshot_id_reloaded_from_other_bytes_is_refused(tmp_path: Path, warehouse: Path) -> None:
    ingest_paths(warehouse, [write_snapshot(tmp_path / "one")])
    again = ingest_paths(warehouse, [write_snapshot(tmp_path / "two", rows=3)])
    assert again.files[0].status == "rejected"
    assert "already loaded from different content" in again.files[0].error
    assert counts(warehouse) == {name: 2 for name in OBJECTS}


def test_cli_names_the_refused_snapshot_and_exits_2(tmp_path: Path, warehouse: Path, capsys, monkeypatch) -> None:
    from crmguard.cli import main

    folder = write_snapshot(tmp_path, **REFUSALS[0][0])
    monkeypatch.setattr("sys.argv", ["crmguard", "ingest", str(tmp_path), "--warehouse", str(warehouse), "--json"])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exited.value.code == 2
    assert err == f"crmguard: error: refused {folder}: {folder / 'contacts.csv'}: missing column email"
