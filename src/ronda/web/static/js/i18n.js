// @ts-check
// English and Italian. The user's choice is kept in localStorage; the browser's language is the default.
const STRINGS = {
  en: {
    "app.name": "Ronda", "login.title": "Sign in", "login.username": "Username", "login.password": "Password",
    "login.totp": "One-time code", "login.submit": "Sign in", "login.expired": "Your session has expired: sign in again.",
    "login.failed": "Sign-in failed", "nav.live": "Live", "nav.playback": "Playback", "nav.alarms": "Alarms",
    "nav.map": "Map", "nav.admin": "Admin", "nav.logout": "Sign out", "nav.language": "Language",
    "common.loading": "Loading…", "common.error": "Something went wrong", "common.close": "Close",
    "common.save": "Save", "common.cancel": "Cancel", "common.search": "Search", "common.none": "Nothing here",
  },
  it: {
    "app.name": "Ronda", "login.title": "Accesso", "login.username": "Nome utente", "login.password": "Password",
    "login.totp": "Codice monouso", "login.submit": "Accedi", "login.expired": "La sessione è scaduta: accedi di nuovo.",
    "login.failed": "Accesso non riuscito", "nav.live": "Dal vivo", "nav.playback": "Registrazioni", "nav.alarms": "Allarmi",
    "nav.map": "Mappa", "nav.admin": "Amministrazione", "nav.logout": "Esci", "nav.language": "Lingua",
    "common.loading": "Caricamento…", "common.error": "Qualcosa non ha funzionato", "common.close": "Chiudi",
    "common.save": "Salva", "common.cancel": "Annulla", "common.search": "Cerca", "common.none": "Niente da mostrare",
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
