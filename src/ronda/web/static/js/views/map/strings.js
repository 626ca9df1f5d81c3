// @ts-check
// The map view's texts (English, Italian).
import { addStrings } from "../../i18n.js";

addStrings({
  en: {
    "map.title": "Site map", "map.edit": "Edit map", "map.done": "Done", "map.noPlan": "No site plan has been uploaded yet.",
    "map.noPlanAdmin": "No site plan yet: use “Edit map” to upload one (PNG or JPEG up to 5 MB, GeoJSON up to 2 MB).",
    "map.upload": "Upload plan", "map.uploadHint": "PNG or JPEG up to 5 MB, or a GeoJSON FeatureCollection up to 2 MB. SVG is not accepted.",
    "map.uploaded": "Site plan uploaded", "map.removePlan": "Remove plan", "map.removePlanConfirm": "Remove the site plan?",
    "map.cameras": "Cameras", "map.placed": "on the map", "map.notPlaced": "not placed", "map.place": "Place",
    "map.unplace": "Remove", "map.placeHint": "Click on the plan where {name} is (Esc cancels).",
    "map.dragHint": "Drag a camera onto the plan, or choose “Place” and click. Drag markers to move them; arrow keys move the focused one.",
    "map.saved": "{name} placed", "map.openLive": "Open in Live view", "map.alarm": "open alarm",
    "map.legend.ok": "recording", "map.legend.warn": "starting / paused", "map.legend.bad": "offline", "map.legend.alarm": "alarm",
    "map.status": "Status: {status}", "map.yes": "Yes", "map.no": "No", "map.noCameras": "No cameras you may see.",
    "map.showGeo": "Street map", "map.showPlan": "Site plan", "map.placeHintGeo": "Click on the map where {name} is (Esc cancels).",
    "map.dragHintGeo": "Choose “Place” and click on the map. Drag markers to move them; arrow keys move the focused one. Set where each camera looks: the cone shows it.",
    "map.direction": "Direction (°)", "map.fov": "Field of view (°)", "map.range": "Range (m)",
  },
  it: {
    "map.title": "Mappa del sito", "map.edit": "Modifica mappa", "map.done": "Fine", "map.noPlan": "Nessuna planimetria caricata.",
    "map.noPlanAdmin": "Nessuna planimetria: usa «Modifica mappa» per caricarne una (PNG o JPEG fino a 5 MB, GeoJSON fino a 2 MB).",
    "map.upload": "Carica planimetria", "map.uploadHint": "PNG o JPEG fino a 5 MB, oppure una FeatureCollection GeoJSON fino a 2 MB. SVG non è accettato.",
    "map.uploaded": "Planimetria caricata", "map.removePlan": "Rimuovi planimetria", "map.removePlanConfirm": "Rimuovere la planimetria?",
    "map.cameras": "Telecamere", "map.placed": "sulla mappa", "map.notPlaced": "non posizionata", "map.place": "Posiziona",
    "map.unplace": "Rimuovi", "map.placeHint": "Fai clic sulla planimetria dove si trova {name} (Esc annulla).",
    "map.dragHint": "Trascina una telecamera sulla planimetria, oppure «Posiziona» e clic. Trascina i marcatori per spostarli; le frecce spostano quello selezionato.",
    "map.saved": "{name} posizionata", "map.openLive": "Apri in Dal vivo", "map.alarm": "allarme aperto",
    "map.legend.ok": "in registrazione", "map.legend.warn": "avvio / in pausa", "map.legend.bad": "non in linea", "map.legend.alarm": "allarme",
    "map.status": "Stato: {status}", "map.yes": "Sì", "map.no": "No", "map.noCameras": "Nessuna telecamera visibile.",
    "map.showGeo": "Mappa stradale", "map.showPlan": "Planimetria", "map.placeHintGeo": "Fai clic sulla mappa dove si trova {name} (Esc annulla).",
    "map.dragHintGeo": "Scegli «Posiziona» e fai clic sulla mappa. Trascina i marcatori per spostarli; le frecce spostano quello selezionato. Imposta dove guarda ogni telecamera: il cono lo mostra.",
    "map.direction": "Direzione (°)", "map.fov": "Campo visivo (°)", "map.range": "Portata (m)",
  },
});
