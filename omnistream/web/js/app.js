// Boot, the signed-in shell (top bar, navigation) and the hash router.
import { get, hasApi } from "./api.js";
import { debounce, fill, h } from "./dom.js";
import { describe, toast } from "./forms.js";
import { LANGUAGES, lang, onLangChange, setLang, t } from "./i18n.js";
import { icon } from "./icons.js";
import { Live } from "./live.js";
import { renderLogin } from "./login.js";
import * as session from "./session.js";

const root = document.getElementById("app");

/** What every view shares: the agent, permissions, live events, names of colleagues. */
export const app = {
  me: null,
  perms: new Set(),
  live: null,
  view: null, // {name, route(parts), destroy()}
  viewName: "",
  can: (perm) => app.perms.has(perm),
  directory: null, // {agents, divisions, agent(id), division(id)}
};

let directoryPromise = null;
/** Active colleagues and divisions (names for the timeline, targets for transfers). */
export function loadDirectory(force = false) {
  if (!directoryPromise || force) {
    directoryPromise = get("/api/v1/directory").then((d) => {
      const agents = new Map(d.agents.map((a) => [a.id, a]));
      const divisions = new Map(d.divisions.map((x) => [x.id, x]));
      app.directory = {
        ...d,
        agent: (id) => agents.get(id) || null,
        division: (id) => divisions.get(id) || null,
      };
      return app.directory;
    });
    directoryPromise.catch(() => {
      directoryPromise = null;
    });
  }
  return directoryPromise;
}
const refreshDirectory = debounce(() => loadDirectory(true).catch(() => {}), 1000);
export const agentName = (id) => {
  if (!id) return null;
  const found = app.directory?.agent(id);
  if (!found) refreshDirectory();
  return found?.name || (id === app.me?.id ? app.me.name : null);
};
export const divisionName = (id) => (id ? app.directory?.division(id)?.name || null : null);

// Routing ------------------------------------------------------------------------------------

const VIEWS = {
  inbox: () => import("./inbox/inbox.js"),
  settings: () => import("./settings/settings.js"),
  campaigns: () => import("./campaigns/campaigns.js"),
  reports: () => import("./reports/reports.js"),
  contacts: () => import("./contacts/contacts.js"),
};
// Views only some roles have (the rest see the inbox instead), and the API each needs: its
// nav entry appears once the server answers it (a server without the feature shows none).
const GATED = {
  campaigns: { perm: "campaigns.manage", api: "/api/v1/campaigns" },
  reports: { perm: "reports.read" }, // no probe: every report is a full computation
  contacts: { perm: "contacts.read", api: "/api/v1/contact-attributes" },
};
const allowed = (name) => !GATED[name] || app.can(GATED[name].perm);

// "#/reports?from=…&to=…": what follows "?" is the view's own state (reports/state.js).
function parseHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("?")[0].split("/").filter(Boolean).map(decodeURIComponent);
  const name = VIEWS[parts[0]] && allowed(parts[0]) ? parts[0] : "inbox";
  return { name, parts: parts.slice(1) };
}

export function navigate(path) {
  const target = `#/${path}`;
  if (location.hash !== target) location.hash = target;
  else route();
}

async function route() {
  if (!app.me) return;
  const { name, parts } = parseHash();
  const main = document.getElementById("main");
  for (const link of document.querySelectorAll(".topnav a")) {
    link.toggleAttribute("aria-current", link.dataset.view === name);
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
  }
  if (app.viewName !== name) {
    app.view?.destroy();
    app.view = null;
    app.viewName = name;
    const loading = (app.loading = VIEWS[name]().then((module) => {
      if (app.loading !== loading) return; // navigated elsewhere meanwhile
      fill(main);
      app.view = module.mount(main, app);
    }));
  }
  await app.loading;
  if (app.viewName === name) app.view?.route(parseHash().parts);
}

// The shell ------------------------------------------------------------------------------------

function statusPill() {
  const status = app.live.status;
  return h("span", { class: "live-status", role: "status", dataset: { status } }, t(`live.${status}`));
}

