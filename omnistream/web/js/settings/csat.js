// Settings › Satisfaction surveys (admins, csat.manage; docs/csat.md): per channel on or off,
// the interval per contact, the language, the public page's link, and every text in both
// languages. PUT replaces the whole settings; inputs are named after the API's fields
// (texts.id.question, texts.en.options.2 …), so its field errors land next to them.
import { get, put } from "../api.js";
import { fill, h } from "../dom.js";
import { describe, field, submit, toast } from "../forms.js";
import { t } from "../i18n.js";
import { CHANNEL_NAMES } from "../icons.js";
import { pageHeader } from "./common.js";

const BASE = "/api/v1/csat/settings";
const CHANNELS = ["whatsapp", "messenger", "instagram", "email"];
const TEXTS = ["question", "button", "thanks", "email_reply", "link_intro", "page_title", "page_comment", "page_submit", "page_done", "page_expired", "page_invalid"];
const LONG = new Set(["question", "thanks", "email_reply"]);
const MAX = { question: 900, button: 20, page_submit: 20 };

function textsGroup(code, texts) {
  const one = (key) => field({
    label: t(`csatSet.text.${key}`), name: `texts.${code}.${key}`, type: LONG.has(key) ? "textarea" : "text",
    value: texts[key], required: true, attrs: { maxlength: MAX[key] || 300 },
  });
  const options = h("fieldset", { class: "group csat-options", dataset: { field: `texts.${code}.options` } },
    h("legend", {}, t("csatSet.options")),
    texts.options.map((label, i) => field({ label: t("csatSet.option", { score: i + 1 }), name: `texts.${code}.options.${i}`, value: label, attrs: { maxlength: 20 } })));
  return h("fieldset", { class: "group csat-texts", dataset: { field: `texts.${code}`, lang: code } },
    h("legend", {}, t(`csatSet.lang.${code}`)),
    one("question"), options, TEXTS.slice(1).map(one));
}

export function render(container) {
  const body = h("div", {});
  let saved = null; // the settings as the server last gave them

  function draw(s) {
    saved = s;
    const channels = h("fieldset", { class: "group", dataset: { field: "channels" } },
      h("legend", {}, t("csatSet.channels")),
      CHANNELS.map((c) => field({ label: CHANNEL_NAMES[c], name: `channel.${c}`, type: "checkbox", value: s.channels.includes(c), hint: c === "email" ? t("csatSet.emailHint") : null })));
    const form = h("form", { class: "form csat-settings", novalidate: true },
      h("p", { class: "muted" }, t("csatSet.intro")),
      channels,
      field({ label: t("csatSet.interval"), name: "interval_days", type: "number", value: s.interval_days, hint: t("csatSet.intervalHint"), attrs: { min: 0, max: 365 } }),
      field({ label: t("csatSet.language"), name: "language", type: "select", value: s.language,
        options: ["auto", "en", "id"].map((v) => ({ value: v, label: t(`csatSet.lang.${v}`) })), hint: t("csatSet.languageHint") }),
      field({ label: t("csatSet.includeLink"), name: "include_link", type: "checkbox", value: s.include_link, hint: t("csatSet.includeLinkHint") }),
      field({ label: t("csatSet.publicUrl"), name: "public_url", type: "url", value: s.public_url || "", hint: t("csatSet.publicUrlHint"), attrs: { placeholder: "https://help.example.com" } }),
      h("h2", {}, t("csatSet.texts")),
      h("p", { class: "muted" }, t("csatSet.textsHint")),
      textsGroup("en", s.texts.en), textsGroup("id", s.texts.id),
      h("div", { class: "toolbar" },
        h("button", { type: "submit", class: "primary" }, t("action.save")),
        h("button", { type: "button", class: "ghost", onclick: () => reset(form) }, t("csatSet.reset"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await submit(form, () => put(BASE, valueOf(form)));
      if (answer !== undefined) {
        draw(answer);
        toast(t("state.saved"));
      }
    });
    fill(body, form);
  }

  function valueOf(form) {
    const v = (name) => form.elements[name].value;
    const texts = (code) => ({
      ...Object.fromEntries(TEXTS.map((k) => [k, v(`texts.${code}.${k}`)])),
      options: [0, 1, 2, 3, 4].map((i) => v(`texts.${code}.options.${i}`)),
    });
    const days = v("interval_days").trim();
    return {
      channels: CHANNELS.filter((c) => form.elements[`channel.${c}`].checked),
      interval_days: days === "" ? null : Number(days),
      language: v("language"),
      include_link: form.elements.include_link.checked,
      public_url: v("public_url").trim() || null,
      texts: { en: texts("en"), id: texts("id") },
    };
  }

  // The defaults are the server's: the settings saved without texts get them back.
  async function reset(form) {
    if (!confirm(t("csatSet.resetConfirm"))) return;
    const { texts: _, ...rest } = saved;
    const answer = await submit(form, () => put(BASE, rest));
    if (answer !== undefined) {
      draw(answer);
      toast(t("csatSet.resetDone"));
    }
  }

  container.append(pageHeader(t("settings.csat")), body);
  get(BASE).then(draw, (error) => fill(body, h("p", { class: "form-error" }, describe(error))));
  return { destroy() {} };
}
