"""`crmguard report`: one self-contained HTML page an analyst can forward (inline CSS and SVG, no JS).

Sections: key numbers, actions per day by agent and outcome, violations by rule and agent over time,
approval coverage of gated actions, unexplained changes, integrity check history, restores with
their receipts, and the top offending runs, each linked to its evidence table further down the page.
Key numbers carry `data-key` attributes so tests (and scripts) can read them back.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

import duckdb

from crmguard import __version__
from crmguard.report import svg
from crmguard.report.figures import Figures, collect

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#111827}
h1{font-size:24px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #e5e7eb}
.sub{color:#6b7280;font-size:13px} .kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.kpi{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:120px}
.kpi b{display:block;font-size:22px} .kpi span{color:#6b7280;font-size:12px}
table{border-collapse:collapse;font-size:12px;margin:8px 0;width:100%}
th,td{border-bottom:1px solid #f3f4f6;padding:3px 6px;text-align:left} th{background:#f9fafb}
td.n{text-align:right;font-variant-numeric:tabular-nums} .chart{width:100%;height:auto}
.grid{stroke:#e5e7eb} .ax{font-size:10px;fill:#374151} .lg{font-size:11px;fill:#111827}
.empty{color:#6b7280;font-style:italic} figure{margin:12px 0} figcaption{font-size:13px;font-weight:600;color:#374151} .bad{color:#b91c1c} .ok{color:#15803d}
"""

EVIDENCE_ROWS = 40  # per run: enough to see the pattern, short enough to forward

_KPIS = (
    ("actions", "agent actions"), ("violations", "policy violations"),
    ("approval_coverage_pct", "approval coverage of gated actions (%)"),
    ("unexplained_changes", "unexplained CRM changes"), ("checks_failed_last_run", "checks failed (last run)"),
    ("restores", "restore plans"),
)


