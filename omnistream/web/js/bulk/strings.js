// Bulk actions' sentences (selection, action bar, outcome), in English and Bahasa Indonesia:
// added when the bulk module loads, not with the inbox's own bundle.
import { addStrings } from "../i18n.js";

const en = {
  "bulk.title": "Bulk actions",
  "bulk.select": "Select {name}",
  "bulk.selected": "{n} selected",
  "bulk.allMatching": "All {n} matching this filter selected",
  "bulk.firstMatching": "The first {n} matching this filter selected",
  "bulk.selectMatching": "Select all matching this filter (up to 1,000)",
  "bulk.clear": "Clear",
  "bulk.assign": "Assign to…",
  "bulk.unassign": "Nobody (unassign)",
  "bulk.transfer": "Transfer to…",
  "bulk.transferTitle": "Transfer {n} conversations",
  "bulk.reason": "Reason",
  "bulk.labels": "Labels…",
  "bulk.addLabel": "Add",
  "bulk.removeLabel": "Remove",
  "bulk.priority": "Priority…",
  "bulk.snooze": "Snooze…",
  "bulk.snoozeTomorrow": "Until tomorrow 09:00",
  "bulk.snoozeNext": "Until the customer writes",
  "bulk.resolve": "Resolve",
  "bulk.reopen": "Reopen",
  "bulk.outcome": "{done} done, {refused} refused",
  "bulk.gone": "no longer visible to you",
  "bulk.key": "Select or unselect (Esc: clear the selection)",
};

const id = {
  "bulk.title": "Aksi massal",
  "bulk.select": "Pilih {name}",
  "bulk.selected": "{n} dipilih",
  "bulk.allMatching": "Semua {n} yang cocok dengan filter ini dipilih",
  "bulk.firstMatching": "{n} pertama yang cocok dengan filter ini dipilih",
  "bulk.selectMatching": "Pilih semua yang cocok dengan filter ini (maks. 1.000)",
  "bulk.clear": "Hapus pilihan",
  "bulk.assign": "Tugaskan ke…",
  "bulk.unassign": "Tidak ada (lepas tugas)",
  "bulk.transfer": "Alihkan ke…",
  "bulk.transferTitle": "Alihkan {n} percakapan",
  "bulk.reason": "Alasan",
  "bulk.labels": "Label…",
  "bulk.addLabel": "Tambah",
  "bulk.removeLabel": "Hapus",
  "bulk.priority": "Prioritas…",
  "bulk.snooze": "Tunda…",
  "bulk.snoozeTomorrow": "Sampai besok 09.00",
  "bulk.snoozeNext": "Sampai pelanggan menulis",
  "bulk.resolve": "Selesaikan",
  "bulk.reopen": "Buka kembali",
  "bulk.outcome": "{done} berhasil, {refused} ditolak",
  "bulk.gone": "tidak lagi terlihat oleh Anda",
  "bulk.key": "Pilih atau batalkan (Esc: hapus pilihan)",
};

addStrings({ en, id });
