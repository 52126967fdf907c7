// The composer: reply or internal note, one attachment, Ctrl+Enter sends. It says when the
// channel's customer-service window is closed (WhatsApp 24 h, Messenger / Instagram 7 days)
// and then offers only what may still go out (templates, through the reply tools).
import { reportError } from "../app.js";
import { api, post } from "../api.js";
import { h } from "../dom.js";
import { describe } from "../forms.js";
import { formatDateTime, t } from "../i18n.js";
import { icon } from "../icons.js";
import { ReplyTools } from "./replytools.js";

const WINDOW_HOURS = { whatsapp: 24, messenger: 24 * 7, instagram: 24 * 7 };

/** When the window closes (a Date), null if the channel has none; Date(0) if never opened. */
export function windowClosesAt(conversation) {
  const hours = WINDOW_HOURS[conversation.channel];
  if (!hours) return null;
  if (!conversation.last_inbound_at) return new Date(0);
  return new Date(Date.parse(conversation.last_inbound_at) + hours * 3600_000);
}

function messageType(mime) {
  if (mime.startsWith("image/")) return "image";
  if (mime.startsWith("video/")) return "video";
  if (mime.startsWith("audio/")) return "audio";
  return "document";
}

export class Composer {
  constructor({ onSent, onNote }) {
    this.onSent = onSent;
    this.onNote = onNote;
    this.mode = "reply";
    this.conversation = null;
    this.attachment = null; // {media (MediaOut) | link, type, name}
    this.busy = false;
    this.el = this.render();
    this.tools = new ReplyTools(this); // fills the toolbar rendered above
    this.windowTimer = setInterval(() => this.updateWindow(), 60_000);
  }

  destroy() {
    clearInterval(this.windowTimer);
    this.tools.close();
  }

