// Campaigns › list: every campaign (newest first) with its status, template, number, when it
// starts and its progress; a status filter and "Load more" (keyset pages). Rows follow the
// campaign.* events: created, changed, deleted and the progress of a running one.
import { get } from "../api.js";
import { fill, h } from "../dom.js";
import { describe } from "../forms.js";
import { t } from "../i18n.js";
import { pageHeader } from "../settings/common.js";
import { BASE, STATUSES, progress, progressed, statusPill, templateLabel, when } from "./shared.js";

const PAGE = 50;
const newestFirst = (a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);

export function render(container, app) {
  const campaigns = new Map(); // id -> CampaignOut, as last read or announced
  const built = new Map(); // id -> {c, el}: a row is built again only when its campaign changed
  const gone = new Set(); // deleted while a read was under way
  let cursor = null;
  let reading = 0; // the latest read wins
  const status = h("select", { "aria-label": t("campaigns.statusFilter") },
    h("option", { value: "" }, t("campaigns.anyStatus")),
    STATUSES.map((s) => h("option", { value: s }, t(`campaigns.status.${s}`))));
  const body = h("tbody", {});
  const headers = [t("campaigns.name"), t("campaigns.statusFilter"), t("campaigns.template"), t("campaigns.account"), t("campaigns.when"), t("campaigns.progress")];
  const tableEl = h("table", { class: "data campaigns-table" },
    h("caption", { class: "sr-only" }, t("nav.campaigns")),
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))), body);
  const more = h("button", { type: "button", class: "ghost", hidden: true }, t("action.loadMore"));
  const said = h("p", { class: "muted", role: "status" });

  const shown = (c) => !status.value || c.status === status.value;

  function keep(c) {
    const known = campaigns.get(c.id);
    if (gone.has(c.id) || (known && Date.parse(known.updated_at) > Date.parse(c.updated_at))) return;
    if (shown(c)) campaigns.set(c.id, c);
    else campaigns.delete(c.id); // no longer of the chosen status
  }

  function row(c) {
    return h("tr", { dataset: { id: c.id } },
      h("td", {}, h("a", { href: `#/campaigns/${c.id}`, class: "strong" }, c.name)),
      h("td", {}, statusPill(c.status)),
      h("td", {}, templateLabel(c)),
      h("td", {}, c.account_name || "—"),
      h("td", {}, when(c)),
      h("td", {}, progress(c.counts)));
  }

  function draw() {
    const list = [...campaigns.values()].sort(newestFirst);
    for (const id of built.keys()) if (!campaigns.has(id)) built.delete(id);
    if (!list.length) {
      fill(body, h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, status.value ? t("campaigns.noneOfStatus") : t("campaigns.none"))));
      return;
    }
    if (body.querySelector("td[colspan]")) fill(body);
    list.forEach((c, i) => {
      let b = built.get(c.id);
      if (b?.c !== c) built.set(c.id, (b = { c, el: row(c) }));
      if (body.children[i] !== b.el) body.insertBefore(b.el, body.children[i] || null);
    });
    while (body.children.length > list.length) body.lastElementChild.remove();
  }

  async function load(reset) {
    const mine = ++reading;
    said.textContent = t("state.loading");
    try {
      const page = await get(BASE, { status: status.value, limit: PAGE, cursor: reset ? null : cursor });
      if (mine !== reading) return;
      if (reset) {
        campaigns.clear();
        gone.clear();
      }
      page.items.forEach(keep);
      cursor = page.next_cursor;
      said.textContent = "";
    } catch (error) {
      if (mine === reading) said.textContent = describe(error);
      return;
    }
    more.hidden = !cursor;
    draw();
  }

  const off = app.live.on((event) => {
    if (event.type === "reload") return load(true);
    if (!event.type?.startsWith("campaign.")) return;
    const data = event.data || {};
    if (event.type === "campaign.deleted") {
      campaigns.delete(data.campaign_id);
      gone.add(data.campaign_id);
    } else if (event.type === "campaign.progress") {
      const known = campaigns.get(data.campaign_id);
      if (!known) return;
      const next = progressed(known, data);
      if (shown(next)) campaigns.set(known.id, next);
      else campaigns.delete(known.id);
    } else if (data.campaign) keep(data.campaign);
    draw();
  });

  status.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));
  container.append(
    pageHeader(t("nav.campaigns"), h("a", { href: "#/campaigns/new", class: "button primary" }, t("campaigns.new"))),
    h("p", { class: "muted" }, t("campaigns.intro")),
    h("div", { class: "toolbar" }, status), tableEl, said, more);
  app.live.firstReady.then(() => load(true)); // read after the socket is ready: no change falls between
  return { destroy: off };
}
