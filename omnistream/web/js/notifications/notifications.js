// Notifications (docs/inbox.md#mentions-and-notifications): a bell in the top bar with my
// unread count, live (notification.created / .read) and read again whenever the live
// connection comes back or the tab is shown again; its panel lists my notifications (a
// click opens the conversation and marks it read; Mark all read); a browser notification
// when the agent allowed them (asked from the panel, never on load). Loaded with import()
// by the shell (app.js) and the inbox (inbox.js: the Mentions tab and the note's @
// suggestions, js/notifications/mentions.js), so the inbox's own JS + CSS stays in budget.
import { app, navigate, reportError } from "../app.js";
import { get, post } from "../api.js";
import { fill, h } from "../dom.js";
import { toast } from "../forms.js";
import { formatRelative, t } from "../i18n.js";
import { icon } from "../icons.js";
import { installMentions } from "./mentions.js";
import "./strings.js";

const HREF = "/app/js/notifications/notifications.css";
if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}

const BASE = "/api/v1/notifications";
const state = { unread: 0, cap: 1000, agentId: null };
let bell = null; // {button, badge, panel, list, more, cursor} of the top bar on screen
const watchers = new Set(); // fn(event) of other views (the Mentions tab)

/** What a notification says, in the agent's language. */
export function headline(n) {
  const actor = n.actor?.name || t("notifications.someone");
  const contact = n.contact_name;
  if (n.kind === "mention") return t(contact ? "notifications.mentionOn" : "notifications.mention", { actor, contact });
  if (n.kind === "snooze_ended") return t(contact ? "notifications.snoozeEndedOn" : "notifications.snoozeEnded", { contact });
  return t("notifications.other");
}

/** Opens what a notification is about and marks it read. */
export function openNotification(n) {
  if (!n.read_at) markRead(n);
  if (n.conversation_id) navigate(`inbox/${n.conversation_id}`);
}

async function markRead(n) {
  n.read_at = new Date().toISOString();
  try {
    const body = await post(`${BASE}/${n.id}/read`);
    setUnread(body.unread_count);
  } catch (error) {
    reportError(error);
  }
}

/** A notification as a row: a button with what, the excerpt and when; unread marked. */
export function row(n, onOpen) {
  const excerpt = n.data?.excerpt;
  return h(
    "li",
    { class: "notif-item", dataset: { id: n.id, unread: String(!n.read_at) } },
    h(
      "button",
      { type: "button", class: "notif-open", onclick: () => onOpen(n) },
      h("span", { class: "notif-head" },
        n.read_at ? null : h("span", { class: "notif-dot", title: t("notifications.unread") }, h("span", { class: "sr-only" }, t("notifications.unread"))),
        h("span", { class: "notif-what" }, headline(n)),
        h("time", { class: "notif-when muted", datetime: n.created_at }, formatRelative(n.created_at))),
      excerpt ? h("span", { class: "notif-excerpt" }, excerpt) : null,
    ),
  );
}

/** Arrow keys move between the rows' buttons of `list`. */
export function arrowKeys(list) {
  list.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const items = [...list.querySelectorAll(".notif-open")];
    const at = items.indexOf(document.activeElement);
    const next = items[event.key === "ArrowDown" ? Math.min(at + 1, items.length - 1) : Math.max(at - 1, 0)];
    next?.focus();
    event.preventDefault();
    event.stopPropagation(); // not the inbox's keys
  });
}

function setUnread(n) {
  state.unread = n;
  if (!bell) return;
  const shown = n >= state.cap ? `${state.cap - 1}+` : String(n);
  bell.badge.textContent = n ? shown : "";
  bell.badge.hidden = !n;
  bell.button.setAttribute("aria-label", n ? t("notifications.bell", { n: shown }) : t("notifications.bellNone"));
}

async function refreshCount() {
  try {
    const body = await get(`${BASE}/unread-count`);
    state.cap = body.cap;
    setUnread(body.unread_count);
  } catch (error) {
    reportError(error);
  }
}

// The panel ------------------------------------------------------------------------------------

async function loadPage(more = false) {
  if (!bell) return;
  const { list } = bell;
  try {
    const page = await get(BASE, { limit: 20, cursor: more ? bell.cursor || undefined : undefined });
    state.cap = page.cap;
    setUnread(page.unread_count);
    const rows = page.items.map((n) => row(n, (x) => { closePanel(); openNotification(x); }));
    if (more) list.append(...rows);
    else fill(list, rows.length ? rows : h("li", { class: "muted notif-empty" }, t("notifications.empty")));
    bell.cursor = page.next_cursor;
    bell.more.hidden = !page.next_cursor;
  } catch (error) {
    reportError(error);
  }
}

