// Settings › System (admins): each API and worker process from its heartbeat (alive or
// gone, host, pid, version, kind, started, last beat, its loops and their lag) and the work
// waiting for the worker loops. Heartbeats are no events: the page rereads GET
// /api/v1/system every REFRESH_MS while the tab is visible. docs/system.md.
import { get } from "../api.js";
import { fill, h } from "../dom.js";
import { describe } from "../forms.js";
import { formatDateTime, t } from "../i18n.js";
import { pageHeader, table } from "../settings/common.js";
import "./strings.js";

const REFRESH_MS = 5000;
const HREF = "/app/js/system/system.css";

function duration(seconds) {
  if (seconds < 60) return t("system.seconds", { n: Math.round(seconds * 10) / 10 });
  if (seconds < 3600) return t("system.minutes", { n: Math.round(seconds / 60) });
  return t("system.hours", { n: Math.round(seconds / 360) / 10 });
}

function loopItem(loop) {
  const state = loop.state === "working" ? t("system.working", { lag: duration(loop.lag_seconds) }) : t("system.waiting");
  const crashes = loop.crashes ? ` · ${t("system.crashes", { n: loop.crashes })}` : "";
  return h("li", { class: `system-loop ${loop.state}`, dataset: { loop: loop.name } }, h("code", {}, loop.name), ` ${state}${crashes}`);
}

function processRow(p) {
  return [
    h("span", { class: `system-status ${p.alive ? "alive" : "gone"}` }, t(p.alive ? "system.alive" : "system.gone")),
    t(`system.kind.${p.kind}`),
    p.host,
    String(p.pid),
    p.version,
    formatDateTime(p.started_at),
    formatDateTime(p.last_beat_at),
    p.loops.length ? h("ul", { class: "system-loops" }, p.loops.map(loopItem)) : t("system.none"),
  ];
}

function backlogRow(b) {
  const count = b.count >= b.cap ? t("system.atLeast", { n: b.cap }) : String(b.count);
  return [t(`system.queue.${b.name}`), count, b.count ? duration(b.oldest_age_seconds) : "—"];
}

export function render(container) {
  if (!document.querySelector(`link[href="${HREF}"]`)) {
    document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
  }
  const processes = h("section", { class: "system-processes" });
  const backlogs = h("section", { class: "system-backlogs" });
  const status = h("p", { class: "muted", role: "status" }, t("state.loading"));
  const heads = [
    t("system.status"), t("system.kind"), t("system.host"), t("system.pid"), t("system.version"),
    t("system.started"), t("system.lastBeat"), t("system.loops"),
  ];

  async function load() {
    try {
      const body = await get("/api/v1/system");
      status.textContent = "";
      fill(
        processes,
        h("h2", {}, t("system.processes")),
        body.processes.length
          ? table(t("system.processes"), heads, body.processes.map(processRow))
          : h("p", { class: "muted" }, t("system.noProcesses")),
      );
      fill(
        backlogs,
        h("h2", {}, t("system.backlogs")),
        table(t("system.backlogs"), [t("system.queue"), t("system.count"), t("system.oldest")], body.backlogs.map(backlogRow)),
      );
    } catch (error) {
      status.textContent = describe(error);
    }
  }

  const timer = setInterval(() => {
    if (document.visibilityState === "visible") load();
  }, REFRESH_MS);
  container.append(pageHeader(t("settings.system")), h("p", { class: "muted" }, t("system.intro")), status, processes, backlogs);
  load();
  return { destroy: () => clearInterval(timer) };
}
