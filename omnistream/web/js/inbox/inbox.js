// The inbox: list | conversation | contact, wired to live events and the keyboard.
import { loadDirectory, navigate, reportError } from "../app.js";
import { get } from "../api.js";
import { h, typing } from "../dom.js";
import { toast } from "../forms.js";
import { t } from "../i18n.js";
import * as notify from "../notify.js";
import { ContactPanel } from "./contact.js";
import { ConversationList, contactLabel } from "./list.js";
import { SearchPanel } from "./search.js";
import { alertText, refreshBadges } from "./sla.js";
import { Thread } from "./thread.js";
import { canSee } from "./visibility.js";

const CONTACT_PANEL = "omnistream.contactPanel";

export function mount(container, app) {
  const contact = new ContactPanel();
  const list = new ConversationList({ onOpen: (id) => navigate(`inbox/${id}`) });
  const thread = new Thread({
    onToggleContact: () => toggleContact(),
    onChange: (conversation) => {
      list.applyConversation(conversation);
      list.refreshCounts();
    },
    onGone: (conversation) => {
      toast(t("thread.gone"));
      list.forget(conversation.id);
      navigate("inbox");
    },
  });
  // Search results take the list's place; a result opens its conversation at the hit.
  let hitToOpen = null;
  const search = new SearchPanel({
    onToggle: (showing) => list.el.classList.toggle("searching", showing),
    onOpen: ({ conversation, hit }) => {
      hitToOpen = { ...hit, conversation_id: conversation.id };
      if (openId === conversation.id) open(conversation.id);
      else navigate(`inbox/${conversation.id}`);
    },
  });
  list.el.prepend(search.el);
  if (app.can("messages.send")) {
    get("/api/v1/conversations/email/accounts").then((accounts) => accounts.length &&
      import("../email/newmail.js").then((m) => m.mountButton(list.el, accounts)), () => {});
  }
  import("../priority/priority.js").then((m) => m.install(list, thread), reportError);
  import("../labels/labels.js").then((m) => m.install(list, thread), reportError);
  import("../presence/presence.js").then((m) => m.install(list, thread), reportError);
  import("../notifications/notifications.js").then((m) => m.install(list, thread), reportError);
  import("../snooze/snooze.js").then((m) => m.install(list, thread), reportError);
  import("../bulk/bulk.js").then((m) => m.install(list), reportError);
  contact.clear();
  const layout = h("div", { class: "inbox" }, list.el, thread.el, contact.el);
  const hidden = localStorage.getItem(CONTACT_PANEL) === "hidden";
  layout.classList.toggle("contact-hidden", hidden);
  container.append(layout);
  let openId = null;

  function toggleContact() {
    const now = !layout.classList.contains("contact-hidden");
    layout.classList.toggle("contact-hidden", now);
    localStorage.setItem(CONTACT_PANEL, now ? "hidden" : "shown");
  }

  /** A contact changed: every place showing it follows (list rows, header, panel). */
  function applyContact(updated) {
    list.updateContact(updated);
    thread.applyContact(updated);
    contact.update(updated);
  }
  contact.onSaved = applyContact;
  // Read the list once the live stream is positioned, so no change falls in between.
  const settled = new Promise((resolve) => setTimeout(resolve, 1500));
  Promise.race([app.live.firstReady, settled]).then(() => list.reload());

  /** Redraws what shows colleagues' and divisions' names, once the directory is read. */
  function redrawNames(directory) {
    list.setDivisions(directory.divisions);
    list.renderAll();
    contact.redraw(); // who opted the number out
    if (!thread.conversation) return;
    const stick = thread.atBottom();
    thread.renderHead();
    thread.renderTimeline();
    if (stick) thread.scrollToEnd();
  }
  loadDirectory().then(redrawNames, () => {});

  // A colleague or division made after the directory was read: read it again (once per id;
  // deactivated agents are never in it).
  const askedFor = new Set();
  function learnNames(conversation) {
    const known = app.directory;
    if (!known) return;
    const unknown = [
      conversation.assigned_agent_id && !known.agent(conversation.assigned_agent_id) && conversation.assigned_agent_id,
      conversation.division_id && !known.division(conversation.division_id) && conversation.division_id,
    ].filter((id) => id && !askedFor.has(id));
    if (!unknown.length) return;
    for (const id of unknown) askedFor.add(id);
    loadDirectory(true).then(redrawNames, () => {});
  }

  async function open(id) {
    openId = id;
    list.setOpen(id);
    if (!id) {
      thread.showEmpty();
      contact.clear();
      document.title = "OmniStream";
      return;
    }
    const hit = hitToOpen?.conversation_id === id ? hitToOpen : null;
    hitToOpen = null;
    await thread.open(id, { hit });
    if (openId === id && thread.conversation) contact.show(thread.conversation.contact_id, id, thread.conversation.channel);
  }

  function onEvent(event) {
    if (event.type === "reload") {
      list.reload();
      if (openId) open(openId);
      return;
    }
    const data = event.data || {};
    if (data.conversation) {
      list.applyConversation(data.conversation);
      list.refreshCounts();
      contact.applyConversation(data.conversation);
      learnNames(data.conversation);
    }
    if (event.type === "contact.updated" || event.type === "contact.merged") applyContact(data);
    if (event.type.startsWith("campaign_opt_out.")) contact.applyOptOut(event.type, data);
    if (event.type === "contact.deleted") {
      // Its conversations were deleted with it (no event of their own).
      list.dropContact(data.id);
      list.refreshCounts();
      thread.contactDeleted(data);
    }
    thread.applyEvent(event);
    if (event.type.startsWith("sla.") && data.conversation?.assigned_agent_id === app.me.id) slaAlert(event);
    if (event.type === "message.created" && data.message.direction === "inbound") {
      const c = data.conversation;
      const mine = c.assigned_agent_id === app.me.id && canSee(app.me, c);
      const watching = c.id === openId && document.visibilityState === "visible";
      if (mine && !watching) {
        notify.newMessage({
          title: contactLabel(list.cache.get(c.id)?.contact) || t("notify.newMessage"),
          body: c.last_message_preview,
          onClick: () => navigate(`inbox/${c.id}`),
        });
      }
    }
  }
  const offLive = app.live.on(onEvent);
  // The one clock of the inbox: relative times and SLA badges (list and header) count on.
  const clock = setInterval(() => {
    list.tickTimes();
    refreshBadges(thread.head);
  }, 30_000);

  /** sla.warning / sla.breached of my conversation: a toast that opens it. */
  async function slaAlert(event) {
    const c = event.data.conversation;
    let contact = list.cache.get(c.id)?.contact || (thread.conversation?.id === c.id ? thread.conversation.contact : null);
    if (!contact) contact = (await get(`/api/v1/conversations/${c.id}`).catch(() => null))?.contact;
    const text = alertText(event.type, event.data, contactLabel(contact));
    const open = h("button", { type: "button", class: "toast-link", onclick: () => navigate(`inbox/${c.id}`) }, text);
    toast(open, event.type === "sla.breached" ? "error" : "warn");
  }

  function onKey(event) {
    if (document.querySelector("dialog[open]") || event.altKey || event.metaKey || event.ctrlKey) return;
    if (typing(event)) {
      if (event.key === "Escape" && !event.defaultPrevented) event.target.blur();
      return;
    }
    const onControl = event.target instanceof HTMLElement && event.target.closest("button, a, [role=tab]");
    // While search results take the list's place, the list's keys would move in a list unseen.
    if (search.showing && ["j", "k", "ArrowDown", "ArrowUp", "Enter"].includes(event.key)) return;
    switch (event.key) {
      case "j":
      case "ArrowDown":
        if (event.target === list.listEl && event.key === "ArrowDown") return; // the list handles it
        list.move(1, event);
        break;
      case "k":
      case "ArrowUp":
        if (event.target === list.listEl && event.key === "ArrowUp") return;
        list.move(-1, event);
        break;
      case "Enter":
        if (onControl || event.target === list.listEl) return;
        list.openActive(event);
        break;
      case "r":
        event.preventDefault();
        thread.focusReply("reply");
        break;
      case "n":
        event.preventDefault();
        thread.focusReply("note");
        break;
      case "p":
        event.preventDefault();
        thread.head.querySelector(".priority-select")?.focus();
        break;
      case "l":
        event.preventDefault();
        thread.head.querySelector(".label-add")?.click();
        break;
      case "s":
        event.preventDefault();
        thread.head.querySelector(".snooze-button")?.click();
        break;
      case "?":
        shortcutsHelp();
        break;
      default:
        break;
    }
  }
  document.addEventListener("keydown", onKey);

  return {
    route(parts) {
      const id = parts[0] || null;
      if (id !== openId) open(id);
    },
    destroy() {
      offLive();
      clearInterval(clock);
      document.removeEventListener("keydown", onKey);
      list.destroy();
      thread.destroy();
      document.title = "OmniStream";
    },
  };
}

function shortcutsHelp() {
  import("../dom.js").then(({ dialog }) => {
    const rows = [
      ["j / ↓", t("keys.next")],
      ["k / ↑", t("keys.previous")],
      ["Enter", t("keys.open")],
      ["r", t("keys.reply")],
      ["n", t("keys.note")],
      ["p", t("priority.key")],
      ["l", t("labels.key")],
      ["s", t("snooze.key")],
      ["x", t("bulk.key")],
      ["Ctrl+Enter", t("keys.send")],
      ["/", t("keys.quick")],
      ["Esc", t("keys.close")],
    ];
    const close = h("button", { type: "button", class: "primary" }, t("action.close"));
    const el = dialog({
      title: t("keys.title"),
      body: h("table", { class: "shortcuts" }, h("tbody", {}, rows.map(([key, what]) => h("tr", {}, h("th", {}, h("kbd", {}, key)), h("td", {}, what))))),
      actions: [close],
    });
    close.addEventListener("click", () => el.close());
  });
}
