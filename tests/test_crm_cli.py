"""`crmguard crm serve|seed|export|writes` through the real entry point."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from test_crm_service import write_snapshot
from test_restore_cli import crmguard

CLI = str(Path(sys.executable).parent / "crmguard")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_binds_loopback_serves_the_seed_and_stops_on_interrupt(tmp_path: Path, stop: signal.Signals) -> None:
    snap = write_snapshot(tmp_path / "in")
    server = subprocess.Popen([CLI, "crm", "serve", "--port", "0", "--data", str(tmp_path / "crm"), "--seed", str(snap),
                               "--faults", "500=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = server.stdout.readline()  # blocks until the service is listening
        url = banner.split(" on ")[1].split(" ")[0]
        assert url.startswith("http://127.0.0.1:")
        body = {"properties": ["name"], "inputs": [{"id": "a1"}]}
        auth = {"Authorization": "Bearer t"}
        assert requests.post(f"{url}/crm/v3/objects/companies/batch/read", json=body, headers=auth, timeout=5).status_code == 500
        ok = requests.post(f"{url}/crm/v3/objects/companies/batch/read", json=body, headers=auth, timeout=5)
        assert ok.json()["results"][0]["properties"] == {"name": "Acme"}
    finally:
        server.send_signal(stop)
        server.wait(timeout=30)
    assert server.returncode == 0


def test_seed_export_and_writes_commands(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "in")
    data = tmp_path / "crm"
    seeded = json.loads(crmguard("crm", "seed", str(snap), "--data", str(data), "--json").stdout)
    assert seeded["rows"] == {"accounts": 2, "contacts": 2, "users": 1}
    exported = json.loads(crmguard("crm", "export", "--data", str(data), "--out", str(tmp_path / "out"), "--json").stdout)
    assert Path(exported["snapshot"]).parent == tmp_path / "out" / "crm"
    writes = json.loads(crmguard("crm", "writes", "--data", str(data), "--json").stdout)
    assert writes == {"duplicates": [], "keys": 0, "writes": 0}
    missing = crmguard("crm", "seed", str(tmp_path / "nope"), "--data", str(data), check=2)
    assert "not a snapshot directory" in missing.stderr
