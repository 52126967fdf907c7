// The left pane: tabs Mine / Unassigned / All with counts, filters, the conversation list
// (keyset pages loaded on scroll), kept current by live events.
import { agentName, app, divisionName, reportError } from "../app.js";
import { get } from "../api.js";
import { debounce, fill, h, throttle } from "../dom.js";
import { formatDateTime, formatRelative, t } from "../i18n.js";
import { CHANNEL_NAMES, channelIcon, icon } from "../icons.js";
import { refreshBadges, slaBadge, slaKind } from "./sla.js";
import { before, canSee, newer } from "./visibility.js";

const PAGE = 40;
const PREFS = "omnistream.inbox";
const TABS = ["mine", "unassigned", "all"];
const SORTS = ["last_message_at", "sla_due_at", "priority"];

function savedPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS)) || {};
  } catch {
    return {};
  }
}

export function initials(name) {
  const words = (name || "?").replace(/[^\p{L}\p{N} ]/gu, " ").trim().split(/\s+/);
  return ((words[0]?.[0] || "?") + (words.length > 1 ? words.at(-1)[0] : "")).toUpperCase();
}

export const contactLabel = (contact) =>
  contact?.name || (contact?.phone ? `+${contact.phone}` : contact?.email) || t("contact.unknown");

export class ConversationList {
  constructor({ onOpen }) {
    const prefs = savedPrefs();
    this.onOpen = onOpen;
    this.tab = TABS.includes(prefs.tab) ? prefs.tab : "all";
    this.filters = { status: "open", channel: "", division_id: "", sla: "", priority: "", sort: SORTS[0], ...prefs.filters, q: "", label: "" };
    if (!SORTS.includes(this.filters.sort)) this.filters.sort = SORTS[0];
    this.items = []; // conversation items in list order
    this.cache = new Map(); // id -> last known item (with contact), also for rows not shown
    this.rows = new Map(); // id -> <li>
    this.contacts = new Map(); // contact id -> latest contact from an event (see withContact)
    this.cursor = null;
    this.done = false;
    this.loading = false;
    this.generation = 0;
    this.openId = null;
    this.activeId = null;
    this.counts = null;
    this.el = this.render();
    // Busy inboxes change all the time: counts are re-read at most once a second.
    this.refreshCounts = throttle(() => this.loadCounts(), 1000);
    this.observer = new IntersectionObserver(
      (entries) => entries.some((e) => e.isIntersecting) && this.loadMore(),
      { root: this.scroller, rootMargin: "300px" },
    );
    this.observer.observe(this.sentinel);
  }

  destroy() {
    this.observer.disconnect();
  }

  savePrefs() {
    const { q, label, ...filters } = this.filters; // labels may be deleted meanwhile
    localStorage.setItem(PREFS, JSON.stringify({ tab: this.tab, filters }));
  }

  // Rendering --------------------------------------------------------------------------------