  render() {
    this.replyTab = h("button", { type: "button", role: "tab", class: "mode", dataset: { mode: "reply" }, onclick: () => this.setMode("reply") }, t("composer.reply"));
    this.noteTab = h("button", { type: "button", role: "tab", class: "mode", dataset: { mode: "note" }, onclick: () => this.setMode("note") }, t("composer.note"));
    this.banner = h("div", { class: "window-banner", role: "status", hidden: true });
    this.error = h("p", { class: "composer-error", role: "alert" });
    this.chips = h("div", { class: "attachments" });
    this.text = h("textarea", { name: "text", rows: 3, "aria-label": t("composer.message"), maxlength: 4096 });
    this.text.addEventListener("keydown", (event) => this.keydown(event));
    this.text.addEventListener("input", () => this.tools.onInput());
    this.file = h("input", { type: "file", class: "sr-only", tabindex: "-1", "aria-hidden": "true" });
    this.file.addEventListener("change", () => this.upload(this.file.files[0]));
    this.attachButton = h("button", { type: "button", class: "icon-button", "aria-label": t("composer.attach"), title: t("composer.attach"), onclick: () => this.file.click() }, icon("clip"));
    this.sendButton = h("button", { type: "submit", class: "primary" }, t("composer.send"));
    this.toolbar = h("div", { class: "tool-slot" });
    const form = h(
      "form",
      { class: "composer", "aria-label": t("composer.label") },
      h("div", { class: "composer-tabs", role: "tablist", "aria-label": t("composer.mode") }, this.replyTab, this.noteTab),
      this.banner,
      this.error,
      this.chips,
      this.text,
      h(
        "div",
        { class: "composer-bar" },
        this.attachButton,
        this.file,
        this.toolbar,
        h("span", { class: "hint muted" }, t("composer.hint")),
        this.sendButton,
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.form = form;
    this.setMode("reply");
    return form;
  }

  setConversation(conversation) {
    const changed = this.conversation?.id !== conversation.id;
    this.conversation = conversation;
    if (changed) {
      this.email?.off(); // js/email/compose.js: subject, CC, several attachments
      if (conversation.channel === "email") import("../email/compose.js").then((m) => m.enhance(this, conversation), reportError);
      this.text.value = "";
      this.clearAttachment();
      this.error.textContent = "";
      this.setMode("reply");
      this.tools.setConversation(conversation);
    }
    this.updateWindow();
  }

  setMode(mode) {
    this.mode = mode;
    this.form.classList.toggle("mode-note", mode === "note");
    for (const tab of [this.replyTab, this.noteTab]) {
      tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
    }
    this.text.placeholder = t(mode === "note" ? "composer.notePlaceholder" : "composer.placeholder");
    this.sendButton.textContent = t(mode === "note" ? "composer.addNote" : "composer.send");
    this.updateWindow();
  }

  focus(mode) {
    if (mode) this.setMode(mode);
    this.text.focus();
  }

  /** Whether a free-form reply may go out now. */
  windowOpen() {
    const closes = this.conversation && windowClosesAt(this.conversation);
    return !closes || closes.getTime() > Date.now();
  }

  updateWindow() {
    if (!this.conversation) return;
    const open = this.windowOpen();
    const replying = this.mode === "reply";
    this.banner.hidden = open || !replying;
    this.form.classList.toggle("window-closed", !open && replying);
    if (!open) {
      const last = this.conversation.last_inbound_at;
      this.banner.replaceChildren(
        h("strong", {}, t(this.conversation.channel === "whatsapp" ? "composer.windowClosedWa" : "composer.windowClosedMeta")),
        " ",
        last ? t("composer.lastCustomerMessage", { when: formatDateTime(last) }) : t("composer.neverWrote"),
        this.tools.templateButton(),
      );
    }
    const blocked = !open && replying;
    this.text.disabled = blocked;
    this.attachButton.disabled = blocked || !replying;
    this.sendButton.disabled = blocked || this.busy;
    this.tools.updateButtons({ replying, open });
  }

  keydown(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.send();
      return;
    }
    this.tools.keydown(event);
  }

  // Attachments ---------------------------------------------------------------------------------

  upload(file) {
    this.file.value = "";
    if (!file || !this.conversation) return;
    // A send while the file is still uploading waits for it (and then carries it).
    this.uploading = this.uploadNow(file).finally(() => {
      this.uploading = null;
    });
  }

  async uploadNow(file) {
    const chip = h("span", { class: "chip busy" }, icon("file"), file.name, " ", h("span", { class: "muted" }, t("composer.uploading")));
    this.chips.replaceChildren(chip);
    this.error.textContent = "";
    const form = new FormData();
    form.append("file", file, file.name);
    const conversationId = this.conversation.id;
    try {
      const media = await api("POST", `/api/v1/conversations/${conversationId}/uploads`, { form });
      if (this.conversation?.id !== conversationId) return; // moved on to another one
      this.setAttachment({ media, type: messageType(media.mime_type), name: media.filename });
    } catch (error) {
      if (this.conversation?.id !== conversationId) return;
      this.chips.replaceChildren();
      this.error.textContent = describe(error);
    }
  }

  /** A file to send with the next reply: an upload ({media}) or a public URL ({link}). */
  setAttachment(attachment) {
    this.attachment = attachment;
    const remove = h("button", { type: "button", class: "icon-button small", "aria-label": t("composer.removeAttachment"), onclick: () => this.clearAttachment() }, icon("close"));
    this.chips.replaceChildren(h("span", { class: "chip" }, icon("file"), attachment.name, remove));
  }

  clearAttachment() {
    this.attachment = null;
    this.chips.replaceChildren();
  }

  // Sending -------------------------------------------------------------------------------------

  /** The message body the reply API (and the scheduler) take, or null when empty. */
  body() {
    const text = this.text.value.trim();
    if (this.attachment) {
      const body = { type: this.attachment.type };
      if (this.attachment.media) body.media_id = this.attachment.media.id;
      else body.link = this.attachment.link;
      if (text) body.caption = text;
      return body;
    }
    return text ? { type: "text", text } : null;
  }

  reset() {
    this.text.value = "";
    this.clearAttachment();
    this.error.textContent = "";
  }

  async send() {
    if (this.busy || !this.conversation) return;
    if (this.uploading) {
      this.busy = true;
      this.sendButton.disabled = true;
      await this.uploading;
      this.busy = false;
    }
    const conversation = this.conversation;
    this.error.textContent = "";
    if (this.mode === "note") {
      const text = this.text.value.trim();
      if (!text) return;
      await this.run(async () => {
        // noteExtras: the agents picked with @ (js/notifications/mentions.js).
        const note = await post(`/api/v1/conversations/${conversation.id}/notes`, { body: text, ...this.noteExtras?.(text) });
        this.reset();
        this.onNote(note);
      });
      return;
    }
    const body = this.body();
    if (!body || !this.windowOpen()) return;
    await this.run(async () => {
      const message = await post(`/api/v1/conversations/${conversation.id}/messages`, body);
      this.reset();
      this.onSent(message);
    });
  }

  async run(action) {
    this.busy = true;
    this.sendButton.disabled = true;
    try {
      await action();
    } catch (error) {
      this.error.textContent = describe(error);
      if (error?.type?.endsWith("window-closed")) this.updateWindow();
      else if (!error?.status) reportError(error);
    } finally {
      this.busy = false;
      this.updateWindow();
      this.text.focus();
    }
  }
}
