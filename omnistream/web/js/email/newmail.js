// "New email": a button above the conversation list (inbox.js adds it when the agent may
// send and there is an email account) and its dialog — From (account), To, name, CC,
// Subject, Message, and a division when the agent may choose one — which starts an email
// conversation (POST /conversations/email) and opens it. Problems are shown on their fields.
import { app, loadDirectory, navigate } from "../app.js";
import { ApiError, post } from "../api.js";
import { h } from "../dom.js";
import { field, formDialog, values } from "../forms.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { addresses } from "./compose.js";
import "./strings.js";
import "./style.js";

/** A 422 made here, shown like the server's (forms.js showErrors). */
function invalid(errors) {
  return new ApiError(422, { type: "urn:omnistream:problem:validation", title: "Validation", detail: errors.map((e) => e.message).join("; "), errors });
}

function check(v) {
  const errors = [];
  const to = addresses(v.to);
  if (!to.list.length) errors.push({ field: "to", message: t("field.required") });
  else if (to.bad || to.list.length > 1) errors.push({ field: "to", message: t("field.email") });
  const cc = addresses(v.cc);
  if (cc.bad) errors.push({ field: "cc", message: t("email.badAddress", { address: cc.bad }) });
  if (!v.subject.trim()) errors.push({ field: "subject", message: t("field.required") });
  if (!v.text.trim()) errors.push({ field: "text", message: t("field.required") });
  if (errors.length) throw invalid(errors);
  const body = { account_id: v.account_id, to: to.list[0], subject: v.subject.trim(), text: v.text.trim() };
  if (v.name.trim()) body.name = v.name.trim();
  if (cc.list.length) body.cc = cc.list;
  if (v.division_id) body.division_id = v.division_id;
  return body;
}

/** The divisions the agent may put the conversation in: any for an admin, else their own. */
async function divisions() {
  if (app.me.role !== "admin") return app.me.divisions || [];
  const directory = await loadDirectory(true).catch(() => null); // one made since the inbox opened
  return directory?.divisions || [];
}

export async function openDialog(accounts) {
  const choices = await divisions();
  const label = (a) => (a.from_name ? `${a.from_name} <${a.address}>` : a.address) + (a.integration_name ? ` · ${a.integration_name}` : "");
  formDialog({
    title: t("email.newTitle"),
    wide: true,
    submitLabel: t("email.send"),
    fields: [
      field({ label: t("email.from"), name: "account_id", type: "select", value: accounts[0].id, options: accounts.map((a) => ({ value: a.id, label: label(a) })) }),
      field({ label: t("email.to"), name: "to", type: "email", required: true, attrs: { autocomplete: "off", maxlength: 320 } }),
      field({ label: t("email.name"), name: "name", attrs: { maxlength: 200 } }),
      field({ label: t("email.cc"), name: "cc", attrs: { placeholder: t("email.ccPlaceholder"), autocomplete: "off" } }),
      field({ label: t("email.subject"), name: "subject", required: true, attrs: { maxlength: 998 } }),
      field({ label: t("email.message"), name: "text", type: "textarea", required: true, attrs: { rows: 8 } }),
      choices.length
        ? field({ label: t("email.division"), name: "division_id", type: "select", value: "",
          options: [{ value: "", label: t("email.noDivision") }, ...choices.map((d) => ({ value: d.id, label: d.name }))] })
        : null,
    ],
    onSubmit: (form) => post("/api/v1/conversations/email", check(values(form))),
    onDone: (created) => navigate(`inbox/${created.conversation.id}`),
  });
  // The To field first: From already has the first account.
  document.querySelector("dialog[open] input[name=to]")?.focus();
}

/** The "New email" button, above the list's tabs. */
export function mountButton(listEl, accounts) {
  if (listEl.querySelector(".email-new")) return;
  const button = h("button", { type: "button", class: "email-new", onclick: () => openDialog(accounts) }, icon("email"), t("email.new"));
  const bar = h("div", { class: "email-new-bar" }, button);
  const tabs = listEl.querySelector(".tabs");
  if (tabs) tabs.before(bar);
  else listEl.prepend(bar);
}