def _cell(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="n">{value:g}</td>' if isinstance(value, float) else f'<td class="n">{value}</td>'
    return f"<td>{escape('' if value is None else str(value))}</td>"


def table(rows: list[dict], columns: list[str] | None = None, table_id: str | None = None) -> str:
    """An HTML table of rows (all values escaped)."""
    if not rows:
        return '<p class="empty">nothing to show.</p>'
    columns = columns or list(rows[0])
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _missing(figures: Figures, *tables: str) -> str:
    absent = [t for t in tables if t in figures.missing]
    return f'<p class="empty">not built yet: {escape(", ".join(absent))}</p>' if absent else ""


def _kpis(figures: Figures) -> str:
    tiles = []
    for key, label in _KPIS:
        value = figures.headline.get(key)
        shown = "n/a" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        tiles.append(f'<div class="kpi"><b data-key="{key}">{escape(shown)}</b><span>{escape(label)}</span></div>')
    return '<div class="kpis">' + "".join(tiles) + "</div>"


def _activity(figures: Figures) -> str:
    labels, series = svg.pivot(figures.actions_by_day, "day", "status", "actions")
    by_agent_labels, by_agent = svg.pivot(figures.actions_by_day, "day", "agent_id", "actions")
    return ("<h2 id='activity'>Actions per day</h2>" + _missing(figures, "main.fct_agent_actions")
            + svg.stacked_bars("Actions per day by outcome", labels, series)
            + svg.stacked_bars("Actions per day by agent", by_agent_labels, by_agent)
            + table(figures.actions_by_agent, table_id="actions-by-agent"))


def _violations(figures: Figures) -> str:
    labels, series = svg.pivot(figures.violations_by_day, "day", "rule", "violations")
    pairs = figures.violations_by_rule_agent[:20]
    return ("<h2 id='violations'>Violations by rule and agent</h2>" + _missing(figures, "main.fct_policy_violations")
            + svg.stacked_bars("Violations per day by rule", labels, series)
            + svg.horizontal_bars("Violations by rule and agent",
                                  [f"{r['rule']} / {r['agent_id']}" for r in pairs],
                                  [r["violations"] for r in pairs])
            + table(figures.violations_by_rule_agent, table_id="violations-by-rule-agent"))


def _approvals(figures: Figures) -> str:
    rows = figures.approval_coverage
    return ("<h2 id='approvals'>Approval coverage for gated actions</h2>"
            + _missing(figures, "main.fct_policy_verdicts")
            + svg.horizontal_bars("Approval coverage by tool (%)", [r["tool_name"] for r in rows],
                                  [float(r["coverage_pct"]) for r in rows], unit="%")
            + table(rows, table_id="approval-coverage"))


def _unexplained(figures: Figures) -> str:
    labels = [str(r["day"]) for r in figures.unexplained_by_day]
    series = {"unexplained": [float(r["changes"]) for r in figures.unexplained_by_day]}
    return ("<h2 id='unexplained'>Unexplained changes</h2>" + _missing(figures, "main.fct_change_attribution")
            + svg.stacked_bars("Unexplained CRM changes per snapshot day", labels, series)
            + table(figures.unexplained_sample, table_id="unexplained-sample"))


def _checks(figures: Figures) -> str:
    rows = figures.check_history
    series = {"passed": [float(r["expectations"] - r["failed"]) for r in rows],
              "failed": [float(r["failed"]) for r in rows]}
    return ("<h2 id='checks'>Integrity check history</h2>" + _missing(figures, "main.fct_check_results")
            + svg.stacked_bars("Expectations per check run", [str(r["checked_at"])[:16] for r in rows], series)
            + table(rows, table_id="check-history"))


def _restores(figures: Figures) -> str:
    return ("<h2 id='restores'>Restores and their receipts</h2>"
            + _missing(figures, "restore.plans", "restore.receipts")
            + table(figures.restores, table_id="restores"))


def _runs(figures: Figures) -> str:
    rows = figures.top_runs
    links = "".join(
        f"<tr><td><a href='#run-{escape(r['run_id'])}'>{escape(r['run_id'])}</a></td>{_cell(r['agent_id'])}"
        f"{_cell(r['violations'])}{_cell(r['rule_list'])}</tr>" for r in rows)
    top = ("<table id='top-runs'><thead><tr><th>run</th><th>agent</th><th>violations</th><th>rules</th></tr>"
           f"</thead><tbody>{links}</tbody></table>") if rows else '<p class="empty">no violations.</p>'
    evidence = "".join(
        f"<h3 id='run-{escape(run)}'>Evidence for run {escape(run)}</h3>"
        f"<p class='sub'>from main.fct_policy_violations where run_id = '{escape(run)}'"
        f"{f' (first {EVIDENCE_ROWS} of {len(items)})' if len(items) > EVIDENCE_ROWS else ''}</p>"
        + table(items[:EVIDENCE_ROWS])
        for run, items in figures.run_evidence.items())
    return ("<h2 id='runs'>Top offending runs</h2>" + _missing(figures, "main.fct_policy_violations") + top
            + "<h2 id='evidence'>Evidence</h2>" + (evidence or '<p class="empty">nothing to show.</p>'))


def render(figures: Figures, generated_at: dt.datetime, warehouse_name: str) -> str:
    """The whole page as one string."""
    sections = [_kpis(figures), _activity(figures), _violations(figures), _approvals(figures),
                _unexplained(figures), _checks(figures), _restores(figures), _runs(figures)]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>crmguard governance report</title><style>{_CSS}</style></head><body>"
        "<h1>Agent governance report</h1>"
        f"<p class='sub'>crmguard {__version__}, warehouse {escape(warehouse_name)}, generated "
        f"{generated_at.strftime('%Y-%m-%d %H:%M UTC')}</p>" + "".join(sections) + "</body></html>\n"
    )


def write_report(con: duckdb.DuckDBPyConnection, out: Path) -> dict:
    """Collect the figures, write the page, return its path, size and key numbers."""
    figures = collect(con)
    database = con.execute("select current_database()").fetchone()[0]
    html = render(figures, dt.datetime.now(dt.UTC), database)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return {"out": str(out), "bytes": out.stat().st_size, "headline": figures.headline, "missing": figures.missing}
