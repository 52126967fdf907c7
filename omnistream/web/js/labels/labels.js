// Labels in the inbox (docs/inbox.md#labels): chips on list rows and in the open
// conversation's header (who may work it adds one with + Label or the key l, removes one
// with ×), and above the list a button per label with its open count that filters the list
// (several pressed: any of them); live for everyone. Loaded with import() when the inbox
// opens, so the inbox's statically loaded JS + CSS stays within its budget; the list and the
// header draw again once it is here (their hooks: list.chips, list.onCounts,
// thread.headLabels). Chips show a label as it is now: renamed, the new name; deleted, gone.
import { app, reportError } from "../app.js";
import { all, del, get, post } from "../api.js";
import { fill, h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { t } from "../i18n.js";
import "./strings.js";

const HREF = "/app/js/labels/labels.css";
if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}

let labels = null; // id -> label, by name (null until read)
let counts = { items: new Map(), cap: 0 };
let inbox = null; // {list, thread, bar} of the inbox on screen

/** A label's chip: its colour as a dot, its name, and × when `remove` is given. */
export function chip(label, remove) {
  return h(
    "span",
    { class: "label-chip", title: label.description || label.name, dataset: { labelId: label.id } },
    h("span", { class: "label-dot", "aria-hidden": "true", style: { backgroundColor: label.colour } }),
    label.name,
    remove ? h("button", { type: "button", class: "label-remove", "aria-label": t("labels.remove", { name: label.name }), title: t("labels.remove", { name: label.name }), onclick: remove }, "×") : null,
  );
}

/** A conversation's labels as they are now. */
function shown(conversation) {
  return (conversation.labels || []).filter((l) => !labels || labels.has(l.id)).map((l) => labels?.get(l.id) || l);
}

function rowChips(item) {
  const on = shown(item);
  return on.length ? h("span", { class: "label-chips" }, on.map((l) => chip(l))) : null;
}

/** The header's labels: chips, × and + Label for who may work the conversation. */
function control(conversation, onChange) {
  const work = app.can("conversations.work");
  const on = shown(conversation);
  const base = `/api/v1/conversations/${conversation.id}/labels`;
  const change = async (call) => {
    try {
      onChange(await call());
    } catch (error) {
      toast(describe(error), "error");
    }
  };
  const remove = (l) => () => change(() => del(`${base}/${l.id}`));
  return h(
    "div",
    { class: "thread-labels", role: "group", "aria-label": t("labels.title") },
    on.map((l) => chip(l, work ? remove(l) : null)),
    work ? addMenu(base, on, (l) => change(() => post(base, { label_id: l.id }))) : null,
  );
}

// The conversation (its labels URL) whose + Label menu is open: a live update re-renders the
// header, and the menu the agent is using must stay open in the new one.
let openFor = null;

/** + Label: a menu of the labels the conversation has not (arrows, Enter, Esc). */
function addMenu(key, on, add) {
  if (openFor !== key) openFor = null; // another conversation's header: its menu is gone
  const button = h("button", { type: "button", class: "label-add", "aria-haspopup": "menu", "aria-expanded": "false" }, t("labels.add"));
  const menu = h("div", { class: "label-menu", role: "menu", "aria-label": t("labels.add"), hidden: true });
  const close = (focus) => {
    if (openFor === key) openFor = null;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (focus) button.focus();
  };
  const open = () => {
    const have = new Set(on.map((l) => l.id));
    const choices = [...(labels?.values() || [])].filter((l) => !have.has(l.id));
    fill(
      menu,
      choices.length
        ? choices.map((l) => h("button", { type: "button", role: "menuitem", class: "label-option", onclick: () => { close(true); add(l); } }, chip(l)))
        : h("p", { class: "muted" }, t("labels.none")),
    );
    menu.hidden = false;
    openFor = key;
    button.setAttribute("aria-expanded", "true");
    menu.querySelector("button")?.focus();
  };
  button.addEventListener("click", () => (menu.hidden ? open() : close()));
  menu.addEventListener("keydown", (event) => {
    const items = [...menu.querySelectorAll("button")];
    const at = items.indexOf(document.activeElement);
    if (event.key === "Escape") close(true);
    else if (event.key === "ArrowDown" || event.key === "ArrowUp") items[(at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length]?.focus();
    else return; // Enter clicks the focused label, Tab leaves (and closes)
    event.preventDefault();
    event.stopPropagation(); // not the inbox's keys (j / k, arrows)
  });
  menu.addEventListener("focusout", (event) => {
    if (!menu.isConnected) return; // replaced by a re-rendered header, which reopens it
    if (!menu.contains(event.relatedTarget) && event.relatedTarget !== button) close();
  });
  if (openFor === key) requestAnimationFrame(() => button.isConnected && open());
  return h("span", { class: "label-add-wrap" }, button, menu);
}

/** The filter: a button per label with its open count; pressed ones filter the list. */
function renderBar() {
  if (!inbox || !labels) return;
  const { list, bar } = inbox;
  const chosen = (list.filters.label || "").split(",").filter(Boolean);
  const count = (id) => {
    const n = counts.items.get(id);
    return n === undefined ? "" : n >= counts.cap ? `${counts.cap}+` : String(n);
  };
  const toggle = (id) => {
    const next = chosen.includes(id) ? chosen.filter((x) => x !== id) : [...chosen, id];
    list.setFilter("label", next.join(","));
    renderBar();
  };
  fill(
    bar,
    [...labels.values()].map((l) =>
      h(
        "button",
        { type: "button", class: "label-filter", "aria-pressed": String(chosen.includes(l.id)), title: t("labels.filter", { name: l.name }), dataset: { labelId: l.id }, onclick: () => toggle(l.id) },
        chip(l),
        h("span", { class: "label-count", "aria-label": t("labels.open", { n: count(l.id) }) }, count(l.id)),
      ),
    ),
  );
  bar.hidden = !labels.size;
}

async function loadCounts() {
  try {
    const body = await get("/api/v1/labels/counts");
    counts = { items: new Map(body.items.map((i) => [i.label_id, i.open])), cap: body.cap };
    renderBar();
  } catch (error) {
    reportError(error);
  }
}

/** Labels read again (at the start, and when an admin changes one): everything redraws; a
 * deleted label leaves the filter. */
async function reload() {
  try {
    labels = new Map((await all("/api/v1/labels")).map((l) => [l.id, l]));
  } catch (error) {
    reportError(error);
    return;
  }
  if (!inbox?.list.el.isConnected) return; // the inbox is not on screen
  const { list, thread } = inbox;
  const chosen = (list.filters.label || "").split(",").filter(Boolean);
  const kept = chosen.filter((id) => labels.has(id));
  if (kept.length !== chosen.length) list.setFilter("label", kept.join(","));
  list.renderAll();
  if (thread.conversation) thread.renderHead();
  renderBar();
  loadCounts();
}

let listening = null; // the session's live connection our handler is on (a new one per sign-in)

export function install(list, thread) {
  const bar = h("div", { class: "label-bar", role: "group", "aria-label": t("labels.title"), hidden: true });
  list.el.querySelector(".tabs").after(bar);
  inbox = { list, thread, bar };
  list.chips = rowChips;
  list.onCounts = loadCounts;
  thread.headLabels = (c) => control(c, (updated) => thread.changed(updated));
  if (app.live && listening !== app.live) { // signed out meanwhile: no connection to listen on
    listening = app.live;
    app.live.on((event) => event.type.startsWith("label.") && reload());
  }
  reload();
}
