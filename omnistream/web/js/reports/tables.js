// The headline tiles (each with its change from the previous range of as many days), the
// agents table (sortable by any column) and the top error codes.
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { NONE, change, duration, number, percent, score } from "./format.js";

// from: the report a tile reads; kind: how it is shown; lowerIsBetter: a rise is bad news.
const TILES = [
  { key: "opened", from: "conversations", value: (r) => r.totals.opened, previous: (r) => r.previous.opened },
  { key: "resolved", from: "conversations", value: (r) => r.totals.resolved, previous: (r) => r.previous.resolved },
  { key: "openAtEnd", from: "conversations", value: (r) => r.totals.open_at_end, previous: (r) => r.previous.open_at_end, lowerIsBetter: true },
  // "Now" has no previous range to compare with.
  { key: "unassignedNow", from: "conversations", value: (r) => r.unassigned_now, previous: null },
  { key: "firstResponse", from: "responsiveness", kind: "duration", lowerIsBetter: true,
    value: (r) => r.totals.first_response.wall.median, previous: (r) => r.previous.first_response.wall.median },
  { key: "resolution", from: "responsiveness", kind: "duration", lowerIsBetter: true,
    value: (r) => r.totals.resolution.wall.median, previous: (r) => r.previous.resolution.wall.median },
  { key: "slaFirstResponse", from: "responsiveness", kind: "percent",
    value: (r) => r.totals.sla_compliance.first_response, previous: (r) => r.previous.sla_compliance.first_response },
  { key: "inbound", from: "messages", value: (r) => r.totals.inbound, previous: (r) => r.previous.inbound },
  { key: "outbound", from: "messages", value: (r) => r.totals.outbound, previous: (r) => r.previous.outbound },
  { key: "failed", from: "messages", value: (r) => r.totals.failed, previous: (r) => r.previous.failed, lowerIsBetter: true },
];
const ARROWS = { up: "▲", down: "▼", flat: "■", none: "" };

const shown = (v, kind) => (kind === "duration" ? duration(v) : kind === "percent" ? percent(v) : number(v));

function tile(spec, report) {
  const label = t(`reports.tile.${spec.key}`);
  if (!report) {
    return h("div", { class: "tile", dataset: { tile: spec.key } }, h("dt", {}, label), h("dd", { class: "tile-value" }, NONE));
  }
  const value = spec.value(report);
  let note;
  if (!spec.previous) {
    note = h("dd", { class: "tile-change", dataset: { trend: "none" } }, t("reports.change.now"));
  } else {
    const before = spec.previous(report);
    const c = change(value, before, { points: spec.kind === "percent", lowerIsBetter: spec.lowerIsBetter });
    const said = c.trend === "none"
      ? t("reports.change.none")
      : t(`reports.change.${c.trend}`, { change: c.text, previous: shown(before, spec.kind) });
    note = h("dd", { class: "tile-change", dataset: { trend: c.trend, good: c.good === null ? "neutral" : String(c.good) } },
      h("span", { "aria-hidden": "true" }, c.trend === "none" ? "" : `${ARROWS[c.trend]} ${c.text}`),
      h("span", { class: "tile-previous", "aria-hidden": "true" }, t("reports.change.vs", { previous: shown(before, spec.kind) })),
      h("span", { class: "sr-only" }, said));
  }
  return h("div", { class: "tile", dataset: { tile: spec.key } },
    h("dt", {}, label), h("dd", { class: "tile-value" }, shown(value, spec.kind)), note);
}

/** reports: {conversations, responsiveness, messages} (null where it failed). */
export const tiles = (reports) => h("dl", { class: "tiles" }, TILES.map((spec) => tile(spec, reports[spec.from])));

// The agents table ---------------------------------------------------------------------------

const COLUMNS = [
  { key: "name", sort: (a) => a.name.toLocaleLowerCase(), show: (a) => [a.name, a.is_active ? null : h("span", { class: "muted" }, ` (${t("reports.agents.inactive")})`)] },
  { key: "handled", sort: (a) => a.conversations_handled, show: (a) => number(a.conversations_handled) },
  { key: "replies", sort: (a) => a.replies_sent, show: (a) => number(a.replies_sent) },
  { key: "firstResponse", label: "reports.tile.firstResponse", sort: (a) => a.first_response_median, show: (a) => duration(a.first_response_median) },
  { key: "resolution", label: "reports.tile.resolution", sort: (a) => a.resolution_median, show: (a) => duration(a.resolution_median) },
  { key: "csat", sort: (a) => a.csat_average,
    show: (a) => (a.csat_average === null ? NONE : [score(a.csat_average), h("span", { class: "muted" }, ` (${t("reports.agents.responses", { n: a.csat_responses })})`)]) },
];

/** The agents' figures, sorted by the column last chosen (again: the other way round). */
export function agentsTable(rows) {
  let by = "name";
  let ascending = true;
  const table = h("table", { class: "data reports-agents" });
  const draw = () => {
    const column = COLUMNS.find((c) => c.key === by);
    const sorted = [...rows].sort((a, b) => {
      const x = column.sort(a);
      const y = column.sort(b);
      if (x === y) return a.name.localeCompare(b.name);
      if (x === null) return 1; // nothing measured: last either way
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (ascending ? 1 : -1);
    });
    const head = COLUMNS.map((c, i) => h("th", {
      scope: "col", class: i ? "num" : null, "aria-sort": c.key === by ? (ascending ? "ascending" : "descending") : null,
    }, h("button", { type: "button", class: "sort", onclick: () => {
      ascending = by === c.key ? !ascending : c.key === "name";
      by = c.key;
      draw();
    } }, t(c.label || `reports.agents.${c.key}`), h("span", { "aria-hidden": "true", class: "sort-mark" }, c.key === by ? (ascending ? " ↑" : " ↓") : ""))));
    table.replaceChildren(
      h("caption", { class: "sr-only" }, t("reports.agents.caption")),
      h("thead", {}, h("tr", {}, head)),
      h("tbody", {}, sorted.map((a) => h("tr", { dataset: { agent: a.agent_id } },
        COLUMNS.map((c, i) => (i ? h("td", { class: "num" }, c.show(a)) : h("th", { scope: "row" }, c.show(a))))))),
    );
  };
  draw();
  return table;
}

/** The commonest error codes of failed sends, or a note that nothing failed. */
export function topErrors(errors) {
  if (!errors.length) return h("p", { class: "muted" }, t("reports.errors.none"));
  return h("ol", { class: "top-errors" }, errors.map((e) => h("li", {},
    h("code", {}, e.code), " ", h("span", { class: "muted" }, t("reports.errors.count", { n: number(e.failed) })))));
}