function userMenu() {
  const languages = h(
    "select",
    { "aria-label": t("shell.language"), class: "lang-select" },
    LANGUAGES.map((l) => h("option", { value: l.code, selected: l.code === lang() }, l.name)),
  );
  languages.addEventListener("change", () => setLang(languages.value));
  const logout = h("button", { type: "button", class: "ghost", onclick: () => signOut() }, t("shell.logout"));
  return h(
    "div",
    { class: "user-menu" },
    languages,
    h(
      "a",
      { class: "me", href: "#/settings/profile", title: t("settings.profile") },
      icon("user"),
      h("span", { class: "me-name" }, app.me.name),
      h("span", { class: "role-badge" }, t(`role.${app.me.role}`)),
    ),
    logout,
  );
}

/** A nav link for a gated view: none without the permission; with an `api` to probe,
 * hidden until it answers. */
function gatedLink(name, label) {
  if (!allowed(name)) return null;
  const { api } = GATED[name];
  const link = h("a", { href: `#/${name}`, dataset: { view: name }, hidden: Boolean(api) }, label);
  if (api) {
    hasApi(api).then((present) => {
      link.hidden = !present;
    });
  }
  return link;
}

function renderShell() {
  const header = h(
    "header",
    { class: "topbar" },
    h("a", { class: "brand", href: "#/inbox", "aria-label": "OmniStream" }, h("span", { class: "logo", "aria-hidden": "true" }), "OmniStream"),
    h(
      "nav",
      { class: "topnav", "aria-label": t("shell.nav") },
      h("a", { href: "#/inbox", dataset: { view: "inbox" } }, t("nav.inbox")),
      gatedLink("contacts", t("nav.contacts")),
      gatedLink("campaigns", t("nav.campaigns")),
      gatedLink("reports", t("nav.reports")),
      h("a", { href: "#/settings", dataset: { view: "settings" } }, t("nav.settings")),
    ),
    h("div", { class: "spacer" }),
    statusPill(),
    userMenu(),
  );
  fill(root, header, h("main", { id: "main", tabindex: "-1" }));
  import("./presence/presence.js").then((m) => m.installHeader(header), reportError);
  import("./notifications/notifications.js").then((m) => m.installBell(header.querySelector(".live-status")), reportError);
  root.removeAttribute("aria-busy");
}

async function startSession() {
  // The socket connects while the profile loads: lists are read after its "ready".
  app.live = new Live();
  app.live.start();
  try {
    app.me = await get("/api/v1/auth/me");
  } catch (error) {
    if (error instanceof session.SessionEnded) return;
    app.live.stop();
    fill(root, h("div", { class: "boot-error", role: "alert" }, t("error.boot"), " ", String(error.message || error)),
      h("button", { type: "button", onclick: () => location.reload() }, t("action.retry")));
    return;
  }
  app.perms = new Set(app.me.permissions);
  app.live.onStatus((status) => {
    const pill = document.querySelector(".live-status");
    if (!pill) return;
    pill.dataset.status = status;
    pill.textContent = t(`live.${status}`);
  });
  renderShell();
  loadDirectory().catch(() => {});
  route();
}

function showLogin(reason) {
  for (const open of document.querySelectorAll("dialog")) open.close();
  app.view?.destroy();
  app.view = null;
  app.viewName = "";
  app.me = null;
  app.live?.stop();
  app.live = null;
  document.title = "OmniStream";
  renderLogin(root, { reason, onSignedIn: startSession });
}

export async function signOut() {
  await session.logout(); // fires onSessionEnd -> login
}

session.onSessionEnd((reason) => showLogin(reason));
// The skip link moves focus; a "#main" hash would be taken for a route.
document.querySelector(".skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main")?.focus();
});
window.addEventListener("hashchange", route);
onLangChange(() => {
  if (!app.me) {
    showLogin();
    return;
  }
  app.view?.destroy();
  app.view = null;
  app.viewName = ""; // mount again, in the new language
  renderShell();
  route();
});
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason instanceof session.SessionEnded) event.preventDefault();
});

export function reportError(error) {
  if (error instanceof session.SessionEnded) return;
  console.error(error);
  toast(describe(error), "error");
}

if (session.signedIn()) startSession();
else showLogin();
