"""The reports' facts as SQL over raw rows (issue 15): a conversation's cycles (created,
then each reopen; first response and resolve; SLA outcomes) and its messages per 15-minute
bucket. Every figure is attributed to the conversation as it is now (channel, inbox
account, division, assignee); an outbound message to its sender."""

from __future__ import annotations

BUCKET = "15 minutes"  # every IANA zone's offset is a multiple of 15 minutes
_ORIGIN = "2000-01-01 00:00:00+00"


def bucket_of(column: str) -> str:
    return f"date_bin('{BUCKET}', {column}, timestamptz '{_ORIGIN}')"


# The two selections: a set of ids ($1), or an id range ($1 to $2, the rebuild's chunks).
# Separate statements, so that each plan (a generic one too) probes the primary key.
BY_IDS = "id = ANY($1::uuid[])"
BY_RANGE = "id >= $1::uuid AND id <= $2::uuid"


def _conversations(which: str) -> str:
    return f"""
    SELECT id, contact_id, channel, integration_account_id AS account_id, division_id,
           assigned_agent_id AS agent_id, created_at, resolved_at, sla_policy_id
      FROM conversations WHERE {which}
"""


# Cycle k starts at the conversation's creation (k = 1) or at its (k-1)th reopen, and ends
# at the last resolve before the next start; the current one at resolved_at (NULL: open).
# Its first response: the first message an agent sent in it (not a campaign send or an
# automatic message: those have no agent).
def cycles_sql(which: str) -> str:
    return f"""
    WITH c AS MATERIALIZED ({_conversations(which)}),
    marks AS MATERIALIZED (
        SELECT a.target_id AS id, a.action, a.created_at
          FROM activity_logs a JOIN c ON c.id = a.target_id
         WHERE a.target_type = 'conversation'
           AND a.action IN ('resolve_conversation', 'reopen_conversation')
    ),
    starts AS (
        SELECT id, created_at AS opened_at FROM c
        UNION ALL
        SELECT m.id, m.created_at FROM marks m JOIN c ON c.id = m.id
         WHERE m.action = 'reopen_conversation' AND m.created_at > c.created_at
    ),
    cycles AS (
        SELECT id, opened_at,
               row_number() OVER w AS cycle, lead(opened_at) OVER w AS next_at
          FROM starts WINDOW w AS (PARTITION BY id ORDER BY opened_at)
    ),
    ended AS (
        SELECT cy.*, CASE WHEN cy.next_at IS NULL THEN c.resolved_at
                          ELSE COALESCE((SELECT max(m.created_at) FROM marks m
                                          WHERE m.id = cy.id
                                            AND m.action = 'resolve_conversation'
                                            AND m.created_at >= cy.opened_at
                                            AND m.created_at <= cy.next_at), cy.next_at)
                     END AS resolved_at
          FROM cycles cy JOIN c ON c.id = cy.id
    )
    SELECT e.id, e.cycle::int, c.contact_id, c.channel, c.account_id, c.division_id,
           c.agent_id, e.opened_at, fr.created_at, fr.sender_agent_id, e.resolved_at,
           NULL::float8, NULL::float8,
           CASE WHEN p.first_response_minutes IS NULL THEN NULL
                WHEN b.first_due IS NOT NULL THEN 'breached'
                WHEN fr.created_at IS NOT NULL THEN 'met' END,
           b.first_due,
           CASE WHEN p.next_response_minutes IS NULL THEN NULL
                WHEN b.next_breached THEN 'breached'
                WHEN e.resolved_at IS NOT NULL THEN 'met' END,
           CASE WHEN p.resolution_minutes IS NULL THEN NULL
                WHEN b.resolution_breached THEN 'breached'
                WHEN e.resolved_at IS NOT NULL THEN 'met' END
      FROM ended e JOIN c ON c.id = e.id
      LEFT JOIN sla_policies p ON p.id = c.sla_policy_id
      LEFT JOIN LATERAL (
            SELECT m.created_at, m.sender_agent_id FROM messages m
             WHERE m.conversation_id = e.id AND m.direction = 'outbound'
               AND m.sender_agent_id IS NOT NULL AND m.created_at >= e.opened_at
               AND m.created_at < COALESCE(e.resolved_at, e.next_at, 'infinity')
             ORDER BY m.created_at LIMIT 1) fr ON true
      LEFT JOIN LATERAL (  -- the cycle's breaches: due within it
            SELECT min(l.due_at) FILTER (WHERE l.breach_type = 'first_response') AS first_due,
                   bool_or(l.breach_type = 'next_response') AS next_breached,
                   bool_or(l.breach_type = 'resolution') AS resolution_breached
              FROM sla_breach_logs l
             WHERE p.id IS NOT NULL AND l.conversation_id = e.id AND l.due_at >= e.opened_at
               AND l.due_at < COALESCE(e.next_at, 'infinity')) b ON true
"""


# Messages per bucket and agent; system messages (the timeline's own lines) are not counted.
# A failed outbound message is counted in a row of its error code (`code`; NULL otherwise).
_MESSAGE_FACTS = f"""
    SELECT c.id, {bucket_of("m.created_at")}, c.channel, c.account_id, c.division_id,
           CASE WHEN m.direction = 'outbound' THEN m.sender_agent_id ELSE c.agent_id END,
           count(*) FILTER (WHERE m.direction = 'inbound')::int,
           count(*) FILTER (WHERE m.direction = 'outbound')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'pending')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'sent')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'delivered')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'read')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'failed')::int,
           CASE WHEN m.direction = 'outbound' AND m.status = 'failed'
                THEN COALESCE(NULLIF(m.error_code, ''), 'unknown') END
"""


def messages_sql(which: str) -> str:
    """Every message of the conversations `which` selects."""
    return f"""
    WITH c AS MATERIALIZED ({_conversations(which)})
    {_MESSAGE_FACTS}
      FROM c JOIN messages m ON m.conversation_id = c.id
     WHERE m.type <> 'system'
     GROUP BY 1, 2, 3, 4, 5, 6, 14
"""


# The (conversation, bucket) pairs $1 / $2 of a batch whose only news is messages: only
# those buckets are counted again (a conversation's other buckets did not change).
BUCKET_KEYS = "SELECT DISTINCT * FROM unnest($1::uuid[], $2::timestamptz[]) AS k(id, bucket)"


def bucket_messages_sql() -> str:
    return f"""
    WITH k AS MATERIALIZED ({BUCKET_KEYS}),
    c AS MATERIALIZED ({_conversations("id IN (SELECT id FROM k)")})
    {_MESSAGE_FACTS}
      FROM k JOIN c ON c.id = k.id
      JOIN messages m ON m.conversation_id = k.id AND m.created_at >= k.bucket
                     AND m.created_at < k.bucket + interval '{BUCKET}'
     WHERE m.type <> 'system'
     GROUP BY 1, 2, 3, 4, 5, 6, 14
"""


CYCLE_COLUMNS = (
    "conversation_id, cycle, contact_id, channel, account_id, division_id, agent_id, "
    "opened_at, first_response_at, responder_id, resolved_at, frt_business, "
    "resolution_business, sla_first_response, first_response_due_at, sla_next_response, "
    "sla_resolution"
)
MESSAGE_COLUMNS = (
    "conversation_id, bucket, channel, account_id, division_id, agent_id, "
    "inbound, outbound, pending, sent, delivered, read, failed, code"
)
