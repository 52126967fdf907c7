// Settings › Scheduled messages: what is due to go out in the conversations I may see
// (pending first, soonest first), with the outcome of the handled ones; cancel a pending one.
import { agentName, navigate } from "../app.js";
import { post } from "../api.js";
import { h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { formatDateTime, t } from "../i18n.js";
import { pageHeader, pager, table } from "./common.js";

const STATUS_CLASS = { pending: "warn", sent: "ok", cancelled: "off", failed: "bad" };

export function render(container) {
  const status = h("select", { "aria-label": t("sched.status") },
    ["pending", "sent", "failed", "cancelled", ""].map((s) => h("option", { value: s }, s ? t(`sched.${s}`) : t("sched.any"))));
  const body = h("div", {});
  const list = pager({
    path: "/api/v1/scheduled-messages",
    query: () => ({ status: status.value, order: status.value === "pending" ? "asc" : "desc" }),
    into: body,
    render: (items) =>
      table(t("settings.scheduled"), [t("sched.when"), t("sched.message"), t("sched.by"), t("sched.status"), ""],
        items.map((x) => [
          h("time", { datetime: x.scheduled_at }, formatDateTime(x.scheduled_at)),
          h("a", { href: `#/inbox/${x.conversation_id}`, onclick: (e) => { e.preventDefault(); navigate(`inbox/${x.conversation_id}`); } },
            x.message?.text || x.message?.caption || x.message?.template?.name || x.type),
          agentName(x.agent_id) || "—",
          h("span", {}, h("span", { class: `pill ${STATUS_CLASS[x.status] || "off"}` }, t(`sched.${x.status}`)),
            x.error ? h("span", { class: "bad-text small" }, ` ${x.error}`) : null,
            x.note ? h("span", { class: "muted small" }, ` ${x.note}`) : null),
          x.status === "pending"
            ? h("button", { type: "button", class: "link danger", onclick: () => cancel(x) }, t("tools.cancelScheduled"))
            : "",
        ])),
  });
  async function cancel(item) {
    try {
      await post(`/api/v1/scheduled-messages/${item.id}/cancel`);
      list.reload();
    } catch (error) {
      toast(describe(error), "error");
    }
  }
  status.addEventListener("change", () => list.reload());
  container.append(pageHeader(t("settings.scheduled")), h("div", { class: "toolbar" }, status), body);
  list.reload();
  return { destroy() {} };
}
