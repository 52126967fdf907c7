// Notifications' and mentions' sentences (the bell, its panel, the Mentions tab, the @
// suggestions in a note), in English and Bahasa Indonesia: added when js/notifications/ loads.
import { addStrings } from "../i18n.js";

const en = {
  "notifications.title": "Notifications",
  "notifications.bell": "Notifications, {n} unread",
  "notifications.bellNone": "Notifications, none unread",
  "notifications.markAll": "Mark all read",
  "notifications.empty": "No notifications yet.",
  "notifications.more": "Show more",
  "notifications.enableBrowser": "Also notify me in the browser",
  "notifications.browserOn": "Browser notifications are on.",
  "notifications.browserBlocked": "The browser blocks notifications for this site.",
  "notifications.mention": "{actor} mentioned you",
  "notifications.mentionOn": "{actor} mentioned you · {contact}",
  "notifications.snoozeEnded": "Back from snooze",
  "notifications.snoozeEndedOn": "Back from snooze · {contact}",
  "notifications.other": "Notification",
  "notifications.someone": "Someone",
  "notifications.unread": "Unread",
  "notifications.tab": "Mentions",
  "notifications.mentionsList": "Notes that mention you",
  "notifications.noMentions": "Nobody has mentioned you yet.",
  "notifications.suggestions": "Agents who can see this conversation",
  "notifications.noOne": "No agent by that name can see this conversation",
};

const id = {
  "notifications.title": "Notifikasi",
  "notifications.bell": "Notifikasi, {n} belum dibaca",
  "notifications.bellNone": "Notifikasi, tidak ada yang belum dibaca",
  "notifications.markAll": "Tandai semua sudah dibaca",
  "notifications.empty": "Belum ada notifikasi.",
  "notifications.more": "Tampilkan lagi",
  "notifications.enableBrowser": "Beri tahu saya juga di browser",
  "notifications.browserOn": "Notifikasi browser aktif.",
  "notifications.browserBlocked": "Browser memblokir notifikasi untuk situs ini.",
  "notifications.mention": "{actor} menyebut Anda",
  "notifications.mentionOn": "{actor} menyebut Anda · {contact}",
  "notifications.snoozeEnded": "Kembali dari tunda",
  "notifications.snoozeEndedOn": "Kembali dari tunda · {contact}",
  "notifications.other": "Notifikasi",
  "notifications.someone": "Seseorang",
  "notifications.unread": "Belum dibaca",
  "notifications.tab": "Sebutan",
  "notifications.mentionsList": "Catatan yang menyebut Anda",
  "notifications.noMentions": "Belum ada yang menyebut Anda.",
  "notifications.suggestions": "Agen yang dapat melihat percakapan ini",
  "notifications.noOne": "Tidak ada agen dengan nama itu yang dapat melihat percakapan ini",
};

addStrings({ en, id });
