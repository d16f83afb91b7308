"""The load ledger (raw.load_ledger): every loaded file's counts add up and match the stored events."""

from crmguard.quality.spec import Suite, in_set, no_rows, not_null

KEY = "load_id"

SUITE = Suite(
    name="load_ledger",
    table="raw.load_ledger",
    key=KEY,
    watermark="finished_at",
    asset_key=("raw", "agent_events"),  # the ingest asset that writes the ledger and the events
    description="Ledger statuses, line accounting and event counts reconciled with raw.agent_events.",
    expectations=[
        not_null("load_id"),
        not_null("sha256"),
        in_set("status", ["loaded", "rejected", "skipped"]),
        in_set("kind", ["actions", "snapshot", "otlp"]),
        no_rows(
            "lines_accounted_for", "audit_trail",
            "select load_id || ':' || path from {batch} where status = 'loaded'"
            " and lines <> loaded + rejected + duplicates",
            "for every loaded file, lines = loaded + rejected + duplicates",
        ),
        no_rows(
            "event_counts_reconcile", "audit_trail",
            "with ledger as (select * from {batch}),"
            # only the batch's loads are counted: an incremental run does not aggregate the whole history
            " stored as (select _load_id, _file, count(*) as events from raw.agent_events"
            "   where _load_id in (select load_id from ledger) group by all)"
            " select l.load_id || ':' || l.path from ledger l"
            " left join stored s on s._load_id = l.load_id and s._file = l.path"
            " where l.status = 'loaded' and l.kind in ('actions', 'otlp') and l.loaded <> coalesce(s.events, 0)",
            "the events the ledger says a file loaded are the events stored from it",
        ),
    ],
)
