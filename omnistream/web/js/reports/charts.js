// Our own small charts: a line chart, a bar chart (grouped or stacked) and the weekday ×
// hour heatmap, as inline SVG (no library, no CDN: the CSP allows our files only). Each is
// a labelled image (role="img" + aria-label) with its numbers in a table next to it, hidden
// visually until "Show as table" is pressed, so screen readers always have the numbers.
// Colours are SVG attributes, not style attributes (the CSP forbids inline styles).
import { h, uid } from "../dom.js";
import { t } from "../i18n.js";
import { duration, number } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 250;
const M = { top: 14, right: 14, bottom: 46, left: 64 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  for (const child of children.flat()) if (child !== null && child !== undefined) el.append(child);
  return el;
}

/** A y scale of 4-5 round ticks from 0 to at least `max` (counts tick by whole numbers). */
function scale(max, integer) {
  const top = max > 0 ? max : 1;
  const raw = top / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((x) => x >= raw);
  if (integer) step = Math.max(1, Math.ceil(step));
  return { step, top: step * Math.ceil(top / step) };
}

/** How a y value reads: counts as numbers; durations (seconds) in minutes or hours. */
function yAxis(max, kind) {
  if (kind !== "duration") return { ...scale(max, true), unit: 1, label: number };
  const unit = max >= 2 * 3600 ? 3600 : 60;
  const sc = scale(max / unit, false);
  const key = unit === 3600 ? "reports.dur.hours" : "reports.dur.min";
  return { step: sc.step * unit, top: sc.top * unit, unit, label: (v) => t(key, { n: number(v / unit) }) };
}

const plotW = W - M.left - M.right;
const plotH = H - M.top - M.bottom;
const yOf = (v, axis) => M.top + plotH - (v / axis.top) * plotH;

/** Grid lines, tick labels (every k-th period when there are many) and the axis titles. */
function frame(axis, labels, xOf, xTitle, yTitle) {
  const g = s("g", { class: "chart-axes" });
  for (let v = 0; v <= axis.top + axis.step / 1000; v += axis.step) {
    const y = yOf(v, axis);
    g.append(s("line", { x1: M.left, x2: W - M.right, y1: y, y2: y, class: v === 0 ? "axis-line" : "grid-line" }));
    g.append(s("text", { x: M.left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, axis.label(v)));
  }
  const every = Math.ceil(labels.length / 10);
  labels.forEach((label, i) => {
    if (i % every) return;
    g.append(s("text", { x: xOf(i), y: H - M.bottom + 16, "text-anchor": "middle", class: "tick" }, label));
  });
  g.append(s("text", { x: M.left + plotW / 2, y: H - 6, "text-anchor": "middle", class: "axis-title" }, xTitle));
  g.append(s("text", { x: 14, y: M.top + plotH / 2, "text-anchor": "middle", class: "axis-title", transform: `rotate(-90 14 ${M.top + plotH / 2})` }, yTitle));
  return g;
}

const show = (v, kind) => (kind === "duration" ? duration(v) : number(v));

/** The chart's numbers as a table: one row per period (or weekday), one column per series. */
export function dataTable(caption, head, rows) {
  return h(
    "table",
    { class: "data" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((c, i) => h("th", { scope: "col", class: i ? "num" : null }, c)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((c, i) => (i ? h("td", { class: "num" }, c) : h("th", { scope: "row" }, c)))))),
  );
}

function legend(series) {
  return h("ul", { class: "chart-legend", "aria-hidden": "true" }, series.map((x) => h("li", {},
    s("svg", { width: 12, height: 12, viewBox: "0 0 12 12" }, s("rect", { width: 12, height: 12, rx: 2, fill: x.color })), x.name)));
}

/**
 * A chart's card: title, "Show as table" toggle, the SVG (or the empty note) and the table.
 * {title, summary, svg, table, legend, empty}
 */
export function figure({ title, summary, svg, table, legend, empty }) {
  const key = empty ? null : legend;
  const titleId = uid("chart");
  const wrap = h("div", { class: "chart-table sr-only" }, table);
  const picture = empty ? h("p", { class: "chart-empty" }, t("reports.chart.empty")) : svg;
  if (!empty) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", summary ? `${title}. ${summary}` : title);
  }
  const toggle = h("button", { type: "button", class: "link small", "aria-pressed": "false" }, t("reports.chart.showTable"));
  toggle.addEventListener("click", () => {
    const table = toggle.getAttribute("aria-pressed") !== "true";
    toggle.setAttribute("aria-pressed", String(table));
    toggle.textContent = t(table ? "reports.chart.showChart" : "reports.chart.showTable");
    wrap.classList.toggle("sr-only", !table);
    picture.toggleAttribute("hidden", table); // an SVG element has no .hidden property
    key?.toggleAttribute("hidden", table);
  });
  return h("figure", { class: "chart", "aria-labelledby": titleId },
    h("div", { class: "chart-head" }, h("h3", { id: titleId }, title), toggle), picture, key, wrap);
}

const isEmpty = (series) => series.every((x) => x.values.every((v) => !v));

