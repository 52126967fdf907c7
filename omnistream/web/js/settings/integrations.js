// Settings › Integrations (admins): channels with write-only credentials, accounts, the
// connection test and the stored health. Secrets are never shown: only whether each is set.
import { del, get, patch, post } from "../api.js";
import { fill, h } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { formatDateTime, t } from "../i18n.js";
import { CHANNEL_NAMES, channelIcon } from "../icons.js";
import { hasApi } from "../inbox/replytools.js";
import { pageHeader } from "./common.js";
import { EMAIL_FIELDS, emailFields, emailTestResult, passwordHint } from "./mailbox/form.js";

// Channels an integration can be created for (integrations/schemas.py AVAILABLE_CHANNELS).
const AVAILABLE = ["whatsapp", "messenger", "instagram", "email"];

// Mirrors omnistream/integrations/credentials.py FIELDS.
const FIELDS = {
  whatsapp: { secret: ["access_token", "app_secret", "verify_token"], plain: ["waba_id", "api_version", "base_url"] },
  messenger: { secret: ["page_access_token", "app_secret", "verify_token"], plain: ["api_version", "base_url"] },
  instagram: { secret: ["page_access_token", "app_secret", "verify_token"], plain: ["api_version", "base_url"] },
  email: EMAIL_FIELDS,
};

// The account's id: a Meta id, or for email the mailbox's address.
const accountLabel = (channel) => t(channel === "email" ? "mailbox.address" : "integrations.externalId");
const accountHint = (channel) => t(channel === "email" ? "mailbox.addressHint" : "integrations.externalIdHint");

function credentialFields(channel, current = null) {
  const secret = (name) => {
    const set = current?.[name]?.set;
    const more = passwordHint(name);
    const hint = current ? t(set ? "integrations.secretSet" : "integrations.secretUnset") : t("integrations.secretWriteOnly");
    return field({
      label: t(`cred.${name}`),
      name: `credentials.${name}`,
      type: "password",
      hint: more ? `${hint} ${more}` : hint,
      attrs: { autocomplete: "off" },
    });
  };
  if (channel === "email") return emailFields(current, secret);
  const spec = FIELDS[channel];
  return [
    ...spec.plain.map((name) =>
      field({ label: t(`cred.${name}`), name: `credentials.${name}`, value: current?.[name] ?? "", hint: t(`cred.${name}.hint`) === `cred.${name}.hint` ? null : t(`cred.${name}.hint`) }),
    ),
    ...spec.secret.map(secret),
  ];
}

/** Credential values from the form: empty plain fields clear, empty secrets keep. */
function credentials(form, channel, editing) {
  const spec = FIELDS[channel];
  const out = {};
  for (const name of spec.plain) {
    const value = form.elements[`credentials.${name}`].value.trim();
    if (value || editing) out[name] = value || null;
  }
  for (const name of spec.secret) {
    const value = form.elements[`credentials.${name}`].value;
    if (value) out[name] = value;
  }
  return out;
}

const HEALTH_CLASS = { ok: "ok", unknown: "off", auth_failed: "bad", unreachable: "bad", misconfigured: "warn" };
// A mailbox rejects a login, not a token.
const healthLabel = (channel, health) => t(channel === "email" && health === "auth_failed" ? "mailbox.loginRejected" : `health.${health}`);

/** The connection test's outcome: for email per side (IMAP, SMTP), else health and detail. */
function testOutcome(channel, outcome) {
  const shown = channel === "email" ? emailTestResult(outcome, healthLabel(channel, outcome.health)) : `${healthLabel(channel, outcome.health)}: ${outcome.detail}`;
  return h("div", { class: `test-result ${outcome.ok ? "ok" : "bad"}`, role: "status" }, shown);
}

