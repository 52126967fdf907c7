// Availability's sentences (the header's selector, the dots next to names), in English and
// Bahasa Indonesia: added when the presence module loads, not with the inbox's own bundle.
import { addStrings } from "../i18n.js";

const en = {
  "presence.label": "Availability",
  "presence.online": "Online",
  "presence.away": "Away",
  "presence.offline": "Offline",
  "presence.of": "{name}: {presence}",
  "presence.idle": "Away (idle)",
};

const id = {
  "presence.label": "Ketersediaan",
  "presence.online": "Daring",
  "presence.away": "Sedang pergi",
  "presence.offline": "Luring",
  "presence.of": "{name}: {presence}",
  "presence.idle": "Sedang pergi (tidak aktif)",
};

addStrings({ en, id });