/** series: [{name, color, values}], labels/names per period; kind "count" or "duration". */
export function lineChart({ title, summary, labels, names, series, kind = "count", xTitle, yTitle, caption }) {
  const max = Math.max(0, ...series.flatMap((x) => x.values.filter((v) => v !== null)));
  const axis = yAxis(max, kind);
  const n = labels.length;
  const xOf = (i) => M.left + (n === 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg" }, frame(axis, labels, xOf, xTitle, yTitle));
  for (const x of series) {
    let d = "";
    let pen = "M";
    x.values.forEach((v, i) => {
      if (v === null) { pen = "M"; return; } // a gap where nothing was measured
      d += `${pen}${xOf(i).toFixed(1)},${yOf(v, axis).toFixed(1)}`;
      pen = "L";
    });
    svg.append(s("path", { d, fill: "none", stroke: x.color, "stroke-width": 2.5, "stroke-linejoin": "round" }));
    x.values.forEach((v, i) => {
      if (v === null) return;
      svg.append(s("circle", { cx: xOf(i), cy: yOf(v, axis), r: n > 40 ? 2 : 3.5, fill: x.color },
        s("title", {}, `${names[i]} · ${x.name}: ${show(v, kind)}`)));
    });
  }
  const rows = names.map((name, i) => [name, ...series.map((x) => show(x.values[i], kind))]);
  return figure({ title, summary, svg, empty: isEmpty(series), legend: legend(series),
    table: dataTable(caption || title, [xTitle, ...series.map((x) => x.name)], rows) });
}

/** Bars per period: grouped side by side, or stacked (outbound by status). */
export function barChart({ title, summary, labels, names, series, stacked = false, xTitle, yTitle, caption }) {
  const n = labels.length;
  const totals = labels.map((_, i) => series.reduce((sum, x) => sum + (x.values[i] || 0), 0));
  const max = stacked ? Math.max(0, ...totals) : Math.max(0, ...series.flatMap((x) => x.values));
  const axis = yAxis(max, "count");
  const band = plotW / Math.max(n, 1);
  const xOf = (i) => M.left + band * (i + 0.5);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg" }, frame(axis, labels, xOf, xTitle, yTitle));
  const inner = Math.min(band * 0.8, 64);
  labels.forEach((_, i) => {
    let base = 0;
    series.forEach((x, k) => {
      const v = x.values[i] || 0;
      if (!v) return;
      const width = stacked ? inner : inner / series.length;
      const left = xOf(i) - inner / 2 + (stacked ? 0 : k * width);
      const y = yOf(base + v, axis);
      svg.append(s("rect", { x: left.toFixed(1), y: y.toFixed(1), width: Math.max(width - 1, 1).toFixed(1), height: (yOf(base, axis) - y).toFixed(1), fill: x.color },
        s("title", {}, `${names[i]} · ${x.name}: ${number(v)}`)));
      if (stacked) base += v;
    });
  });
  const head = [xTitle, ...series.map((x) => x.name), ...(stacked ? [t("reports.total")] : [])];
  const rows = names.map((name, i) => [name, ...series.map((x) => number(x.values[i] || 0)), ...(stacked ? [number(totals[i])] : [])]);
  return figure({ title, summary, svg, empty: isEmpty(series), legend: legend(series), table: dataTable(caption || title, head, rows) });
}

// The heatmap: white (none) to the brand colour (the busiest hour), in steps of opacity.
const HEAT = "#0f766e";
const HW = 960; // wider than the other charts: 24 columns, text kept small when scaled
const CELL_H = 26;
const ROW_LABEL = 44;

/** cells: 7 rows (Monday first) of 24 hours; rows/rowsLong: weekday names. */
export function heatmap({ title, summary, cells, rows, rowsLong, total }) {
  const max = Math.max(0, ...cells.flat());
  const width = (HW - ROW_LABEL - 8) / 24;
  const height = CELL_H * 7 + 34;
  const svg = s("svg", { viewBox: `0 0 ${HW} ${height}`, class: "chart-svg heatmap-svg" });
  for (let hour = 0; hour < 24; hour += 1) {
    if (hour % 2 === 0) svg.append(s("text", { x: ROW_LABEL + width * (hour + 0.5), y: CELL_H * 7 + 16, "text-anchor": "middle", class: "tick" }, String(hour).padStart(2, "0")));
  }
  svg.append(s("text", { x: ROW_LABEL + (HW - ROW_LABEL) / 2, y: height - 2, "text-anchor": "middle", class: "axis-title" }, t("reports.axis.hour")));
  cells.forEach((row, day) => {
    svg.append(s("text", { x: ROW_LABEL - 6, y: CELL_H * day + CELL_H / 2 + 4, "text-anchor": "end", class: "tick" }, rows[day]));
    row.forEach((v, hour) => {
      const shade = v ? 0.15 + 0.85 * (v / max) : 0;
      svg.append(s("rect", {
        x: (ROW_LABEL + width * hour + 1).toFixed(1), y: CELL_H * day + 1, width: (width - 2).toFixed(1), height: CELL_H - 2, rx: 3,
        fill: v ? HEAT : "#eef1f4", "fill-opacity": v ? shade.toFixed(2) : 1, "data-value": v,
      }, s("title", {}, `${rowsLong[day]} ${String(hour).padStart(2, "0")}:00 · ${number(v)}`)));
    });
  });
  const scaleKey = h("p", { class: "heat-key", "aria-hidden": "true" }, "0 ",
    s("svg", { width: 120, height: 10, viewBox: "0 0 120 10" }, [0.15, 0.36, 0.57, 0.79, 1].map((o, i) => s("rect", { x: i * 24, width: 23, height: 10, fill: HEAT, "fill-opacity": o }))),
    ` ${number(max)}`);
  const head = [t("reports.axis.weekday"), ...Array.from({ length: 24 }, (_, i) => String(i).padStart(2, "0")), t("reports.total")];
  const body = cells.map((row, day) => [rowsLong[day], ...row.map(number), number(row.reduce((a, b) => a + b, 0))]);
  body.push([t("reports.total"), ...Array.from({ length: 24 }, (_, hour) => number(cells.reduce((a, row) => a + row[hour], 0))), number(total)]);
  return figure({ title, summary, svg, empty: !total, legend: scaleKey, table: dataTable(title, head, body) });
}
