// A conversation's scheduled messages in its timeline: the pending ones in a section after
// the messages (time in the agent's zone, who scheduled it, Cancel), and the failed ones as
// a line where they failed, with the reason. Kept current by scheduled_message.* events;
// one that is sent disappears, as its message.created has put the real message in place.
import { agentName, app } from "../app.js";
import { get, post } from "../api.js";
import { fill, h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { formatDateTime, formatTime, t } from "../i18n.js";
import { icon } from "../icons.js";
import { hasApi } from "./replytools.js";
import { newer } from "./visibility.js";

/** What a scheduled message says, in one line (its text, caption or type). */
function summary(item) {
  const m = item.message || {};
  return m.text || m.caption || t(`type.${item.type}`);
}

/** The conversation's pending and (most recent) failed scheduled messages; none without the API. */
export async function loadScheduled(conversationId) {
  if (!(await hasApi("/api/v1/scheduled-messages"))) return { pending: [], failed: [] };
  const base = `/api/v1/conversations/${conversationId}/scheduled-messages`;
  const [pending, failed] = await Promise.all([
    get(base, { status: "pending", order: "asc", limit: 100 }),
    get(base, { status: "failed", order: "desc", limit: 20 }),
  ]);
  return { pending: pending.items, failed: failed.items };
}

/** A failed scheduled message as a timeline line (kind "scheduled" of the thread). */
export function renderScheduledFailure(item) {
  return h(
    "div",
    { class: "scheduled-failed", id: `sched-${item.id}`, role: "note" },
    icon("alert"),
    h(
      "span",
      {},
      h("strong", {}, t("scheduled.notSent")),
      " ",
      t("scheduled.wasDue", { when: formatDateTime(item.scheduled_at) }),
      " — “", summary(item), "”: ",
      item.error || t("msg.unknownReason"),
    ),
    h("time", { datetime: item.processed_at, title: formatDateTime(item.processed_at) }, formatTime(item.processed_at)),
  );
}

/** The pending ones: a region at the end of the timeline, hidden while there are none. */
export class ScheduledSection {
  constructor() {
    this.items = new Map(); // id -> pending item
    this.finished = new Set(); // ids no longer pending: a late HTTP answer cannot bring them back
    this.el = h("section", { class: "scheduled-section", "aria-label": t("scheduled.title"), hidden: true });
  }

  reset() {
    this.items.clear();
    this.finished.clear();
    this.render();
  }

  /**
   * A scheduled message's new state. Live events come in order, so they always apply; an
   * HTTP answer (loaded list, cancel) only when it is not older than what is shown.
   */
  apply(item, { live = false } = {}) {
    const known = this.items.get(item.id);
    if (item.status !== "pending") {
      this.finished.add(item.id);
      if (known) {
        this.items.delete(item.id);
        this.render();
      }
      return;
    }
    if (!live && (this.finished.has(item.id) || (known && !newer(item, known)))) return;
    this.finished.delete(item.id);
    this.items.set(item.id, item);
    this.render();
  }

  async cancel(item, button) {
    button.disabled = true;
    try {
      this.apply(await post(`/api/v1/scheduled-messages/${item.id}/cancel`));
    } catch (error) {
      button.disabled = false;
      toast(describe(error), "error");
    }
  }

  render() {
    const items = [...this.items.values()].sort(
      (a, b) => Date.parse(a.scheduled_at) - Date.parse(b.scheduled_at) || (a.id < b.id ? -1 : 1),
    );
    this.el.hidden = items.length === 0;
    const canCancel = app.can("messages.schedule");
    fill(
      this.el,
      h("h3", { class: "scheduled-title" }, icon("clock"), " ", t("scheduled.title")),
      h(
        "ul",
        { class: "scheduled-items" },
        items.map((item) => {
          const cancel = canCancel
            ? h("button", { type: "button", class: "link small" }, t("tools.cancelScheduled"))
            : null;
          cancel?.addEventListener("click", () => this.cancel(item, cancel));
          return h(
            "li",
            { class: "scheduled-item", id: `sched-${item.id}`, dataset: { id: item.id } },
            h("div", { class: "scheduled-when" },
              h("time", { datetime: item.scheduled_at }, formatDateTime(item.scheduled_at)),
              h("span", { class: "muted" }, " · ", t("scheduled.by", { name: agentName(item.agent_id) || t("msg.agent") })),
            ),
            h("p", { class: "text" }, summary(item)),
            cancel,
          );
        }),
      ),
    );
  }
}