export function render(container, app) {
  const body = h("div", { class: "cards" });
  let canSync = false;
  const tested = new Map(); // integration id -> the last test's outcome, kept across reloads

  async function reload() {
    try {
      const page = await get("/api/v1/integrations", { limit: 200 });
      fill(body, page.items.length ? page.items.map(card) : h("p", { class: "muted" }, t("integrations.none")));
    } catch (error) {
      fill(body, h("p", { class: "form-error" }, describe(error)));
    }
  }

  function card(integration) {
    const last = tested.get(integration.id);
    let result = last ? testOutcome(integration.channel, last) : h("div", { class: "test-result", role: "status" });
    const show = (el) => {
      result.replaceWith(el);
      result = el;
    };
    const test = async (button) => {
      button.disabled = true;
      show(h("div", { class: "test-result", role: "status" }, t("integrations.testing")));
      try {
        const outcome = await post(`/api/v1/integrations/${integration.id}/test`);
        tested.set(integration.id, outcome);
        show(testOutcome(integration.channel, outcome));
        setTimeout(reload, 1500);
      } catch (error) {
        show(h("div", { class: "test-result bad", role: "status" }, describe(error)));
      } finally {
        button.disabled = false;
      }
    };
    const sync = async () => {
      try {
        const out = await post(`/api/v1/integrations/${integration.id}/templates/sync`);
        toast(t("integrations.synced", { total: out.total, added: out.added, updated: out.updated }));
      } catch (error) {
        toast(describe(error), "error");
      }
    };
    const testButton = h("button", { type: "button", onclick: (e) => test(e.currentTarget) }, t("integrations.test"));
    return h(
      "article",
      { class: "card integration", dataset: { id: integration.id }, "aria-label": integration.name },
      h("header", { class: "card-head" },
        channelIcon(integration.channel),
        h("h2", {}, integration.name),
        h("span", { class: integration.is_active ? "pill ok" : "pill off" }, t(integration.is_active ? "integrations.active" : "integrations.inactive")),
        h("span", { class: `pill ${HEALTH_CLASS[integration.health] || "off"}`, title: integration.health_error || "" }, healthLabel(integration.channel, integration.health))),
      h("dl", { class: "details" },
        h("div", { class: "kv" }, h("dt", {}, t("integrations.channel")), h("dd", {}, CHANNEL_NAMES[integration.channel])),
        integration.health_checked_at ? h("div", { class: "kv" }, h("dt", {}, t("integrations.checked")), h("dd", {}, formatDateTime(integration.health_checked_at))) : null,
        integration.health_error ? h("div", { class: "kv" }, h("dt", {}, t("integrations.healthError")), h("dd", { class: "bad-text" }, integration.health_error)) : null,
        integration.missing_credentials.length ? h("div", { class: "kv" }, h("dt", {}, t("integrations.missing")), h("dd", { class: "bad-text" }, integration.missing_credentials.join(", "))) : null),
      h("h3", {}, t("integrations.accounts")),
      integration.accounts.length
        ? h("ul", { class: "accounts" }, integration.accounts.map((a) =>
            h("li", {}, h("code", {}, a.external_id), " ", a.display_name, a.is_default ? h("span", { class: "pill" }, t("integrations.default")) : null,
              h("span", { class: "muted small" }, ` ${a.send_rate_per_second}/s `),
              h("button", { type: "button", class: "link", "aria-label": t("integrations.editAccountNamed", { id: a.external_id }), onclick: () => accountDialog(integration, a) }, t("action.edit")),
              h("button", { type: "button", class: "link danger", "aria-label": t("integrations.deleteAccountNamed", { id: a.external_id }), onclick: () => removeAccount(integration, a) }, t("action.delete")))))
        : h("p", { class: "muted small" }, t("integrations.noAccounts")),
      h("div", { class: "card-actions" },
        testButton,
        h("button", { type: "button", onclick: () => edit(integration) }, t("action.edit")),
        h("button", { type: "button", onclick: () => accountDialog(integration) }, t("integrations.addAccount")),
        canSync && integration.channel === "whatsapp" ? h("button", { type: "button", onclick: sync }, t("integrations.syncTemplates")) : null,
        h("button", { type: "button", class: "danger", onclick: () => remove(integration) }, t("action.delete"))),
      result,
    );
  }

  function create() {
    const channelField = field({
      label: t("integrations.channel"),
      name: "channel",
      type: "select",
      value: "whatsapp",
      options: AVAILABLE.map((value) => ({ value, label: CHANNEL_NAMES[value] })),
    });
    const creds = h("div", { class: "cred-fields" }, credentialFields("whatsapp"));
    const account = field({ label: accountLabel("whatsapp"), name: "external_id", hint: accountHint("whatsapp") });
    channelField.querySelector("select").addEventListener("change", (e) => {
      const channel = e.target.value;
      fill(creds, credentialFields(channel));
      account.querySelector("label").textContent = accountLabel(channel);
      account.querySelector(".hint").textContent = accountHint(channel);
      account.querySelector("input").type = channel === "email" ? "email" : "text";
    });
    let created = null; // kept when the account step fails, so a retry does not duplicate
    formDialog({
      title: t("integrations.new"),
      submitLabel: t("integrations.create"),
      wide: true,
      fields: [
        channelField,
        field({ label: t("integrations.name"), name: "name", required: true }),
        field({ label: t("integrations.isActive"), name: "is_active", type: "checkbox", value: true }),
        h("fieldset", { class: "group" }, h("legend", {}, t("integrations.credentials")), creds),
        h("fieldset", { class: "group" }, h("legend", {}, t("integrations.firstAccount")),
          account,
          field({ label: t("integrations.displayName"), name: "display_name" })),
      ],
      onSubmit: async (form) => {
        const channel = form.elements.channel.value;
        const payload = {
          name: form.elements.name.value.trim(),
          is_active: form.elements.is_active.checked,
          credentials: credentials(form, channel, false),
        };
        if (created) created = await patch(`/api/v1/integrations/${created.id}`, payload);
        else created = await post("/api/v1/integrations", { channel, ...payload });
        const externalId = form.elements.external_id.value.trim();
        const known = (id) => (channel === "email" ? id.toLowerCase() === externalId.toLowerCase() : id === externalId);
        if (externalId && !created.accounts.some((a) => known(a.external_id))) {
          await post(`/api/v1/integrations/${created.id}/accounts`, { external_id: externalId, display_name: form.elements.display_name.value.trim() });
        }
        return created;
      },
      onDone: (integration) => {
        toast(t("integrations.created", { name: integration.name }));
        reload();
      },
    });
  }

  function edit(integration) {
    formDialog({
      title: t("integrations.editNamed", { name: integration.name }),
      submitLabel: t("action.save"),
      wide: true,
      fields: [
        field({ label: t("integrations.name"), name: "name", value: integration.name, required: true }),
        field({ label: t("integrations.isActive"), name: "is_active", type: "checkbox", value: integration.is_active }),
        h("fieldset", { class: "group" }, h("legend", {}, t("integrations.credentials")), credentialFields(integration.channel, integration.credentials)),
      ],
      onSubmit: (form) =>
        patch(`/api/v1/integrations/${integration.id}`, {
          name: form.elements.name.value.trim(),
          is_active: form.elements.is_active.checked,
          credentials: credentials(form, integration.channel, true),
        }),
      onDone: () => {
        toast(t("state.saved"));
        reload();
      },
    });
  }

  function accountDialog(integration, account = null) {
    formDialog({
      title: account ? t("integrations.editAccount") : t("integrations.addAccount"),
      submitLabel: t("action.save"),
      fields: [
        field({ label: accountLabel(integration.channel), name: "external_id", value: account?.external_id, required: true, hint: accountHint(integration.channel) }),
        field({ label: t("integrations.displayName"), name: "display_name", value: account?.display_name }),
        field({ label: t("integrations.rate"), name: "send_rate_per_second", type: "number", value: account?.send_rate_per_second ?? 80, attrs: { min: 1, max: 1000 } }),
        field({ label: t("integrations.isDefault"), name: "is_default", type: "checkbox", value: account?.is_default }),
      ],
      onSubmit: (form) => {
        const payload = {
          external_id: form.elements.external_id.value.trim(),
          display_name: form.elements.display_name.value.trim(),
          send_rate_per_second: Number(form.elements.send_rate_per_second.value),
        };
        if (form.elements.is_default.checked) payload.is_default = true;
        const base = `/api/v1/integrations/${integration.id}/accounts`;
        return account ? patch(`${base}/${account.id}`, payload) : post(base, payload);
      },
      onDone: reload,
    });
  }

  async function removeAccount(integration, account) {
    if (!confirm(t("integrations.confirmDeleteAccount", { id: account.external_id }))) return;
    try {
      await del(`/api/v1/integrations/${integration.id}/accounts/${account.id}`);
      reload();
    } catch (error) {
      toast(describe(error), "error");
    }
  }

  async function remove(integration) {
    if (!confirm(t("integrations.confirmDelete", { name: integration.name }))) return;
    try {
      await del(`/api/v1/integrations/${integration.id}`);
      reload();
    } catch (error) {
      toast(describe(error), "error");
    }
  }

  container.append(pageHeader(t("settings.integrations"), h("button", { type: "button", class: "primary", onclick: create }, t("integrations.new"))), body);
  (app.can("templates.sync") ? hasApi("/api/v1/templates") : Promise.resolve(false)).then((ok) => {
    canSync = ok;
    reload();
  });
  return { destroy() {} };
}
