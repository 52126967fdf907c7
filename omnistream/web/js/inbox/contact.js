// The right pane: who the customer is (name, phone, email, channel ids), their other
// conversations, an edit form that shows the server's field errors, and (in a WhatsApp
// conversation) whether the customer's number is opted out of broadcast campaigns (GET
// /contacts/{id}/opt-out), with "Stop campaigns" to opt it out. Contact, conversation and
// opt-out events (campaign_opt_out.created / .deleted: an agent, the API, a STOP keyword,
// Meta's 131050) keep it current, also while it loads or while the form is open; the
// opt-out is read again when the number changes.
import { agentName, app, navigate, reportError } from "../app.js";
import { get, patch, put } from "../api.js";
import { fill, h } from "../dom.js";
import { describe, field, submit, toast } from "../forms.js";
import { formatDateTime, formatRelative, t } from "../i18n.js";
import { CHANNEL_NAMES, channelIcon } from "../icons.js";
import { contactLabel, initials } from "./list.js";
import { newer } from "./visibility.js";

export class ContactPanel {
  constructor() {
    this.contact = null;
    this.conversationId = null;
    this.optOut = undefined; // the shown contact's opt-out: a row, null (not out), undefined (not known)
    this.optOutSeq = 0; // the latest read or change of it wins
    this.body = h("div", { class: "contact-body" });
    this.el = h("aside", { class: "pane contact-pane", "aria-label": t("contact.label") }, this.body);
  }

  clear() {
    this.contact = null;
    this.loadingId = null;
    this.editing = false;
    this.optOut = undefined;
    this.optOutSeq++;
    fill(this.body, h("p", { class: "muted pad" }, t("contact.none")));
  }

  async show(contactId, conversationId, channel) {
    this.conversationId = conversationId;
    this.channel = channel;
    this.loadingId = contactId;
    this.editing = false;
    this.arrived = null; // a contact.updated that arrives while this loads
    const seq = ++this.optOutSeq;
    try {
      const [contact, conversations, optOut] = await Promise.all([
        get(`/api/v1/contacts/${contactId}`),
        get(`/api/v1/contacts/${contactId}/conversations`, { limit: 20 }),
        channel === "whatsapp" ? readOptOut(contactId) : undefined,
      ]);
      if (this.loadingId !== contactId) return;
      this.contact = this.arrived && newer(this.arrived, contact) ? { ...contact, ...this.arrived } : contact;
      this.others = conversations.items;
      if (seq === this.optOutSeq) this.optOut = optOut;
      this.render();
    } catch (error) {
      if (this.loadingId === contactId) fill(this.body, h("p", { class: "muted pad" }, t("contact.unavailable")));
      if (error.status !== 404) reportError(error);
    }
  }

  /** A contact changed (an event, or saved here); a merge into it brings more conversations. */
  update(contact) {
    const shown = this.contact?.id ?? this.loadingId;
    if (contact.merged_contact_id && [contact.id, contact.merged_contact_id].includes(shown)) {
      this.show(contact.id, this.conversationId, this.channel);
      return;
    }
    if (shown !== contact.id) return;
    if (!this.contact) {
      this.arrived = contact;
      return;
    }
    if (!newer(contact, this.contact)) return;
    const phoneBefore = this.contact.phone;
    this.contact = { ...this.contact, ...contact };
    if (!this.editing) this.render(); // the form keeps what is typed; Cancel shows the news
    if (this.contact.phone !== phoneBefore) this.refreshOptOut();
  }

  /** Names of colleagues are known (the directory was read). */
  redraw() {
    if (this.contact && !this.editing) this.render();
  }

  /** A number was opted out of campaigns or back in (an event): the contact's, if shown. */
  applyOptOut(type, data) {
    if (this.channel !== "whatsapp") return;
    const c = this.contact;
    const shown = c ? data.contact_id === c.id || data.opt_out.phone === c.phone : data.contact_id === this.loadingId;
    if (!shown) return;
    this.optOutSeq++; // a read begun before this event is older than it (also while loading)
    this.optOut = type === "campaign_opt_out.created" ? data.opt_out : null;
    if (c && !this.editing) this.render();
  }

  async refreshOptOut() {
    const c = this.contact;
    if (!c || this.channel !== "whatsapp") return;
    const seq = ++this.optOutSeq;
    const optOut = c.phone ? await readOptOut(c.id) : null;
    if (seq !== this.optOutSeq || this.contact?.id !== c.id) return;
    if (JSON.stringify(optOut) === JSON.stringify(this.optOut)) return;
    this.optOut = optOut;
    if (!this.editing) this.render();
  }

  /** A conversation changed: one of the contact's others shows its new preview and status. */
  applyConversation(conversation) {
    if (!this.contact || conversation.contact_id !== this.contact.id) return;
    if (conversation.id === this.conversationId) return;
    const known = this.others.find((o) => o.id === conversation.id);
    if (known && !newer(conversation, known)) return;
    this.others = [{ ...known, ...conversation }, ...this.others.filter((o) => o !== known)]
      .sort((a, b) => Date.parse(b.last_message_at) - Date.parse(a.last_message_at));
    if (!this.editing) this.render();
  }

