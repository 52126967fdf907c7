// The inbox's side of mentions: a Mentions tab beside Mine / Unassigned / All (the notes that
// mentioned me, newest first, from GET /notifications?kind=mention: only conversations I may
// still see) and, in a note, @ suggestions of the agents who can see the conversation
// (arrows, Enter or Tab to pick, Esc to close). A picked agent shows as "@Name" in the text
// and is sent in the note's `mentions` while "@Name" is still there (composer.noteExtras).
import { get } from "../api.js";
import { debounce, fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { arrowKeys, openNotification, row } from "./notifications.js";

// The Mentions tab -----------------------------------------------------------------------------

function mentionsTab(list, watchers) {
  const tabs = list.el.querySelector(".tabs");
  const items = h("ul", { class: "notif-list mentions-list", "aria-label": t("notifications.mentionsList") });
  const more = h("button", { type: "button", class: "ghost notif-more", hidden: true }, t("notifications.more"));
  const panel = h("div", { class: "mentions-panel", role: "tabpanel", "aria-labelledby": "tab-mentions" }, items, more);
  const tab = h("button", { type: "button", role: "tab", id: "tab-mentions", class: "tab", "aria-selected": "false", dataset: { tab: "mentions" } },
    h("span", { class: "tab-label" }, t("notifications.tab")));
  let cursor = null;
  const showing = () => list.el.classList.contains("mentions-view");

  async function load(next = false) {
    try {
      const page = await get("/api/v1/notifications", { kind: "mention", limit: 30, cursor: next ? cursor : undefined });
      const rows = page.items.map((n) => row(n, open));
      if (next) items.append(...rows);
      else fill(items, rows.length ? rows : h("li", { class: "muted notif-empty" }, t("notifications.noMentions")));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (error) {
      fill(items, h("li", { class: "muted notif-empty" }, String(error.message || error)));
    }
  }
  function open(n) {
    openNotification(n);
    const item = items.querySelector(`[data-id="${n.id}"]`);
    if (item) {
      item.dataset.unread = "false";
      item.querySelector(".notif-dot")?.remove();
    }
  }
  function show() {
    list.el.classList.add("mentions-view");
    for (const b of tabs.querySelectorAll("[role=tab]")) b.setAttribute("aria-selected", String(b === tab));
    load();
  }
  function hide() {
    list.el.classList.remove("mentions-view");
    for (const b of tabs.querySelectorAll("[role=tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === list.tab));
  }
  tab.addEventListener("click", () => (showing() ? load() : show()));
  // Another tab: back to the list (its own click handler then switches tab as usual).
  tabs.addEventListener("click", (event) => {
    const other = event.target.closest("[role=tab]");
    if (other && other !== tab && showing()) hide();
  }, true);
  more.addEventListener("click", () => load(true));
  arrowKeys(items);
  tabs.append(tab);
  tabs.after(panel);
  watchers.add((event) => {
    if (!list.el.isConnected) return;
    if (showing() && (event.type === "notification.created" || event.type === "reload")) load();
  });
}

// @ suggestions in a note --------------------------------------------------------------------

/** "@Dew" just before the caret: {query, start}; null when the caret is not in a mention. */
function mentionToken(textarea) {
  const before = textarea.value.slice(0, textarea.selectionStart);
  const match = before.match(/(^|\s)@([^\s@]{0,40})$/);
  return match ? { query: match[2], start: textarea.selectionStart - match[2].length - 1 } : null;
}

function suggestions(composer) {
  const textarea = composer.text;
  const box = h("ul", { class: "mention-box", role: "listbox", id: "mention-options", "aria-label": t("notifications.suggestions"), hidden: true });
  composer.form.append(box);
  let options = []; // agents shown
  let active = 0;
  let token = null;
  let asked = 0;
  let picked = { conversationId: null, names: new Map() }; // "@Name" -> agent id

  const isOpen = () => !box.hidden;
  function close() {
    box.hidden = true;
    textarea.removeAttribute("aria-activedescendant");
    textarea.setAttribute("aria-expanded", "false");
  }
  function render() {
    if (!options.length) {
      fill(box, h("li", { class: "muted mention-none", role: "presentation" }, t("notifications.noOne")));
    } else {
      fill(box, options.map((agent, i) => h("li", {
        role: "option",
        id: `mention-${agent.id}`,
        class: "mention-option",
        "aria-selected": String(i === active),
        dataset: { agentId: agent.id },
        onmousedown: (event) => { event.preventDefault(); choose(agent); },
      }, agent.name)));
      textarea.setAttribute("aria-activedescendant", `mention-${options[active].id}`);
    }
    box.hidden = false;
    textarea.setAttribute("aria-expanded", "true");
  }
  const search = debounce(async (query) => {
    const mine = ++asked;
    const conversation = composer.conversation;
    try {
      const found = await get(`/api/v1/conversations/${conversation.id}/notes/mentionable`, { q: query || undefined, limit: 8 });
      if (mine !== asked || !token) return; // a later keystroke, or closed meanwhile
      options = found;
      active = 0;
      render();
    } catch {
      close();
    }
  }, 150);
  function choose(agent) {
    const tok = token || mentionToken(textarea);
    if (!tok) return close();
    const text = `@${agent.name} `;
    const { value, selectionStart } = textarea;
    textarea.value = value.slice(0, tok.start) + text + value.slice(selectionStart);
    const caret = tok.start + text.length;
    textarea.setSelectionRange(caret, caret);
    if (picked.conversationId !== composer.conversation.id) picked = { conversationId: composer.conversation.id, names: new Map() };
    picked.names.set(`@${agent.name}`, agent.id);
    token = null;
    close();
    textarea.focus();
  }

  textarea.setAttribute("aria-autocomplete", "list");
  textarea.setAttribute("aria-controls", "mention-options");
  textarea.addEventListener("input", () => {
    token = composer.mode === "note" && composer.conversation ? mentionToken(textarea) : null;
    if (token) search(token.query);
    else close();
  });
  textarea.addEventListener("blur", () => setTimeout(close, 150));
  // Capture on the form: before the composer's own keys (Ctrl+Enter, the quick replies).
  composer.form.addEventListener("keydown", (event) => {
    if (event.target !== textarea || !isOpen()) return;
    const n = options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!n) return;
      active = (active + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      render();
    } else if ((event.key === "Enter" || event.key === "Tab") && n && !event.ctrlKey && !event.metaKey) {
      choose(options[active]);
    } else if (event.key === "Escape") {
      token = null;
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }, true);
  // The ids of the picked agents whose "@Name" the note still has (none in a reply).
  composer.noteExtras = (text) => {
    if (picked.conversationId !== composer.conversation?.id) return {};
    const ids = [...picked.names].filter(([name]) => text.includes(name)).map(([, agentId]) => agentId);
    return ids.length ? { mentions: [...new Set(ids)] } : {};
  };
  const onNote = composer.onNote;
  composer.onNote = (note) => {
    picked = { conversationId: null, names: new Map() };
    onNote(note);
  };
}

export function installMentions(list, thread, watchers) {
  mentionsTab(list, watchers);
  if (thread.composer) suggestions(thread.composer);
}
