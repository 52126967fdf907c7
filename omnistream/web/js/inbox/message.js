// One timeline entry: a message bubble (content by type, delivery ticks, failure reason; a
// CSAT survey, answer or feedback as such), an internal note, or a system line (assigned,
// transferred, resolved, reopened).
import { agentName, divisionName } from "../app.js";
import { mediaUrl } from "../api.js";
import { h } from "../dom.js";
import { formatDateTime, formatTime, t } from "../i18n.js";
import { icon } from "../icons.js";
import { csatBody } from "./csat.js";

// Lazily loaded renderers: `email` (js/email/view.js) draws an email conversation's messages.
export const hooks = {};

const STATUS_ICON = { pending: "clock", sent: "tick", delivered: "ticks", read: "ticks", failed: "alert" };

function size(bytes) {
  if (!bytes && bytes !== 0) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A file of the conversation (fetched with the token): a link that downloads it. */
export function fileLink(media, label) {
  const link = h(
    "a",
    { class: "file", href: "#", download: media.filename || "file" },
    icon("file"),
    h("span", { class: "file-name" }, label || media.filename || t("msg.file")),
    h("span", { class: "file-size muted" }, size(media.size_bytes)),
  );
  link.addEventListener("click", async (event) => {
    if (link.dataset.ready) return; // the object URL is in place: let the browser download
    event.preventDefault();
    try {
      link.href = await mediaUrl(media.url);
      link.dataset.ready = "1";
      link.click();
    } catch {
      link.classList.add("broken");
      link.title = t("msg.fileUnavailable");
    }
  });
  return link;
}

function image(media, alt) {
  const img = h("img", { class: "media-img", alt: alt || media.filename || t("msg.image"), loading: "lazy" });
  const box = h("a", { class: "media-box loading", href: "#", "aria-label": t("msg.openImage") }, img);
  mediaUrl(media.url).then(
    (src) => {
      img.src = src;
      box.href = src;
      box.target = "_blank";
      box.rel = "noopener";
      box.classList.remove("loading");
    },
    () => {
      box.classList.replace("loading", "broken");
      box.replaceChildren(h("span", { class: "muted" }, t("msg.fileUnavailable")));
    },
  );
  return box;
}

function mediaContent(message) {
  const { content, media, type } = message;
  const caption = content.caption ? h("p", { class: "text" }, content.caption) : null;
  if (!media) {
    if (content.link) {
      return [h("a", { href: content.link, target: "_blank", rel: "noopener noreferrer", class: "file" }, icon("file"), content.filename || content.link), caption];
    }
    return [h("p", { class: "muted" }, t(`type.${type}`)), caption];
  }
  if (media.status !== "ready") {
    return [h("p", { class: "muted file-pending" }, icon("clock"), " ", t(media.status === "pending" ? "msg.fetching" : "msg.fileUnavailable")), caption];
  }
  if ((type === "image" || type === "sticker") && media.mime_type.startsWith("image/")) {
    return [image(media, content.caption), caption];
  }
  return [fileLink(media, content.filename), caption];
}

function interactiveContent(content) {
  const parts = [];
  if (content.header) parts.push(h("p", { class: "strong" }, content.header));
  if (content.body) parts.push(h("p", { class: "text" }, typeof content.body === "string" ? content.body : content.body.text || ""));
  if (content.title) parts.push(h("p", { class: "text" }, content.title));
  if (content.footer) parts.push(h("p", { class: "muted small" }, content.footer));
  const buttons = content.buttons || (content.sections || []).flatMap((s) => s.rows || []);
  if (buttons.length) {
    parts.push(h("ul", { class: "choices" }, buttons.map((b) => h("li", {}, b.title))));
  }
  if (!parts.length) parts.push(h("p", { class: "muted" }, t("type.interactive")));
  return parts;
}

function body(message) {
  const c = message.content || {};
  switch (message.type) {
    case "text":
    case "button":
      return [h("p", { class: "text" }, c.text ?? c.body ?? "")];
    case "image":
    case "video":
    case "audio":
    case "document":
    case "sticker":
      return mediaContent(message);
    case "location": {
      const place = [c.name, c.address].filter(Boolean).join(", ");
      const map = `https://www.openstreetmap.org/?mlat=${c.latitude}&mlon=${c.longitude}#map=16/${c.latitude}/${c.longitude}`;
      return [h("p", { class: "text" }, "📍 ", place || t("type.location")),
        h("a", { href: map, target: "_blank", rel: "noopener noreferrer", class: "small" }, `${c.latitude}, ${c.longitude}`)];
    }
    case "contacts":
      return (c.contacts || []).map((card) =>
        h("p", { class: "text" }, "👤 ", card.name?.formatted_name || card.name?.first_name || "",
          (card.phones || []).map((p) => h("span", { class: "muted" }, " ", p.phone || p.wa_id || ""))),
      );
    case "interactive":
      return interactiveContent(c);
    case "reaction":
      return [h("p", { class: "text" }, c.emoji ? t("msg.reacted", { emoji: c.emoji }) : t("msg.unreacted"))];
    case "template":
      return [
        // A broadcast campaign's message, added when the customer answered it.
        c.campaign_name ? h("p", { class: "campaign-tag small" }, t("msg.campaign", { name: c.campaign_name })) : null,
        h("p", { class: "muted small" }, t("msg.template", { name: c.name || "" })),
        c.text ? h("p", { class: "text" }, c.text) : null,
      ];
    case "system":
      return [h("p", { class: "text muted" }, c.text || t("type.system"))];
    default:
      return [h("p", { class: "muted" }, t("type.unsupported"), c.error ? ` (${c.error})` : "")];
  }
}

/** "Campaign: <name>" for a conversation that came from a campaign, named by the campaign's
 * message in its timeline (agents cannot read /campaigns); null otherwise or until it is loaded. */
export function campaignTag(conversation, entries) {
  if (!conversation.campaign_id) return null;
  const sent = [...entries].find((e) => e.kind === "message" && e.data.content?.campaign_id === conversation.campaign_id);
  const name = sent?.data.content.campaign_name;
  return name ? h("span", { class: "campaign-tag" }, t("msg.campaign", { name })) : null;
}

const RANK = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4, received: 0 };

