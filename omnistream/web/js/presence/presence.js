// Availability (docs/inbox.md#availability): the signed-in agent's selector in the app header
// (online / away / offline), a coloured dot with an accessible name next to agents' names
// (list rows, the conversation header, Settings › Agents; the assign and transfer menus say
// it in words), all following agent.presence events live; and idleness: no input for 15
// minutes (localStorage "omnistream.idleSeconds" overrides it, e.g. in tests) reports an
// automatic away, the next input brings back the agent's choice. Loaded with import() from
// the app shell and the inbox, so the inbox's statically loaded JS + CSS stays within its
// budget; the hooks in shared files are list.presence, thread.presence and app.presenceLabel.
import { app, reportError } from "../app.js";
import { get, put } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import "./strings.js";

const HREF = "/app/js/presence/presence.css";
if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}

const PRESENCES = ["online", "away", "offline"];
const IDLE_KEY = "omnistream.idleSeconds";
const DEFAULT_IDLE_SECONDS = 15 * 60;
const known = new Map(); // agent id -> presence, from events (newer than the directory's)
let mine = null; // {presence, choice} of the signed-in agent
let picker = null; // the header's <select>
let idle = false; // we reported an automatic away

const nameOf = (id) => app.directory?.agent(id)?.name || (id === app.me?.id ? app.me.name : "");

/** An agent's presence as last heard (events, then the directory, then a listing's value). */
export function presenceOf(agentId, fallback = null) {
  if (agentId === app.me?.id && mine) return mine.presence;
  return known.get(agentId) || app.directory?.agent(agentId)?.presence || fallback;
}

function paint(el, agentId, presence) {
  const label = t("presence.of", { name: nameOf(agentId) || "—", presence: t(`presence.${presence}`) });
  el.className = `presence-dot presence-${presence}`;
  el.dataset.presence = presence;
  el.setAttribute("aria-label", label);
  el.title = label;
}

/** The dot for an agent (null when unknown): updated in place by later events. */
export function dot(agentId, fallback = null) {
  const presence = agentId ? presenceOf(agentId, fallback) : null;
  if (!presence) return null;
  const el = h("span", { role: "img", dataset: { presenceAgent: agentId } });
  paint(el, agentId, presence);
  return el;
}

/** A menu option's text: the name and the presence in words (options cannot hold a dot). */
function label(agent, text) {
  const presence = presenceOf(agent.id, agent.presence);
  return presence ? `${text} · ${t(`presence.${presence}`)}` : text;
}

function changed(agentId, presence) {
  known.set(agentId, presence);
  const entry = app.directory?.agent(agentId);
  if (entry) entry.presence = presence;
  for (const el of document.querySelectorAll(`[data-presence-agent="${agentId}"]`)) paint(el, agentId, presence);
}

function showMine(state) {
  if (!app.me) return; // signed out while the read or the change was on its way
  mine = state;
  changed(app.me.id, state.presence);
  if (picker) {
    picker.value = state.presence;
    picker.dataset.presence = state.presence;
  }
}

async function send(body) {
  try {
    showMine(await put("/api/v1/me/presence", body));
  } catch (error) {
    reportError(error);
  }
}

// Idleness --------------------------------------------------------------------------------

function idleSeconds() {
  const value = Number(localStorage.getItem(IDLE_KEY));
  return value > 0 ? value : DEFAULT_IDLE_SECONDS;
}

let lastInput = Date.now();
let watching = false;

function onInput() {
  lastInput = Date.now();
  if (idle && app.me) {
    idle = false;
    send({ presence: "online", automatic: true }); // back to the choice
  }
}

function checkIdle() {
  if (!app.me || !mine || idle || mine.presence !== "online") return;
  if (Date.now() - lastInput >= idleSeconds() * 1000) {
    idle = true;
    send({ presence: "away", automatic: true });
  }
}

function watchIdle() {
  if (watching) return;
  watching = true;
  for (const type of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart", "focus"]) {
    window.addEventListener(type, onInput, { passive: true, capture: true });
  }
  setInterval(checkIdle, Math.min(30, Math.max(0.5, idleSeconds() / 4)) * 1000);
}

// Live ------------------------------------------------------------------------------------

let listening = null; // the session's live connection our handler is on (one per sign-in)

function listen() {
  if (!app.live || listening === app.live) return;
  listening = app.live;
  known.clear();
  mine = null;
  idle = false;
  app.live.on((event) => {
    if (event.type !== "agent.presence") return;
    const { agent_id: agentId, presence } = event.data;
    if (agentId === app.me?.id) {
      if (mine) showMine({ ...mine, presence });
    } else {
      changed(agentId, presence);
    }
  });
  // Connecting brings the agent back to their choice: read it once the socket is live.
  app.live.onStatus((status) => {
    if (status === "live") get("/api/v1/me/presence").then(showMine, () => {});
  });
  get("/api/v1/me/presence").then(showMine, () => {});
}

/** The header's selector (before the live-status pill); called on every shell render. */
export function installHeader(header) {
  if (!app.me) return; // signed out while this module was loading
  listen();
  watchIdle();
  picker = h(
    "select",
    { class: "presence-select", "aria-label": t("presence.label"), title: t("presence.label") },
    PRESENCES.map((p) => h("option", { value: p }, t(`presence.${p}`))),
  );
  if (mine) picker.value = mine.presence;
  picker.addEventListener("change", () => {
    idle = false;
    send({ presence: picker.value });
  });
  const own = h("span", { role: "img", dataset: { presenceAgent: app.me.id } });
  paint(own, app.me.id, mine?.presence || "offline");
  header.insertBefore(h("span", { class: "presence-picker" }, own, picker), header.querySelector(".live-status"));
  app.presenceLabel = label;
}

/** The inbox's part: dots next to the assignee in list rows and the conversation header. */
export function install(list, thread) {
  if (!app.me) return; // signed out while this module was loading
  listen();
  list.presence = (agentId) => dot(agentId);
  list.renderAll();
  thread.presence = (agentId) => dot(agentId);
  if (thread.conversation) thread.renderHead();
  app.presenceLabel = label;
}
