// Reply tools in the composer: quick replies ("/" opens a searchable picker, favourites
// first, placeholders rendered by the server), WhatsApp templates with a parameter form
// (templates.js) and schedule send. Each appears only when the server has its API.
import { app } from "../app.js";
import { get, hasApi, post } from "../api.js";
import { debounce, h } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { formatDateTime, isoToZoned, t, timeZone, zonedToIso } from "../i18n.js";
import { icon } from "../icons.js";

// Moved to api.js (the shell probes the campaigns API too); still importable from here.
export { hasApi } from "../api.js";

export class ReplyTools {
  constructor(composer) {
    this.composer = composer;
    this.picker = null;
    this.available = { quick: false, templates: false, schedule: false };
    this.quickButton = h("button", { type: "button", class: "ghost small", hidden: true, onclick: () => this.openPicker("") }, "⚡ ", t("tools.quickReplies"));
    this.scheduleButton = h("button", { type: "button", class: "ghost small", hidden: true, onclick: () => this.scheduleDialog() }, icon("clock"), " ", t("tools.schedule"));
    this.templatesButton = h("button", { type: "button", class: "ghost small", hidden: true, onclick: () => this.templateDialog() }, t("tools.template"));
    composer.toolbar.append(this.quickButton, this.templatesButton, this.scheduleButton);
    this.detect();
  }

  async detect() {
    const can = (perm) => app.can(perm);
    const [quick, templates, schedule] = await Promise.all([
      can("quick_replies.read") ? hasApi("/api/v1/quick-replies") : false,
      can("templates.read") ? hasApi("/api/v1/templates") : false,
      can("messages.schedule") ? hasApi("/api/v1/scheduled-messages") : false,
    ]);
    this.available = { quick, templates, schedule };
    this.composer.updateWindow();
  }

  setConversation() {
    this.close();
  }

  updateButtons({ replying, open }) {
    const whatsapp = this.composer.conversation?.channel === "whatsapp";
    this.quickButton.hidden = !this.available.quick || !replying || !open;
    this.scheduleButton.hidden = !this.available.schedule || !replying || !open;
    this.templatesButton.hidden = !this.available.templates || !replying || !whatsapp;
  }

  /** The "send a template" button inside the window-closed banner (or nothing). */
  templateButton() {
    if (!this.available.templates || this.composer.conversation?.channel !== "whatsapp") {
      return h("span", { class: "muted" }, " ", t("tools.noTemplates"));
    }
    return h("button", { type: "button", class: "primary small", onclick: () => this.templateDialog() }, t("tools.sendTemplate"));
  }

  // Quick replies: "/" --------------------------------------------------------------------------

  /** The "/word" being typed at the caret, or null. */
  slashToken() {
    const { value, selectionStart } = this.composer.text;
    const before = value.slice(0, selectionStart);
    const match = before.match(/(^|\s)\/([^\s/]*)$/);
    return match ? { query: match[2], start: selectionStart - match[2].length - 1, end: selectionStart } : null;
  }

  onInput() {
    if (!this.available.quick || this.composer.mode !== "reply") return;
    const token = this.slashToken();
    if (token) this.openPicker(token.query, token);
    else this.close();
  }

  openPicker(query, token = null) {
    this.token = token;
    if (!this.picker) {
      this.list = h("ul", { role: "listbox", id: "quick-reply-options", class: "picker-list", "aria-label": t("tools.quickReplies") });
      this.search = h("input", {
        type: "search",
        class: "picker-search",
        "aria-label": t("tools.searchQuick"),
        placeholder: t("tools.searchQuick"),
        role: "combobox",
        "aria-controls": "quick-reply-options",
        "aria-expanded": "true",
      });
      this.search.addEventListener("input", debounce(() => this.loadOptions(this.search.value), 200));
      this.search.addEventListener("keydown", (event) => this.keydown(event));
      this.picker = h("div", { class: "picker", role: "dialog", "aria-label": t("tools.quickReplies") }, this.search, this.list);
      this.composer.form.append(this.picker);
    }
    if (!token) this.search.focus();
    this.search.value = query;
    this.loadOptions(query);
  }

  loadOptions = debounce(async (query) => {
    const q = query.trim();
    const mine = (this.latest = (this.latest || 0) + 1); // only the last answer counts
    try {
      const page = await get("/api/v1/quick-replies", { q: q || undefined, limit: 20 });
      if (mine !== this.latest) return;
      this.options = page.items;
      this.active = 0;
      this.renderOptions();
    } catch (error) {
      this.list?.replaceChildren(h("li", { class: "muted" }, describe(error)));
    }
  }, 120);

