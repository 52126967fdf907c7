// Snooze in the inbox (docs/inbox.md#snooze): the header's Snooze / Unsnooze control (key s),
// a dialog of choices (1 hour, tomorrow 09:00, next Monday 09:00, until the customer
// replies, a date and time), "Snoozed" in the list's status filter and the wake time on
// snoozed rows, and a toast when one of my conversations comes back by itself. Loaded with
// import() when the inbox opens (the inbox's static JS + CSS is at its budget); the list and
// the header draw again once it is here (their hooks: list.snoozed, thread.headSnooze).
import { app } from "../app.js";
import { post } from "../api.js";
import { dialog, h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { formatDateTime, isoToZoned, t, timeZone, zonedToIso } from "../i18n.js";
import "./strings.js";

const HREF = "/app/js/snooze/snooze.css";
if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}

const HOUR = 3600_000;

/** When a snoozed conversation wakes, in words. */
export function wakeText(c) {
  return c.snoozed_until ? t("snooze.until", { when: formatDateTime(c.snoozed_until) }) : t("snooze.untilReply");
}

/** The list row's badge: only on snoozed conversations. */
export function badge(item) {
  if (item.status !== "snoozed") return null;
  return h("span", { class: "snooze-badge", title: wakeText(item) }, wakeText(item));
}

/** "2026-12-08T09:30:15" (a datetime-local value with seconds) in the app's zone -> ISO. */
function localToIso(value) {
  const seconds = Number(value.slice(17, 19) || 0);
  return new Date(Date.parse(zonedToIso(value.slice(0, 16))) + seconds * 1000).toISOString();
}

async function snooze(conversation, body, onChange) {
  try {
    onChange(await post(`/api/v1/conversations/${conversation.id}/snooze`, body));
    toast(t("snooze.done"));
    return true;
  } catch (error) {
    toast(describe(error), "error");
    return false;
  }
}

/** The choices, in a dialog (outside the header, so a live re-render cannot close it). */
function chooser(conversation, onChange) {
  const zone = timeZone();
  const pick = (body) => async () => {
    if (await snooze(conversation, body, onChange)) el.close();
  };
  const choice = (key, body) => h("button", { type: "button", class: "snooze-choice", dataset: { choice: key }, onclick: pick(body) }, t(`snooze.${key}`));
  const at = h("input", {
    type: "datetime-local",
    step: "1",
    class: "snooze-at",
    value: isoToZoned(new Date(Date.now() + 3 * HOUR)),
    "aria-label": t("snooze.at", { zone }),
  });
  const custom = h("form", { class: "snooze-custom" },
    h("label", {}, t("snooze.at", { zone }), at),
    h("button", { type: "submit", class: "primary" }, t("snooze.action")));
  custom.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!at.value) return at.focus();
    pick({ until: localToIso(at.value) })();
  });
  const cancel = h("button", { type: "button" }, t("action.cancel"));
  const el = dialog({
    title: t("snooze.title"),
    body: h("div", { class: "snooze-choices", role: "group", "aria-label": t("snooze.title") },
      choice("hour", { until: new Date(Date.now() + HOUR).toISOString() }),
      choice("tomorrow", { preset: "tomorrow", timezone: zone }),
      choice("nextWeek", { preset: "next_week", timezone: zone }),
      choice("reply", { until_next_message: true }),
      custom),
    actions: [cancel],
  });
  cancel.addEventListener("click", () => el.close());
  el.querySelector(".snooze-choice")?.focus();
  return el;
}

/** The header's control for who may work the conversation: Snooze, or the wake time and
 * Unsnooze while snoozed. A resolved conversation has neither. */
export function control(conversation, onChange) {
  if (!app.can("conversations.work") || conversation.status === "resolved") {
    return conversation.status === "snoozed" ? badge(conversation) : null;
  }
  if (conversation.status === "snoozed") {
    const unsnooze = async () => {
      try {
        onChange(await post(`/api/v1/conversations/${conversation.id}/unsnooze`));
      } catch (error) {
        toast(describe(error), "error");
      }
    };
    return h("span", { class: "snooze-wrap" }, badge(conversation),
      h("button", { type: "button", class: "snooze-button", dataset: { action: "unsnooze" }, onclick: unsnooze }, t("snooze.unsnooze")));
  }
  return h("button", { type: "button", class: "snooze-button", dataset: { action: "snooze" }, "aria-haspopup": "dialog", title: t("snooze.key"), onclick: () => chooser(conversation, onChange) }, t("snooze.action"));
}

/** "Snoozed" among the list's statuses. */
function addFilter(list) {
  const status = list.el.querySelector('[data-filter="status"]');
  if (!status || status.querySelector('option[value="snoozed"]')) return;
  const option = h("option", { value: "snoozed", selected: list.filters.status === "snoozed" }, t("status.snoozed"));
  status.insertBefore(option, status.querySelector('option[value="resolved"]'));
}

let listening = null;

/** One of my conversations came back by itself (its time, or the customer wrote). */
function onEvent(event) {
  if (event.type !== "conversation.unsnoozed" || event.data.by === "agent") return;
  if (event.data.conversation.assigned_agent_id !== app.me?.id) return;
  toast(t(event.data.by === "customer" ? "snooze.backReply" : "snooze.backTime"));
}

export function install(list, thread) {
  addFilter(list);
  list.snoozed = badge;
  list.renderAll();
  thread.headSnooze = (c) => control(c, (updated) => thread.changed(updated));
  if (thread.conversation) thread.renderHead();
  if (app.live && listening !== app.live) {
    listening = app.live;
    app.live.on(onEvent);
  }
}