  render() {
    this.tabButtons = TABS.map((tab) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          id: `tab-${tab}`,
          "aria-selected": String(tab === this.tab),
          "aria-controls": "conversation-list",
          class: "tab",
          dataset: { tab },
          onclick: () => this.setTab(tab),
        },
        h("span", { class: "tab-label" }, t(`inbox.tab.${tab}`)),
        h("span", { class: "count", dataset: { count: tab }, "aria-hidden": "true" }, ""),
        h("span", { class: "sr-only", dataset: { countLabel: tab } }, ""),
      ),
    );
    const search = h("input", {
      type: "search",
      class: "search",
      placeholder: t("inbox.search"),
      "aria-label": t("inbox.search"),
      value: this.filters.q,
    });
    search.addEventListener("input", debounce(() => this.setFilter("q", search.value.trim()), 300));
    this.search = search;
    const select = (name, label, options) => {
      const el = h(
        "select",
        { "aria-label": label, class: "filter", dataset: { filter: name } },
        options.map(([value, text]) => h("option", { value, selected: this.filters[name] === value }, text)),
      );
      el.addEventListener("change", () => this.setFilter(name, el.value));
      return el;
    };
    const divisions = (app.directory?.divisions || app.me.divisions || []).map((d) => [d.id, d.name]);
    this.divisionSelect = select("division_id", t("inbox.filter.division"), [["", t("inbox.filter.anyDivision")], ...divisions]);
    const filters = h(
      "div",
      { class: "filters" },
      h("div", { class: "search-wrap" }, icon("search"), search),
      h(
        "div",
        { class: "filter-row" },
        select("status", t("inbox.filter.status"), [
          ["open", t("status.open")],
          ["resolved", t("status.resolved")],
          ["", t("inbox.filter.anyStatus")],
        ]),
        select("channel", t("inbox.filter.channel"), [
          ["", t("inbox.filter.anyChannel")],
          ...Object.entries(CHANNEL_NAMES),
        ]),
        this.divisionSelect,
        select("sla", t("inbox.filter.sla"), [
          ["", t("inbox.filter.anySla")],
          ["breached", t("inbox.filter.breached")],
          ["due_soon", t("inbox.filter.dueSoon")],
        ]),
        select("sort", t("inbox.sort"), [
          ["last_message_at", t("inbox.sort.recent")],
          ["sla_due_at", t("inbox.sort.due")],
        ]),
      ),
    );
    this.listEl = h("ul", {
      id: "conversation-list",
      role: "listbox",
      tabindex: "0",
      "aria-label": t("inbox.list"),
      class: "conv-list",
    });
    this.listEl.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") this.move(1, event);
      else if (event.key === "ArrowUp") this.move(-1, event);
      else if (event.key === "Enter") this.openActive(event);
    });
    this.sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
    this.status = h("p", { class: "list-status muted", role: "status" });
    this.scroller = h("div", { class: "conv-scroll" }, this.listEl, this.status, this.sentinel);
    return h(
      "section",
      { class: "pane list-pane", "aria-label": t("inbox.conversations") },
      h("div", { class: "tabs", role: "tablist", "aria-label": t("inbox.tabs") }, this.tabButtons),
      filters,
      this.scroller,
    );
  }

  /** The division filter once the directory (all division names) has arrived. */
  setDivisions(divisions) {
    const current = this.divisionSelect.value;
    fill(
      this.divisionSelect,
      h("option", { value: "" }, t("inbox.filter.anyDivision")),
      divisions.map((d) => h("option", { value: d.id, selected: d.id === current }, d.name)),
    );
  }

  row(item) {
    const contact = item.contact || {};
    const unread = item.unread_count > 0;
    const meta = [
      item.assigned_agent_id
        ? item.assigned_agent_id === app.me.id
          ? t("inbox.assignedToMe")
          : agentName(item.assigned_agent_id) || item.assigned_agent_name || t("inbox.assigned")
        : t("inbox.unassigned"),
      divisionName(item.division_id),
      item.status === "resolved" ? t("status.resolved") : null,
    ].filter(Boolean);
    const li = h(
      "li",
      {
        role: "option",
        id: `conv-${item.id}`,
        class: `conv-row${unread ? " unread" : ""}${item.id === this.openId ? " open" : ""}${item.id === this.activeId ? " active" : ""}`,
        "aria-selected": String(item.id === this.openId),
        dataset: { id: item.id, channel: item.channel },
        onclick: () => {
          this.activeId = item.id;
          this.onOpen(item.id);
        },
      },
      h("div", { class: "avatar", "aria-hidden": "true" }, initials(contact.name), channelIcon(item.channel)),
      h(
        "div",
        { class: "conv-main" },
        h(
          "div",
          { class: "conv-top" },
          h("span", { class: "conv-name" }, contactLabel(contact)),
          this.marker?.(item),
          h("time", { datetime: item.last_message_at, title: formatDateTime(item.last_message_at) }, formatRelative(item.last_message_at)),
        ),
        h(
          "div",
          { class: "conv-bottom" },
          h("span", { class: "conv-preview" }, item.last_message_preview || "\u00a0"),
          unread
            ? h("span", { class: "unread-badge", "aria-label": t("inbox.unread", { n: item.unread_count }) }, item.unread_count > 99 ? "99+" : String(item.unread_count))
            : null,
        ),
        h("div", { class: "conv-meta" }, slaBadge(item), this.snoozed?.(item), this.chips?.(item), h("span", { class: "sr-only" }, CHANNEL_NAMES[item.channel], ". "), this.presence?.(item.assigned_agent_id), meta.join(" · ")),
      ),
    );
    return li;
  }

  renderRow(item) {
    const old = this.rows.get(item.id);
    const li = this.row(item);
    this.rows.set(item.id, li);
    if (old) old.replaceWith(li);
    return li;
  }

  renderAll() {
    this.rows.clear();
    fill(this.listEl, this.items.map((item) => this.renderRow(item)));
    this.updateStatus();
    this.syncActive();
  }

  updateStatus() {
    let text = "";
    if (this.loading && !this.items.length) text = t("state.loading");
    else if (!this.items.length && this.done) text = t("inbox.empty");
    else if (this.done && this.items.length > PAGE) text = t("inbox.end");
    this.status.textContent = text;
  }

  /** The shared clock's tick (inbox.js): relative times, SLA badges, and with an SLA
   * filter the rows whose state the passing time changed (due soon turns breached). */
  tickTimes() {
    for (const time of this.listEl.querySelectorAll("time")) {
      time.textContent = formatRelative(time.getAttribute("datetime"));
    }
    refreshBadges(this.listEl);
    if (!this.filters.sla) return;
    for (const item of [...this.cache.values()]) {
      if (this.rows.has(item.id) !== this.matches(item)) this.place(item);
    }
  }

  renderCounts() {
    if (!this.counts) return;
    const { mine, unassigned, all_open: all, cap } = this.counts;
    const show = (n) => (n >= cap ? `${cap}+` : String(n));
    for (const [tab, n] of Object.entries({ mine, unassigned, all })) {
      this.el.querySelector(`[data-count="${tab}"]`).textContent = show(n);
      this.el.querySelector(`[data-count-label="${tab}"]`).textContent = `, ${t("inbox.openCount", { n: show(n) })}`;
    }
  }

  // Loading ----------------------------------------------------------------------------------

  query() {
    const assignee = { mine: "me", unassigned: "unassigned" }[this.tab];
    return { ...this.filters, assignee, limit: PAGE };
  }

  async reload() {
    this.generation += 1;
    this.items = [];
    this.cursor = null;
    this.done = false;
    this.loading = false;
    this.renderAll();
    this.loadCounts();
    await this.loadMore();
  }

  async loadMore() {
    if (this.loading || this.done) return;
    const generation = this.generation;
    this.loading = true;
    this.updateStatus();
    try {
      const page = await get("/api/v1/conversations", { ...this.query(), cursor: this.cursor });
      if (generation !== this.generation) return;
      for (const item of page.items) {
        this.cache.set(item.id, item);
        if (this.items.some((i) => i.id === item.id)) continue; // moved up live meanwhile
        this.items.push(item);
        this.listEl.append(this.renderRow(item));
      }
      this.cursor = page.next_cursor;
      this.done = !page.next_cursor;
      this.syncActive();
    } catch (error) {
      if (generation === this.generation) {
        this.status.textContent = t("error.load");
        reportError(error);
      }
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.updateStatus();
        // The sentinel may still be in view (short pages): keep going until it is not.
        if (!this.done) requestAnimationFrame(() => this.fillViewport());
      }
    }
  }

  fillViewport() {
    const box = this.scroller.getBoundingClientRect();
    if (this.sentinel.getBoundingClientRect().top < box.bottom + 300) this.loadMore();
  }

  async loadCounts() {
    this.onCounts?.(); // the labels' counts (js/labels/)
    try {
      this.counts = await get("/api/v1/conversations/counts");
      this.renderCounts();
    } catch (error) {
      reportError(error);
    }
  }

  setTab(tab) {
    if (tab === this.tab) return;
    this.tab = tab;
    for (const b of this.tabButtons) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
    this.savePrefs();
    this.reload();
  }

  setFilter(name, value) {
    if (this.filters[name] === value) return;
    this.filters[name] = value;
    this.savePrefs();
    this.reload();
  }

  // Live updates -----------------------------------------------------------------------------

  matches(item) {
    const f = this.filters;
    if (!canSee(app.me, item)) return false;
    if (f.status && item.status !== f.status) return false;
    if (f.channel && item.channel !== f.channel) return false;
    if (f.division_id && item.division_id !== f.division_id) return false;
    if (f.priority && !f.priority.split(",").includes(item.priority)) return false;
    if (f.label && !(item.labels || []).some((l) => f.label.includes(l.id))) return false;
    if (this.tab === "mine" && item.assigned_agent_id !== app.me.id) return false;
    if (this.tab === "unassigned" && item.assigned_agent_id !== null) return false;
    const sla = slaKind(item);
    if (f.sort === "sla_due_at" && !sla) return false; // the API lists only running clocks
    if (f.sla && sla !== { breached: "breached", due_soon: "soon" }[f.sla]) return false;
    if (f.q && item.contact) {
      const q = f.q.toLowerCase();
      const digits = q.replace(/\D/g, "");
      const hay = `${item.contact.name || ""} ${item.last_message_preview || ""}`.toLowerCase();
      if (!hay.includes(q) && !(digits && (item.contact.phone || "").includes(digits))) return false;
    }
    return true;
  }

  /** A conversation changed (from an event): update, move, add or drop its row. */
  async applyConversation(conversation) {
    const known = this.cache.get(conversation.id);
    if (known && !newer(conversation, known)) return;
    let item;
    if (known) {
      item = { ...known, ...conversation };
      if (known.assigned_agent_id !== conversation.assigned_agent_id) {
        item.assigned_agent_name = agentName(conversation.assigned_agent_id);
      }
    } else {
      if (!this.matches({ ...conversation, contact: null })) return;
      try {
        item = await get(`/api/v1/conversations/${conversation.id}`);
      } catch {
        return; // no longer visible
      }
      const latest = this.cache.get(conversation.id);
      if (latest && !newer(item, latest)) return;
      item = this.withContact(item);
    }
    this.cache.set(item.id, item);
    this.place(item);
  }

  place(item) {
    const index = this.items.findIndex((i) => i.id === item.id);
    if (index >= 0) this.items.splice(index, 1);
    const row = this.rows.get(item.id);
    if (!this.matches(item)) {
      if (row) {
        row.remove();
        this.rows.delete(item.id);
        if (this.activeId === item.id) this.activeId = this.items[index]?.id ?? this.items[index - 1]?.id ?? null;
        this.syncActive();
      }
      this.updateStatus();
      return;
    }
    let at = this.items.findIndex((i) => before(item, i, this.filters.sort));
    if (at < 0) {
      if (!this.done) {
        // Sorts after everything loaded so far: a later page brings it.
        row?.remove();
        this.rows.delete(item.id);
        return;
      }
      at = this.items.length;
    }
    this.items.splice(at, 0, item);
    const li = this.renderRow(item);
    const next = this.items[at + 1];
    this.listEl.insertBefore(li, next ? this.rows.get(next.id) : null);
    this.updateStatus();
    this.syncActive();
  }

  forget(conversationId) {
    const item = this.cache.get(conversationId);
    if (item) this.place({ ...item, status: "__gone__" });
    this.cache.delete(conversationId);
  }

  /** A row fetched while a contact.updated event arrived (e.g. the profile lookup naming a
   * new customer) gets that newer contact: the event found no row to update. */
  withContact(item) {
    const seen = this.contacts.get(item.contact_id);
    if (!seen || (item.contact?.updated_at && !newer(seen, item.contact))) return item;
    return { ...item, contact: { ...item.contact, ...seen } };
  }

  /** A contact changed, or another one was merged into it (its conversations moved here). */
  updateContact(contact) {
    this.contacts.delete(contact.id);
    this.contacts.set(contact.id, contact);
    if (this.contacts.size > 500) this.contacts.delete(this.contacts.keys().next().value);
    for (const item of this.cache.values()) {
      if (item.contact_id !== contact.id && item.contact_id !== contact.merged_contact_id) continue;
      if (item.contact_id === contact.id && item.contact.updated_at && !newer(contact, item.contact)) continue;
      item.contact_id = contact.id;
      item.contact = { ...item.contact, ...contact };
      if (this.rows.has(item.id)) this.renderRow(item);
    }
  }

  /** A deleted contact's conversations went with it. */
  dropContact(contactId) {
    for (const item of [...this.cache.values()]) {
      if (item.contact_id === contactId) this.forget(item.id);
    }
  }

  /** Mark the open conversation (aria-selected) and keep its row visible. */
  setOpen(id) {
    const previous = this.openId;
    this.openId = id;
    if (id) this.activeId = id;
    for (const key of [previous, id]) {
      const item = key && this.items.find((i) => i.id === key);
      if (item) this.renderRow(item);
    }
    this.syncActive();
  }

  // Keyboard -------------------------------------------------------------------------------

  syncActive() {
    if (!this.items.some((i) => i.id === this.activeId)) this.activeId = this.items[0]?.id ?? null;
    for (const [id, li] of this.rows) li.classList.toggle("active", id === this.activeId);
    if (this.activeId) this.listEl.setAttribute("aria-activedescendant", `conv-${this.activeId}`);
    else this.listEl.removeAttribute("aria-activedescendant");
  }

  move(delta, event) {
    event?.preventDefault();
    if (!this.items.length) return;
    let index = this.items.findIndex((i) => i.id === this.activeId);
    index = Math.min(this.items.length - 1, Math.max(0, index + delta));
    this.activeId = this.items[index].id;
    this.syncActive();
    this.rows.get(this.activeId)?.scrollIntoView({ block: "nearest" });
    if (index >= this.items.length - 3) this.loadMore();
  }

  openActive(event) {
    event?.preventDefault();
    if (this.activeId) this.onOpen(this.activeId);
  }

  focus() {
    this.listEl.focus();
  }
}