  render() {
    const c = this.contact;
    const others = this.others.filter((x) => x.id !== this.conversationId);
    const row = (label, value) => (value ? h("div", { class: "kv" }, h("dt", {}, label), h("dd", {}, value)) : null);
    const monogram = () => h("div", { class: "avatar big", "aria-hidden": "true" }, initials(c.name));
    // Channel pictures expire (Meta's profile_pic URLs) or may be refused: initials then.
    const onerror = (event) => event.target.replaceWith(monogram());
    fill(
      this.body,
      h(
        "div",
        { class: "contact-card" },
        c.profile_pic_url
          ? h("img", { class: "avatar big", src: c.profile_pic_url, alt: "", referrerpolicy: "no-referrer", onerror })
          : monogram(),
        h("h2", { class: "contact-name" }, contactLabel(c)),
      ),
      h(
        "dl",
        { class: "details" },
        row(t("contact.phone"), c.phone ? `+${c.phone}` : null),
        row(t("contact.email"), c.email),
        c.identities.filter((i) => !(i.channel === "email" && i.external_id === c.email?.toLowerCase())).map((i) => row(CHANNEL_NAMES[i.channel] || i.channel, i.external_id)),
      ),
      app.can("contacts.write")
        ? h("button", { type: "button", class: "ghost small", onclick: () => this.edit() }, t("contact.edit"))
        : null,
      h("a", { class: "contact-page-link", href: `#/contacts/${c.id}` }, t("contact.page")),
      this.campaigns(),
      h("h3", { class: "section-title" }, t("contact.others")),
      others.length
        ? h(
            "ul",
            { class: "other-conversations" },
            others.map((o) =>
              h(
                "li",
                {},
                h(
                  "a",
                  { href: `#/inbox/${o.id}`, onclick: (e) => { e.preventDefault(); navigate(`inbox/${o.id}`); } },
                  channelIcon(o.channel),
                  h("span", { class: "other-preview" }, o.last_message_preview || CHANNEL_NAMES[o.channel]),
                  h("span", { class: "muted small" }, `${t(`status.${o.status}`)} · ${formatRelative(o.last_message_at)}`),
                ),
              ),
            ),
          )
        : h("p", { class: "muted small" }, t("contact.noOthers")),
    );
  }

  /** In a WhatsApp conversation: "Opted out of campaigns" with why, by whom and when, or
   * "Stop campaigns" (for whoever may edit contacts). */
  campaigns() {
    const c = this.contact;
    if (this.channel !== "whatsapp" || !c.phone) return null;
    const o = this.optOut;
    if (o) {
      const why = t(`contact.optedOutBy.${o.reason}`);
      const who = o.reason === "agent" || o.reason === "api" ? agentName(o.created_by) : null;
      const note = o.reason === "api" ? o.note : null; // the others' notes are the server's English
      return h("div", { class: "opted-out small", role: "status" },
        h("strong", {}, t("contact.optedOut")), " ",
        h("span", { class: "opted-out-why" },
          [why.startsWith("contact.") ? null : why, who, formatDateTime(o.created_at)].filter(Boolean).join(" · ")),
        note ? h("span", { class: "opted-out-why" }, note) : null);
    }
    if (!app.can("contacts.write")) return null;
    const stop = async () => {
      if (!confirm(t("contact.optOutConfirm", { phone: `+${c.phone}` }))) return;
      try {
        const row = await put(`/api/v1/contacts/${c.id}/opt-out`);
        if (this.contact?.id !== c.id) return;
        this.optOutSeq++; // a read begun before this answer is older than it
        this.optOut = row;
        if (!this.editing) this.render();
      } catch (error) {
        toast(describe(error), "error");
      }
    };
    return h("button", { type: "button", class: "ghost small danger", onclick: stop }, t("contact.optOut"));
  }

  edit() {
    const c = this.contact;
    this.editing = true;
    const form = h(
      "form",
      { class: "form contact-form", novalidate: true, "aria-label": t("contact.edit") },
      field({ label: t("contact.name"), name: "name", value: c.name }),
      field({ label: t("contact.phone"), name: "phone", type: "tel", value: c.phone ? `+${c.phone}` : "" }),
      field({ label: t("contact.email"), name: "email", type: "email", value: c.email || "" }),
      h(
        "div",
        { class: "form-actions" },
        h("button", { type: "button", class: "ghost", onclick: () => { this.editing = false; this.render(); } }, t("action.cancel")),
        h("button", { type: "submit", class: "primary" }, t("action.save")),
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = (name) => form.elements[name].value.trim();
      const changes = {};
      if (value("name") !== c.name) changes.name = value("name");
      const phone = value("phone");
      if (phone !== (c.phone ? `+${c.phone}` : "")) changes.phone = phone || null;
      const email = value("email");
      if (email !== (c.email || "")) changes.email = email || null;
      if (!Object.keys(changes).length) {
        this.editing = false;
        this.render();
        return;
      }
      const updated = await submit(form, () => patch(`/api/v1/contacts/${c.id}`, changes));
      if (updated) {
        this.editing = false;
        this.render();
        this.onSaved?.(updated); // comes back to update(), as for everyone else's edits
      }
    });
    fill(this.body, h("h2", { class: "pad-top" }, t("contact.edit")), form);
    form.elements.name.focus();
  }
}

/** A contact's opt-out of campaigns: the row, null when not opted out, undefined when it
 * could not be read (the button is offered then; opting out twice changes nothing). */
function readOptOut(contactId) {
  return get(`/api/v1/contacts/${contactId}/opt-out`).then((r) => r.opt_out, () => undefined);
}
