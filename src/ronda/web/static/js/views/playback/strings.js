// @ts-check
// The playback view's texts (English, Italian).
import { addStrings } from "../../i18n.js";

addStrings({
  en: {
    "pb.cameras": "Cameras", "pb.searchCameras": "Search cameras", "pb.show": "Show ({n})", "pb.max": "At most {n} cameras at a time",
    "pb.pick": "Choose up to four cameras and press Show.", "pb.noCameras": "No camera with recordings you may watch.",
    "pb.unavailable": "Camera {id} is not available to you", "pb.controls": "Playback controls",
    "pb.play": "Play", "pb.pause": "Pause", "pb.speed": "Speed", "pb.stepBack": "One frame back", "pb.stepForward": "One frame forward",
    "pb.prevEvent": "Previous event", "pb.nextEvent": "Next event", "pb.noEvent": "No event in that direction",
    "pb.goto": "Go to date and time (site time)", "pb.go": "Go", "pb.badTime": "Enter a date and time",
    "pb.markIn": "Selection starts here", "pb.markOut": "Selection ends here",
    "pb.noRecording": "No recording at this time", "pb.cannotPlay": "The recording cannot be played", "pb.startOfRecording": "Start of the recordings",
    "pb.selection": "Selection", "pb.bookmark": "Bookmark", "pb.lock": "Evidence lock", "pb.export": "Export",
    "pb.playSelection": "Play from its start", "pb.clear": "Clear",
    "pb.title": "Title", "pb.note": "Note", "pb.reason": "Reason", "pb.until": "Keep until (empty: until unlocked)",
    "pb.case": "Case number", "pb.startExport": "Start export", "pb.saved": "Saved on {n} camera(s)",
    "pb.leftOut": "Left out (no right): {names}", "pb.exports": "Exports", "pb.download": "Download",
    "pb.exportOf": "Export {range}", "pb.status.running": "Running", "pb.status.done": "Ready",
    "pb.status.failed": "Failed", "pb.status.cancelled": "Cancelled", "pb.status.expired": "Expired (deleted)", "pb.downloaded": "Downloaded {name}",
  },
  it: {
    "pb.cameras": "Telecamere", "pb.searchCameras": "Cerca telecamere", "pb.show": "Mostra ({n})", "pb.max": "Al massimo {n} telecamere insieme",
    "pb.pick": "Scegli fino a quattro telecamere e premi Mostra.", "pb.noCameras": "Nessuna telecamera con registrazioni visibili.",
    "pb.unavailable": "La telecamera {id} non è disponibile", "pb.controls": "Comandi di riproduzione",
    "pb.play": "Riproduci", "pb.pause": "Pausa", "pb.speed": "Velocità", "pb.stepBack": "Un fotogramma indietro", "pb.stepForward": "Un fotogramma avanti",
    "pb.prevEvent": "Evento precedente", "pb.nextEvent": "Evento successivo", "pb.noEvent": "Nessun evento in quella direzione",
    "pb.goto": "Vai a data e ora (ora del sito)", "pb.go": "Vai", "pb.badTime": "Inserisci data e ora",
    "pb.markIn": "La selezione inizia qui", "pb.markOut": "La selezione finisce qui",
    "pb.noRecording": "Nessuna registrazione in questo momento", "pb.cannotPlay": "La registrazione non può essere riprodotta", "pb.startOfRecording": "Inizio delle registrazioni",
    "pb.selection": "Selezione", "pb.bookmark": "Segnalibro", "pb.lock": "Blocco probatorio", "pb.export": "Esporta",
    "pb.playSelection": "Riproduci dall'inizio", "pb.clear": "Annulla selezione",
    "pb.title": "Titolo", "pb.note": "Nota", "pb.reason": "Motivo", "pb.until": "Conserva fino al (vuoto: fino allo sblocco)",
    "pb.case": "Numero di pratica", "pb.startExport": "Avvia esportazione", "pb.saved": "Salvato su {n} telecamera/e",
    "pb.leftOut": "Escluse (senza diritto): {names}", "pb.exports": "Esportazioni", "pb.download": "Scarica",
    "pb.exportOf": "Esportazione {range}", "pb.status.running": "In corso", "pb.status.done": "Pronta",
    "pb.status.failed": "Non riuscita", "pb.status.cancelled": "Annullata", "pb.status.expired": "Scaduta (eliminata)", "pb.downloaded": "Scaricato {name}",
  },
});
