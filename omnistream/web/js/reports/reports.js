// Reports (#/reports, everyone with reports.read; docs/web-app.md, docs/reports.md): the
// headline tiles with their change from the previous range, conversations and response
// times per period, messages by direction and status, the weekday × hour traffic, the
// agents, the commonest send errors, and each report as CSV. What a role sees is the API's
// rule (admins everything, supervisors their divisions, agents their own figures); the
// page only offers the filters a role can use. The choices live in the address (state.js).
import "./strings.js"; // first: the page's sentences before anything of it runs
import { all, ApiError, get } from "../api.js";
import { loadDirectory } from "../app.js";
import { fill, h, uid } from "../dom.js";
import { describe, toast } from "../forms.js";
import { t } from "../i18n.js";
import { SessionEnded } from "../session.js";
import { barChart, heatmap, lineChart } from "./charts.js";
import { downloadCsv } from "./download.js";
import { filters } from "./filters.js";
import { duration, longDate, number, percent, periodLabel, periodName, weekdays } from "./format.js";
import { apiQuery, hashOf, readState } from "./state.js";
import { agentsTable, tiles, topErrors } from "./tables.js";

const BASE = "/api/v1/reports";
const REPORTS = ["conversations", "responsiveness", "messages", "heatmap", "agents"];
const COLORS = {
  opened: "#0f766e", resolved: "#2563eb", open_at_end: "#d97706", reopened: "#7c3aed", firstResponse: "#7c3aed", inbound: "#0f766e", outbound: "#2563eb",
  pending: "#cbd5e1", sent: "#94a3b8", delivered: "#60a5fa", read: "#0f766e", failed: "#dc2626",
};
const STATUSES = ["pending", "sent", "delivered", "read", "failed"];
const statusName = (k) => t(k === "failed" ? "reports.tile.failed" : `reports.status.${k}`);

/** The filters' choices a role has: divisions, agents and (admins) inbox accounts. */
function loadLists(app) {
  const role = app.me.role;
  const mine = new Set((app.me.divisions || []).map((d) => d.id));
  const divisions = role === "admin"
    ? all("/api/v1/divisions").then((list) => list.map((d) => ({ value: d.id, label: d.name })))
    : Promise.resolve((app.me.divisions || []).map((d) => ({ value: d.id, label: d.name })));
  // Supervisors: the agents of their divisions (the API lists no others in its table).
  const agents = loadDirectory().then((d) => d.agents
    .filter((a) => role === "admin" || a.division_ids.some((id) => mine.has(id)))
    .map((a) => ({ value: a.id, label: a.name })));
  const accounts = role !== "admin" ? Promise.reject(new Error("not readable")) : all("/api/v1/integrations").then((list) =>
    list.flatMap((i) => i.accounts.map((a) => ({ value: a.id, label: `${i.name} · ${a.display_name || a.external_id}` }))));
  accounts.catch(() => {});
  return { divisions, agents, accounts };
}

/** A refusal the agent can act on: which filter reaches beyond what they may see. */
function refusal(error) {
  if (!(error instanceof ApiError)) return describe(error);
  const field = error.errors[0]?.field;
  if (error.status === 403 && ["division_id", "agent_id"].includes(field)) return t(`reports.forbidden.${field}`);
  if (error.status === 403) return t("error.forbidden");
  return describe(error);
}

function section(name, title, state, extra) {
  const headingId = uid("rep");
  const body = h("div", { class: "reports-body", "aria-busy": "true" }, h("p", { class: "muted" }, t("state.loading")));
  const csv = h("button", { type: "button", class: "small", dataset: { report: name } }, t("reports.csv"));
  csv.setAttribute("aria-label", t("reports.csvOf", { report: title }));
  csv.addEventListener("click", async () => {
    csv.disabled = true;
    try {
      await downloadCsv(`${BASE}/${name}.csv`, apiQuery(state), `omnistream-${name}.csv`);
    } catch (error) {
      if (!(error instanceof SessionEnded)) toast(refusal(error), "error");
    } finally {
      csv.disabled = false;
    }
  });
  const el = h("section", { class: `reports-section reports-${name}`, "aria-labelledby": headingId },
    h("div", { class: "reports-section-head" }, h("h2", { id: headingId }, title), extra, csv), body);
  return { el, body };
}

function axisNames(state) {
  return { xTitle: t(`reports.group.${state.group}`) };
}

