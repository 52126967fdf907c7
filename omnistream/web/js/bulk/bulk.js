// Bulk actions in the inbox (docs/inbox.md#bulk-actions): a checkbox on each list row
// (shift-click selects the range from the last one clicked, the key x the focused row), "select
// all matching this filter" (up to 1,000, read from the server), and a bar acting on the
// selection in one call: assign, transfer, labels, priority, snooze, resolve, reopen; then
// "47 done, 3 refused" with each refusal's reason. The selection is kept by id, so live
// updates re-drawing rows keep it; Escape clears it. Loaded with import() when the inbox
// opens (its hook: list.row is wrapped, as the list draws every row through it).
import { app, loadDirectory, reportError } from "../app.js";
import { all, post } from "../api.js";
import { fill, h, typing } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { t } from "../i18n.js";
import { contactLabel } from "../inbox/list.js";
import { RANKS } from "../inbox/visibility.js";
import "../priority/strings.js";
import "./strings.js";

const HREF = "/app/js/bulk/bulk.css";
if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}
const URL = "/api/v1/conversations/bulk";
const FILTER_KEYS = ["status", "channel", "assignee", "division_id", "q", "sla", "priority", "label", "sort"];

export function install(list) {
  if (!app.can("conversations.work")) return;
  const selected = new Set();
  let anchor = null; // the row clicked last: shift-click selects from it
  let matching = null; // {n, capped} once "select all matching" filled the selection

  const drawRow = list.row.bind(list);
  list.row = (item) => {
    const li = drawRow(item);
    const box = h("input", { type: "checkbox", class: "bulk-check", checked: selected.has(item.id), "aria-label": t("bulk.select", { name: contactLabel(item.contact) }) });
    box.addEventListener("click", (event) => {
      event.stopPropagation(); // the row's own click opens the conversation
      pick(item.id, box.checked, event.shiftKey);
    });
    li.classList.toggle("bulk-selected", selected.has(item.id));
    li.prepend(box);
    return li;
  };

  function pick(id, on, range) {
    const ids = list.items.map((i) => i.id);
    const from = ids.indexOf(anchor);
    const to = ids.indexOf(id);
    const span = range && from >= 0 && to >= 0 ? ids.slice(Math.min(from, to), Math.max(from, to) + 1) : [id];
    for (const one of span) on ? selected.add(one) : selected.delete(one);
    anchor = id;
    matching = null;
    redraw();
  }

  function clear() {
    selected.clear();
    anchor = null;
    matching = null;
    outcome.hidden = true;
    redraw();
  }

  /** Checkboxes and the bar after the selection changed. */
  function redraw() {
    for (const [id, li] of list.rows) {
      const box = li.querySelector(".bulk-check");
      if (box) box.checked = selected.has(id);
      li.classList.toggle("bulk-selected", selected.has(id));
    }
    bar.hidden = !selected.size && outcome.hidden;
    controls.hidden = !selected.size;
    count.textContent = matching
      ? t(matching.capped ? "bulk.firstMatching" : "bulk.allMatching", { n: matching.n })
      : t("bulk.selected", { n: selected.size });
  }

  async function selectMatching() {
    const query = list.query();
    const filter = Object.fromEntries(FILTER_KEYS.filter((k) => query[k]).map((k) => [k, query[k]]));
    try {
      const found = await post(`${URL}/select`, { filter });
      for (const id of found.ids) selected.add(id);
      matching = { n: found.ids.length, capped: found.capped };
      redraw();
    } catch (error) {
      toast(describe(error), "error");
    }
  }

  async function run(body) {
    const ids = [...selected];
    if (!ids.length) return;
    busy(true);
    try {
      const result = await post(URL, { ...body, ids });
      for (const item of result.items) {
        if (item.ok) {
          selected.delete(item.id);
          list.applyConversation(item.conversation);
        }
      }
      matching = null;
      report(result);
      list.refreshCounts();
    } catch (error) {
      toast(describe(error), "error");
    } finally {
      busy(false);
      redraw();
    }
  }

  function report(result) {
    const refused = result.items.filter((i) => !i.ok);
    const why = (p) => (p.status === 404 ? t("bulk.gone") : p.detail);
    const name = (id) => contactLabel(list.cache.get(id)?.contact);
    fill(
      outcome,
      h("span", {}, t("bulk.outcome", { done: result.done, refused: result.refused })),
      refused.length ? h("ul", {}, refused.map((i) => h("li", {}, `${name(i.id)}: ${why(i.problem)}`))) : null,
      h("button", { type: "button", class: "ghost bulk-dismiss", onclick: () => { outcome.hidden = true; redraw(); } }, t("action.close")),
    );
    outcome.hidden = false;
  }

  function busy(on) {
    for (const el of controls.querySelectorAll("button, select")) el.disabled = on;
  }

  /** A <select> whose first option names it; choosing runs body(value) and resets it. */
  function chooser(name, options, body) {
    const el = h("select", { class: "bulk-choose", "aria-label": t(name), dataset: { bulk: name.split(".")[1] } }, h("option", { value: "" }, t(name)), options);
    el.addEventListener("change", () => {
      const value = el.value;
      el.value = "";
      if (value) body(value);
    });
    return el;
  }
  const option = (value, text) => h("option", { value }, text);

  function transfer(divisionId) {
    formDialog({
      title: t("bulk.transferTitle", { n: selected.size }),
      fields: [field({ label: t("bulk.reason"), name: "reason", required: true })],
      submitLabel: t("bulk.transfer"),
      onSubmit: async (form) => {
        await run({ action: "transfer", division_id: divisionId, reason: form.elements.reason.value });
        return true;
      },
    });
  }

  const assign = chooser("bulk.assign", [option("-", t("bulk.unassign"))], (v) =>
    run(v === "-" ? { action: "unassign" } : { action: "assign", agent_id: v }));
  const move = chooser("bulk.transfer", [], transfer);
  const labels = chooser("bulk.labels", [], (v) => run({ action: v[0] === "+" ? "add_label" : "remove_label", label_id: v.slice(1) }));
  const priority = chooser("bulk.priority", [...RANKS].reverse().map((p) => option(p, t(`priority.${p}`))), (p) => run({ action: "set_priority", priority: p }));
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const snoozes = { tomorrow: { preset: "tomorrow", timezone: zone }, next_week: { preset: "next_week", timezone: zone }, message: { until_next_message: true } };
  const snooze = chooser(
    "bulk.snooze",
    [option("tomorrow", t("bulk.snoozeTomorrow")), option("next_week", t("bulk.snoozeNextWeek")), option("message", t("bulk.snoozeNext")), option("off", t("bulk.unsnooze"))],
    (v) => run(v === "off" ? { action: "unsnooze" } : { action: "snooze", snooze: snoozes[v] }),
  );
  const button = (name, body) => h("button", { type: "button", dataset: { bulk: name }, onclick: () => run(body) }, t(`bulk.${name}`));
  const count = h("span", { class: "bulk-count", role: "status" });
  const controls = h(
    "div",
    { class: "bulk-controls" },
    h("button", { type: "button", class: "ghost", dataset: { bulk: "matching" }, onclick: selectMatching }, t("bulk.selectMatching")),
    h("button", { type: "button", class: "ghost", dataset: { bulk: "clear" }, onclick: clear }, t("bulk.clear")),
    assign, move, labels, priority, snooze,
    button("resolve", { action: "resolve" }),
    button("reopen", { action: "reopen" }),
  );
  const outcome = h("div", { class: "bulk-outcome", role: "status", hidden: true });
  const bar = h("div", { class: "bulk-bar", role: "toolbar", "aria-label": t("bulk.title"), hidden: true }, count, controls, outcome);
  list.scroller.before(bar);

  loadDirectory().then((d) => {
    assign.append(...d.agents.map((a) => option(a.id, a.name)));
    move.append(...d.divisions.map((x) => option(x.id, x.name)));
  }, () => {});
  all("/api/v1/labels").then((found) => {
    const group = (sign, label) => h("optgroup", { label }, found.map((l) => option(sign + l.id, l.name)));
    labels.append(group("+", t("bulk.addLabel")), group("-", t("bulk.removeLabel")));
  }, reportError);

  // A new tab or filter is another list: its selection starts empty.
  for (const name of ["setTab", "setFilter"]) {
    const original = list[name].bind(list);
    list[name] = (...args) => {
      clear();
      return original(...args);
    };
  }
  function onKey(event) {
    if (document.querySelector("dialog[open]") || event.altKey || event.metaKey || event.ctrlKey || typing(event)) return;
    if ((event.key === "x" || event.key === "X") && list.activeId) {
      event.preventDefault();
      pick(list.activeId, !selected.has(list.activeId), event.shiftKey);
    } else if (event.key === "Escape" && (selected.size || !outcome.hidden)) {
      clear();
    }
  }
  document.addEventListener("keydown", onKey);
  const destroy = list.destroy.bind(list);
  list.destroy = () => {
    document.removeEventListener("keydown", onKey);
    destroy();
  };
  list.renderAll();
}
