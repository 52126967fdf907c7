// Settings › Assignment's sentences, in English and Bahasa Indonesia: added when the page's
// module loads, not with the app's own bundle.
import { addStrings } from "../i18n.js";

const en = {
  "assignment.intro": "New and reopened unassigned conversations go to an online member of their division: the one with the fewest open conversations, in turn among equals, never above their capacity. When nobody has room they wait and are assigned, oldest first, as soon as someone comes online or has room again.",
  "assignment.switches": "Where it is on",
  "assignment.global": "Conversations without a division (to every online agent)",
  "assignment.division": "Division",
  "assignment.on": "Assign automatically",
  "assignment.onNamed": "Assign the conversations of {name} automatically",
  "assignment.saved": "Saved.",
  "assignment.capacities": "Capacities",
  "assignment.capacityIntro": "How many open conversations automatic assignment may give each agent (0: none). A channel's own limit is optional; leave it empty for none.",
  "assignment.agent": "Agent",
  "assignment.presence": "Status",
  "assignment.open": "Open now",
  "assignment.capacity": "Capacity",
  "assignment.capacityNamed": "Capacity of {name}",
  "assignment.channelNamed": "Capacity of {name} on {channel}",
  "assignment.saveNamed": "Save the capacity of {name}",
  "assignment.presence.online": "Online",
  "assignment.presence.away": "Away",
  "assignment.presence.offline": "Offline",
  "assignment.noDivisions": "No divisions yet.",
};

const id = {
  "assignment.intro": "Percakapan baru dan yang dibuka kembali tanpa penanggung jawab diberikan ke anggota divisinya yang sedang online: yang percakapan terbukanya paling sedikit, bergiliran bila sama, tidak pernah melebihi kapasitasnya. Bila tidak ada yang punya ruang, percakapan menunggu dan diberikan, yang terlama lebih dulu, begitu ada yang online atau punya ruang lagi.",
  "assignment.switches": "Tempat fitur ini aktif",
  "assignment.global": "Percakapan tanpa divisi (ke semua agen yang online)",
  "assignment.division": "Divisi",
  "assignment.on": "Tugaskan otomatis",
  "assignment.onNamed": "Tugaskan percakapan {name} secara otomatis",
  "assignment.saved": "Tersimpan.",
  "assignment.capacities": "Kapasitas",
  "assignment.capacityIntro": "Berapa percakapan terbuka yang boleh diberikan otomatis ke tiap agen (0: tidak ada). Batas per kanal bersifat opsional; kosongkan bila tidak ada.",
  "assignment.agent": "Agen",
  "assignment.presence": "Status",
  "assignment.open": "Terbuka sekarang",
  "assignment.capacity": "Kapasitas",
  "assignment.capacityNamed": "Kapasitas {name}",
  "assignment.channelNamed": "Kapasitas {name} di {channel}",
  "assignment.saveNamed": "Simpan kapasitas {name}",
  "assignment.presence.online": "Online",
  "assignment.presence.away": "Sedang pergi",
  "assignment.presence.offline": "Offline",
  "assignment.noDivisions": "Belum ada divisi.",
};

addStrings({ en, id });