function browserControl() {
  if (!("Notification" in window)) return null;
  if (Notification.permission === "granted") return h("p", { class: "muted notif-browser" }, t("notifications.browserOn"));
  if (Notification.permission === "denied") return h("p", { class: "muted notif-browser" }, t("notifications.browserBlocked"));
  const ask = h("button", { type: "button", class: "ghost notif-browser" }, t("notifications.enableBrowser"));
  ask.addEventListener("click", async () => {
    await Notification.requestPermission();
    ask.replaceWith(browserControl() || "");
  });
  return ask;
}

function openPanel() {
  const { panel, button } = bell;
  panel.hidden = false;
  button.setAttribute("aria-expanded", "true");
  fill(bell.tools, browserControl(), bell.markAll);
  loadPage().then(() => (panel.querySelector(".notif-open") || bell.markAll).focus());
}

function closePanel(focus = false) {
  if (!bell || bell.panel.hidden) return;
  bell.panel.hidden = true;
  bell.button.setAttribute("aria-expanded", "false");
  if (focus) bell.button.focus();
}

async function markAllRead() {
  try {
    const body = await post(`${BASE}/read-all`);
    setUnread(body.unread_count);
    for (const item of bell?.list.querySelectorAll(".notif-item") || []) {
      item.dataset.unread = "false";
      item.querySelector(".notif-dot")?.remove();
    }
  } catch (error) {
    reportError(error);
  }
}

/** The bell, placed before `before` in the top bar (called each time the shell renders). */
export function installBell(before) {
  const badge = h("span", { class: "notif-count", "aria-hidden": "true", hidden: true });
  const button = h("button", { type: "button", class: "notif-bell ghost", "aria-haspopup": "dialog", "aria-expanded": "false", title: t("notifications.title") }, icon("bell"), badge);
  const list = h("ul", { class: "notif-list", "aria-label": t("notifications.title") });
  const more = h("button", { type: "button", class: "ghost notif-more", hidden: true, onclick: () => loadPage(true) }, t("notifications.more"));
  const markAll = h("button", { type: "button", class: "ghost notif-mark-all", onclick: markAllRead }, t("notifications.markAll"));
  const tools = h("div", { class: "notif-tools" });
  const panel = h("div", { class: "notif-panel", role: "dialog", "aria-label": t("notifications.title"), hidden: true },
    h("div", { class: "notif-panel-head" }, h("h2", {}, t("notifications.title")), tools), list, more);
  const wrap = h("div", { class: "notif-wrap" }, button, panel);
  bell = { button, badge, panel, list, more, markAll, tools, cursor: null };
  button.addEventListener("click", () => (panel.hidden ? openPanel() : closePanel()));
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    closePanel(true);
  });
  wrap.addEventListener("focusout", (event) => {
    if (event.relatedTarget && !wrap.contains(event.relatedTarget)) closePanel();
  });
  arrowKeys(list);
  before.before(wrap);
  if (state.agentId !== app.me?.id) state.unread = 0; // another agent signed in
  state.agentId = app.me?.id;
  setUnread(state.unread);
  listen();
  refreshCount();
}

document.addEventListener("click", (event) => {
  if (bell && !bell.panel.hidden && !event.target.closest?.(".notif-wrap")) closePanel();
});

// Live ----------------------------------------------------------------------------------------

function browserNotify(n) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible" && document.hasFocus()) return; // the bell says it
  const note = new Notification(headline(n), { body: n.data?.excerpt || "", tag: `omnistream-${n.id}` });
  note.onclick = () => {
    window.focus();
    openNotification(n);
    note.close();
  };
}

function onEvent(event) {
  if (event.type === "reload") {
    refreshCount();
  } else if (event.type === "notification.created") {
    const n = event.data.notification;
    setUnread(state.unread + 1);
    if (bell && !bell.panel.hidden) loadPage();
    browserNotify(n);
    if (document.visibilityState === "visible") {
      const open = h("button", { type: "button", class: "toast-link", onclick: () => openNotification(n) }, headline(n));
      toast(open);
    }
  } else if (event.type === "notification.read") {
    refreshCount();
  } else {
    return;
  }
  for (const fn of watchers) fn(event);
}

let listening = null; // the session's live connection our handlers are on (one per sign-in)
let lastStatus = "";

function listen() {
  if (!app.live || listening === app.live) return;
  listening = app.live;
  lastStatus = "";
  app.live.on(onEvent);
  app.live.onStatus((status) => {
    // Back after a break: events were resumed, but the count is read again all the same.
    if (status === "live" && lastStatus && lastStatus !== "live") refreshCount();
    lastStatus = status;
  });
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && app.me && bell?.button.isConnected) refreshCount();
});

/** The inbox's part: the Mentions tab and the note's @ suggestions. */
export function install(list, thread) {
  listen();
  installMentions(list, thread, watchers);
}
