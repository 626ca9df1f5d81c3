// @ts-check
// The operator client: a hash router over views (js/views/*.js), the login screen, the header with
// navigation and the open-alarm count (title bar and app badge), and the shared event stream.
import { api, apiFn } from "./api.js";
import { clear, h } from "./dom.js";
import { liveEvents } from "./events.js";
import { LANGUAGES, language, setLanguage, t } from "./i18n.js";

// Each view module exports default { id, nav (i18n key), right (needed right or null), render(root, ctx, params) -> cleanup }
const VIEWS = {
  live: () => import("./views/live.js"),
  playback: () => import("./views/playback.js"),
  search: () => import("./views/search.js"),
  plates: () => import("./views/plates.js"),
  alarms: () => import("./views/alarms.js"),
  cases: () => import("./views/cases.js"),
  map: () => import("./views/map.js"),
  admin: () => import("./views/admin.js"),
};
const NAV = [
  ["live", "nav.live", null],
  ["playback", "nav.playback", "playback"],
  ["search", "nav.search", "playback"],
  ["plates", "nav.plates", "plates"],
  ["alarms", "nav.alarms", null],
  ["cases", "nav.cases", "cases"],
  ["map", "nav.map", null],
  ["admin", "nav.admin", "admin"],
];

const root = document.getElementById("app");
const state = { me: null, cleanup: null, openAlarms: new Set(), site: null };

/**
 * What every view gets: the API, the signed-in user and their rights, the site's time zone, navigation.
 * @typedef {typeof ctx} AppContext
 */
export const ctx = {
  api,
  apiFn,
  t,
  events: liveEvents,
  get me() {
    return state.me;
  },
  can(right) {
    return Boolean(state.me && state.me.rights.includes(right));
  },
  isAdmin() {
    return Boolean(state.me && ["manage_cameras", "manage_users", "manage_rules", "view_audit"].some((r) => state.me.rights.includes(r)));
  },
  // the site's IANA time zone (GET /api/v1/site), passed to every time formatter; undefined: the browser's
  get siteTimeZone() {
    return (state.site && state.site.timezone) || undefined;
  },
  navigate(path) {
    location.hash = path;
  },
  rerender() {
    route();
  },
};
window.rondaApp = ctx; // for tests and the browser console

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [view, ...rest] = path.split("/");
  return { view: view || "live", rest, params: Object.fromEntries(new URLSearchParams(query)) };
}

function showLogin(message) {
  if (state.cleanup) state.cleanup();
  state.cleanup = null;
  liveEvents.stop();
  clear(root);
  const err = h("p", { class: "error", role: "alert", text: message || "" });
  const totpRow = h("label", { hidden: true }, t("login.totp"),
    h("input", { name: "totp", inputmode: "numeric", autocomplete: "one-time-code", "data-testid": "login-totp" }));
  const form = h("form", { class: "login", "aria-label": t("login.title") },
    h("h1", { text: t("app.name") }),
    h("label", {}, t("login.username"), h("input", { name: "username", autocomplete: "username", required: true, "data-testid": "login-username" })),
    h("label", {}, t("login.password"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "login-password" })),
    totpRow,
    err,
    h("button", { type: "submit", "data-testid": "login-submit", text: t("login.submit") }),
    languagePicker());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    try {
      await api.login(f.get("username"), f.get("password"), f.get("totp") || undefined);
      await start();
    } catch (ex) {
      // The server gives one answer for every refused sign-in, "login_failed" (a missing code looks
      // like a wrong password), so after it the code field is offered: accounts with TOTP need it.
      if (ex.code === "login_failed") totpRow.hidden = false;
      err.textContent = `${t("login.failed")}: ${ex.message}`;
    }
  });
  root.append(h("main", { class: "login-page" }, form));
  form.querySelector("input").focus();
}

