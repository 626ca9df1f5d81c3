// @ts-check
// English and Italian. The user's choice is kept in localStorage; the browser's language is the default.
// The texts of the shell and of the parts every view shares (push button, timeline); each view adds its
// own from its strings.js.
const STRINGS = {
  en: {
    "app.name": "Ronda", "login.title": "Sign in", "login.username": "Username", "login.password": "Password",
    "login.totp": "One-time code", "login.submit": "Sign in", "login.expired": "Your session has expired: sign in again.",
    "login.failed": "Sign-in failed", "nav.live": "Live", "nav.playback": "Playback", "nav.alarms": "Alarms", "nav.cases": "Cases",
    "nav.map": "Map", "nav.search": "Search", "nav.plates": "Plates", "nav.admin": "Admin", "nav.logout": "Sign out", "nav.language": "Language",
    "common.loading": "Loading…", "common.error": "Something went wrong", "common.close": "Close",
    "common.save": "Save", "common.cancel": "Cancel", "common.search": "Search", "common.none": "Nothing here",
    "push.on": "Notifications on", "push.off": "Notifications off", "push.denied": "Notifications blocked",
    "push.unsupported": "Notifications unavailable", "push.busy": "Notifications…",
    "push.hint.on": "This browser gets a notification for new alarms. Click to stop.",
    "push.hint.off": "Click to get a notification for new alarms on this device, even when Ronda is closed.",
    "push.hint.denied": "Notifications are blocked for this site in the browser's settings.",
    "push.hint.unsupported": "This browser (or this server) cannot deliver push notifications.",
    "tl.label": "Timeline. Click or drag to move playback; Shift+drag to select a range; arrow keys move, + and − zoom, [ and ] mark the selection, End goes to now.",
    "tl.zoomIn": "Zoom in", "tl.zoomOut": "Zoom out", "tl.now": "Now", "tl.earlier": "Earlier", "tl.later": "Later",
    "tl.recording": "Recording", "tl.motion": "Motion", "tl.object": "Object", "tl.gap": "Gap", "tl.event": "Event", "tl.bookmark": "Bookmark", "tl.lock": "Evidence lock",
    "tl.loading": "Loading timeline…", "tl.truncated": "Too much to show at this zoom: zoom in to see everything.",
    "tl.span": "Showing {span}", "tl.hours": "{h} h day",
  },
  it: {
    "app.name": "Ronda", "login.title": "Accesso", "login.username": "Nome utente", "login.password": "Password",
    "login.totp": "Codice monouso", "login.submit": "Accedi", "login.expired": "La sessione è scaduta: accedi di nuovo.",
    "login.failed": "Accesso non riuscito", "nav.live": "Dal vivo", "nav.playback": "Registrazioni", "nav.alarms": "Allarmi", "nav.cases": "Pratiche",
    "nav.map": "Mappa", "nav.search": "Ricerca", "nav.plates": "Targhe", "nav.admin": "Amministrazione", "nav.logout": "Esci", "nav.language": "Lingua",
    "common.loading": "Caricamento…", "common.error": "Qualcosa non ha funzionato", "common.close": "Chiudi",
    "common.save": "Salva", "common.cancel": "Annulla", "common.search": "Cerca", "common.none": "Niente da mostrare",
    "push.on": "Notifiche attive", "push.off": "Notifiche disattivate", "push.denied": "Notifiche bloccate",
    "push.unsupported": "Notifiche non disponibili", "push.busy": "Notifiche…",
    "push.hint.on": "Questo browser riceve una notifica per i nuovi allarmi. Clic per smettere.",
    "push.hint.off": "Clic per ricevere una notifica per i nuovi allarmi su questo dispositivo, anche a Ronda chiusa.",
    "push.hint.denied": "Le notifiche per questo sito sono bloccate nelle impostazioni del browser.",
    "push.hint.unsupported": "Questo browser (o questo server) non può ricevere notifiche push.",
    "tl.label": "Linea del tempo. Clic o trascinamento per spostare la riproduzione; Maiusc+trascinamento per selezionare un intervallo; frecce per spostarsi, + e − per lo zoom, [ e ] segnano la selezione, Fine va ad adesso.",
    "tl.zoomIn": "Ingrandisci", "tl.zoomOut": "Riduci", "tl.now": "Adesso", "tl.earlier": "Prima", "tl.later": "Dopo",
    "tl.recording": "Registrazione", "tl.motion": "Movimento", "tl.object": "Oggetto", "tl.gap": "Interruzione", "tl.event": "Evento", "tl.bookmark": "Segnalibro", "tl.lock": "Blocco probatorio",
    "tl.loading": "Caricamento della linea del tempo…", "tl.truncated": "Troppi elementi a questo zoom: ingrandisci per vedere tutto.",
    "tl.span": "Intervallo {span}", "tl.hours": "giorno di {h} h",
  },
};

export const LANGUAGES = { en: "English", it: "Italiano" };
let lang = localStorage.getItem("ronda.lang") || (navigator.language || "en").slice(0, 2);
if (!STRINGS[lang]) lang = "en";

export function language() {
  return lang;
}

export function setLanguage(code) {
  if (!STRINGS[code]) return;
  lang = code;
  localStorage.setItem("ronda.lang", code);
  document.documentElement.lang = code;
}

// Views add their own strings: addStrings({en: {...}, it: {...}}).
export function addStrings(more) {
  for (const [code, table] of Object.entries(more)) Object.assign(STRINGS[code] ||= {}, table);
}

export function t(key, vars = {}) {
  const s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/**
 * An ISO time as text in the site's time zone (ctx.siteTimeZone; without one, the browser's).
 * @param {string} iso
 * @param {Intl.DateTimeFormatOptions} [options]
 * @param {string} [timeZone]
 */
export function formatTime(iso, options = {}, timeZone = undefined) {
  return new Date(iso).toLocaleString(lang === "it" ? "it-IT" : "en-GB", { timeZone, ...options });
}
