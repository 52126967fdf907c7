// Snooze's sentences (header control, choices, list badge, toasts), in English and Bahasa
// Indonesia: added when the snooze module loads, not with the inbox's own bundle.
import { addStrings } from "../i18n.js";

const en = {
  "snooze.action": "Snooze",
  "snooze.title": "Snooze until…",
  "snooze.hour": "1 hour",
  "snooze.tomorrow": "Tomorrow 09:00",
  "snooze.nextWeek": "Next week (Monday 09:00)",
  "snooze.reply": "Until the customer replies",
  "snooze.at": "Date and time ({zone})",
  "snooze.unsnooze": "Unsnooze",
  "snooze.until": "Snoozed until {when}",
  "snooze.untilReply": "Snoozed until the customer replies",
  "snooze.done": "Snoozed",
  "snooze.backTime": "A snoozed conversation of yours is back",
  "snooze.backReply": "The customer replied: a snoozed conversation of yours is back",
  "snooze.key": "Snooze (s)",
};

const id = {
  "snooze.action": "Tunda",
  "snooze.title": "Tunda sampai…",
  "snooze.hour": "1 jam",
  "snooze.tomorrow": "Besok 09:00",
  "snooze.nextWeek": "Minggu depan (Senin 09:00)",
  "snooze.reply": "Sampai pelanggan membalas",
  "snooze.at": "Tanggal dan jam ({zone})",
  "snooze.unsnooze": "Batalkan tunda",
  "snooze.until": "Ditunda sampai {when}",
  "snooze.untilReply": "Ditunda sampai pelanggan membalas",
  "snooze.done": "Ditunda",
  "snooze.backTime": "Percakapan Anda yang ditunda telah kembali",
  "snooze.backReply": "Pelanggan membalas: percakapan Anda yang ditunda telah kembali",
  "snooze.key": "Tunda (s)",
};

addStrings({ en, id });