/** Whether a message's state from an HTTP answer is not older than the one shown. */
export function movesForward(incoming, known) {
  return RANK[incoming.status] >= RANK[known.status] || incoming.attempts > known.attempts;
}

export function ticks(message) {
  if (message.direction !== "outbound") return null;
  const status = message.status;
  const label = t(`tick.${status}`);
  const el = icon(STATUS_ICON[status] || "clock", label);
  el.classList.add("tick", `tick-${status}`);
  el.title = label;
  return el;
}

/** A message's bubble; `csat`: its role for the conversation's surveys (csat.js csatRole). */
export function renderMessage(message, { onRetry, csat, email } = {}) {
  const outbound = message.direction === "outbound";
  const author = outbound ? agentName(message.sender_agent_id) || (message.sender_agent_id ? t("msg.agent") : t("msg.system")) : null;
  const failed = message.status === "failed";
  // The worker sending it stopped (docs/crash-safety.md): it goes out again shortly.
  const recovering = message.status === "pending" && message.recovering_since;
  const plain = email && hooks.email ? hooks.email : body;
  return h(
    "article",
    {
      class: `msg ${outbound ? "outbound" : "inbound"} status-${message.status}${csat ? ` csat-${csat.role}` : ""}`,
      id: `msg-${message.id}`,
      dataset: { id: message.id, status: message.status },
      "aria-label": outbound ? t("msg.sentBy", { name: author }) : t("msg.fromCustomer"),
    },
    h(
      "div",
      { class: "bubble" },
      author ? h("div", { class: "author" }, author) : null,
      csat ? csatBody(message, csat, plain) : plain(message),
      h(
        "div",
        { class: "msg-foot" },
        h("time", { datetime: message.created_at, title: formatDateTime(message.created_at) }, formatTime(message.created_at)),
        ticks(message),
      ),
    ),
    failed
      ? h(
          "div",
          { class: "failure", role: "note" },
          icon("alert"),
          h("span", {}, t("msg.failed"), ": ", message.error_reason || message.error_code || t("msg.unknownReason")),
          onRetry ? h("button", { type: "button", class: "link", onclick: () => onRetry(message) }, t("action.retry")) : null,
        )
      : null,
    recovering
      ? h("div", { class: "recovering", role: "note", title: t("msg.recoveringHint") }, icon("clock"), h("span", {}, t("msg.recovering")))
      : null,
  );
}

