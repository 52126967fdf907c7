// Contacts (#/contacts, everyone with contacts.read; docs/contacts.md): a searchable,
// sortable table of the contacts the caller may see (the API's visibility rule), "Load more"
// pages, New contact, CSV import (admins, supervisors) and export; #/contacts/<id> opens a
// contact's page (page.js). Loaded with import() from app.js only when opened.
import "./strings.js"; // first: the screen's sentences before anything of it runs
import { get, post } from "../api.js";
import { debounce, fill, h } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { formatDateTime, t } from "../i18n.js";
import { downloadCsv } from "../reports/download.js";
import { importDialog } from "./dialogs.js";
import { contactOf, follow } from "./live.js";
import { contactPage } from "./page.js";

const BASE = "/api/v1/contacts";
const HREF = "/app/js/contacts/contacts.css";
if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}

export const contactName = (c) => c.name || c.phone && `+${c.phone}` || c.email || t("contacts.unnamed");

function listView(app) {
  const state = { q: "", sort: "name", items: [], cursor: null, asked: 0 };
  const search = h("input", { type: "search", class: "contacts-search", "aria-label": t("contacts.search"), placeholder: t("contacts.search") });
  const sort = h("select", { "aria-label": t("contacts.sort") },
    ["name", "created", "last_activity"].map((s) => h("option", { value: s }, t(`contacts.sort.${s}`))));
  const body = h("div", { class: "contacts-table" });
  const status = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", class: "ghost", hidden: true }, t("action.loadMore"));

  async function load(reset) {
    const mine = ++state.asked;
    if (reset) {
      state.items = [];
      state.cursor = null;
    }
    status.textContent = t("state.loading");
    try {
      const page = await get(BASE, { q: state.q || undefined, sort: state.sort, limit: 50, cursor: state.cursor || undefined });
      if (mine !== state.asked) return;
      state.items = state.items.concat(page.items);
      state.cursor = page.next_cursor;
      status.textContent = "";
    } catch (error) {
      status.textContent = describe(error);
      return;
    }
    more.hidden = !state.cursor;
    fill(body, table(state.items));
  }

  function table(items) {
    const headers = [t("contacts.name"), t("contacts.phone"), t("contacts.email"), t("contacts.lastActivity"), t("contacts.created")];
    const rows = items.map((c) => h("tr", { dataset: { contactId: c.id } },
      h("td", {}, h("a", { href: `#/contacts/${c.id}`, "aria-label": t("contacts.open", { name: contactName(c) }) }, contactName(c))),
      h("td", {}, c.phone ? `+${c.phone}` : "—"),
      h("td", {}, c.email || "—"),
      h("td", {}, c.last_activity_at ? formatDateTime(c.last_activity_at) : "—"),
      h("td", {}, formatDateTime(c.created_at))));
    return h("table", { class: "data" },
      h("caption", { class: "sr-only" }, t("contacts.title")),
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, t("state.empty")))));
  }

  const create = () => formDialog({
    title: t("contacts.new"),
    submitLabel: t("action.save"),
    fields: [
      field({ label: t("contacts.name"), name: "name", attrs: { maxlength: 200 } }),
      field({ label: t("contacts.phone"), name: "phone", type: "tel", attrs: { maxlength: 40 } }),
      field({ label: t("contacts.email"), name: "email", type: "email", attrs: { maxlength: 320 } }),
    ],
    onSubmit: (f) => {
      const v = (name) => f.elements[name].value.trim() || undefined;
      return post(BASE, { name: v("name") || "", phone: v("phone"), email: v("email") });
    },
    onDone: (c) => {
      toast(t("contacts.created.toast"));
      location.hash = `#/contacts/${c.id}`;
    },
  });
  const exportCsv = async () => {
    try {
      await downloadCsv(`${BASE}/export.csv`, { q: state.q }, "contacts.csv");
    } catch (error) {
      toast(describe(error), "error");
    }
  };

  search.addEventListener("input", debounce(() => {
    state.q = search.value.trim();
    load(true);
  }, 250));
  sort.addEventListener("change", () => {
    state.sort = sort.value;
    load(true);
  });
  more.addEventListener("click", () => load(false));
  // Live: a changed contact is redrawn in its row, a deleted or merged-away one leaves the
  // table; a new or imported contact (or a gap in the events) reads the first page again.
  const reread = debounce(() => body.isConnected && load(true), 300);
  const unfollow = follow(app, (event) => {
    if (!body.isConnected) return; // off screen: route() reads the table when it comes back
    const id = contactOf(event);
    const gone = event.type === "contact.deleted" ? id : event.type === "contact.merged" ? event.data.merged_contact_id : null;
    const shown = state.items.some((c) => c.id === id || c.id === gone);
    if (gone) state.items = state.items.filter((c) => c.id !== gone);
    if (event.type === "contact.updated" || event.type === "contact.merged") {
      state.items = state.items.map((c) => (c.id === id ? { ...c, ...event.data, last_activity_at: c.last_activity_at } : c));
    }
    if (["reload", "contact.created", "contact.imported"].includes(event.type)) reread();
    else if (shown) {
      fill(body, table(state.items));
    }
  });
  const actions = [
    app.can("contacts.write") ? h("button", { type: "button", class: "primary", onclick: create }, t("contacts.new")) : null,
    app.can("contacts.import") ? h("button", { type: "button", onclick: () => importDialog(() => load(true)) }, t("contacts.import")) : null,
    app.can("contacts.export") ? h("button", { type: "button", onclick: exportCsv }, t("contacts.export")) : null,
  ];
  const el = h("div", { class: "contacts-list" },
    h("div", { class: "page-head" }, h("h1", {}, t("contacts.title")), h("div", { class: "page-actions" }, actions)),
    h("div", { class: "toolbar" }, search, h("label", { class: "inline" }, t("contacts.sort"), " ", sort)),
    body, status, more);
  return { el, reload: () => load(true), focus: () => search.focus(), destroy: unfollow };
}

export function mount(container, app) {
  const root = h("div", { class: "contacts" });
  container.append(root);
  let list = null;
  let page = null;
  return {
    route(parts) {
      page?.destroy();
      page = null;
      document.title = `${t("contacts.title")} · OmniStream`;
      if (parts[0]) {
        page = contactPage(parts[0], app);
        fill(root, page.el);
        return;
      }
      if (!list) list = listView(app);
      fill(root, list.el);
      list.reload();
      list.focus();
    },
    destroy() {
      page?.destroy();
      list?.destroy();
      root.remove();
    },
  };
}
