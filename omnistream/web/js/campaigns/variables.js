// The wizard's message step: each template variable (body placeholders, a text header's
// placeholder as "header", button parameters as "button.<index>") takes a fixed value or a
// column of the audience; a media or location header takes its one fixed value. The server
// renders the preview (POST /campaigns/preview) as the agent types.
import { ApiError, post } from "../api.js";
import { debounce, h } from "../dom.js";
import { describe, field } from "../forms.js";
import { t } from "../i18n.js";
import { BASE } from "./shared.js";

/** The variables a template takes: [{key, label, required, example}]. */
export function variablesOf(template) {
  const spec = template.parameters;
  const out = [];
  if (spec.header?.required && spec.header.type === "text") {
    out.push({ key: "header", label: t("campaigns.varHeader", { name: spec.header.name || "" }), required: true, example: null });
  }
  for (const p of spec.body) out.push({ key: p.name, label: t("campaigns.varBody", { placeholder: p.placeholder }), required: true, example: p.example });
  for (const b of spec.buttons) {
    if (b.parameter === "none" || !b.sub_type) continue;
    out.push({ key: `button.${b.index}`, label: t("campaigns.varButton", { text: b.text }), required: b.parameter === "required", example: b.takes });
  }
  return out;
}

/** One variable: Source (fixed text / a column) and its value, named for the API's errors. */
function mapping(v, source) {
  const column = !!source?.column;
  const kind = h("select", { name: `kind:${v.key}`, "aria-label": t("campaigns.sourceOf", { name: v.label }) },
    h("option", { value: "value", selected: !column }, t("campaigns.fixedValue")),
    h("option", { value: "column", selected: column }, t("campaigns.fromColumn")));
  const input = h("input", {
    name: `var:${v.key}`, list: column ? "campaign-columns" : null, "aria-label": v.label,
    value: source?.column ?? source?.value ?? "", placeholder: v.example || "",
  });
  kind.addEventListener("change", () => {
    if (kind.value === "column") input.setAttribute("list", "campaign-columns");
    else input.removeAttribute("list");
  });
  return h("fieldset", { class: "field mapping", dataset: { field: `variables.${v.key}` } },
    h("legend", {}, v.label, v.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    h("div", { class: "mapping-row" }, kind, input));
}

/** The header's own fixed parameter: a media link or a location. */
function headerFields(spec, header) {
  const type = spec.header?.required ? spec.header.type : null;
  if (!type || type === "text") return [];
  if (type === "location") {
    return [
      field({ label: t("templates.latitude"), name: "header.latitude", type: "number", required: true, value: header?.latitude, attrs: { step: "any" } }),
      field({ label: t("templates.longitude"), name: "header.longitude", type: "number", required: true, value: header?.longitude, attrs: { step: "any" } }),
    ];
  }
  return [field({
    label: t("templates.headerMedia", { type }), name: "header.link", type: "url", required: true,
    value: header?.link || spec.header.media_example_url || "", hint: t("templates.headerMediaHint"),
  })];
}

/** The step's fields; `columns` are suggested for column values (name, phone, the CSV's). */
export function messageFields(template, campaign, columns) {
  const known = campaign?.template_id === template.id ? campaign.variables : {};
  return [
    h("datalist", { id: "campaign-columns" }, columns.map((c) => h("option", { value: c }))),
    ...headerFields(template.parameters, campaign?.template_id === template.id ? campaign.header : null),
    ...variablesOf(template).map((v) => mapping(v, known[v.key])),
  ];
}

/** {variables, header} from the form; an empty optional variable is left out. */
export function collect(form, template) {
  const variables = {};
  for (const v of variablesOf(template)) {
    const text = form.elements[`var:${v.key}`].value.trim();
    if (!text && !v.required) continue;
    variables[v.key] = form.elements[`kind:${v.key}`].value === "column" ? { column: text } : { value: text };
  }
  const spec = template.parameters;
  const type = spec.header?.required ? spec.header.type : null;
  let header = null;
  const value = (name) => form.elements[name]?.value.trim() ?? "";
  if (type === "location") header = { type, latitude: Number(value("header.latitude")), longitude: Number(value("header.longitude")) };
  else if (type && type !== "text") header = { type, link: value("header.link") };
  return { variables, header };
}

/** Empty required variables as a field-error answer, so they show next to their inputs. */
export function missing(form, template) {
  const errors = variablesOf(template)
    .filter((v) => v.required && !form.elements[`var:${v.key}`].value.trim())
    .map((v) => ({ field: `variables.${v.key}`, message: t("field.required"), type: "missing" }));
  return errors.length ? new ApiError(422, { detail: t("problem.validation"), errors }) : null;
}

/** The server's rendering of the message; a column's value is shown as [column]. */
export function previewBox(form, template) {
  const header = h("p", { class: "strong" });
  const text = h("p", { class: "template-preview" });
  const footer = h("p", { class: "muted small" });
  const problem = h("p", { class: "bad-text small" });
  const box = h("section", { class: "preview-box", "aria-label": t("campaigns.preview"), "aria-live": "polite" },
    h("h3", {}, t("campaigns.preview")), header, text, footer, problem);
  let latest = 0;
  const refresh = async () => {
    const mine = ++latest;
    if (missing(form, template)) { // the template as written until every variable has a value
      header.textContent = "";
      text.textContent = template.body_text;
      footer.textContent = template.footer_text || "";
      problem.className = "muted small";
      problem.textContent = t("campaigns.previewIncomplete");
      return;
    }
    try {
      const out = await post(`${BASE}/preview`, { template_id: template.id, ...collect(form, template) });
      if (mine !== latest) return;
      header.textContent = out.header_text || "";
      text.textContent = out.text;
      footer.textContent = out.footer || "";
      problem.textContent = "";
    } catch (error) {
      if (mine !== latest) return;
      problem.className = "bad-text small";
      problem.textContent = describe(error);
    }
  };
  const later = debounce(refresh, 300);
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
  return box;
}
