// Campaigns › the create / edit wizard, five steps: (1) name, WhatsApp number, an APPROVED
// template of that number's integration, division; (2) the template's variables and a live
// preview, then the draft is saved (POST, or PATCH when it exists); (3) the audience;
// (4) now or at a time; (5) review and Start / Schedule (POST …/schedule). Once there is a
// draft the address is its own (#/campaigns/<id>/edit/<step>, replaced, not pushed), so a
// reload or a language switch goes on with that draft at that step (at most "When": the
// time chosen there is not stored until Start / Schedule) rather than making another.
import { navigate } from "../app.js";
import { ApiError, all, get, patch, post } from "../api.js";
import { fill, h, uid } from "../dom.js";
import { describe, field, showErrors, submit } from "../forms.js";
import { formatDateTime, isoToZoned, t, timeZone, zonedToIso } from "../i18n.js";
import { audienceStep, reportView } from "./audience.js";
import { BASE, EDITABLE, approvedTemplates, kv, loadCampaign, templateLabel, whatsappAccounts } from "./shared.js";
import { collect, messageFields, missing, previewBox, variablesOf } from "./variables.js";

const STEPS = ["basics", "message", "audience", "schedule", "review"];

const required = (field) => new ApiError(422, { detail: t("problem.validation"), errors: [{ field, message: t("field.required"), type: "missing" }] });