function conversationCharts(r, state) {
  const periods = r.series.map((p) => p.period);
  const axes = { labels: periods.map((p) => periodLabel(p, state.group)), names: periods.map((p) => periodName(p, state.group)), ...axisNames(state), yTitle: t("reports.axis.conversations") };
  const line = (key, field) => ({ name: t(key), color: COLORS[field], values: r.series.map((p) => p[field]) });
  return h("div", { class: "reports-grid" },
    lineChart({
      ...axes, title: t("reports.chart.openedResolved"),
      summary: t("reports.summary.openedResolved", { opened: number(r.totals.opened), resolved: number(r.totals.resolved) }),
      series: [line("reports.tile.opened", "opened"), line("reports.tile.resolved", "resolved")],
    }),
    // The backlog: what is still open at each period's end, and how much came back.
    lineChart({
      ...axes, title: t("reports.chart.backlog"),
      series: [line("reports.tile.openAtEnd", "open_at_end"), line("reports.reopened", "reopened")],
    }));
}

function responsivenessCharts(r, state) {
  const periods = r.series.map((p) => p.period);
  const first = r.totals.first_response.wall;
  return h("div", { class: "reports-grid" },
    lineChart({
      title: t("reports.chart.firstResponse"), kind: "duration",
      summary: t("reports.summary.firstResponse", { median: duration(first.median), n: number(first.count) }),
      labels: periods.map((p) => periodLabel(p, state.group)), names: periods.map((p) => periodName(p, state.group)),
      series: [{ name: t("reports.tile.firstResponse"), color: COLORS.firstResponse, values: r.series.map((p) => p.first_response.wall.median) }],
      ...axisNames(state), yTitle: t("reports.axis.time"),
    }),
    figures(r.totals));
}

/** The range's response times in full: median, p90, average (wall clock and business time). */
function figures(totals) {
  const row = (label, d) => h("tr", {}, h("th", { scope: "row" }, label),
    h("td", { class: "num" }, duration(d.median)), h("td", { class: "num" }, duration(d.p90)),
    h("td", { class: "num" }, duration(d.average)), h("td", { class: "num" }, number(d.count)));
  const sla = totals.sla_compliance;
  return h("div", { class: "reports-figures" },
    h("table", { class: "data" },
      h("caption", {}, t("reports.figures.caption")),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), ["median", "p90", "average", "count"].map((k) => h("th", { scope: "col", class: "num" }, t(`reports.figures.${k}`))))),
      h("tbody", {},
        row(t("reports.figures.firstWall"), totals.first_response.wall),
        row(t("reports.figures.firstBusiness"), totals.first_response.business),
        row(t("reports.figures.resolutionWall"), totals.resolution.wall),
        row(t("reports.figures.resolutionBusiness"), totals.resolution.business))),
    h("p", { class: "muted sla-line" }, t("reports.figures.sla", {
      first: percent(sla.first_response), next: percent(sla.next_response), resolution: percent(sla.resolution),
    })));
}

function messageCharts(r, state) {
  const periods = r.series.map((p) => p.period);
  const common = { labels: periods.map((p) => periodLabel(p, state.group)), names: periods.map((p) => periodName(p, state.group)), ...axisNames(state), yTitle: t("reports.axis.messages") };
  return h("div", { class: "reports-grid" },
    barChart({
      ...common, title: t("reports.chart.volume"),
      summary: t("reports.summary.volume", { inbound: number(r.totals.inbound), outbound: number(r.totals.outbound) }),
      series: ["inbound", "outbound"].map((k) => ({ name: t(`reports.tile.${k}`), color: COLORS[k], values: r.series.map((p) => p[k]) })),
    }),
    barChart({
      ...common, title: t("reports.chart.status"), stacked: true,
      summary: STATUSES.map((k) => `${statusName(k)} ${number(r.totals[k])}`).join(", "),
      series: STATUSES.map((k) => ({ name: statusName(k), color: COLORS[k], values: r.series.map((p) => p[k]) })),
    }),
    h("div", { class: "reports-errors" }, h("h3", {}, t("reports.errors.title")), topErrors(r.top_errors)));
}

function heatmapChart(r) {
  return [
    heatmap({
      title: t("reports.chart.heatmap"), cells: r.cells, total: r.total, rows: weekdays("short"), rowsLong: weekdays("long"),
      summary: t("reports.summary.heatmap", { n: number(r.total) }),
    }),
    h("p", { class: "heat-total" }, t("reports.summary.heatmap", { n: number(r.total) })),
  ];
}

