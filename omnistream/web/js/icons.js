// Our own small icons (inline SVG constants, drawn for OmniStream; colours come from CSS).
import { svg } from "./dom.js";

const S = (body) =>
  `<svg viewBox="0 0 24 24" width="16" height="16" focusable="false">${body}</svg>`;

const ICONS = {
  // A speech bubble with a tail and a handset-like curve.
  whatsapp: S(
    '<path fill="currentColor" d="M12 2.5a9.5 9.5 0 0 0-8.2 14.3L2.5 21.5l4.8-1.3A9.5 9.5 0 1 0 12 2.5Zm0 2a7.5 7.5 0 1 1-3.9 13.9l-.3-.2-2.4.7.7-2.3-.2-.4A7.5 7.5 0 0 1 12 4.5Z"/>' +
      '<path fill="currentColor" d="M9 7.6c.3 0 .5 0 .7.5l.8 1.8c.1.3 0 .5-.1.7l-.6.7c.6 1.2 1.6 2.2 2.9 2.9l.7-.7c.2-.2.4-.2.7-.1l1.8.8c.4.2.5.4.4.8-.2 1-1.1 1.7-2.1 1.6-3.3-.4-6-3-6.4-6.3-.1-1 .5-1.9 1.2-2.3Z"/>',
  ),
  // A round bubble with a zig-zag.
  messenger: S(
    '<path fill="currentColor" d="M12 2.5C6.6 2.5 2.5 6.4 2.5 11.3c0 2.6 1.1 4.8 3 6.4v3.8l3.4-1.9c1 .3 2 .4 3.1.4 5.4 0 9.5-3.9 9.5-8.7S17.4 2.5 12 2.5Z"/>' +
      '<path fill="#fff" d="m6.8 13.9 3-4.6 2.4 1.9 3.1-1.9-3 4.6-2.4-1.9Z"/>',
  ),
  // A rounded square with a lens and a dot.
  instagram: S(
    '<rect x="3" y="3" width="18" height="18" rx="5.5" fill="none" stroke="currentColor" stroke-width="2"/>' +
      '<circle cx="12" cy="12" r="4" fill="none" stroke="currentColor" stroke-width="2"/>' +
      '<circle cx="17.3" cy="6.7" r="1.3" fill="currentColor"/>',
  ),
  email: S(
    '<rect x="2.5" y="5" width="19" height="14" rx="2" fill="none" stroke="currentColor" stroke-width="2"/>' +
      '<path d="m3.5 6.5 8.5 6.5 8.5-6.5" fill="none" stroke="currentColor" stroke-width="2"/>',
  ),
  tick: S('<path d="m4 12.5 4.5 4.5L20 5.5" fill="none" stroke="currentColor" stroke-width="2.2"/>'),
  ticks: S(
    '<path d="m1.5 12.5 4.5 4.5L17.5 5.5M11 16l1 1L23 5.5" fill="none" stroke="currentColor" stroke-width="2.2"/>',
  ),
  clock: S(
    '<circle cx="12" cy="12" r="8.5" fill="none" stroke="currentColor" stroke-width="2"/><path d="M12 7v5.5l3.5 2" fill="none" stroke="currentColor" stroke-width="2"/>',
  ),
  alert: S(
    '<circle cx="12" cy="12" r="9.5" fill="currentColor"/><path d="M12 6.5v7M12 16.3v1.2" stroke="#fff" stroke-width="2.4"/>',
  ),
  clip: S(
    '<path d="m20 11.5-7.8 7.8a5 5 0 0 1-7-7l8.5-8.6a3.4 3.4 0 0 1 4.8 4.8l-8.4 8.4a1.7 1.7 0 0 1-2.4-2.4l7.6-7.6" fill="none" stroke="currentColor" stroke-width="2"/>',
  ),
  search: S(
    '<circle cx="10.5" cy="10.5" r="6.5" fill="none" stroke="currentColor" stroke-width="2"/><path d="m15.5 15.5 5 5" stroke="currentColor" stroke-width="2"/>',
  ),
  close: S('<path d="m6 6 12 12M18 6 6 18" stroke="currentColor" stroke-width="2"/>'),
  bell: S(
    '<path d="M12 3a6 6 0 0 0-6 6v4l-2 3h16l-2-3V9a6 6 0 0 0-6-6Z" fill="none" stroke="currentColor" stroke-width="2"/><path d="M10 19a2 2 0 0 0 4 0" fill="none" stroke="currentColor" stroke-width="2"/>',
  ),
  file: S(
    '<path d="M6 2.5h8l4.5 4.5v14.5H6Z M14 2.5V7h4.5" fill="none" stroke="currentColor" stroke-width="2"/>',
  ),
  user: S(
    '<circle cx="12" cy="8" r="4" fill="none" stroke="currentColor" stroke-width="2"/><path d="M4 21c1-4.5 4-6.5 8-6.5s7 2 8 6.5" fill="none" stroke="currentColor" stroke-width="2"/>',
  ),
  panel: S(
    '<rect x="3" y="4" width="18" height="16" rx="2" fill="none" stroke="currentColor" stroke-width="2"/><path d="M15 4v16" stroke="currentColor" stroke-width="2"/>',
  ),
};

/** An icon element; with a label it is announced, without one it is decorative. */
export const icon = (name, label) => svg(ICONS[name] || ICONS.file, label);

export const CHANNEL_NAMES = {
  whatsapp: "WhatsApp",
  messenger: "Messenger",
  instagram: "Instagram",
  email: "Email",
};

export function channelIcon(channel) {
  const el = icon(channel, CHANNEL_NAMES[channel] || channel);
  el.classList.add("channel", `channel-${channel}`);
  return el;
}