function languagePicker() {
  const sel = h("select", { "aria-label": t("nav.language"), "data-testid": "language" },
    ...Object.entries(LANGUAGES).map(([code, name]) => h("option", { value: code, selected: code === language() }, name)));
  sel.addEventListener("change", () => {
    setLanguage(sel.value);
    if (api.loggedIn) route();
    else showLogin();
  });
  return sel;
}

function updateAlarmCount() {
  const n = state.openAlarms.size;
  document.title = n ? `(${n}) ${t("app.name")}` : t("app.name");
  const badge = document.getElementById("alarm-count");
  if (badge) {
    badge.textContent = n ? String(n) : "";
    badge.hidden = !n;
  }
  if (navigator.setAppBadge) (n ? navigator.setAppBadge(n) : navigator.clearAppBadge()).catch(() => {});
}

async function loadOpenAlarms() {
  try {
    const open = await api.call("/api/v1/alarms?state=open&limit=2000");
    state.openAlarms = new Set(open.map((a) => a.id));
  } catch {
    state.openAlarms = new Set();
  }
  updateAlarmCount();
}

liveEvents.addEventListener("resync", () => loadOpenAlarms());
liveEvents.addEventListener("alarm", (e) => {
  const a = /** @type {CustomEvent} */ (e).detail.alarm;
  if (a.state === "closed") state.openAlarms.delete(a.id);
  else state.openAlarms.add(a.id);
  updateAlarmCount();
});

function header(current) {
  const nav = h("nav", { class: "main-nav", "aria-label": "Ronda" },
    ...NAV.filter(([, , right]) => right === null || (right === "admin" ? ctx.isAdmin() : ctx.can(right))).map(([id, key]) =>
      h("a", { href: `#/${id}`, class: id === current ? "active" : "", "aria-current": id === current ? "page" : null, "data-testid": `nav-${id}` },
        t(key), id === "alarms" ? h("span", { id: "alarm-count", class: "badge", hidden: true, "aria-label": "open alarms" }) : null)));
  const user = h("span", { class: "user", text: state.me ? state.me.username : "" });
  const logout = h("button", { class: "link", "data-testid": "logout", text: t("nav.logout"), onclick: async () => {
    await api.logout();
    showLogin();
  } });
  return h("header", { class: "top" }, h("span", { class: "brand", text: t("app.name") }), nav, h("span", { class: "spacer" }), languagePicker(), user, logout);
}

async function route() {
  if (!api.loggedIn) return showLogin();
  const { view, rest, params } = parseHash();
  const load = VIEWS[view];
  if (!load) return ctx.navigate("/live");
  if (state.cleanup) state.cleanup();
  state.cleanup = null;
  clear(root);
  const main = h("main", { id: "view", class: `view view-${view}`, tabindex: "-1" });
  root.append(header(view), main, h("div", { id: "toasts", role: "status" }));
  updateAlarmCount();
  try {
    const mod = (await load()).default;
    if (mod.right && !(mod.right === "admin" ? ctx.isAdmin() : ctx.can(mod.right))) {
      main.append(h("p", { class: "error", role: "alert", text: "403" }));
      return;
    }
    state.cleanup = (await mod.render(main, ctx, { rest, ...params })) || null;
  } catch (e) {
    main.append(h("p", { class: "error", role: "alert", text: `${t("common.error")}: ${e.message}` }));
    console.warn(e);
  }
}

async function start() {
  try {
    state.me = await api.call("/api/v1/me");
    state.site = await api.call("/api/v1/site").catch(() => null);
  } catch (e) {
    // an expired session has already brought the login screen with its message
    if (api.loggedIn) showLogin(`${t("common.error")}: ${e.message}`);
    return;
  }
  await liveEvents.start();
  await loadOpenAlarms();
  if (!location.hash || location.hash === "#/" || location.hash === "#") location.hash = "#/live";
  route();
}

api.addEventListener("expired", () => showLogin(t("login.expired")));
window.addEventListener("hashchange", () => route());
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
setLanguage(language());
if (api.loggedIn) start();
else showLogin();