export function render(container, app, id, page = {}) {
  const state = { campaign: null, basics: null, template: null, report: null, startAt: null, accounts: [], divisions: [] };
  const heading = h("h1", {}, id ? t("campaigns.edit") : t("campaigns.new"));
  const close = h("button", { type: "button", class: "ghost", onclick: () => navigate(state.campaign ? `campaigns/${state.campaign.id}` : "campaigns") }, t("action.close"));
  const steps = h("ol", { class: "steps", "aria-label": t("campaigns.steps") });
  const body = h("div", { class: "wizard-body" });
  container.append(h("div", { class: "page-head" }, heading, h("div", { class: "page-actions" }, close)), steps, body);
  let alive = true;
  const supervisor = app.me.role === "supervisor";

  function go(index) {
    if (!alive) return;
    fill(steps, STEPS.map((s, i) => h("li", { class: i < index ? "done" : null, "aria-current": i === index ? "step" : null }, t(`campaigns.step.${s}`))));
    fill(body);
    [basics, message, audience, schedule, review][index]();
    body.querySelector("input, select")?.focus();
    const own = state.campaign && `#/campaigns/${state.campaign.id}/edit/${STEPS[index]}`;
    if (own && location.hash !== own) {
      history.replaceState(history.state, "", own);
      page.saved?.(state.campaign.id);
    }
  }

  const actions = (back, ...rest) => h("div", { class: "form-actions" },
    back === null ? null : h("button", { type: "button", class: "ghost", onclick: () => go(back) }, t("campaigns.back")), rest);
  const next = (label = t("campaigns.next")) => h("button", { type: "submit", class: "primary" }, label);
  const stepForm = (title, ...children) => {
    const form = h("form", { class: "form wizard-step", novalidate: true, "aria-label": title }, h("h2", {}, title), children);
    body.append(form);
    return form;
  };

  // (1) Basics ---------------------------------------------------------------------------
  function basics() {
    const c = state.basics || state.campaign || {};
    const accountOptions = [{ value: "", label: t("campaigns.chooseAccount") }, ...state.accounts.map((a) => ({ value: a.id, label: a.label }))];
    const form = stepForm(t("campaigns.step.basics"),
      field({ label: t("campaigns.name"), name: "name", required: true, value: c.name, attrs: { maxlength: 200 } }),
      field({ label: t("campaigns.account"), name: "integration_account_id", type: "select", required: true, options: accountOptions, value: c.integration_account_id || "" }),
      field({ label: t("campaigns.template"), name: "template_id", type: "select", required: true, options: [], hint: t("campaigns.templateHint") }),
      field({
        label: t("campaigns.division"), name: "division_id", type: "select", required: supervisor, value: c.division_id || "", hint: t("campaigns.divisionHint"),
        options: [...(supervisor ? [] : [{ value: "", label: t("campaigns.noDivision") }]), ...state.divisions.map((d) => ({ value: d.id, label: d.name }))],
      }),
      actions(null, next()));
    if (!state.accounts.length) {
      form.querySelector("[data-field=integration_account_id]").append(
        h("p", { class: "bad-text small" }, t("campaigns.noAccounts")));
    }
    const templates = form.elements.template_id;
    let latest = 0;
    const loadTemplates = async () => {
      const mine = ++latest;
      const account = state.accounts.find((a) => a.id === form.elements.integration_account_id.value);
      fill(templates, h("option", { value: "" }, account ? t("state.loading") : t("campaigns.chooseAccountFirst")));
      if (!account) return;
      try {
        const items = await approvedTemplates(account.integration_id);
        if (mine !== latest) return;
        fill(templates, h("option", { value: "" }, items.length ? t("campaigns.chooseTemplate") : t("campaigns.noTemplates")),
          items.map((x) => h("option", { value: x.id, selected: x.id === c.template_id }, `${x.name} (${x.language}) · ${x.category}`)));
      } catch (error) {
        if (mine === latest) fill(templates, h("option", { value: "" }, describe(error)));
      }
    };
    form.elements.integration_account_id.addEventListener("change", loadTemplates);
    loadTemplates();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = (name) => form.elements[name].value.trim();
      const empty = ["name", "integration_account_id", "template_id"].filter((name) => !v(name));
      if (empty.length) {
        return showErrors(form, new ApiError(422, { errors: empty.map((f) => required(f).errors[0]) }));
      }
      const template = await submit(form, () => get(`/api/v1/templates/${v("template_id")}`));
      if (!template) return;
      state.basics = { name: v("name"), integration_account_id: v("integration_account_id"), template_id: template.id, division_id: v("division_id") || null };
      state.template = template;
      go(1);
    });
  }

  // (2) Message: variables, preview, then the draft is saved ------------------------------
  function message() {
    const template = state.template;
    const columns = ["name", "phone", ...(state.campaign?.audience_columns || [])].filter((c, i, a) => a.indexOf(c) === i);
    const vars = variablesOf(template);
    const form = stepForm(t("campaigns.step.message"),
      h("p", { class: "muted" }, t("campaigns.templateNamed", { name: `${template.name} (${template.language})` })),
      template.parameters.sendable ? null : h("p", { class: "form-error" }, template.parameters.not_sendable_because || t("templates.notSendable")),
      h("div", { class: "message-step" },
        h("div", { class: "form" },
          vars.length ? h("p", { class: "muted small" }, t("campaigns.variablesHint")) : h("p", { class: "muted" }, t("campaigns.noVariables")),
          messageFields(template, state.campaign, columns))),
      actions(0, next(t("campaigns.saveDraft"))));
    form.querySelector(".message-step").append(previewBox(form, template));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const gap = missing(form, template);
      if (gap) return showErrors(form, gap);
      const { variables, header } = collect(form, template);
      const payload = { ...state.basics, variables, header };
      const saved = await submit(form, () => (state.campaign ? patch(`${BASE}/${state.campaign.id}`, payload) : post(BASE, payload)));
      if (!saved) return;
      state.campaign = saved;
      heading.textContent = t("campaigns.editNamed", { name: saved.name });
      go(2);
    });
  }

  // (3) Audience -------------------------------------------------------------------------
  // Not a form of its own: the CSV and contacts forms are inside it.
  function audience() {
    const problem = h("div", {});
    const onward = () => {
      const total = state.report ? state.report.accepted : state.campaign.counts.total;
      if (!total) return fill(problem, h("p", { class: "form-error", role: "alert" }, t("campaigns.needAudience")));
      go(3);
    };
    body.append(h("section", { class: "wizard-step", "aria-label": t("campaigns.step.audience") },
      h("h2", {}, t("campaigns.step.audience")),
      audienceStep(state.campaign, async (report) => {
        state.report = report;
        fill(problem);
        state.campaign = await loadCampaign(state.campaign.id).catch(() => state.campaign);
      }),
      problem,
      actions(1, h("button", { type: "button", class: "primary", onclick: onward }, t("campaigns.next")))));
  }

  // (4) When -----------------------------------------------------------------------------
  function schedule() {
    const name = uid("when");
    const at = state.startAt || state.campaign.scheduled_at;
    const choice = (value, label, checked) => {
      const rid = uid("r");
      return h("label", { class: "check", for: rid }, h("input", { type: "radio", id: rid, name, value, checked }), label);
    };
    const later = !!at;
    const form = stepForm(t("campaigns.step.schedule"),
      h("fieldset", { class: "checks" }, h("legend", {}, t("campaigns.whenToSend")),
        choice("now", t("campaigns.sendNow"), !later), choice("later", t("campaigns.sendLater"), later)),
      field({ label: t("campaigns.startAt", { zone: timeZone() }), name: "scheduled_at", type: "datetime-local", value: at ? isoToZoned(at) : "" }),
      actions(2, next()));
    const input = form.elements.scheduled_at;
    const sync = () => {
      const isLater = form.querySelector(`input[name=${name}]:checked`).value === "later";
      input.closest(".field").hidden = !isLater;
      return isLater;
    };
    form.addEventListener("change", sync);
    sync();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!sync()) state.startAt = null;
      else if (!input.value) return showErrors(form, required("scheduled_at"));
      else state.startAt = zonedToIso(input.value);
      go(4);
    });
  }

  // (5) Review and start -----------------------------------------------------------------
  function review() {
    const c = state.campaign;
    const preview = h("p", { class: "template-preview" }, state.template.body_text);
    const division = state.divisions.find((d) => d.id === c.division_id);
    const form = stepForm(t("campaigns.step.review"),
      h("dl", { class: "details" },
        kv(t("campaigns.name"), c.name),
        kv(t("campaigns.account"), c.account_name || "—"),
        kv(t("campaigns.template"), templateLabel(c)),
        kv(t("campaigns.division"), c.division_name || division?.name || t("campaigns.noDivision")),
        kv(t("campaigns.accepted"), String(c.counts.total)),
        kv(t("campaigns.starts"), state.startAt ? formatDateTime(state.startAt) : t("campaigns.sendNow"))),
      state.report ? reportView(state.report) : null,
      h("section", { class: "preview-box", "aria-label": t("campaigns.preview") }, h("h3", {}, t("campaigns.previewFirst")), preview),
      actions(3, next(state.startAt ? t("campaigns.schedule") : t("campaigns.start"))));
    // The message as the first recipient will get it.
    get(`${BASE}/${c.id}/recipients`, { limit: 1 }).then(async (page) => {
      const r = page.items[0];
      if (!r) return;
      const out = await post(`${BASE}/preview`, { template_id: c.template_id, variables: c.variables, header: c.header, row: { name: r.name, phone: r.phone, ...r.variables } });
      preview.textContent = [out.header_text, out.text, out.footer].filter(Boolean).join("\n\n");
    }).catch(() => {});
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const started = await submit(form, () => post(`${BASE}/${c.id}/schedule`, { scheduled_at: state.startAt }));
      if (started) navigate(`campaigns/${started.id}`);
    });
  }

  /** The step of the address (the draft's basics and template are what earlier steps set),
   * or Basics when it cannot be shown. */
  async function resumeAt(campaign) {
    const wanted = Math.min(STEPS.indexOf(page.step), campaign.counts.total ? 3 : 2);
    if (wanted < 1) return 0;
    const template = await get(`/api/v1/templates/${campaign.template_id}`).catch(() => null);
    if (!template) return 0;
    const { name, integration_account_id, template_id, division_id } = campaign;
    Object.assign(state, { template, basics: { name, integration_account_id, template_id, division_id } });
    return wanted;
  }

  // Start: the numbers, divisions and (editing) the campaign and its template ------------
  (async () => {
    fill(body, h("p", { class: "muted" }, t("state.loading")));
    try {
      // A supervisor's campaign belongs to one of their own divisions.
      const [accounts, divisions, campaign] = await Promise.all([
        whatsappAccounts(),
        supervisor ? app.me.divisions : all("/api/v1/divisions"),
        id ? loadCampaign(id) : null,
      ]);
      Object.assign(state, { accounts, divisions, campaign });
      if (campaign && !EDITABLE.has(campaign.status)) {
        fill(body, h("p", { class: "form-error" }, t("campaigns.notEditable", { status: t(`campaigns.status.${campaign.status}`) })),
          h("a", { href: `#/campaigns/${campaign.id}` }, t("campaigns.backToCampaign")));
        return;
      }
      if (campaign) heading.textContent = t("campaigns.editNamed", { name: campaign.name });
      go(campaign ? await resumeAt(campaign) : 0);
    } catch (error) {
      fill(body, h("p", { class: "form-error", role: "alert" }, describe(error)));
    }
  })();
  return { destroy: () => { alive = false; } };
}
