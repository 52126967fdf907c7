// Settings › Satisfaction responses (admins and supervisors, csat.read; docs/csat.md): the
// answered surveys, newest answer first, filtered as GET /api/v1/csat allows (answer date in
// the agent's zone, agent, division, channel, score), keyset "Load more", and the summary of
// all that match (GET /api/v1/csat/summary: count, average, share of 4-5). New answers
// arrive live (csat.answered), and the summary is asked again.
import { loadDirectory } from "../app.js";
import { get } from "../api.js";
import { fill, h } from "../dom.js";
import { describe } from "../forms.js";
import { formatDateTime, t, zonedToIso } from "../i18n.js";
import { CHANNEL_NAMES } from "../icons.js";
import { stars } from "../inbox/csat.js";
import { pageHeader, table } from "./common.js";

const contacts = new Map(); // id -> Promise of the name

function contactName(id) {
  if (!contacts.has(id)) contacts.set(id, get(`/api/v1/contacts/${id}`).then((c) => c.name || c.phone || c.email || "—", () => "—"));
  return contacts.get(id);
}

const nextDay = (date) => new Date(Date.parse(`${date}T00:00:00Z`) + 86400000).toISOString().slice(0, 10);

export function render(container, app) {
  let items = [];
  let cursor = null;
  let asked = 0; // the newest request: an older answer is dropped
  const select = (name, label, options) => h("select", { name, "aria-label": label }, h("option", { value: "" }, t("csatRes.any", { what: label })), options);
  const agent = select("agent_id", t("csatRes.agent"), []);
  const division = select("division_id", t("csatRes.division"), []);
  const channel = select("channel", t("csatRes.channel"), ["whatsapp", "messenger", "instagram", "email"].map((c) => h("option", { value: c }, CHANNEL_NAMES[c])));
  const score = select("score", t("csatRes.score"), [5, 4, 3, 2, 1].map((n) => h("option", { value: n }, `${n} / 5`)));
  const from = h("input", { type: "date", name: "from" });
  const to = h("input", { type: "date", name: "to" });
  const summary = h("p", { class: "csat-summary", role: "status" });
  const rows = h("div", {});
  const status = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", class: "ghost", hidden: true, onclick: () => load(false) }, t("action.loadMore"));

  const query = () => ({
    agent_id: agent.value, division_id: division.value, channel: channel.value, score: score.value,
    from: from.value ? zonedToIso(from.value) : "", to: to.value ? zonedToIso(nextDay(to.value)) : "",
  });
  // Whether a live answer belongs in the list as filtered (the API's rules, on one survey).
  function matches(s) {
    const q = query();
    const at = Date.parse(s.responded_at);
    return s.status === "answered" && (!q.agent_id || s.agent_id === q.agent_id) && (!q.division_id || s.division_id === q.division_id) &&
      (!q.channel || s.channel === q.channel) && (!q.score || s.score === Number(q.score)) &&
      (!q.from || at >= Date.parse(q.from)) && (!q.to || at < Date.parse(q.to));
  }

  let summed = 0; // the newest summary request
  async function sum() {
    const mine = ++summed;
    try {
      const got = await get("/api/v1/csat/summary", query());
      if (mine !== summed) return;
      summary.textContent = !got.responses ? t("csatRes.none") : t("csatRes.summary", {
        n: got.responses, average: got.average.toFixed(1), satisfied: Math.round(got.satisfied_percent),
      });
    } catch (error) {
      if (mine === summed) summary.textContent = describe(error);
    }
  }

  function draw() {
    fill(rows, table(t("settings.csatResponses"),
      [t("csatRes.when"), t("csatRes.score"), t("csatRes.feedback"), t("csatRes.contact"), t("csatRes.agent"), t("csatRes.division"), t("csatRes.channel")],
      items.map((s) => {
        const who = h("a", { href: `#/inbox/${s.conversation_id}`, class: "csat-contact" }, "…");
        contactName(s.contact_id).then((text) => { who.textContent = text; });
        return [
          h("time", { datetime: s.responded_at }, formatDateTime(s.responded_at)),
          h("span", { class: "csat-score", dataset: { score: s.score } }, stars(s.score), ` ${s.score} / 5`),
          s.feedback ? h("span", { class: "csat-feedback" }, s.feedback) : h("span", { class: "muted" }, "—"),
          who,
          app.directory?.agent(s.agent_id)?.name || (s.agent_id ? t("csatRes.someone") : t("csatRes.nobody")),
          app.directory?.division(s.division_id)?.name || (s.division_id ? "—" : t("csatRes.noDivision")),
          CHANNEL_NAMES[s.channel] || s.channel || "—",
        ];
      })));
    for (const [i, tr] of [...rows.querySelectorAll("tbody tr")].entries()) if (items[i]) tr.dataset.id = items[i].id;
    more.hidden = !cursor;
  }

  async function load(reset) {
    const mine = ++asked;
    if (reset) sum();
    status.textContent = t("state.loading");
    try {
      const page = await get("/api/v1/csat", { ...query(), limit: 50, cursor: reset ? null : cursor });
      if (mine !== asked) return;
      const known = reset ? [] : items;
      const ids = new Set(known.map((s) => s.id));
      items = known.concat(page.items.filter((s) => !ids.has(s.id)));
      cursor = page.next_cursor;
      status.textContent = "";
      draw();
    } catch (error) {
      if (mine === asked) status.textContent = describe(error);
    }
  }

  const off = app.live.on((event) => {
    if (event.type === "reload") return load(true);
    if (event.type !== "csat.answered") return;
    const s = event.data.survey;
    const at = items.findIndex((x) => x.id === s.id);
    if (at >= 0) items[at] = s; // its feedback came
    else if (matches(s)) items = [s, ...items].sort((a, b) => Date.parse(b.responded_at) - Date.parse(a.responded_at));
    else return;
    draw();
    if (at < 0) sum();
  });

  const form = h("form", { class: "toolbar filters-form", "aria-label": t("csatRes.filters") },
    h("label", { class: "inline" }, t("csatRes.from"), " ", from),
    h("label", { class: "inline" }, t("csatRes.to"), " ", to),
    agent, division, channel, score,
    h("button", { type: "reset", class: "ghost" }, t("csatRes.clear")));
  form.addEventListener("change", () => load(true));
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("reset", () => setTimeout(() => load(true)));
  container.append(pageHeader(t("settings.csatResponses")), h("p", { class: "muted" }, t("csatRes.intro")), form, summary, rows, status, more);
  loadDirectory().then((d) => {
    agent.append(...[...d.agents].sort((a, b) => a.name.localeCompare(b.name)).map((a) => h("option", { value: a.id }, a.name)));
    division.append(...[...d.divisions].sort((a, b) => a.name.localeCompare(b.name)).map((x) => h("option", { value: x.id }, x.name)));
    draw();
  }, () => {});
  app.live.firstReady.then(() => load(true)); // read after the socket is ready: no answer falls between
  return { destroy: off };
}
