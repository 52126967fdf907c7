// An email message in the timeline (loaded when an email conversation opens; message.js
// calls it through hooks.email): subject, from / to / cc / date, the trimmed body with
// "Show full message" (the full text, or the sanitised HTML in a sandboxed frame where remote
// images stay unloaded until "Show images"), the attachments, an automatic reply's badge.
import { mediaUrl } from "../api.js";
import { h } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import { fileLink, hooks } from "../inbox/message.js";
import "./strings.js";
import { STYLESHEET } from "./style.js";

/** "Budi Santoso <budi@example.id>", or the bare address. */
export function person(p) {
  if (!p) return "";
  if (typeof p === "string") return p;
  return p.name && p.name !== p.address ? `${p.name} <${p.address}>` : p.address || p.name || "";
}

const people = (list) => (Array.isArray(list) ? list.map(person).filter(Boolean).join(", ") : "");

function header(label, value, cls) {
  if (!value) return null;
  return h("div", { class: `email-line ${cls}` }, h("dt", {}, label), h("dd", {}, value));
}

function attachmentList(c) {
  const urlOf = (a) => a.url || (a.media_id ? `/api/v1/media/${a.media_id}` : null);
  // The images the HTML shows (its cid: images point at our media) are not listed again.
  const files = (c.attachments || []).filter((a) => !(c.html && urlOf(a) && c.html.includes(urlOf(a))));
  if (!files.length) return null;
  return h(
    "ul",
    { class: "email-files", "aria-label": t("email.attachments") },
    files.map((a) => {
      const url = urlOf(a);
      if (a.skipped_reason || !url) {
        return h("li", { class: "email-file skipped" }, h("span", { class: "file-name" }, a.filename || t("msg.file")), " ",
          h("span", { class: "muted small" }, t("email.skipped", { reason: a.skipped_reason || t("msg.fileUnavailable") })));
      }
      return h("li", { class: "email-file" }, fileLink({ url, filename: a.filename, size_bytes: a.size }, a.filename));
    }),
  );
}

/** The sanitised HTML as a document for the frame: links open a new tab, our media (cid:
 * images) through object URLs, remote images only when `remote`. */
async function frameDoc(html, remote) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const meta = doc.createElement("meta");
  meta.name = "referrer";
  meta.content = "no-referrer";
  const css = doc.createElement("link");
  css.rel = "stylesheet";
  css.href = STYLESHEET;
  doc.head.prepend(meta, css);
  doc.body.classList.add("email-frame");
  for (const a of doc.querySelectorAll("a[href]")) {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  await Promise.all(
    [...doc.querySelectorAll("img[src^='/api/']")].map(async (img) => {
      img.src = await mediaUrl(img.getAttribute("src")).catch(() => "");
    }),
  );
  if (remote) {
    for (const img of doc.querySelectorAll("img[data-remote-src]")) {
      img.referrerPolicy = "no-referrer";
      img.src = img.dataset.remoteSrc;
      img.removeAttribute("data-remote-src");
    }
  }
  return `<!doctype html>${doc.documentElement.outerHTML}`;
}

/** The HTML in a sandboxed frame (no scripts; same origin only so its height can be read),
 * sized to its content; "Show images" above it when it has remote images. */
function htmlView(html) {
  const frame = h("iframe", { class: "email-html", sandbox: "allow-same-origin allow-popups allow-popups-to-escape-sandbox", title: t("email.content") });
  // The content's own height (the root's would be at least the frame's current one).
  const fit = () => {
    const body = frame.contentDocument?.body;
    if (!body) return;
    const below = parseFloat(frame.contentWindow.getComputedStyle(body).marginBottom) || 0;
    frame.style.height = `${Math.min(Math.ceil(body.getBoundingClientRect().bottom + below) + 2, 4000)}px`;
  };
  frame.addEventListener("load", () => {
    fit();
    for (const img of frame.contentDocument?.images || []) img.addEventListener("load", fit);
  });
  const show = async (remote) => {
    frame.srcdoc = await frameDoc(html, remote);
  };
  const hasRemote = html.includes("data-remote-src");
  const bar = hasRemote
    ? h("p", { class: "email-images muted small" }, t("email.imagesHidden"), " ",
        h("button", { type: "button", class: "link", onclick: (e) => {
          e.currentTarget.parentElement.remove();
          show(true);
        } }, t("email.showImages")))
    : null;
  show(false);
  return h("div", { class: "email-html-wrap" }, bar, frame);
}

/** The bubble's content for a message of an email conversation. */
export function emailBody(message) {
  const c = message.content || {};
  const inbound = message.direction === "inbound";
  const text = c.text ?? c.caption ?? "";
  const preview = inbound && c.preview ? c.preview : text;
  const more = Boolean(c.html) || (preview.trim() !== text.trim() && text.trim() !== "");
  const body = h("div", { class: "text email-body" }, preview);
  let full = null;
  const toggle = more
    ? h("button", { type: "button", class: "link small email-toggle", "aria-expanded": "false", onclick: () => {
        const open = toggle.getAttribute("aria-expanded") !== "true";
        full ||= c.html ? htmlView(c.html) : h("div", { class: "text email-body email-full" }, text);
        (open ? body : full).replaceWith(open ? full : body);
        toggle.setAttribute("aria-expanded", String(open));
        toggle.textContent = t(open ? "email.showLess" : "email.showFull");
      } }, t("email.showFull"))
    : null;
  const subject = c.subject || (inbound ? t("email.noSubject") : null);
  const lines = [
    header(t("email.from"), person(c.from), "from"),
    header(t("email.to"), people(c.to), "to"),
    header(t("email.cc"), people(c.cc), "cc"),
    inbound && c.date ? header(t("email.date"), Date.parse(c.date) ? formatDateTime(c.date) : c.date, "date") : null,
  ].filter(Boolean);
  // A plain reply (no subject of its own, no CC) has no header: the thread says the rest.
  const head = subject || c.auto_reply || lines.length
    ? h("div", { class: "email-head" },
        subject ? h("p", { class: "email-subject strong" }, subject) : null,
        c.auto_reply ? h("span", { class: "email-auto", role: "note" }, t("email.autoReply")) : null,
        lines.length ? h("dl", { class: "email-meta small" }, lines) : null)
    : null;
  return [
    head,
    body,
    toggle,
    attachmentList(c),
    // A malformed mail is stored with what could be read; the details in the tooltip.
    c.defects?.length ? h("p", { class: "email-defects muted small", title: c.defects.join("\n") }, t("email.defects")) : null,
  ];
}

hooks.email = emailBody;
