// The template picker: choose an approved template of the conversation's WhatsApp integration,
// fill its parameters (header, body placeholders, buttons) with a live preview, send it (also
// outside the 24-hour window).
import { get, post } from "../api.js";
import { debounce, h } from "../dom.js";
import { describe, field, formDialog } from "../forms.js";
import { t } from "../i18n.js";

// Field names are the API's paths, so the server's field errors land next to the inputs.
const P = "template.parameters.";
const bodyName = (spec, param, index) => `${P}body.${spec.format === "named" ? param.name : index}`;

function preview(spec, template, form) {
  let text = template.body_text;
  for (const [index, param] of spec.body.entries()) {
    const value = form.elements[bodyName(spec, param, index)]?.value;
    text = text.split(param.placeholder).join(value || param.placeholder);
  }
  return text;
}

function parameterFields(spec) {
  const fields = [];
  const header = spec.header;
  if (header?.required) {
    if (header.type === "text") {
      fields.push(field({ label: t("templates.headerText"), name: `${P}header.text`, required: true }));
    } else if (header.type === "location") {
      fields.push(field({ label: t("templates.latitude"), name: `${P}header.latitude`, type: "number", required: true, attrs: { step: "any" } }));
      fields.push(field({ label: t("templates.longitude"), name: `${P}header.longitude`, type: "number", required: true, attrs: { step: "any" } }));
    } else {
      fields.push(field({ label: t("templates.headerMedia", { type: header.type }), name: `${P}header.link`, type: "url", required: true, value: header.media_example_url || "", hint: t("templates.headerMediaHint") }));
    }
  }
  for (const [index, param] of spec.body.entries()) {
    fields.push(field({ label: param.placeholder, name: bodyName(spec, param, index), required: true, attrs: { placeholder: param.example || "" } }));
  }
  for (const button of spec.buttons) {
    if (button.parameter === "none") continue;
    fields.push(field({
      label: t("templates.button", { text: button.text }),
      name: `${P}buttons.${button.index}.parameter`,
      required: button.parameter === "required",
      hint: button.takes || "",
    }));
  }
  return fields;
}

function parameters(spec, form) {
  const value = (name) => form.elements[P + name]?.value.trim() ?? "";
  const out = {};
  const header = spec.header;
  if (header?.required) {
    if (header.type === "text") out.header = { type: "text", text: value("header.text") };
    else if (header.type === "location") {
      out.header = { type: "location", latitude: Number(value("header.latitude")), longitude: Number(value("header.longitude")) };
    } else out.header = { type: header.type, link: value("header.link") };
  }
  if (spec.body.length) {
    out.body = spec.format === "named"
      ? Object.fromEntries(spec.body.map((p) => [p.name, value(`body.${p.name}`)]))
      : spec.body.map((p, index) => value(`body.${index}`));
  }
  const buttons = spec.buttons
    .filter((b) => b.parameter !== "none" && value(`buttons.${b.index}.parameter`))
    .map((b) => ({ index: b.index, sub_type: b.sub_type, parameter: value(`buttons.${b.index}.parameter`) }));
  if (buttons.length) out.buttons = buttons;
  return out;
}

export function templateDialog(composer) {
  const conversation = composer.conversation;
  const search = h("input", { type: "search", "aria-label": t("templates.search"), placeholder: t("templates.search") });
  const list = h("ul", { class: "template-list", role: "listbox", "aria-label": t("templates.title") });
  const detail = h("div", { class: "template-detail" });
  let chosen = null;

  let latest = 0;
  const load = async () => {
    const mine = ++latest; // answers may arrive out of order: only the last one counts
    // Only the templates of the conversation's own integration can be sent in it.
    if (!conversation.integration_id) {
      list.replaceChildren(h("li", { class: "muted" }, t("templates.noIntegration")));
      return;
    }
    try {
      const query = { integration_id: conversation.integration_id, status: "APPROVED", q: search.value.trim() || undefined, limit: 50 };
      const page = await get("/api/v1/templates", query);
      if (mine !== latest) return;
      list.replaceChildren(
        ...(page.items.length
          ? page.items.map((tpl) =>
              h("li", { role: "option", "aria-selected": "false", tabindex: "0", "data-name": tpl.name, "data-language": tpl.language, onclick: () => pick(tpl), onkeydown: (e) => e.key === "Enter" && (e.preventDefault(), pick(tpl)) },
                h("span", { class: "strong" }, tpl.name), " ", h("span", { class: "muted small" }, `${tpl.language} · ${tpl.category}`),
                h("p", { class: "muted small" }, tpl.body_text.slice(0, 120))),
            )
          : [h("li", { class: "muted" }, t("templates.none"))]),
      );
    } catch (error) {
      list.replaceChildren(h("li", { class: "form-error" }, describe(error)));
    }
  };

  let picking = 0;
  const pick = async (summary) => {
    // One template is (name, language): order_update en_US and pt_BR are two choices.
    for (const li of list.children) {
      li.setAttribute("aria-selected", String(li.dataset.name === summary.name && li.dataset.language === summary.language));
    }
    const mine = ++picking; // a slower answer for an earlier click must not win
    let template;
    try {
      template = await get(`/api/v1/templates/${summary.id}`);
    } catch (error) {
      if (mine === picking) detail.replaceChildren(h("p", { class: "form-error" }, describe(error)));
      return;
    }
    if (mine !== picking) return;
    chosen = template;
    const spec = template.parameters;
    const shown = h("p", { class: "template-preview" }, template.body_text);
    const box = h("div", {}, h("h3", { class: "template-title" }, t("templates.titleWithLanguage", { name: template.name, language: template.language })), spec.sendable ? null : h("p", { class: "form-error" }, spec.not_sendable_because || t("templates.notSendable")), parameterFields(spec), h("p", { class: "muted small" }, t("templates.preview")), shown);
    box.addEventListener("input", () => {
      shown.textContent = preview(spec, template, dialogForm);
    });
    detail.replaceChildren(box);
    box.querySelector("input")?.focus();
  };

  search.addEventListener("input", debounce(load, 250));
  const { form: dialogForm } = formDialog({
    title: t("templates.title"),
    submitLabel: t("templates.send"),
    wide: true,
    fields: [h("div", { class: "template-picker" }, h("div", {}, search, list), detail)],
    onSubmit: async (form) => {
      if (!chosen) throw new Error(t("templates.choose"));
      return post(`/api/v1/conversations/${conversation.id}/messages`, {
        type: "template",
        template: { template_id: chosen.id, parameters: parameters(chosen.parameters, form) },
      });
    },
    onDone: (message) => composer.onSent(message),
  });
  load();
}
