// Priority's sentences (list marker, filter, sort, the header's control), in English and
// Bahasa Indonesia: added when the priority module loads, not with the inbox's own bundle.
import { addStrings } from "../i18n.js";

const en = {
  "priority.label": "Priority",
  "priority.none": "No priority",
  "priority.low": "Low",
  "priority.medium": "Medium",
  "priority.high": "High",
  "priority.urgent": "Urgent",
  "priority.any": "Any priority",
  "priority.highUrgent": "High or urgent",
  "priority.sort": "Priority",
  "priority.marker": "Priority: {name}",
  "priority.key": "Priority (then ↑ / ↓)",
};

const id = {
  "priority.label": "Prioritas",
  "priority.none": "Tanpa prioritas",
  "priority.low": "Rendah",
  "priority.medium": "Sedang",
  "priority.high": "Tinggi",
  "priority.urgent": "Mendesak",
  "priority.any": "Semua prioritas",
  "priority.highUrgent": "Tinggi atau mendesak",
  "priority.sort": "Prioritas",
  "priority.marker": "Prioritas: {name}",
  "priority.key": "Prioritas (lalu ↑ / ↓)",
};

addStrings({ en, id });
