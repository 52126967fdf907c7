"""Every domain event type (documented with examples in docs/events.md)."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    CONVERSATION_ASSIGNED = "conversation.assigned"
    CONVERSATION_TRANSFERRED = "conversation.transferred"
    CONVERSATION_RESOLVED = "conversation.resolved"
    CONVERSATION_REOPENED = "conversation.reopened"
    # Snooze (issue 17): status snoozed, and back to open (data.by: agent, time or customer).
    CONVERSATION_SNOOZED = "conversation.snoozed"
    CONVERSATION_UNSNOOZED = "conversation.unsnoozed"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    NOTE_CREATED = "note.created"
    NOTE_DELETED = "note.deleted"
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_MERGED = "contact.merged"
    CONTACT_DELETED = "contact.deleted"
    # Contacts screen (issue 17). Notes: to the contact's audience (as contact.updated).
    CONTACT_NOTE_CREATED = "contact_note.created"
    CONTACT_NOTE_DELETED = "contact_note.deleted"
    CONTACT_IMPORTED = "contact.imported"  # a CSV import: admins and supervisors only
    # Attribute definitions: to everyone signed in (every role reads and fills them).
    CONTACT_ATTRIBUTE_CREATED = "contact_attribute.created"
    CONTACT_ATTRIBUTE_UPDATED = "contact_attribute.updated"
    CONTACT_ATTRIBUTE_DELETED = "contact_attribute.deleted"
    QUICK_REPLY_CREATED = "quick_reply.created"
    QUICK_REPLY_UPDATED = "quick_reply.updated"
    QUICK_REPLY_DELETED = "quick_reply.deleted"
    QUICK_REPLY_FAVORITED = "quick_reply.favorited"  # the pinning agent (and admins)
    QUICK_REPLY_UNFAVORITED = "quick_reply.unfavorited"
    SCHEDULED_MESSAGE_CREATED = "scheduled_message.created"
    SCHEDULED_MESSAGE_UPDATED = "scheduled_message.updated"
    SCHEDULED_MESSAGE_CANCELLED = "scheduled_message.cancelled"
    SCHEDULED_MESSAGE_SENT = "scheduled_message.sent"
    SCHEDULED_MESSAGE_FAILED = "scheduled_message.failed"
    TEMPLATE_SYNCED = "template.synced"  # admins and supervisors
    TEMPLATE_UPDATED = "template.updated"  # admins and supervisors
    WEBHOOK_CREATED = "webhook.created"  # admins only (outgoing webhooks' settings)
    WEBHOOK_UPDATED = "webhook.updated"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_DISABLED = "webhook.disabled"  # every delivery failed for days: switched off
    # Admins and the supervisors of the campaign's division.
    CAMPAIGN_CREATED = "campaign.created"
    CAMPAIGN_UPDATED = "campaign.updated"  # edited, or its status changed
    CAMPAIGN_DELETED = "campaign.deleted"
    CAMPAIGN_PROGRESS = "campaign.progress"  # counts while sending, at most once a second
    # Staff, and the agents who see a conversation of the contact with that number.
    CAMPAIGN_OPT_OUT_CREATED = "campaign_opt_out.created"
    CAMPAIGN_OPT_OUT_DELETED = "campaign_opt_out.deleted"
    # SLA (issue 14): the assignee (or, unassigned, nobody but), the division's supervisors
    # and admins.
    SLA_WARNING = "sla.warning"  # a target's warning share of its time has passed
    SLA_BREACHED = "sla.breached"  # a target's due time passed unmet (logged once per cycle)
    SLA_POLICY_CREATED = "sla_policy.created"  # admins only (SLA policies' settings)
    SLA_POLICY_UPDATED = "sla_policy.updated"
    SLA_POLICY_DELETED = "sla_policy.deleted"
    # CSAT (issue 14): a survey got its score or its feedback; to whoever sees the conversation.
    CSAT_ANSWERED = "csat.answered"
    # Labels (issue 17): to everyone signed in (every role reads labels). A deleted label
    # leaves its conversations in one label.deleted, without a conversation.updated each.
    LABEL_CREATED = "label.created"
    LABEL_UPDATED = "label.updated"
    LABEL_DELETED = "label.deleted"
    # Automatic assignment (issue 17): a setting or an agent's capacity changed; admins.
    ASSIGNMENT_SETTINGS_UPDATED = "assignment_settings.updated"
    # Availability (issue 17): an agent's presence changed; to everyone signed in (every
    # role sees every active colleague in the directory's assign and transfer lists).
    AGENT_PRESENCE = "agent.presence"
    # Notifications (issue 17): to their recipient alone, whatever the role
    # (visibility.recipient).
    NOTIFICATION_CREATED = "notification.created"
    NOTIFICATION_READ = "notification.read"  # one or all marked read (other tabs' bells)
    WEBHOOK_PING = "webhook.ping"  # never in the outbox: the test event sent to one endpoint


ENVELOPE_VERSION = 1
