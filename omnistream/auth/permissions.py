"""The one permission table: every route declares exactly one of these."""

from __future__ import annotations

from enum import StrEnum

from omnistream.kit.enums import Role


class Perm(StrEnum):
    PUBLIC = "public"  # no token needed (login, refresh, health, docs)
    SELF = "self"  # any signed-in agent: own profile, own password, logout
    AGENTS_READ = "agents.read"
    AGENTS_MANAGE = "agents.manage"
    DIVISIONS_READ = "divisions.read"
    DIVISIONS_MANAGE = "divisions.manage"
    ACTIVITY_READ = "activity.read"
    # Inbox: what a role may do; which records it may touch is the visibility rule
    # (omnistream/conversations/visibility.py), enforced in SQL.
    CONTACTS_READ = "contacts.read"
    CONTACTS_WRITE = "contacts.write"  # create / edit contacts one may see
    CONTACTS_MERGE = "contacts.merge"
    CONTACTS_DELETE = "contacts.delete"
    CONVERSATIONS_READ = "conversations.read"  # list, get, timeline, notes, live events
    CONVERSATIONS_WORK = "conversations.work"  # assign, take, transfer, resolve, notes, read marks
    MESSAGES_SEND = "messages.send"  # replies and uploads
    INTEGRATIONS_MANAGE = "integrations.manage"  # channels, credentials, accounts (admin)
    # Reply tools (issue 5). Which records: quick replies by division (service rules),
    # scheduled messages by conversation visibility.
    QUICK_REPLIES_READ = "quick_replies.read"  # list, search, render, own favourites
    QUICK_REPLIES_MANAGE = "quick_replies.manage"  # admins: all; supervisors: their divisions'
    TEMPLATES_READ = "templates.read"  # list and inspect WhatsApp templates
    TEMPLATES_SYNC = "templates.sync"  # pull templates from Meta now (admin)
    MESSAGES_SCHEDULE = "messages.schedule"  # schedule, edit, cancel in visible conversations
    WEBHOOKS_MANAGE = "webhooks.manage"  # outgoing webhooks, their secrets and deliveries (admin)
    # Broadcast campaigns and the opt-out list: admins all; supervisors their divisions'.
    CAMPAIGNS_MANAGE = "campaigns.manage"
    SLA_MANAGE = "sla.manage"  # SLA policies and their business hours (admin)
    CSAT_MANAGE = "csat.manage"  # CSAT survey settings and texts (admin)
    CSAT_READ = "csat.read"  # CSAT responses: admins all; supervisors their divisions' and none
    # Reports (issue 15): admins everything; supervisors their divisions'; agents their own.
    REPORTS_READ = "reports.read"
    # Labels (issue 17): every role reads them (and labels conversations it may work, with
    # conversations.work); admins define them.
    LABELS_READ = "labels.read"
    LABELS_MANAGE = "labels.manage"
    # Contacts screen (issue 17): custom attribute definitions (admin); CSV import and
    # export of contacts (admins and supervisors; export only the contacts one may see).
    CONTACT_ATTRIBUTES_MANAGE = "contact_attributes.manage"
    CONTACTS_IMPORT = "contacts.import"
    CONTACTS_EXPORT = "contacts.export"
    # Automatic assignment (issue 17): its settings and agents' capacities (admin).
    ASSIGNMENT_MANAGE = "assignment.manage"
    # The System page (issue 18): the API and worker processes, their loops and backlogs (admin).
    SYSTEM_READ = "system.read"


INBOX = (
    Perm.CONTACTS_READ,
    Perm.CONTACTS_WRITE,
    Perm.CONVERSATIONS_READ,
    Perm.CONVERSATIONS_WORK,
    Perm.MESSAGES_SEND,
    Perm.QUICK_REPLIES_READ,
    Perm.TEMPLATES_READ,
    Perm.MESSAGES_SCHEDULE,
    Perm.LABELS_READ,
)

MATRIX: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(p for p in Perm if p is not Perm.PUBLIC),
    Role.SUPERVISOR: frozenset(
        {
            Perm.SELF,
            Perm.AGENTS_READ,
            Perm.DIVISIONS_READ,
            *INBOX,
            Perm.CONTACTS_MERGE,
            Perm.CONTACTS_IMPORT,
            Perm.CONTACTS_EXPORT,
            Perm.QUICK_REPLIES_MANAGE,
            Perm.CAMPAIGNS_MANAGE,
            Perm.CSAT_READ,
            Perm.REPORTS_READ,
        }
    ),
    Role.AGENT: frozenset({Perm.SELF, *INBOX, Perm.REPORTS_READ}),
}


def allowed(role: Role, perm: Perm) -> bool:
    return perm is Perm.PUBLIC or perm in MATRIX[role]
