// Settings › Activity log (admins): who did what, filtered by agent, action, target and time.
// Entries read as sentences: the action's name, the target by name (the API names it), and
// details with ids replaced by the agent and division names the API sends along.
import { all } from "../api.js";
import { h } from "../dom.js";
import { formatDateTime, t, timeZone, zonedToIso } from "../i18n.js";
import { pageHeader, pager, table } from "./common.js";

const ACTIONS = [
  "login", "login_failed", "login_locked", "logout", "refresh", "refresh_token_reused",
  "password_changed", "password_change_failed",
  "create_agent", "update_agent", "deactivate_agent", "reset_password",
  "create_division", "update_division", "delete_division", "add_division_member",
  "remove_division_member", "create_contact", "update_contact", "delete_contact", "merge_contacts",
  "assign_conversation", "unassign_conversation", "take_conversation", "transfer_conversation",
  "resolve_conversation", "reopen_conversation", "set_priority", "add_label", "remove_label",
  "snooze_conversation", "unsnooze_conversation", "set_timezone",
  "add_note", "delete_note",
  "start_conversation", "send_message", "upload_media", "retry_message",
  "create_integration", "update_integration", "delete_integration", "test_integration",
  "create_integration_account", "update_integration_account", "delete_integration_account",
  "create_quick_reply", "update_quick_reply", "delete_quick_reply", "pin_quick_reply",
  "unpin_quick_reply", "sync_templates", "template_status_changed",
  "schedule_message", "edit_scheduled_message", "cancel_scheduled_message",
  "scheduled_message_sent", "scheduled_message_failed",
  "webhook_created", "webhook_updated", "webhook_deleted", "webhook_secret_rotated",
  "webhook_test_sent", "webhook_redelivered", "webhook_auto_disabled",
  "create_campaign", "update_campaign", "delete_campaign", "set_campaign_audience",
  "schedule_campaign", "pause_campaign", "resume_campaign", "cancel_campaign", "fail_campaign",
  "opt_out", "opt_in", "create_sla_policy", "update_sla_policy", "delete_sla_policy",
  "update_csat_settings", "create_label", "update_label", "delete_label", "set_presence",
  "update_assignment_settings", "set_agent_capacity",
  "create_contact_attribute", "update_contact_attribute", "delete_contact_attribute",
  "add_contact_note", "delete_contact_note", "import_contacts",
];
const TARGETS = [
  "agent", "division", "contact", "conversation", "message", "integration", "quick_reply",
  "template", "scheduled_message", "webhook", "campaign", "campaign_opt_out", "sla_policy",
  "csat_settings", "label", "contact_attribute",
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A code's name in the agent's language; an action added later reads as its words. */
function named(prefix, code) {
  const key = `${prefix}.${code}`;
  const text = t(key);
  return text === key ? code.replaceAll("_", " ") : text;
}
export const actionName = (code) => named("activity.act", code);
const targetTypeName = (code) => named("activity.type", code);

/** "Ana (Sales)": an agent and/or a division by name; neither: unassigned. */
function side(names, agentId, divisionId) {
  const agent = agentId ? names[agentId] || t("activity.someone") : "";
  const division = divisionId ? names[divisionId] || "" : "";
  if (agent && division) return `${agent} (${division})`;
  return agent || division || t("activity.unassigned");
}

/** Metadata as "key: value" parts: ids by name (unnamed ids left out), objects flattened. */
function parts(metadata, names, prefix = "") {
  const out = [];
  for (const [key, value] of Object.entries(metadata || {})) {
    if (value === null || value === "" || key === "transfer") continue;
    const label = prefix + key.replace(/_id$/, "");
    if (typeof value === "string" && UUID.test(value)) {
      if (names[value]) out.push(`${label}: ${names[value]}`);
    } else if (Array.isArray(value)) {
      out.push(`${label}: ${value.map((v) => (typeof v === "object" ? Object.values(v).join(" ") : v)).join(", ")}`);
    } else if (typeof value === "object") {
      out.push(...parts(value, names, `${label}.`));
    } else {
      out.push(`${label}: ${value}`);
    }
  }
  return out;
}

function details(entry) {
  const m = entry.metadata || {};
  const names = entry.names || {};
  let lead = "";
  let rest = m;
  if (entry.action === "transfer_conversation" && m.transfer) {
    const x = m.transfer;
    lead = `${side(names, x.from_agent_id, x.from_division_id)} → ${side(names, x.to_agent_id, x.to_division_id)}`;
    if (x.reason) lead += ` · ${t("activity.reason", { reason: x.reason })}`;
    rest = {};
  } else if (["assign_conversation", "unassign_conversation", "take_conversation"].includes(entry.action)) {
    lead = `${side(names, m.previous_agent_id, null)} → ${side(names, m.agent_id, null)}`;
    if (m.on_reply) lead += ` · ${t("activity.onReply")}`;
    const { previous_agent_id: _p, agent_id: _a, on_reply: _o, ...others } = m;
    rest = others;
  }
  const text = [lead, ...parts(rest, names)].filter(Boolean).join(" · ");
  return text ? h("span", { class: "meta" }, text) : "";
}

function target(entry) {
  if (!entry.target_type) return "";
  const type = targetTypeName(entry.target_type);
  return entry.target_name ? h("span", {}, `${type}: `, h("span", { class: "strong" }, entry.target_name)) : type;
}

export function render(container) {
  const agents = new Map();
  const agentSelect = h("select", { name: "agent_id", "aria-label": t("activity.agent") }, h("option", { value: "" }, t("activity.anyAgent")));
  const byName = [...ACTIONS].sort((a, b) => actionName(a).localeCompare(actionName(b)));
  const action = h("select", { name: "action", "aria-label": t("activity.action") },
    h("option", { value: "" }, t("activity.anyAction")),
    byName.map((a) => h("option", { value: a }, actionName(a))));
  const targetSelect = h("select", { name: "target_type", "aria-label": t("activity.target") }, h("option", { value: "" }, t("activity.anyTarget")), TARGETS.map((x) => h("option", { value: x }, targetTypeName(x))));
  const since = h("input", { type: "datetime-local", name: "since", "aria-label": t("activity.since", { zone: timeZone() }) });
  const until = h("input", { type: "datetime-local", name: "until", "aria-label": t("activity.until", { zone: timeZone() }) });
  const body = h("div", {});
  const list = pager({
    path: "/api/v1/activity",
    query: () => ({
      agent_id: agentSelect.value,
      action: action.value,
      target_type: targetSelect.value,
      since: since.value ? zonedToIso(since.value) : "",
      until: until.value ? zonedToIso(until.value) : "",
    }),
    into: body,
    render: (items) =>
      table(t("settings.activity"), [t("activity.when"), t("activity.agent"), t("activity.action"), t("activity.target"), t("activity.details")],
        items.map((e) => [
          h("time", { datetime: e.created_at }, formatDateTime(e.created_at)),
          e.agent_name || agents.get(e.agent_id) || (e.agent_id ? t("activity.someone") : t("activity.system")),
          h("span", { class: "strong", "data-action": e.action }, actionName(e.action)),
          target(e),
          details(e),
        ])),
  });
  const form = h(
    "form",
    { class: "toolbar filters-form", "aria-label": t("activity.filters") },
    agentSelect, action, targetSelect,
    h("label", { class: "inline" }, t("activity.from"), " ", since),
    h("label", { class: "inline" }, t("activity.to"), " ", until),
    h("button", { type: "submit" }, t("activity.apply")),
    h("button", { type: "reset", class: "ghost" }, t("activity.clear")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    list.reload();
  });
  form.addEventListener("reset", () => setTimeout(() => list.reload()));
  for (const select of [agentSelect, action, targetSelect]) select.addEventListener("change", () => list.reload());
  container.append(pageHeader(t("settings.activity")), form, body);
  all("/api/v1/agents").then((items) => {
    for (const a of items) {
      agents.set(a.id, a.name);
      agentSelect.append(h("option", { value: a.id }, a.name));
    }
  }, () => {}).finally(() => list.reload());
  return { destroy() {} };
}
