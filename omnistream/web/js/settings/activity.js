// Settings › Activity log (admins): who did what, filtered by agent, action, target and time.
import { all } from "../api.js";
import { h } from "../dom.js";
import { formatDateTime, t, timeZone, zonedToIso } from "../i18n.js";
import { pageHeader, pager, table } from "./common.js";

const ACTIONS = [
  "login", "login_failed", "login_locked", "logout", "refresh_token_reused", "password_changed",
  "create_agent", "update_agent", "deactivate_agent", "reset_password",
  "create_division", "update_division", "delete_division", "add_division_member",
  "remove_division_member", "create_contact", "update_contact", "delete_contact", "merge_contacts",
  "assign_conversation", "unassign_conversation", "take_conversation", "transfer_conversation",
  "resolve_conversation", "reopen_conversation", "add_note", "delete_note", "retry_message",
  "create_integration", "update_integration", "delete_integration", "test_integration",
  "create_integration_account", "update_integration_account", "delete_integration_account",
  "create_quick_reply", "update_quick_reply", "delete_quick_reply", "sync_templates",
  "schedule_message", "edit_scheduled_message", "cancel_scheduled_message",
];
const TARGETS = ["agent", "division", "contact", "conversation", "integration", "message", "note"];

function details(metadata) {
  const entries = Object.entries(metadata || {}).filter(([, v]) => v !== null && v !== "");
  if (!entries.length) return "";
  return h("code", { class: "meta" }, entries.map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · "));
}

export function render(container) {
  const agents = new Map();
  const agentSelect = h("select", { name: "agent_id", "aria-label": t("activity.agent") }, h("option", { value: "" }, t("activity.anyAgent")));
  const action = h("input", { name: "action", list: "activity-actions", "aria-label": t("activity.action"), placeholder: t("activity.action") });
  const actions = h("datalist", { id: "activity-actions" }, ACTIONS.map((a) => h("option", { value: a })));
  const target = h("select", { name: "target_type", "aria-label": t("activity.target") }, h("option", { value: "" }, t("activity.anyTarget")), TARGETS.map((x) => h("option", { value: x }, x)));
  const since = h("input", { type: "datetime-local", name: "since", "aria-label": t("activity.since", { zone: timeZone() }) });
  const until = h("input", { type: "datetime-local", name: "until", "aria-label": t("activity.until", { zone: timeZone() }) });
  const body = h("div", {});
  const list = pager({
    path: "/api/v1/activity",
    query: () => ({
      agent_id: agentSelect.value,
      action: action.value.trim(),
      target_type: target.value,
      since: since.value ? zonedToIso(since.value) : "",
      until: until.value ? zonedToIso(until.value) : "",
    }),
    into: body,
    render: (items) =>
      table(t("settings.activity"), [t("activity.when"), t("activity.agent"), t("activity.action"), t("activity.target"), t("activity.details")],
        items.map((e) => [
          h("time", { datetime: e.created_at }, formatDateTime(e.created_at)),
          e.agent_id ? agents.get(e.agent_id) || e.agent_id.slice(0, 8) : t("activity.system"),
          h("code", {}, e.action),
          e.target_type ? `${e.target_type}${e.target_id ? ` ${e.target_id.slice(0, 8)}` : ""}` : "",
          details(e.metadata),
        ])),
  });
  const form = h(
    "form",
    { class: "toolbar filters-form", "aria-label": t("activity.filters") },
    agentSelect, action, actions, target,
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
  agentSelect.addEventListener("change", () => list.reload());
  target.addEventListener("change", () => list.reload());
  container.append(pageHeader(t("settings.activity")), form, body);
  all("/api/v1/agents").then((items) => {
    for (const a of items) {
      agents.set(a.id, a.name);
      agentSelect.append(h("option", { value: a.id }, a.name));
    }
  }, () => {}).finally(() => list.reload());
  return { destroy() {} };
}
