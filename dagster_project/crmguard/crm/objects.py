"""The CRM objects crmguard can read and write, and how they are named in HubSpot and Salesforce.

One declarative table drives the local CRM service, the HubSpot v3 client and the file target, so a
canonical column (CONTRACTS.md section 2) is spelled the same way everywhere and mapped in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.0+)?(?:Z|[+]00:?00)?$")


@dataclass(frozen=True)
class CrmObject:
    """One canonical object: its columns, id column, parent and names in HubSpot and Salesforce."""

    name: str
    id_column: str
    columns: tuple[str, ...]
    hubspot_type: str
    hubspot_props: dict[str, str]
    salesforce_type: str
    salesforce_fields: dict[str, str]
    parent: str | None = None
    parent_column: str | None = None
    in_snapshots: bool = True  # part of the canonical snapshot (CONTRACTS.md section 2)

    def to_hubspot(self, column: str) -> str:
        """HubSpot property name of a canonical column (custom properties keep the canonical name)."""
        return self.hubspot_props.get(column, column)

    def from_hubspot(self, prop: str) -> str | None:
        """Canonical column of a HubSpot property, None for properties crmguard does not track."""
        return self._reverse.get(prop)

    @property
    def _reverse(self) -> dict[str, str]:
        return {self.to_hubspot(c): c for c in self.columns}

    @property
    def writable(self) -> tuple[str, ...]:
        """Columns a restore may write: everything but the id and the audit stamps the CRM sets."""
        return tuple(c for c in self.columns if c not in (self.id_column, "updated_at", "updated_by"))


_AUDIT = ("updated_at", "updated_by")
_HS_AUDIT = {"updated_at": "hs_lastmodifieddate", "updated_by": "hs_updated_by_user_id"}
_SF_AUDIT = {"updated_at": "LastModifiedDate", "updated_by": "LastModifiedById"}

CRM_OBJECTS: dict[str, CrmObject] = {
    o.name: o
    for o in (
        CrmObject(
            name="users",
            id_column="user_id",
            columns=("user_id", "email", "name", "role", "team", "is_agent"),
            hubspot_type="owners",
            hubspot_props={"name": "firstname"},
            salesforce_type="User",
            salesforce_fields={"user_id": "Id", "email": "Email", "name": "Name", "role": "Role__c",
                               "team": "Team__c", "is_agent": "Is_Agent__c"},
        ),
        CrmObject(
            name="accounts",
            id_column="account_id",
            columns=("account_id", "name", "domain", "industry", "employees", "lifecycle", "owner_id",
                     "legal_hold", "security_incident_open", *_AUDIT),
            hubspot_type="companies",
            hubspot_props={"account_id": "hs_object_id", "employees": "numberofemployees",
                           "lifecycle": "lifecyclestage", "owner_id": "hubspot_owner_id",
                           "legal_hold": "crmguard_legal_hold",
                           "security_incident_open": "crmguard_security_incident_open", **_HS_AUDIT},
            salesforce_type="Account",
            salesforce_fields={"account_id": "Id", "name": "Name", "domain": "Website", "industry": "Industry",
                               "employees": "NumberOfEmployees", "lifecycle": "Lifecycle__c",
                               "owner_id": "OwnerId", "legal_hold": "Legal_Hold__c",
                               "security_incident_open": "Security_Incident_Open__c", **_SF_AUDIT},
        ),
        CrmObject(
            name="contacts",
            id_column="contact_id",
            columns=("contact_id", "account_id", "email", "first_name", "last_name", "title", "owner_id",
                     "email_opt_out", "email_bounced", "do_not_contact", *_AUDIT),
            hubspot_type="contacts",
            hubspot_props={"contact_id": "hs_object_id", "account_id": "associatedcompanyid",
                           "first_name": "firstname", "last_name": "lastname", "title": "jobtitle",
                           "owner_id": "hubspot_owner_id", "email_opt_out": "hs_email_optout",
                           "email_bounced": "crmguard_email_bounced",
                           "do_not_contact": "crmguard_do_not_contact", **_HS_AUDIT},
            salesforce_type="Contact",
            salesforce_fields={"contact_id": "Id", "account_id": "AccountId", "email": "Email",
                               "first_name": "FirstName", "last_name": "LastName", "title": "Title",
                               "owner_id": "OwnerId", "email_opt_out": "HasOptedOutOfEmail",
                               "email_bounced": "Email_Bounced__c", "do_not_contact": "Do_Not_Contact__c",
                               **_SF_AUDIT},
            parent="accounts",
            parent_column="account_id",
        ),
        CrmObject(
            name="deals",
            id_column="deal_id",
            columns=("deal_id", "account_id", "name", "pipeline", "stage", "amount", "currency",
                     "discount_pct", "close_date", "owner_id", *_AUDIT),
            hubspot_type="deals",
            hubspot_props={"deal_id": "hs_object_id", "account_id": "crmguard_account_id", "name": "dealname",
                           "stage": "dealstage", "currency": "deal_currency_code",
                           "discount_pct": "crmguard_discount_pct", "close_date": "closedate",
                           "owner_id": "hubspot_owner_id", **_HS_AUDIT},
            salesforce_type="Opportunity",
            salesforce_fields={"deal_id": "Id", "account_id": "AccountId", "name": "Name",
                               "pipeline": "Pipeline__c", "stage": "StageName", "amount": "Amount",
                               "currency": "CurrencyIsoCode", "discount_pct": "Discount_Pct__c",
                               "close_date": "CloseDate", "owner_id": "OwnerId", **_SF_AUDIT},
            parent="accounts",
            parent_column="account_id",
        ),
        CrmObject(
            name="sequence_enrollments",
            id_column="enrollment_id",
            columns=("enrollment_id", "contact_id", "sequence_id", "status", "step", "enrolled_by", *_AUDIT),
            hubspot_type="p_sequence_enrollments",
            hubspot_props={"enrollment_id": "hs_object_id", **_HS_AUDIT},
            salesforce_type="ActionCadenceTracker",
            salesforce_fields={"enrollment_id": "Id", "contact_id": "TargetId", "sequence_id": "ActionCadenceId",
                               "status": "State", "step": "CurrentStep__c", "enrolled_by": "OwnerId",
                               **_SF_AUDIT},
            parent="contacts",
            parent_column="contact_id",
        ),
        CrmObject(
            name="meetings",
            id_column="meeting_id",
            columns=("meeting_id", "contact_id", "deal_id", "owner_id", "starts_at", "status", "booked_by",
                     *_AUDIT),
            hubspot_type="meetings",
            hubspot_props={"meeting_id": "hs_object_id", "contact_id": "crmguard_contact_id",
                           "deal_id": "crmguard_deal_id", "owner_id": "hubspot_owner_id",
                           "starts_at": "hs_meeting_start_time", "status": "hs_meeting_outcome",
                           "booked_by": "crmguard_booked_by", **_HS_AUDIT},
            salesforce_type="Event",
            salesforce_fields={"meeting_id": "Id", "contact_id": "WhoId", "deal_id": "WhatId",
                               "owner_id": "OwnerId", "starts_at": "StartDateTime", "status": "Status__c",
                               "booked_by": "Booked_By__c", **_SF_AUDIT},
            parent="contacts",
            parent_column="contact_id",
        ),
        # Scheduled emails: not in the canonical snapshot, but a restore cancels the ones an agent queued
        # (HubSpot's email engagements: hs_timestamp, hs_email_status).
        CrmObject(
            name="emails",
            id_column="email_id",
            columns=("email_id", "contact_id", "send_at", "status", "sent_by", *_AUDIT),
            hubspot_type="emails",
            hubspot_props={"email_id": "hs_object_id", "contact_id": "crmguard_contact_id",
                           "send_at": "hs_timestamp", "status": "hs_email_status", "sent_by": "crmguard_sent_by",
                           **_HS_AUDIT},
            salesforce_type="EmailMessage",
            salesforce_fields={"email_id": "Id", "contact_id": "RelatedToId", "send_at": "MessageDate",
                               "status": "Status", "sent_by": "CreatedById", **_SF_AUDIT},
            parent="contacts",
            parent_column="contact_id",
            in_snapshots=False,
        ),
    )
}

# What the CRM service, the adapters and restores handle: the snapshot objects plus scheduled emails.
# OBJECTS is the canonical snapshot (CONTRACTS.md section 2) that ingest, mappings and exports rely on.
OBJECTS: dict[str, CrmObject] = {name: obj for name, obj in CRM_OBJECTS.items() if obj.in_snapshots}

# Parent-first order: restoring a deleted account must bring it back before its contacts and deals.
WRITE_ORDER: tuple[str, ...] = ("users", "accounts", "contacts", "deals", "sequence_enrollments", "meetings",
                                 "emails")

# Object types as action logs name them (CONTRACTS.md section 1) -> canonical object names.
ACTION_OBJECT_TYPES = {
    "account": "accounts", "contact": "contacts", "deal": "deals",
    "sequence_enrollment": "sequence_enrollments", "meeting": "meetings", "user": "users", "email": "emails",
}


def crm_object(name: str) -> CrmObject:
    """Look an object up by canonical name, by action-log type or by HubSpot type."""
    name = ACTION_OBJECT_TYPES.get(name, name)
    if name in CRM_OBJECTS:
        return CRM_OBJECTS[name]
    for obj in CRM_OBJECTS.values():
        if obj.hubspot_type == name:
            return obj
    from crmguard.errors import BadInput

    raise BadInput(f"unknown CRM object type {name!r}; known: {', '.join(CRM_OBJECTS)}")


def canonical_value(value: object) -> str | None:
    """Canonical text of a CRM value, so '12000.00', 12000 and '12000' compare equal.

    Booleans are `true`/`false`, numbers have no trailing zeros, everything else is its text
    (docs/marts.md: values of CRM fields are compared in canonical form).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered
    stamp = _TIMESTAMP.match(text)
    if stamp:
        return f"{stamp.group(1)}T{stamp.group(2)}Z"
    if text and (text[0].isdigit() or text[0] in "-+.") and "e" not in lowered:
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        if number == number.to_integral_value():
            return str(number.quantize(Decimal(1)))
        return format(number.normalize(), "f")
    return text
