"""OCSF 1.8 API Activity (class_uid 6003) events, built in SQL, one per audited act.

Sources: every tool call (fct_agent_actions), every approval decision (fct_approvals), every stop and
resume (fct_stop_events) and every restore write (restore.apply_log with its restore.items). The agent is the actor's
`app_name`, the CRM user it ran as is `actor.user`, the tool is `api.operation`, the CRM objects are
`resources`. Each branch builds the same struct shape so the union has one schema.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from crmguard import __version__
from crmguard.warehouse import table_exists

OCSF_VERSION = "1.8.0"
CLASS_UID = 6003
CATEGORY_UID = 6

# activity_id per tool: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other.
_CREATE = ("create_deal", "enroll_in_sequence", "book_meeting", "write_note", "create_task", "send_email",
           "restore_record")  # a restore re-creating a deleted record
_READ = ("export_data",)
_UPDATE = ("update_deal", "update_contact", "update_account", "assign_owner", "apply_discount",
           "pause_sequence", "cancel_meeting", "route_case")
_DELETE = ("archive_deal",)  # a restore undoing a deal an agent created
_ACTIVITY_NAMES = "map {0: 'Unknown', 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other'}"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _event(activity: str, time: str, status_id: str, status_detail: str, uid: str, code: str,
           user_uid: str, user_type: str, app: str, operation: str, request_uid: str,
           resources: str, unmapped: str, severity_id: str = "1") -> str:
    """One OCSF event as a select list; every branch of the union goes through here."""
    return f"""
        {CLASS_UID} as class_uid, 'API Activity' as class_name,
        {CATEGORY_UID} as category_uid, 'Application Activity' as category_name,
        ({activity})::int as activity_id,
        {_ACTIVITY_NAMES}[({activity})::int] as activity_name,
        {CLASS_UID * 100} + ({activity})::int as type_uid,
        'API Activity: ' || {_ACTIVITY_NAMES}[({activity})::int] as type_name,
        ({severity_id})::int as severity_id,
        map {{1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High'}}[({severity_id})::int] as severity,
        epoch_ms({time}) as time,
        ({status_id})::int as status_id,
        map {{0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other'}}[({status_id})::int] as status,
        ({status_detail})::varchar as status_detail,
        {{'version': '{OCSF_VERSION}', 'uid': ({uid})::varchar, 'original_event_uid': ({uid})::varchar,
          'event_code': ({code})::varchar, 'logged_time': epoch_ms({time}),
          'product': {{'name': 'crmguard', 'vendor_name': 'crmguard', 'version': '{__version__}'}}}}
            as metadata,
        {{'user': {{'uid': ({user_uid})::varchar, 'type': ({user_type})::varchar}},
          'app_name': ({app})::varchar}} as actor,
        {{'operation': ({operation})::varchar, 'service': {{'name': 'crm'}},
          'request': {{'uid': ({request_uid})::varchar}}}} as api,
        {{'name': ({app})::varchar, 'svc_name': 'crmguard-agent-runtime'}} as src_endpoint,
        {{'provider': 'crmguard'}} as cloud,
        {resources} as resources,
        ({unmapped})::json as unmapped
    """


def _resource(uid: str, kind: str) -> str:
    return f"{{'uid': ({uid})::varchar, 'type': ({kind})::varchar}}"


def _actions(where: str) -> str:
    activity = (f"case when tool_name in ({_in(_CREATE)}) then 1 when tool_name in ({_in(_READ)}) then 2 "
                f"when tool_name in ({_in(_UPDATE)}) then 3 when tool_name in ({_in(_DELETE)}) then 4 else 99 end")
    status = "case status when 'succeeded' then 1 when 'failed' then 2 when 'blocked' then 99 " \
             "when 'skipped' then 99 else 0 end"
    resources = (f"list_filter([{_resource('target_object_id', 'target_object_type')}, "
                 f"{_resource('target_account_id', chr(39) + 'account' + chr(39))}], r -> r.uid is not null)")
    unmapped = ("json_object('run_id', run_id, 'environment', environment, 'approval_id', approval_id, "
                "'dry_run', dry_run, 'attempt', attempt, 'on_behalf_of', on_behalf_of, 'status', status)")
    return f"""select {_event(activity, 'occurred_at', status, 'error', 'event_id', "'tool_call'",
                              'actor_id', 'actor_type', 'agent_id', 'tool_name', 'call_id', resources,
                              unmapped)}
               from main.fct_agent_actions where {where.format(t='occurred_at')}"""


def _approvals(where: str) -> str:
    resources = (f"[{_resource('approval_id', chr(39) + 'approval' + chr(39))}, "
                 f"{_resource('call_id', chr(39) + 'tool_call' + chr(39))}]")
    unmapped = "json_object('requester_id', requester_id, 'approver_role', approver_role, 'reason', reason)"
    return f"""select {_event('3', 'decided_at', '1', 'null', 'decided_event_id', "'approval_decided'",
                              'approver_id', "'human'", "'approvals'", "'approval.' || decision",
                              'approval_id', resources, unmapped)}
               from main.fct_approvals where decided_at is not null and {where.format(t='decided_at')}"""


def _stops(where: str) -> str:
    resources = f"[{_resource('rule_id', chr(39) + 'policy_rule' + chr(39))}]"
    unmapped = "json_object('scope', scope, 'reason', reason)"
    return f"""select {_event('99', 'occurred_at', '1', 'null', 'event_id', 'event_type', 'actor_id',
                              "case when event_type = 'resume' then 'human' else 'agent' end", 'agent_id',
                              'event_type', 'event_id', resources, unmapped)}
               from main.fct_stop_events where {where.format(t='occurred_at')}"""


def _restore_writes(where: str) -> str:
    status = "case l.outcome when 'written' then 1 when 'failed' then 2 else 99 end"
    resources = f"[{_resource('i.object_id', 'i.object_type')}]"
    unmapped = "json_object('plan_id', l.plan_id, 'item_no', l.item_no, 'field', i.field, 'adapter', l.adapter)"
    activity = "case i.item_class when 'recreate' then 1 when 'archive_deal' then 4 else 3 end"
    return f"""select {_event(activity, 'l.logged_at', status, 'l.error', "l.apply_id || ':' || l.item_no",
                              "'restore_write'", 'l.approver', "'human'", "'crmguard-restore'",
                              "'restore.' || i.item_class", 'l.idempotency_key', resources, unmapped)}
               from restore.apply_log l join restore.items i using (plan_id, item_no)
               where l.outcome in ('written', 'failed') and {where.format(t='l.logged_at')}"""


# (source name, tables it reads, branch builder)
_SOURCES: tuple[tuple[str, tuple[str, ...], Callable[[str], str]], ...] = (
    ("main.fct_agent_actions", ("main.fct_agent_actions",), _actions),
    ("main.fct_approvals", ("main.fct_approvals",), _approvals),
    ("main.fct_stop_events", ("main.fct_stop_events",), _stops),
    ("restore.apply_log", ("restore.apply_log", "restore.items"), _restore_writes),
)


def events_sql(con: duckdb.DuckDBPyConnection, where: str) -> tuple[str | None, list[str]]:
    """The union of OCSF events over the sources that exist, and which sources it covers.

    `where` is a filter with `{t}` standing for each source's time column, e.g. the export window.
    """
    branches: list[str] = []
    covered: list[str] = []
    for name, tables, build in _SOURCES:
        if all(table_exists(con, *table.split(".")) for table in tables):
            branches.append(build(where))
            covered.append(name)
    if not branches:
        return None, covered
    return "select * from (" + " union all ".join(branches) + ") order by time, metadata.uid", covered
