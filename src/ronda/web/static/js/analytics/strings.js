// @ts-check
// The analytics texts (English, Italian): the zone editor (admin), the search view, class names.
import { addStrings, t } from "../i18n.js";

addStrings({
  en: {
    "admin.tab.analytics": "Analytics", "an.camera": "Camera", "an.stage": "Picture of {name} with its zones",
    "an.tools": "Drawing tools", "an.drawArea": "Draw area", "an.drawLine": "Draw line", "an.finish": "Finish",
    "an.helpIdle": "Draw an area or a line. Click a zone to select it, then drag its points (or focus a point: arrow keys move it, Delete removes it).",
    "an.help.polygon": "Click the corners (or arrow keys and Space); click the first point or press Enter to close; Backspace undoes a point, Escape stops.",
    "an.help.line": "Click the two ends of the line (or arrow keys and Space). The arrow points to the \"in\" side: the left walking from the first end.",
    "an.zones": "Zones", "an.noZones": "No zones: motion counts over the whole picture.", "an.zoneName": "Zone", "an.lineName": "Line",
    "an.point": "Point {n} at {x}%, {y}%", "an.in": "in", "an.reverse": "Reverse direction", "an.deleteZone": "Delete zone {name}",
    "an.selectZone": "Select", "an.zoneClasses": "Objects counted here (none ticked: all)", "an.default": "default",
    "an.minScore": "Minimum score (0.05–1)", "an.loiter": "Loitering after (s)",
    "an.kind.include": "Include (watch here)", "an.kind.mask": "Mask (ignore here)", "an.kind.dumping": "Dumping watch",
    "an.kind.graffiti": "Graffiti watch", "an.kind.line": "Crossing line",
    "an.detectors": "Detectors", "an.detectorsHint": "Objects run only where there is motion.",
    "an.detector.motion": "Motion", "an.detector.objects": "Objects", "an.detector.dumping": "Dumping", "an.detector.graffiti": "Graffiti",
    "an.detector.tamper": "Tampering", "an.detector.plates": "Licence plates",
    "an.motion": "Motion", "an.stream": "Stream analysed", "an.stream.auto": "auto (sub-stream if any)", "an.stream.sub": "sub-stream",
    "an.stream.main": "main stream", "an.sensitivity": "Sensitivity", "an.minArea": "Smallest moving area (% of the picture)",
    "an.fps": "Frames analysed per second", "an.schedule": "Runs on a schedule of {n} time windows (set in the configuration or the API).",
    "an.objects": "Objects", "an.model": "Model", "an.detectorFps": "Detector frames per second", "an.status": "Status",
    "an.class.person": "person", "an.class.bicycle": "bicycle", "an.class.car": "car", "an.class.motorbike": "motorbike",
    "an.class.bus": "bus", "an.class.truck": "truck",
    "se.title": "Search recordings", "se.camera": "Camera", "se.from": "From (site time)", "se.to": "To (site time)",
    "se.mode": "Look for", "se.motion": "Motion in a region", "se.objects": "Objects", "se.class": "Class", "se.anyClass": "any class",
    "se.zone": "Zone (optional)", "se.region": "Region: drag a rectangle on the picture (keyboard: arrow keys move it, Shift+arrows resize it)",
    "se.stage": "Picture of {name}: the searched region", "se.wholeFrame": "Whole picture", "se.search": "Search", "se.searching": "Searching…",
    "se.hits": "{n} hits", "se.noHits": "Nothing found in this range.", "se.badRange": "Choose a start before the end.",
    "se.noCameras": "No camera with recordings you may search.", "se.play": "Play {time}", "se.score": "score {score}",
    "se.duration": "{s} s", "se.noPicture": "No picture of this camera: the region is drawn on an empty frame.",
    "se.more": "Only the first {n} hits are shown: narrow the range.",
  },
  it: {
    "admin.tab.analytics": "Analisi video", "an.camera": "Telecamera", "an.stage": "Immagine di {name} con le sue zone",
    "an.tools": "Strumenti di disegno", "an.drawArea": "Disegna area", "an.drawLine": "Disegna linea", "an.finish": "Fine",
    "an.helpIdle": "Disegna un'area o una linea. Clic su una zona per selezionarla, poi trascinane i punti (o seleziona un punto: le frecce lo spostano, Canc lo elimina).",
    "an.help.polygon": "Clic sugli angoli (o frecce e Spazio); clic sul primo punto o Invio per chiudere; Backspace annulla un punto, Esc interrompe.",
    "an.help.line": "Clic sui due estremi della linea (o frecce e Spazio). La freccia indica il lato \"dentro\": la sinistra camminando dal primo estremo.",
    "an.zones": "Zone", "an.noZones": "Nessuna zona: il movimento conta su tutta l'immagine.", "an.zoneName": "Zona", "an.lineName": "Linea",
    "an.point": "Punto {n} a {x}%, {y}%", "an.in": "dentro", "an.reverse": "Inverti direzione", "an.deleteZone": "Elimina la zona {name}",
    "an.selectZone": "Seleziona", "an.zoneClasses": "Oggetti contati qui (nessuno spuntato: tutti)", "an.default": "predefinito",
    "an.minScore": "Punteggio minimo (0,05–1)", "an.loiter": "Stazionamento dopo (s)",
    "an.kind.include": "Includi (sorveglia qui)", "an.kind.mask": "Maschera (ignora qui)", "an.kind.dumping": "Sorveglianza abbandono rifiuti",
    "an.kind.graffiti": "Sorveglianza graffiti", "an.kind.line": "Linea di attraversamento",
    "an.detectors": "Rilevatori", "an.detectorsHint": "Gli oggetti vengono cercati solo dove c'è movimento.",
    "an.detector.motion": "Movimento", "an.detector.objects": "Oggetti", "an.detector.dumping": "Abbandono rifiuti", "an.detector.graffiti": "Graffiti",
    "an.detector.tamper": "Manomissione", "an.detector.plates": "Targhe",
    "an.motion": "Movimento", "an.stream": "Flusso analizzato", "an.stream.auto": "automatico (secondario se c'è)", "an.stream.sub": "flusso secondario",
    "an.stream.main": "flusso principale", "an.sensitivity": "Sensibilità", "an.minArea": "Area minima in movimento (% dell'immagine)",
    "an.fps": "Fotogrammi analizzati al secondo", "an.schedule": "Attivo secondo un orario di {n} fasce (impostato nella configurazione o nell'API).",
    "an.objects": "Oggetti", "an.model": "Modello", "an.detectorFps": "Fotogrammi al secondo del rilevatore", "an.status": "Stato",
    "an.class.person": "persona", "an.class.bicycle": "bicicletta", "an.class.car": "auto", "an.class.motorbike": "moto",
    "an.class.bus": "autobus", "an.class.truck": "camion",
    "se.title": "Ricerca nelle registrazioni", "se.camera": "Telecamera", "se.from": "Da (ora del sito)", "se.to": "A (ora del sito)",
    "se.mode": "Cerca", "se.motion": "Movimento in una regione", "se.objects": "Oggetti", "se.class": "Classe", "se.anyClass": "qualsiasi classe",
    "se.zone": "Zona (facoltativa)", "se.region": "Regione: trascina un rettangolo sull'immagine (tastiera: le frecce lo spostano, Maiusc+frecce lo ridimensionano)",
    "se.stage": "Immagine di {name}: la regione cercata", "se.wholeFrame": "Tutta l'immagine", "se.search": "Cerca", "se.searching": "Ricerca in corso…",
    "se.hits": "{n} risultati", "se.noHits": "Nessun risultato in questo intervallo.", "se.badRange": "Scegli un inizio precedente alla fine.",
    "se.noCameras": "Nessuna telecamera con registrazioni in cui cercare.", "se.play": "Riproduci {time}", "se.score": "punteggio {score}",
    "se.duration": "{s} s", "se.noPicture": "Nessuna immagine di questa telecamera: la regione si disegna su un riquadro vuoto.",
    "se.more": "Sono mostrati solo i primi {n} risultati: restringi l'intervallo.",
  },
});

/** An object class in the user's language (the model's own name when there is no translation). @param {string} c */
export function className(c) {
  const key = `an.class.${c}`;
  const s = t(key);
  return s === key ? c : s;
}
