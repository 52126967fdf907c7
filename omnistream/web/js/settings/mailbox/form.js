// Settings › Integrations, the email channel's parts: the mailbox's IMAP and SMTP fields side
// by side (TLS modes as selects, the default ports as placeholders) and the connection test's
// result per side. Loaded with integrations.js (itself loaded only when the page opens), with
// its own sentences (./strings.js), so nothing of it counts towards the inbox's budget.
import { h } from "../../dom.js";
import { field } from "../../forms.js";
import { t } from "../../i18n.js";
import "./strings.js";

// Mirrors omnistream/integrations/credentials.py FIELDS[email]; defaults of the unset ones as
// in omnistream/channels/email/account.py.
export const EMAIL_FIELDS = {
  secret: ["imap_password", "smtp_password"],
  plain: ["imap_host", "imap_port", "imap_tls", "imap_username", "imap_folder", "imap_backfill_days", "smtp_host", "smtp_port", "smtp_tls", "smtp_username", "from_name"],
};
const TLS_MODES = ["implicit", "starttls", "none"];
const DEFAULT_TLS = { imap: "implicit", smtp: "starttls" };
const PORTS = {
  imap: { implicit: 993, starttls: 143, none: 143 },
  smtp: { implicit: 465, starttls: 587, none: 25 },
};
const PLACEHOLDERS = { imap_host: "imap.example.com", smtp_host: "smtp.example.com", imap_folder: "INBOX", imap_backfill_days: "7" };

/** The IMAP and SMTP groups and the From name; `secret(name)` makes a password field. */
export function emailFields(current, secret) {
  const side = (name) => {
    const tls = field({
      label: t(`cred.${name}_tls`),
      name: `credentials.${name}_tls`,
      type: "select",
      value: current?.[`${name}_tls`] || DEFAULT_TLS[name],
      options: TLS_MODES.map((mode) => ({ value: mode, label: t(`mailbox.tls.${mode}`) })),
      hint: t("mailbox.tlsHint"),
    });
    const port = plain(`${name}_port`, current, { type: "number", min: 1, max: 65535 });
    const select = tls.querySelector("select");
    const portInput = port.querySelector("input");
    const showPort = () => (portInput.placeholder = String(PORTS[name][select.value]));
    select.addEventListener("change", showPort);
    showPort();
    const extra = name === "imap"
      ? [plain("imap_folder", current), plain("imap_backfill_days", current, { type: "number", min: 0, max: 3650, step: 1 })]
      : [];
    return h("fieldset", { class: "group", dataset: { side: name } },
      h("legend", {}, t(`mailbox.${name}`)),
      plain(`${name}_host`, current), port, tls, plain(`${name}_username`, current), secret(`${name}_password`), extra);
  };
  return [h("div", { class: "message-step" }, side("imap"), side("smtp")), plain("from_name", current)];
}

function plain(name, current, { type = "text", ...attrs } = {}) {
  const hint = t(`cred.${name}.hint`);
  return field({
    label: t(`cred.${name}`),
    name: `credentials.${name}`,
    type,
    value: current?.[name] ?? "",
    hint: hint === `cred.${name}.hint` ? null : hint,
    attrs: { placeholder: PLACEHOLDERS[name], ...attrs },
  });
}

/** The hint of a password field beside the write-only sentence ("empty: the IMAP one"). */
export const passwordHint = (name) => (name === "smtp_password" ? t("cred.smtp_password.hint") : null);

/**
 * The connection test's outcome per side: the server names every failing side and step
 * ("IMAP login failed: …; SMTP auth failed: …", integrations/probes.py); a side not named
 * worked. -> the health and a list with IMAP and SMTP side by side, each OK or its failed step
 * and the server's reason.
 */
export function emailTestResult(outcome, healthText) {
  const failed = {};
  if (!outcome.ok) {
    for (const part of outcome.detail.split(/; (?=(?:IMAP|SMTP) \w+ failed: )/)) {
      const m = /^(IMAP|SMTP) (\w+) failed: ([\s\S]*)$/.exec(part);
      if (m) failed[m[1].toLowerCase()] = { step: m[2], reason: m[3] };
    }
  }
  // A failure the detail does not attribute to a side (none is expected): shown as it is.
  const unknown = !outcome.ok && !failed.imap && !failed.smtp;
  const row = (side) => {
    const bad = failed[side];
    const step = bad ? t(`mailbox.step.${bad.step}`) : "";
    return h("div", { class: "kv", dataset: { side, ok: bad ? "false" : "true" } },
      h("dt", {}, t(`mailbox.${side}`)),
      h("dd", {},
        unknown ? null : h("span", { class: bad ? "pill bad" : "pill ok" }, bad ? t("mailbox.failedAt", { step: step === `mailbox.step.${bad.step}` ? bad.step : step }) : t("mailbox.sideOk")),
        bad ? h("span", { class: "bad-text" }, ` ${bad.reason}`) : null));
  };
  return [
    h("p", {}, unknown ? `${healthText}: ${outcome.detail}` : healthText),
    unknown ? null : h("dl", { class: "details two-col" }, row("imap"), row("smtp")),
  ];
}
