// Labels' sentences (the inbox's chips, menu and filter; Settings › Labels), in English and
// Bahasa Indonesia: added when a labels module loads, not with the inbox's own bundle.
import { addStrings } from "../i18n.js";

const en = {
  "labels.title": "Labels",
  "labels.add": "+ Label",
  "labels.remove": "Remove label {name}",
  "labels.none": "No other labels",
  "labels.filter": "Only conversations labelled {name} (several: any of them)",
  "labels.open": "{n} open",
  "labels.key": "Add a label",
  "labels.intro": "Agents put labels on the conversations they work; the inbox filters by them.",
  "labels.name": "Name",
  "labels.colour": "Colour",
  "labels.description": "Description",
  "labels.new": "New label",
  "labels.create": "Create label",
  "labels.created": "Label {name} created.",
  "labels.editNamed": "Edit {name}",
  "labels.deleteNamed": "Delete {name}",
  "labels.confirmDelete": "Delete the label {name}? It is removed from every conversation that has it.",
};

const id = {
  "labels.title": "Label",
  "labels.add": "+ Label",
  "labels.remove": "Lepas label {name}",
  "labels.none": "Tidak ada label lain",
  "labels.filter": "Hanya percakapan berlabel {name} (beberapa: salah satunya)",
  "labels.open": "{n} terbuka",
  "labels.key": "Tambah label",
  "labels.intro": "Agen memberi label pada percakapan yang mereka tangani; kotak masuk dapat disaring menurut label.",
  "labels.name": "Nama",
  "labels.colour": "Warna",
  "labels.description": "Deskripsi",
  "labels.new": "Label baru",
  "labels.create": "Buat label",
  "labels.created": "Label {name} dibuat.",
  "labels.editNamed": "Ubah {name}",
  "labels.deleteNamed": "Hapus {name}",
  "labels.confirmDelete": "Hapus label {name}? Label ini dilepas dari semua percakapan yang memilikinya.",
};

addStrings({ en, id });
