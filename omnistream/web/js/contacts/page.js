// A contact's page (#/contacts/<id>): details and channel ids (Edit), custom attributes
// with the input their type needs (Save; a refused value is shown at its input), the
// conversations the caller may see on every channel (each opens in the inbox), notes about
// the contact (add; delete one's own), and Merge (with the API's preview of what moves) and
// Delete (with the number of conversations that go too) for the roles allowed.
import { del, get, patch, post } from "../api.js";
import { app as shell, navigate } from "../app.js";
import { fill, h } from "../dom.js";
import { describe, field, formDialog, submit, toast } from "../forms.js";
import { formatDateTime, t } from "../i18n.js";
import { contactName } from "./contacts.js";
import { deleteDialog, mergeDialog } from "./dialogs.js";
import { contactOf, follow } from "./live.js";

const BASE = "/api/v1/contacts";

function attributeInput(def, value) {
  const name = `attributes.${def.key}`;
  if (def.type === "list") {
    return field({ label: def.label, name, type: "select", value: value ?? "",
      options: [{ value: "", label: t("contacts.attr.none") }, ...def.options.map((o) => ({ value: o, label: o }))] });
  }
  const type = { text: "text", number: "number", date: "date" }[def.type];
  return field({ label: def.label, name, type, value: value ?? "", attrs: def.type === "number" ? { step: "any" } : { maxlength: 1000 } });
}

function attributeValue(def, control) {
  const raw = control.value.trim();
  if (!raw) return null;
  return def.type === "number" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
}

