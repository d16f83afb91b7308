"""The governance report in a real headless Chromium (DevTools protocol): no console errors, no network,
key numbers equal to SQL over the warehouse, and a screenshot."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from crmguard.export.synthetic import build_audit_tables, build_governance_tables
from crmguard.warehouse import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


class Page:
    """One Chromium tab driven over the DevTools protocol; records console errors and requests."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.errors: list[str] = []
        self.requests: list[str] = []
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.call(method)

    def _record(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._record(message)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            self._record(message)
            if message.get("method") == "Page.loadEventFired":
                break
        self.call("Runtime.evaluate", expression="1")  # drain events queued during load

    def evaluate(self, expression: str) -> object:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A headless Chromium; yields the DevTools HTTP address."""
    profile = tmp_path_factory.mktemp("chromium")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
         "--window-size=1100,1600", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    try:
        for _ in range(600):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        port = port_file.read_text().splitlines()[0]
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture()
def page(browser: str) -> Iterator[Page]:
    request = urllib.request.Request(f"{browser}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.load(response)
    with ws_connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024) as ws:
        yield Page(ws)
    urllib.request.urlopen(f"{browser}/json/close/{target['id']}", timeout=30).close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    base = tmp_path_factory.mktemp("report")
    warehouse = base / "warehouse.duckdb"
    with connect(warehouse) as con:
        build_audit_tables(con, 3000, days=5)
        build_governance_tables(con)
    out = base / "report.html"
    env = {**os.environ, "CRMGUARD_WAREHOUSE": str(warehouse), "TZ": "America/New_York"}
    run = subprocess.run([str(Path(sys.executable).parent / "crmguard"), "report", "--out", str(out), "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return warehouse, out, json.loads(run.stdout)


def _sql(warehouse: Path, query: str) -> object:
    with connect(warehouse, read_only=True) as con:
        return con.execute(query).fetchone()[0]


def test_report_renders_without_errors_or_network(page: Page, report: tuple[Path, Path, dict]) -> None:
    _, out, _ = report
    page.open(out.as_uri())
    assert page.errors == []
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    assert page.evaluate("document.querySelectorAll('svg.chart').length") >= 6
    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = out.with_suffix(".png")
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.stat().st_size > 10_000


def test_key_numbers_match_sql(page: Page, report: tuple[Path, Path, dict]) -> None:
    warehouse, out, printed = report
    page.open(out.as_uri())
    shown = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-key]')].map(e => [e.dataset.key, e.textContent]))")
    expected = {
        "actions": _sql(warehouse, "select count(*) from fct_agent_actions"),
        "violations": _sql(warehouse, "select count(*) from fct_policy_violations"),
        "unexplained_changes": _sql(warehouse, "select count(*) from fct_change_attribution "
                                               "where cause = 'unexplained' and record_type = 'observed_change'"),
        "restores": _sql(warehouse, "select count(*) from restore.plans"),
        "approval_coverage_pct": _sql(warehouse, "select round(100.0 * count(*) filter (where v.verdict = 'pass') "
                                                 "/ count(*), 1) from fct_policy_verdicts v join policy.rules r "
                                                 "using (policy_version, rule_id) where r.rule_kind = "
                                                 "'approval_gate' and v.verdict <> 'not_applicable'"),
        "checks_failed_last_run": _sql(warehouse, "select count(*) filter (where not success) from "
                                                  "fct_check_results group by run_id order by min(checked_at) desc "
                                                  "limit 1"),
    }
    for key, value in expected.items():
        assert float(shown[key]) == pytest.approx(float(value)), key
        assert printed["headline"][key] == pytest.approx(float(value)), key
    top = page.evaluate("document.querySelector('#top-runs tbody tr td a').getAttribute('href')")
    top_run = _sql(warehouse, "select run_id from fct_policy_violations group by run_id "
                              "order by count(*) desc, run_id limit 1")
    assert top == f"#run-{top_run}"
    assert page.evaluate(f"document.getElementById('run-{top_run}') !== null")
    evidence_rows = page.evaluate(f"document.getElementById('run-{top_run}').nextElementSibling"
                                  ".nextElementSibling.querySelectorAll('tbody tr').length")
    assert evidence_rows == _sql(warehouse, f"select count(*) from fct_policy_violations where run_id = '{top_run}'")


def test_console_errors_are_detected(page: Page, tmp_path: Path) -> None:
    """Control: the collector does see a console error and a thrown exception."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom'); throw new Error('bang');</script></body></html>")
    page.open(bad.as_uri())
    assert any("boom" in e for e in page.errors)
    assert len(page.errors) == 2


def test_report_without_marts_says_not_built(tmp_path: Path) -> None:
    from crmguard.report.page import write_report

    with connect(tmp_path / "warehouse.duckdb") as con:
        result = write_report(con, tmp_path / "empty.html")
    html = (tmp_path / "empty.html").read_text()
    assert "not built yet: main.fct_agent_actions" in html
    assert result["headline"] == {}


def test_report_on_a_generated_world(page: Page, built_world, tmp_path: Path) -> None:
    """The real marts (generate -> ingest -> dbt build): renders cleanly, numbers equal SQL."""
    from crmguard.report.page import write_report

    with connect(built_world.warehouse, read_only=True) as con:
        result = write_report(con, tmp_path / "world.html")
    page.open((tmp_path / "world.html").as_uri())
    assert page.errors == []
    shown = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-key]')].map(e => [e.dataset.key, e.textContent]))")
    assert int(shown["actions"]) == _sql(built_world.warehouse, "select count(*) from fct_agent_actions") > 0
    assert int(shown["violations"]) == _sql(built_world.warehouse, "select count(*) from fct_policy_violations") > 0
    assert int(shown["unexplained_changes"]) == _sql(
        built_world.warehouse, "select count(*) from fct_change_attribution where cause = 'unexplained' "
        "and record_type = 'observed_change'")
    assert "fct_policy_violations" not in result["missing"]
    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    (tmp_path / "world.png").write_bytes(base64.b64decode(shot["data"]))