  renderOptions() {
    if (!this.list) return;
    if (!this.options.length) {
      this.list.replaceChildren(h("li", { class: "muted empty" }, t("tools.noQuickReplies")));
      return;
    }
    this.list.replaceChildren(
      ...this.options.map((reply, index) =>
        h(
          "li",
          {
            role: "option",
            id: `qr-${reply.id}`,
            class: index === this.active ? "active" : "",
            "aria-selected": String(index === this.active),
            onmousedown: (event) => event.preventDefault(),
            onclick: () => this.choose(reply),
          },
          h("span", { class: "qr-title" }, reply.is_favorite ? "★ " : "", reply.title),
          h("span", { class: "qr-body muted" }, reply.body.slice(0, 90)),
        ),
      ),
    );
    this.search.setAttribute("aria-activedescendant", `qr-${this.options[this.active].id}`);
  }

  keydown(event) {
    if (!this.picker) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.close();
      this.composer.text.focus();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const n = this.options?.length || 0;
      if (!n) return;
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      this.renderOptions();
    } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey && this.options?.length) {
      event.preventDefault();
      this.choose(this.options[this.active]);
    }
  }

  async choose(reply) {
    const conversation = this.composer.conversation;
    let rendered;
    try {
      rendered = await post(`/api/v1/quick-replies/${reply.id}/render`, { conversation_id: conversation.id });
    } catch (error) {
      this.composer.error.textContent = describe(error);
      return;
    }
    const text = this.composer.text;
    const token = this.token ?? this.slashToken();
    if (token) {
      text.value = text.value.slice(0, token.start) + rendered.text + text.value.slice(token.end);
    } else {
      text.value = text.value ? `${text.value} ${rendered.text}` : rendered.text;
    }
    if (rendered.media_url) {
      const name = decodeURIComponent(rendered.media_url.split("/").pop().split("?")[0] || "file");
      this.composer.setAttachment({ link: rendered.media_url, type: rendered.media_type || "document", name });
    }
    this.close();
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
  }

  close() {
    this.picker?.remove();
    this.picker = null;
    this.token = null;
  }

  // Schedule send ----------------------------------------------------------------------------------

  async scheduleDialog() {
    const composer = this.composer;
    const body = composer.body();
    if (!body) {
      composer.error.textContent = t("tools.scheduleEmpty");
      composer.text.focus();
      return;
    }
    const conversation = composer.conversation;
    const base = `/api/v1/conversations/${conversation.id}/scheduled-messages`;
    const soon = isoToZoned(new Date(Date.now() + 3600_000));
    const pending = h("ul", { class: "scheduled-list" });
    const when = field({
      label: t("tools.when", { zone: timeZone() }),
      name: "scheduled_at",
      type: "datetime-local",
      value: soon,
      required: true,
      attrs: { min: isoToZoned(new Date()) },
    });
    formDialog({
      title: t("tools.schedule"),
      submitLabel: t("tools.scheduleSubmit"),
      fields: [h("p", { class: "muted" }, body.text || body.caption || t(`type.${body.type}`)), when, h("h3", {}, t("tools.pending")), pending],
      onSubmit: async (form) => {
        const local = form.elements.scheduled_at.value;
        const scheduled_at = local ? zonedToIso(local) : "";
        return post(base, { ...body, scheduled_at });
      },
      onDone: (item) => {
        composer.reset();
        toast(t("tools.scheduled", { when: formatDateTime(item.scheduled_at) }));
      },
    });
    try {
      const page = await get(base, { status: "pending", limit: 20, order: "asc" });
      const cancel = async (item, li) => {
        try {
          await post(`/api/v1/scheduled-messages/${item.id}/cancel`);
          li.remove();
        } catch (error) {
          toast(describe(error), "error");
        }
      };
      pending.replaceChildren(
        ...(page.items.length
          ? page.items.map((item) => {
              const li = h("li", {}, h("time", { datetime: item.scheduled_at }, formatDateTime(item.scheduled_at)), " ",
                h("span", {}, item.message?.text || item.message?.caption || item.type), " ");
              li.append(h("button", { type: "button", class: "link small", onclick: () => cancel(item, li) }, t("tools.cancelScheduled")));
              return li;
            })
          : [h("li", { class: "muted" }, t("tools.nonePending"))]),
      );
    } catch {
      pending.replaceChildren();
    }
  }

  // Templates ------------------------------------------------------------------------------------------

  async templateDialog() {
    const { templateDialog } = await import("./templates.js");
    templateDialog(this.composer);
  }
}