export function contactPage(contactId, app) {
  const url = `${BASE}/${contactId}`;
  const el = h("div", { class: "contacts-page", "aria-busy": "true" }, h("p", { class: "muted" }, t("state.loading")));
  let gone = false; // left the page, or the contact was deleted or merged away meanwhile
  let asked = 0; // only the newest read is drawn (live reads may overlap)
  let rendered = false;

  async function load() {
    const mine = ++asked;
    try {
      const [contact, definitions, conversations, notes] = await Promise.all([
        get(url), get("/api/v1/contact-attributes"), get(`${url}/conversations`, { limit: 50 }), get(`${url}/notes`, { limit: 50 }),
      ]);
      if (gone || mine !== asked) return;
      // Edits begun while this read was on its way win: the page is read again after them.
      if (rendered && busy()) pending = true;
      else render(contact, definitions, conversations.items, notes.items);
      rendered = true;
    } catch (error) {
      if (!gone && mine === asked) fill(el, h("p", { class: "form-error", role: "alert" }, describe(error)), back());
    }
    el.removeAttribute("aria-busy");
  }

  // Live: another agent's change to this contact, its notes or the attribute definitions
  // reads the page again, but never over the agent's own work: not while a form holds edits
  // not saved yet (the read waits for a successful save, then for focus leaving a field; a
  // refused save keeps the edits and the errors on screen); a delete or a merge into another
  // contact says so in place of the page.
  let pending = false;
  const markEdited = (event) => event.target.form && (event.target.form.dataset.edited = "1");
  el.addEventListener("input", markEdited);
  el.addEventListener("change", markEdited);
  const busy = () => el.querySelector("form[data-edited], form[aria-busy]") !== null;
  const saved = (form) => {
    delete form.dataset.edited;
    if (pending) refresh();
  };
  const refresh = () => {
    pending = busy();
    if (!pending) load();
  };
  el.addEventListener("focusout", () => setTimeout(() => pending && !gone && refresh()));
  const ended = (message, survivor) => {
    gone = true;
    fill(el, h("p", { class: "form-error", role: "alert" }, message),
      survivor ? h("p", {}, h("a", { href: `#/contacts/${survivor.id}` }, contactName(survivor))) : null, back());
  };
  const unfollow = follow(app, (event) => {
    if (gone) return;
    const d = event.data || {};
    if (event.type === "contact.deleted" && d.id === contactId) ended(t("contacts.live.deleted"));
    else if (event.type === "contact.merged" && d.merged_contact_id === contactId) {
      ended(t("contacts.live.merged", { name: contactName(d) }), d);
    } else if (event.type === "reload" || event.type.startsWith("contact_attribute.") || contactOf(event) === contactId) refresh();
  });

  const back = () => h("a", { href: "#/contacts", class: "contacts-back" }, `← ${t("contacts.back")}`);

  function details(contact) {
    const rows = [
      [t("contacts.phone"), contact.phone ? `+${contact.phone}` : "—"],
      [t("contacts.email"), contact.email || "—"],
      [t("contacts.identities"), contact.identities.map((i) => `${i.channel}: ${i.external_id}`).join(", ") || "—"],
      [t("contacts.created"), formatDateTime(contact.created_at)],
    ];
    return h("section", { class: "contacts-card", "aria-label": t("contacts.details") },
      h("h2", {}, t("contacts.details")),
      h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  }

  function attributes(contact, definitions) {
    if (!definitions.length) {
      return h("section", { class: "contacts-card" }, h("h2", {}, t("contacts.attributes")), h("p", { class: "muted" }, t("contacts.noAttributes")));
    }
    const form = h("form", { class: "form contacts-attributes", novalidate: true },
      definitions.map((d) => attributeInput(d, contact.attributes[d.key])),
      app.can("contacts.write") ? h("div", { class: "dialog-actions" }, h("button", { type: "submit", class: "primary" }, t("action.save"))) : null);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const sent = Object.fromEntries(definitions.map((d) => [d.key, attributeValue(d, form.elements[`attributes.${d.key}`])]));
      if (await submit(form, () => patch(url, { attributes: sent }))) {
        toast(t("contacts.attributeSaved", { label: t("contacts.attributes") }));
        saved(form);
      }
    });
    return h("section", { class: "contacts-card" }, h("h2", {}, t("contacts.attributes")), form);
  }

  function conversationList(items) {
    return h("section", { class: "contacts-card" }, h("h2", {}, t("contacts.conversations")),
      items.length ? h("ul", { class: "contacts-conversations" }, items.map((c) => h("li", {},
        h("a", { href: `#/inbox/${c.id}`, "aria-label": t("contacts.openConversation", { channel: c.channel }),
          onclick: (e) => { e.preventDefault(); navigate(`inbox/${c.id}`); } },
        h("span", { class: "contacts-channel" }, c.channel), " ", h("span", { class: "contacts-status" }, c.status), " · ",
        formatDateTime(c.last_message_at), c.last_message_preview ? ` — ${c.last_message_preview}` : ""))))
        : h("p", { class: "muted" }, t("contacts.noConversations")));
  }

  function noteList(items) {
    const text = h("textarea", { name: "body", rows: 2, maxlength: 5000, "aria-label": t("contacts.notePlaceholder"), placeholder: t("contacts.notePlaceholder") });
    const form = h("form", { class: "form contacts-note-form", novalidate: true },
      h("div", { class: "field", dataset: { field: "body" } }, text),
      h("button", { type: "submit" }, t("contacts.addNote")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (await submit(form, () => post(`${url}/notes`, { body: text.value }))) {
        delete form.dataset.edited;
        load();
      }
    });
    const remove = async (n) => {
      try {
        await del(`${url}/notes/${n.id}`);
        load();
      } catch (error) {
        toast(describe(error), "error");
      }
    };
    return h("section", { class: "contacts-card" }, h("h2", {}, t("contacts.notes")),
      app.can("contacts.write") ? form : null,
      items.length ? h("ul", { class: "contacts-notes" }, items.map((n) => h("li", {},
        h("p", {}, n.body),
        h("p", { class: "muted" }, `${n.author_name || "—"} · ${formatDateTime(n.created_at)} `,
          n.author_id === shell.me?.id ? h("button", { type: "button", class: "link danger", onclick: () => remove(n) }, t("contacts.deleteNote")) : null))))
        : h("p", { class: "muted" }, t("contacts.noNotes")));
  }

  const edit = (contact) => formDialog({
    title: t("contacts.edit"),
    submitLabel: t("action.save"),
    fields: [
      field({ label: t("contacts.name"), name: "name", value: contact.name, attrs: { maxlength: 200 } }),
      field({ label: t("contacts.phone"), name: "phone", type: "tel", value: contact.phone ? `+${contact.phone}` : "", attrs: { maxlength: 40 } }),
      field({ label: t("contacts.email"), name: "email", type: "email", value: contact.email || "", attrs: { maxlength: 320 } }),
    ],
    onSubmit: (f) => {
      const v = (name) => f.elements[name].value.trim() || null;
      return patch(url, { name: f.elements.name.value.trim(), phone: v("phone"), email: v("email") });
    },
    onDone: () => load(),
  });

  function render(contact, definitions, conversations, notes) {
    const actions = [
      app.can("contacts.write") ? h("button", { type: "button", onclick: () => edit(contact) }, t("contacts.edit")) : null,
      app.can("contacts.merge") ? h("button", { type: "button", onclick: () => mergeDialog(contact, load) }, t("contacts.merge")) : null,
      app.can("contacts.delete") ? h("button", { type: "button", class: "danger", onclick: () => deleteDialog(contact, () => navigate("contacts")) }, t("contacts.delete")) : null,
    ];
    document.title = `${contactName(contact)} · OmniStream`;
    fill(el, back(),
      h("div", { class: "page-head" }, h("h1", {}, contactName(contact)), h("div", { class: "page-actions" }, actions)),
      h("div", { class: "contacts-grid" }, details(contact), attributes(contact, definitions), conversationList(conversations), noteList(notes)));
  }

  load();
  return { el, destroy: () => { gone = true; unfollow(); } };
}
