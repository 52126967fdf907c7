// Live updates of the contacts screen (docs/contacts.md#live-updates): the table and an open
// contact's page follow contact.*, contact_note.* and contact_attribute.* events, so another
// agent's edit, note, merge or delete shows at once. One handler on each sign-in's live
// connection; the views on screen register with follow() and leave with the function it returns.
const views = new Set();
let listening = null; // the live connection our handler is on (a new one per sign-in)

const ours = (type) => type === "reload" || type.startsWith("contact.") || type.startsWith("contact_note.")
  || type.startsWith("contact_attribute.");

/** fn(event) for each contacts event (and {type: "reload"} after a gap); returns unfollow. */
export function follow(app, fn) {
  if (app.live && listening !== app.live) {
    listening = app.live;
    app.live.on((event) => {
      if (!ours(event.type)) return;
      for (const view of [...views]) view(event);
    });
  }
  views.add(fn);
  return () => views.delete(fn);
}

/** The contact an event is about: the contact itself, or a note's contact. */
export const contactOf = (event) => {
  const data = event.data || {};
  if (event.type.startsWith("contact_note.")) return data.note?.contact_id || data.contact_id || null;
  return event.type.startsWith("contact.") ? data.id || null : null;
};
