// The conversation visibility rule of docs/inbox.md, as the browser applies it to live
// events (the server already filtered them; this decides whether a row stays in my lists).

export function canSee(me, conversation) {
  const divisions = new Set((me.divisions || []).map((d) => d.id));
  const inScope = conversation.division_id === null || divisions.has(conversation.division_id);
  if (me.role === "admin") return true;
  if (me.role === "supervisor") return inScope;
  return (
    conversation.assigned_agent_id === me.id ||
    (conversation.assigned_agent_id === null && inScope)
  );
}

export const RANKS = ["none", "low", "medium", "high", "urgent"];

/** Sort order of the list: newest last message first, then id (the API's keyset order);
 * by SLA: the earliest due time first, then id ascending; by priority: urgent first. */
export function before(a, b, sort = "last_message_at") {
  if (sort === "priority" && a.priority !== b.priority) return RANKS.indexOf(a.priority) > RANKS.indexOf(b.priority);
  if (sort === "sla_due_at") {
    const da = Date.parse(a.sla_due_at);
    const db = Date.parse(b.sla_due_at);
    return da !== db ? da < db : a.id < b.id;
  }
  const ta = Date.parse(a.last_message_at);
  const tb = Date.parse(b.last_message_at);
  if (ta !== tb) return ta > tb;
  return a.id > b.id;
}

/** Whether `incoming` is at least as new as `known` (events may race an HTTP load). */
export function newer(incoming, known) {
  if (!known) return true;
  return Date.parse(incoming.updated_at) >= Date.parse(known.updated_at);
}