const agentsView = (r) => (r.agents.length ? agentsTable(r.agents) : h("p", { class: "muted" }, t("reports.agents.none")));

export function mount(container, app) {
  const page = h("div", { class: "reports-page" });
  container.append(h("div", { class: "reports" }, page));
  const role = app.me.role;
  const offered = { division: role !== "agent", agent: role !== "agent", account: role === "admin" };
  const lists = loadLists(app);
  let state = null;
  let shownKey = "";
  let asked = 0; // the newest load: answers of an older one are dropped

  function render() {
    const mine = ++asked;
    document.title = `${t("nav.reports")} · OmniStream`;
    const bar = filters(state, offered, (next) => {
      location.hash = hashOf(next); // hashchange -> route() -> this page again
    });
    lists.divisions.then((l) => bar.fill("division_id", l), () => bar.hide("division_id"));
    lists.agents.then((l) => bar.fill("agent_id", l), () => bar.hide("agent_id"));
    lists.accounts.then((l) => bar.fill("account_id", l), () => bar.hide("account_id"));
    const rangeText = h("p", { class: "muted reports-range" }, t("reports.rangeText", { from: longDate(state.from), to: longDate(state.to), tz: state.tz }));
    const refresh = h("button", { type: "button", onclick: () => { shownKey = ""; route(); } }, t("reports.refresh"));
    const alert = h("div", { class: "reports-alert", role: "alert", hidden: true });
    const sections = {
      conversations: section("conversations", t("reports.section.conversations"), state),
      responsiveness: section("responsiveness", t("reports.section.responsiveness"), state),
      messages: section("messages", t("reports.section.messages"), state),
      heatmap: section("heatmap", t("reports.section.heatmap"), state),
      agents: section("agents", t("reports.section.agents"), state),
    };
    const overview = h("section", { class: "reports-overview", "aria-label": t("reports.overview") }, h("p", { class: "muted" }, t("state.loading")));
    fill(page,
      h("div", { class: "page-head" }, h("h1", {}, t("nav.reports")), rangeText, h("div", { class: "page-actions" }, refresh)),
      bar.el, alert, overview, ...REPORTS.map((name) => sections[name].el));

    const query = apiQuery(state);
    const answers = REPORTS.map((name) => get(`${BASE}/${name}`, query));
    const draw = { conversations: conversationCharts, responsiveness: responsivenessCharts, messages: messageCharts, heatmap: heatmapChart, agents: agentsView };
    answers.forEach((answer, i) => {
      const name = REPORTS[i];
      const { body } = sections[name];
      answer.then((report) => {
        if (mine !== asked) return;
        fill(body, draw[name](report, state));
        body.removeAttribute("aria-busy");
        if (name === "conversations") {
          rangeText.textContent = `${t("reports.rangeText", { from: longDate(report.range.from), to: longDate(report.range.to), tz: report.range.tz })} · ${t("reports.compared", { from: longDate(report.range.previous_from), to: longDate(report.range.previous_to) })}`;
        }
      }, (error) => {
        if (mine !== asked || error instanceof SessionEnded) return;
        fill(body, h("p", { class: "muted" }, t("reports.unavailable")));
        body.removeAttribute("aria-busy");
        // One sentence for the page: every report is refused alike (403 / 422 name the field).
        if (alert.hidden) {
          alert.hidden = false;
          fill(alert, h("p", {}, refusal(error)));
        }
      });
    });
    Promise.allSettled(answers.slice(0, 3)).then((done) => {
      if (mine !== asked) return;
      const [conversations, responsiveness, messages] = done.map((d) => (d.status === "fulfilled" ? d.value : null));
      const quiet = conversations && messages && !conversations.totals.opened && !conversations.totals.resolved &&
        !conversations.totals.open_at_end && !messages.totals.inbound && !messages.totals.outbound;
      fill(overview, quiet ? h("p", { class: "reports-empty" }, t("reports.empty")) : null, tiles({ conversations, responsiveness, messages }));
    });
  }

  function route() {
    const next = readState();
    const key = JSON.stringify(next);
    if (key === shownKey) return;
    shownKey = key;
    state = next;
    render();
  }

  return {
    route,
    destroy() {
      asked += 1;
      document.title = "OmniStream";
    },
  };
}
