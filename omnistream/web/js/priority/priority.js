// Conversation priority in the inbox (docs/inbox.md#priority): a marker on list rows (low to
// urgent; none shows nothing), the list's priority filter and sort, and the open
// conversation's priority control. Loaded with import() when the inbox opens, so the inbox's
// statically loaded JS + CSS stays within its budget; the list and the header draw again
// once it is here (their hooks: list.marker, thread.headExtra).
import { app } from "../app.js";
import { post } from "../api.js";
import { h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { t } from "../i18n.js";
import { RANKS } from "../inbox/visibility.js";
import "./strings.js";

const HREF = "/app/js/priority/priority.css";
if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}

const name = (p) => t(`priority.${p}`);
const DESCENDING = [...RANKS].reverse(); // urgent first

/** The list row's marker: nothing for none. */
export function marker(item) {
  const p = item.priority;
  if (!p || p === "none") return null;
  return h("span", { class: `prio prio-${p}`, title: t("priority.marker", { name: name(p) }), dataset: { priority: p } }, name(p));
}

/** The header's select for who may work the conversation (else the marker alone). */
export function control(conversation, onChange) {
  if (!app.can("conversations.work")) return marker(conversation);
  const select = h(
    "select",
    { class: "priority-select", "aria-label": t("priority.label"), title: t("priority.label"), dataset: { priority: conversation.priority } },
    DESCENDING.map((p) => h("option", { value: p, selected: p === conversation.priority }, name(p))),
  );
  select.addEventListener("change", async () => {
    try {
      onChange(await post(`/api/v1/conversations/${conversation.id}/priority`, { priority: select.value }));
    } catch (error) {
      select.value = conversation.priority;
      toast(describe(error), "error");
    }
  });
  return select;
}

/** The list's priority filter, and the priority sort among the sort options. */
function addFilters(list) {
  const row = list.el.querySelector(".filter-row");
  const sort = row.querySelector('[data-filter="sort"]');
  const options = [["", t("priority.any")], ["high,urgent", t("priority.highUrgent")], ...DESCENDING.map((p) => [p, name(p)])];
  const filter = h(
    "select",
    { class: "filter", "aria-label": t("priority.label"), dataset: { filter: "priority" } },
    options.map(([value, text]) => h("option", { value, selected: (list.filters.priority || "") === value }, text)),
  );
  filter.addEventListener("change", () => list.setFilter("priority", filter.value));
  row.insertBefore(filter, sort);
  sort.append(h("option", { value: "priority", selected: list.filters.sort === "priority" }, t("priority.sort")));
}

export function install(list, thread) {
  addFilters(list);
  list.marker = marker;
  list.renderAll();
  thread.headExtra = (c) => control(c, (updated) => thread.changed(updated));
  if (thread.conversation) thread.renderHead();
}
