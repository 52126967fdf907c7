// The contacts screen's dialogs: CSV import (check first, then import; every bad row shown
// with its line), merge (find the other contact, read the API's preview, confirm) and delete
// (the number of conversations that go with the contact, confirmed against the API's count).
import { api, ApiError, del, get, post } from "../api.js";
import { debounce, dialog, fill, h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { t } from "../i18n.js";
import { fieldMessage } from "../problems.js";

const BASE = "/api/v1/contacts";
const nameOf = (c) => c.name || (c.phone && `+${c.phone}`) || c.email || t("contacts.unnamed");

function closeButton(el) {
  return h("button", { type: "button", class: "ghost", onclick: () => el.close() }, t("action.cancel"));
}

export function importDialog(onImported) {
  const file = h("input", { type: "file", accept: ".csv,text/csv", id: "contacts-import-file" });
  const result = h("div", { class: "contacts-import-result", role: "status", "aria-live": "polite" });
  const check = h("button", { type: "button" }, t("contacts.importCheck"));
  const run = h("button", { type: "button", class: "primary", hidden: true });
  const body = h("div", { class: "form" }, h("p", { class: "muted" }, t("contacts.importIntro")),
    h("div", { class: "field" }, h("label", { for: file.id }, t("contacts.importFile")), file), result);
  const el = dialog({ title: t("contacts.import"), body, wide: true, actions: [] });
  el.append(h("div", { class: "dialog-actions" }, closeButton(el), check, run));

  const send = (dryRun) => {
    const form = new FormData();
    form.append("file", file.files[0]);
    return api("POST", `${BASE}/import`, { form, query: { dry_run: dryRun } });
  };
  const show = (error) => {
    run.hidden = true;
    if (!(error instanceof ApiError) || !error.errors.some((e) => e.line)) {
      fill(result, h("p", { class: "form-error", role: "alert" }, describe(error)));
      return;
    }
    fill(result, h("p", { class: "form-error", role: "alert" }, t("contacts.importErrors", { n: error.errors.length })),
      h("ul", { class: "contacts-import-errors" }, error.errors.map((e) => h("li", {},
        t("contacts.importLine", { line: e.line, field: e.field.split(".").slice(2).join("."), message: fieldMessage(e) })))));
  };
  check.addEventListener("click", async () => {
    if (!file.files.length) return file.focus();
    check.disabled = true;
    try {
      const report = await send(true);
      fill(result, h("p", {}, t("contacts.importOk", { n: report.rows })),
        report.ignored_columns.length ? h("p", { class: "muted" }, t("contacts.importIgnored", { names: report.ignored_columns.join(", ") })) : null);
      run.textContent = t("contacts.importRun", { n: report.rows });
      run.hidden = report.rows === 0;
      run.focus();
    } catch (error) {
      show(error);
    } finally {
      check.disabled = false;
    }
  });
  file.addEventListener("change", () => { run.hidden = true; fill(result); });
  run.addEventListener("click", async () => {
    run.disabled = true;
    try {
      const report = await send(false);
      toast(t("contacts.imported", { n: report.created }));
      el.close();
      onImported();
    } catch (error) {
      show(error);
    } finally {
      run.disabled = false;
    }
  });
  file.focus();
}

export function mergeDialog(contact, onMerged) {
  const search = h("input", { type: "search", "aria-label": t("contacts.mergeFind"), placeholder: t("contacts.mergeFind") });
  const found = h("ul", { class: "contacts-merge-found" });
  const preview = h("div", { class: "contacts-merge-preview", role: "status", "aria-live": "polite" });
  const confirm = h("button", { type: "button", class: "primary", hidden: true }, t("contacts.mergeConfirm"));
  const el = dialog({ title: t("contacts.merge"), body: h("div", { class: "form" }, search, found, preview), wide: true });
  el.append(h("div", { class: "dialog-actions" }, closeButton(el), confirm));
  let other = null;

  const pick = async (candidate) => {
    try {
      const p = await get(`${BASE}/${contact.id}/merge-preview`, { other_contact_id: candidate.id });
      const taken = [...Object.entries(p.fields), ...Object.entries(p.attributes)].map(([k, v]) => `${k}: ${v}`)
        .concat(p.identities.map((i) => `${i.channel}: ${i.external_id}`));
      fill(preview, h("p", {}, t("contacts.mergePreview", {
        name: nameOf(candidate), conversations: p.conversations, notes: p.notes, taken: taken.join(", ") || t("contacts.mergeNothing"),
      })));
      other = candidate;
      confirm.hidden = false;
      confirm.focus();
    } catch (error) {
      fill(preview, h("p", { class: "form-error", role: "alert" }, describe(error)));
    }
  };
  search.addEventListener("input", debounce(async () => {
    const q = search.value.trim();
    if (!q) return fill(found);
    try {
      const page = await get(BASE, { q, limit: 10 });
      fill(found, page.items.filter((c) => c.id !== contact.id).map((c) => h("li", {},
        h("button", { type: "button", class: "link", onclick: () => pick(c) }, `${nameOf(c)} ${c.phone ? `+${c.phone}` : ""} ${c.email || ""}`))));
    } catch (error) {
      fill(found, h("li", { class: "form-error" }, describe(error)));
    }
  }, 250));
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      await post(`${BASE}/${contact.id}/merge`, { other_contact_id: other.id });
      toast(t("contacts.merged"));
      el.close();
      onMerged();
    } catch (error) {
      fill(preview, h("p", { class: "form-error", role: "alert" }, describe(error)));
    } finally {
      confirm.disabled = false;
    }
  });
  search.focus();
}

export async function deleteDialog(contact, onDeleted) {
  let counts;
  try {
    counts = await get(`${BASE}/${contact.id}/delete-preview`);
  } catch (error) {
    return toast(describe(error), "error");
  }
  const go = h("button", { type: "button", class: "danger" }, t("contacts.delete"));
  const message = h("p", { role: "alert" }, t("contacts.deleteConfirm", { name: nameOf(contact), ...counts }));
  const el = dialog({ title: t("contacts.delete"), body: message });
  el.append(h("div", { class: "dialog-actions" }, closeButton(el), go));
  go.addEventListener("click", async () => {
    go.disabled = true;
    try {
      await del(`${BASE}/${contact.id}?expected_conversations=${counts.conversations}`);
      toast(t("contacts.deleted"));
      el.close();
      onDeleted();
    } catch (error) {
      fill(message, describe(error)); // 409: the count changed; cancel and look again
    } finally {
      go.disabled = false;
    }
  });
  go.focus();
}
