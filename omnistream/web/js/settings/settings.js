// Settings: a navigation of the sections the agent's role may use, and the open section.
import { fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { hasApi } from "../inbox/replytools.js";

// Each section: the permission that shows it, the API it needs (sections of features a
// server may not have yet appear once it answers), and its module (loaded when opened).
const SECTIONS = [
  { id: "profile", perm: "self", load: () => import("./profile.js") },
  { id: "agents", perm: "agents.read", load: () => import("./agents.js") },
  { id: "divisions", perm: "divisions.read", load: () => import("./divisions.js") },
  { id: "labels", perm: "labels.manage", api: "/api/v1/labels", load: () => import("../labels/settings.js") },
  { id: "contactAttributes", perm: "contact_attributes.manage", api: "/api/v1/contact-attributes", load: () => import("../contacts/settings.js") },
  { id: "assignment", perm: "assignment.manage", api: "/api/v1/assignment/settings", load: () => import("../assignment/settings.js") },
  { id: "integrations", perm: "integrations.manage", load: () => import("./integrations.js") },
  { id: "webhooks", perm: "webhooks.manage", api: "/api/v1/webhooks", load: () => import("./webhooks.js") },
  { id: "sla", perm: "sla.manage", api: "/api/v1/sla/policies", load: () => import("./sla.js") },
  { id: "csat", perm: "csat.manage", api: "/api/v1/csat/settings", load: () => import("./csat.js") },
  { id: "csatResponses", perm: "csat.read", api: "/api/v1/csat", load: () => import("./csatresponses.js") },
  { id: "quickReplies", perm: "quick_replies.read", api: "/api/v1/quick-replies", load: () => import("./quickreplies.js") },
  { id: "templates", perm: "templates.read", api: "/api/v1/templates", load: () => import("./templates.js") },
  { id: "scheduled", perm: "messages.schedule", api: "/api/v1/scheduled-messages", load: () => import("./scheduled.js") },
  { id: "activity", perm: "activity.read", load: () => import("./activity.js") },
  { id: "system", perm: "system.read", api: "/api/v1/system", load: () => import("../system/system.js") },
];

async function available(app) {
  const allowed = SECTIONS.filter((s) => app.can(s.perm));
  const present = await Promise.all(allowed.map((s) => (s.api ? hasApi(s.api) : true)));
  return allowed.filter((_, i) => present[i]);
}

export function mount(container, app) {
  const links = h("ul", {});
  const nav = h("nav", { class: "settings-nav", "aria-label": t("settings.nav") }, h("h2", {}, t("nav.settings")), links);
  const content = h("section", { class: "settings-content", "aria-live": "polite" });
  container.append(h("div", { class: "settings" }, nav, content));
  const ready = available(app).then((sections) => {
    fill(links, sections.map((s) => h("li", {}, h("a", { href: `#/settings/${s.id}`, dataset: { section: s.id } }, t(`settings.${s.id}`)))));
    return sections;
  });
  let current = null; // {id, view}: the section shown (or loading)

  return {
    async route(parts) {
      const sections = await ready;
      const wanted = sections.find((s) => s.id === parts[0]) || sections[0];
      for (const a of nav.querySelectorAll("a")) {
        if (a.dataset.section === wanted.id) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
      if (current?.id === wanted.id) return;
      current?.view?.destroy?.();
      const entry = { id: wanted.id, view: null };
      current = entry;
      fill(content, h("p", { class: "muted" }, t("state.loading")));
      const module = await wanted.load();
      if (current !== entry) return; // another section was chosen meanwhile
      fill(content);
      document.title = `${t(`settings.${wanted.id}`)} · OmniStream`;
      entry.view = module.render(content, app);
    },
    destroy() {
      current?.view?.destroy?.();
      document.title = "OmniStream";
    },
  };
}