export function renderNote(note, { onDelete } = {}) {
  return h(
    "article",
    { class: "note", id: `note-${note.id}`, dataset: { id: note.id }, "aria-label": t("note.label") },
    h(
      "div",
      { class: "note-head" },
      h("span", { class: "note-tag" }, t("note.tag")),
      h("span", { class: "strong" }, note.agent_name || agentName(note.agent_id) || t("msg.agent")),
      h("time", { datetime: note.created_at, title: formatDateTime(note.created_at) }, formatTime(note.created_at)),
      onDelete ? h("button", { type: "button", class: "link small", onclick: () => onDelete(note), "aria-label": t("note.delete") }, t("action.delete")) : null,
    ),
    h("p", { class: "note-body" }, note.body),
  );
}

const EVENT_ACTIONS = {
  "conversation.transferred": "transferred",
  "conversation.resolved": "resolved",
  "conversation.reopened": "reopened",
  "conversation.snoozed": "snoozed",
  "conversation.unsnoozed": "unsnoozed",
};

/** A history entry ({action, agent_id, agent_name, details, created_at}) from an event. */
export function systemEntry(event) {
  const actor = event.actor || {};
  const byAgent = actor.type === "agent";
  let action = EVENT_ACTIONS[event.type];
  if (event.type === "conversation.assigned") {
    const { agent_id: to } = event.data;
    action = to === null ? "unassigned" : byAgent && actor.id === to ? "taken" : "assigned";
  }
  if (!action) return null;
  return {
    id: event.id,
    action,
    agent_id: byAgent ? actor.id : null,
    agent_name: byAgent ? actor.name : null,
    details: event.data,
    created_at: event.occurred_at,
  };
}

/** A system line's sentence from a history entry {action, agent_id, agent_name, details}. */
export function systemText(entry) {
  const who = entry.agent_name || agentName(entry.agent_id) || t("system.someone");
  const d = entry.details || {};
  switch (entry.action) {
    case "assigned":
      return t("system.assigned", { who, to: agentName(d.agent_id) || t("system.anAgent") });
    case "taken":
      return t("system.taken", { who });
    case "unassigned":
      return t("system.unassigned", { who });
    case "transferred": {
      const tr = d.transfer || {};
      const targets = [agentName(tr.to_agent_id), divisionName(tr.to_division_id)].filter(Boolean).join(" · ");
      const text = t("system.transferred", { who, to: targets || t("system.elsewhere") });
      return tr.reason ? `${text} — “${tr.reason}”` : text;
    }
    case "resolved":
      return t("system.resolved", { who });
    case "reopened":
      return entry.agent_id || entry.agent_name ? t("system.reopened", { who }) : t("system.reopenedByCustomer");
    case "snoozed":
      return t("system.snoozed", { who, until: d.snoozed_until ? formatDateTime(d.snoozed_until) : t("system.nextMessage") });
    case "unsnoozed":
      return t(`system.unsnoozed.${d.by || "agent"}`, { who });
    default:
      return entry.action;
  }
}

export function renderSystem(entry) {
  return h(
    "div",
    { class: "system-line", id: `sys-${entry.id}`, role: "note" },
    h("span", {}, systemText(entry)),
    h("time", { datetime: entry.created_at, title: formatDateTime(entry.created_at) }, formatTime(entry.created_at)),
  );
}
