// What the campaign pages share: the API's paths, status badges, the progress bar, times,
// the WhatsApp numbers and templates a campaign may use, and an error-reporting wrapper.
import { all, get } from "../api.js";
import { h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { formatDateTime, t } from "../i18n.js";

export const BASE = "/api/v1/campaigns";
export const OPT_OUTS = "/api/v1/campaign-opt-outs";
export const STATUSES = ["draft", "scheduled", "running", "paused", "completed", "failed", "cancelled"];
export const RECIPIENT_STATUSES = ["pending", "sent", "delivered", "read", "failed"];
export const EDITABLE = new Set(["draft", "scheduled"]);
export const DELETABLE = new Set(["draft", "completed", "failed", "cancelled"]);
const STATUS_CLASS = {
  draft: "off", scheduled: "warn", running: "run", paused: "warn", completed: "ok", failed: "bad", cancelled: "off",
  pending: "off", sent: "run", delivered: "ok", read: "ok",
};

export const statusPill = (status) =>
  h("span", { class: `pill ${STATUS_CLASS[status] || "off"}`, dataset: { status } }, t(`campaigns.status.${status}`));

export const recipientPill = (status) =>
  h("span", { class: `pill ${STATUS_CLASS[status] || "off"}`, dataset: { status } }, t(`campaigns.rstatus.${status}`));

export const time = (v) => (v ? h("time", { datetime: v }, formatDateTime(v)) : "—");

export const kv = (label, value, cls) => h("div", { class: "kv" }, h("dt", {}, label), h("dd", { class: cls }, value));

const FINAL = new Set(["completed", "failed", "cancelled"]);
/** A campaign after a campaign.progress event; a final status is never taken back (a recount
 * that read the status just before the campaign ended may be announced just after). */
export const progressed = (c, data) => ({ ...c, status: FINAL.has(c.status) ? c.status : data.status, counts: data.counts });

/** Recipients handled (sent, delivered, read or failed) of the total. */
export const done = (counts) => Math.max(0, (counts.total || 0) - (counts.pending || 0));

/** A bar of handled recipients (failed ones in red) with "12 of 20 · 2 failed" beside it. */
export function progress(counts) {
  const total = counts.total || 0;
  const handled = done(counts);
  const failed = counts.failed || 0;
  const share = (n) => `${total ? Math.min(100, (100 * n) / total) : 0}%`;
  const said = failed
    ? t("campaigns.progressFailed", { done: handled, total, failed })
    : t("campaigns.progressText", { done: handled, total });
  return h("div", { class: "progress" },
    h("div", {
      class: "progress-bar", role: "progressbar", "aria-label": t("campaigns.progress"),
      "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(handled), "aria-valuetext": said,
    },
    h("span", { class: "bar ok", style: { width: share(handled - failed) } }),
    h("span", { class: "bar bad", style: { width: share(failed) } })),
    h("span", { class: "progress-text" }, said));
}

/** "Scheduled for …", "Started …" or nothing yet. */
export function when(c) {
  if (c.started_at) return h("span", {}, t("campaigns.startedAt"), " ", time(c.started_at));
  if (c.scheduled_at) return h("span", {}, t("campaigns.scheduledFor"), " ", time(c.scheduled_at));
  return "—";
}

export const templateLabel = (c) => (c.template_name ? `${c.template_name} (${c.template_language})` : "—");

/** Runs an action; a failure becomes an error toast (the server's problem in the agent's language). */
export const act = (fn) => async (...args) => {
  try {
    return await fn(...args);
  } catch (error) {
    toast(describe(error), "error");
    return undefined;
  }
};

/** The WhatsApp numbers campaigns can send from (GET /campaigns/accounts, for supervisors
 * too): [{id, label, integration_id}]; an inactive integration or an unhealthy token says so. */
export async function whatsappAccounts() {
  const accounts = await get(`${BASE}/accounts`);
  return accounts.map((a) => {
    const notes = [!a.is_active && t("campaigns.inactive"), a.is_active && !["ok", "unknown"].includes(a.health) && t(`health.${a.health}`)];
    const said = notes.filter(Boolean).join(", ");
    return {
      id: a.id,
      integration_id: a.integration_id,
      label: `${a.display_name || a.external_id} · ${a.integration_name}${said ? ` (${said})` : ""}`,
    };
  });
}

/** The APPROVED templates of one integration, by name and language. */
export const approvedTemplates = (integrationId) =>
  all("/api/v1/templates", { integration_id: integrationId, status: "APPROVED" });

export const loadCampaign = (id) => get(`${BASE}/${id}`);
