// @ts-check
// The live view's texts (English, Italian).
import { addStrings } from "../../i18n.js";

addStrings({
  en: {
    "live.cameras": "Cameras", "live.search": "Search cameras", "live.layout": "Layout",
    "live.layout.n": "{n} tiles", "live.views": "Saved views", "live.views.choose": "Saved view…",
    "live.views.save": "Save view", "live.views.name": "Name of the view", "live.views.delete": "Delete view",
    "live.views.saved": "View “{name}” saved", "live.empty": "Choose a camera from the list",
    "live.tile": "{name}, {status}", "live.video": "Live video of {name}", "live.snapshotAlt": "Latest snapshot of {name}",
    "live.snapshot": "Snapshot", "live.zoomIn": "Zoom in", "live.zoomOut": "Zoom out", "live.zoomReset": "Reset zoom",
    "live.single": "Single view", "live.back": "Back to the grid", "live.playback": "Last minute in playback", "live.connecting": "Connecting…",
    "live.noCameras": "No cameras to show.", "live.alarm": "Alarm", "live.motion": "Motion",
    "live.remove": "Remove from the tile", "live.hint": "Double-click or Enter: single view · wheel or +/−: zoom · drag: pan",
    "status.recording": "recording", "status.offline": "offline", "status.paused": "paused",
    "status.disabled": "disabled", "status.starting": "starting", "status.unknown": "unknown",
  },
  it: {
    "live.cameras": "Telecamere", "live.search": "Cerca telecamere", "live.layout": "Disposizione",
    "live.layout.n": "{n} riquadri", "live.views": "Viste salvate", "live.views.choose": "Vista salvata…",
    "live.views.save": "Salva vista", "live.views.name": "Nome della vista", "live.views.delete": "Elimina vista",
    "live.views.saved": "Vista “{name}” salvata", "live.empty": "Scegli una telecamera dall'elenco",
    "live.tile": "{name}, {status}", "live.video": "Video dal vivo di {name}", "live.snapshotAlt": "Ultima istantanea di {name}",
    "live.snapshot": "Istantanea", "live.zoomIn": "Ingrandisci", "live.zoomOut": "Riduci", "live.zoomReset": "Annulla zoom",
    "live.single": "Vista singola", "live.back": "Torna alla griglia", "live.playback": "Ultimo minuto nelle registrazioni", "live.connecting": "Connessione…",
    "live.noCameras": "Nessuna telecamera da mostrare.", "live.alarm": "Allarme", "live.motion": "Movimento",
    "live.remove": "Togli dal riquadro", "live.hint": "Doppio clic o Invio: vista singola · rotella o +/−: zoom · trascina: sposta",
    "status.recording": "in registrazione", "status.offline": "non in linea", "status.paused": "in pausa",
    "status.disabled": "disattivata", "status.starting": "in avvio", "status.unknown": "sconosciuto",
  },
});
