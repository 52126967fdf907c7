// Campaigns › one campaign: its status and counts (live, from campaign.progress and
// campaign.updated), the failure reasons grouped by error code, the recipients by status
// (keyset pages), an Export CSV download and the actions its status allows.
import { navigate } from "../app.js";
import { api, del, get, post } from "../api.js";
import { fill, h, throttle } from "../dom.js";
import { describe, toast } from "../forms.js";
import { t } from "../i18n.js";
import {
  BASE, DELETABLE, EDITABLE, RECIPIENT_STATUSES, act, kv, progress, progressed, recipientPill, statusPill, templateLabel, time,
} from "./shared.js";

const PAGE = 50;
const COUNTS = ["total", "pending", "sent", "delivered", "read", "failed", "replied"];
const percent = (x) => `${Math.round(x * 1000) / 10}%`;

export function render(container, app, id) {
  let campaign = null;
  let stats = null;
  const head = h("div", { class: "page-head" });
  const meta = h("div", {});
  const live = h("section", { class: "campaign-counts", "aria-label": t("campaigns.counts") });
  const failures = h("section", { "aria-label": t("campaigns.failures") });
  const recipients = recipientsView(id);
  container.append(head, meta, live, failures, recipients.el);

  const action = (label, fn, cls) => h("button", { type: "button", class: cls, onclick: act(fn) }, t(label));
  const change = (verb) => async () => {
    apply(await post(`${BASE}/${id}/${verb}`));
  };

  function drawHead() {
    const s = campaign.status;
    document.title = `${campaign.name} · OmniStream`;
    fill(head,
      h("h1", {}, campaign.name), statusPill(s),
      h("div", { class: "page-actions" },
        s === "running" ? action("campaigns.pause", change("pause")) : null,
        s === "paused" ? action("campaigns.resume", change("resume"), "primary") : null,
        ["scheduled", "running", "paused"].includes(s) ? action("campaigns.cancel", async () => {
          if (confirm(t("campaigns.confirmCancel", { name: campaign.name }))) await change("cancel")();
        }, "danger") : null,
        EDITABLE.has(s) ? h("a", { href: `#/campaigns/${id}/edit`, class: "button" }, t(s === "draft" ? "campaigns.continue" : "action.edit")) : null,
        DELETABLE.has(s) ? action("action.delete", async () => {
          if (!confirm(t("campaigns.confirmDelete", { name: campaign.name }))) return;
          await del(`${BASE}/${id}`);
          navigate("campaigns");
        }, "danger") : null));
    fill(meta,
      campaign.failure_reason ? h("p", { class: "form-error", role: "alert" }, campaign.failure_reason) : null,
      h("dl", { class: "details two-col" },
        kv(t("campaigns.account"), campaign.account_name || "—"),
        kv(t("campaigns.template"), templateLabel(campaign)),
        kv(t("campaigns.division"), campaign.division_name || t("campaigns.noDivision")),
        kv(t("campaigns.audience"), campaign.audience_source ? t(`campaigns.source.${campaign.audience_source}`) : "—"),
        campaign.scheduled_at ? kv(t("campaigns.scheduledFor"), time(campaign.scheduled_at)) : null,
        campaign.started_at ? kv(t("campaigns.startedAt"), time(campaign.started_at)) : null,
        campaign.finished_at ? kv(t("campaigns.finishedAt"), time(campaign.finished_at)) : null,
        kv(t("campaigns.createdAt"), time(campaign.created_at))));
  }

  function drawCounts() {
    const c = campaign.counts;
    fill(live,
      h("h2", {}, t("campaigns.counts")),
      progress(c),
      h("dl", { class: "count-grid" }, COUNTS.map((k) => h("div", { class: `count count-${k}` }, h("dt", {}, t(`campaigns.count.${k}`)), h("dd", {}, String(c[k] ?? 0))))),
      stats ? h("p", { class: "muted" },
        t("campaigns.rates", { delivery: percent(stats.delivery_rate), reply: percent(stats.reply_rate) })) : null);
  }

  function drawFailures() {
    fill(failures, h("h2", {}, t("campaigns.failures")),
      !stats?.failures.length
        ? h("p", { class: "muted" }, t("campaigns.noFailures"))
        : h("table", { class: "data" },
          h("caption", { class: "sr-only" }, t("campaigns.failures")),
          h("thead", {}, h("tr", {}, [t("campaigns.errorCode"), t("campaigns.reason"), t("campaigns.recipients")].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, stats.failures.map((f) => h("tr", {}, h("td", {}, h("code", {}, f.error_code)), h("td", {}, f.reason), h("td", {}, String(f.count)))))));
  }

  function apply(next) {
    campaign = next;
    drawHead();
    drawCounts();
  }

  async function loadStats() {
    try {
      stats = await get(`${BASE}/${id}/stats`);
      if (campaign) campaign = { ...campaign, status: stats.status, counts: stats.counts };
    } catch (error) {
      fill(failures, h("p", { class: "form-error" }, describe(error)));
      return;
    }
    drawHead();
    drawCounts();
    drawFailures();
  }
  // Progress arrives up to once a second per campaign: the groups and the recipients follow.
  const followUp = throttle(() => {
    loadStats();
    recipients.refresh();
  }, 2000);

  async function load() {
    try {
      campaign = await get(`${BASE}/${id}`);
    } catch (error) {
      fill(head, h("h1", {}, t("nav.campaigns")));
      fill(meta, h("p", { class: "form-error", role: "alert" }, describe(error)), h("a", { href: "#/campaigns" }, t("campaigns.backToList")));
      return;
    }
    drawHead();
    drawCounts();
    await loadStats();
    recipients.refresh();
  }

  const off = app.live.on((event) => {
    if (event.type === "reload") return load();
    const data = event.data || {};
    if (!campaign || !event.type?.startsWith("campaign.")) return;
    if (event.type === "campaign.deleted" && data.campaign_id === id) {
      toast(t("campaigns.deletedNotice", { name: campaign.name }));
      navigate("campaigns");
    } else if (event.type === "campaign.progress" && data.campaign_id === id) {
      apply(progressed(campaign, data));
      followUp();
    } else if (data.campaign?.id === id && Date.parse(data.campaign.updated_at) >= Date.parse(campaign.updated_at)) {
      apply(data.campaign);
      followUp();
    }
  });
  app.live.firstReady.then(load);
  return { destroy: off };
}

/** The recipients table: a status filter, "Load more", Export CSV (fetched with the token). */
function recipientsView(id) {
  let items = [];
  let cursor = null;
  let reading = 0;
  const status = h("select", { "aria-label": t("campaigns.recipientStatus") },
    h("option", { value: "" }, t("campaigns.anyStatus")),
    RECIPIENT_STATUSES.map((s) => h("option", { value: s }, t(`campaigns.rstatus.${s}`))));
  const rows = h("div", {});
  const more = h("button", { type: "button", class: "ghost", hidden: true }, t("action.loadMore"));
  const said = h("p", { class: "muted", role: "status" });
  const exportCsv = h("button", { type: "button" }, t("campaigns.exportCsv"));

  const table = () => h("table", { class: "data recipients" },
    h("caption", { class: "sr-only" }, t("campaigns.recipients")),
    h("thead", {}, h("tr", {}, [t("campaigns.phone"), t("campaigns.name"), t("campaigns.recipientStatus"), t("campaigns.detailCol"), t("campaigns.sentAt"), t("campaigns.repliedAt")].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, items.length ? items.map((r) => h("tr", {},
      h("td", {}, r.line ? h("span", {}, r.phone, h("span", { class: "muted small" }, ` · ${t("campaigns.lineN", { n: r.line })}`)) : r.phone),
      h("td", {}, r.name || "—"),
      h("td", {}, recipientPill(r.status)),
      h("td", {}, r.error_message ? h("span", { class: "bad-text" }, r.error_code ? `${r.error_code}: ${r.error_message}` : r.error_message) : ""),
      h("td", {}, time(r.sent_at)),
      h("td", {}, r.replied_at ? (r.conversation_id ? h("a", { href: `#/inbox/${r.conversation_id}` }, time(r.replied_at)) : time(r.replied_at)) : "—")))
      : h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("state.empty")))));

  // "reset": the first page; "more": the next; "refresh": as many as are shown, anew.
  async function load(how) {
    const mine = ++reading;
    const limit = how === "refresh" ? Math.min(200, Math.max(PAGE, items.length)) : PAGE;
    try {
      const page = await get(`${BASE}/${id}/recipients`, { status: status.value, limit, cursor: how === "more" ? cursor : null });
      if (mine !== reading) return;
      items = how === "more" ? items.concat(page.items) : page.items;
      cursor = page.next_cursor;
      said.textContent = "";
    } catch (error) {
      if (mine === reading) said.textContent = describe(error);
      return;
    }
    more.hidden = !cursor;
    fill(rows, table());
  }

  exportCsv.addEventListener("click", act(async () => {
    exportCsv.disabled = true;
    try {
      const blob = await api("GET", `${BASE}/${id}/recipients.csv`, { query: { status: status.value }, blob: true });
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `campaign-${id}${status.value ? `-${status.value}` : ""}.csv`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } finally {
      exportCsv.disabled = false;
    }
  }));
  status.addEventListener("change", () => load("reset"));
  more.addEventListener("click", () => load("more"));
  const el = h("section", { class: "campaign-recipients", "aria-label": t("campaigns.recipients") },
    h("h2", {}, t("campaigns.recipients")),
    h("div", { class: "toolbar" }, status, exportCsv), rows, said, more);
  return { el, refresh: () => load(items.length ? "refresh" : "reset") };
}
