// @ts-check
// Service worker: the installable app (the shell starts offline) and Web Push (alarm notifications
// that open the alarm). The opt-in is js/push.js; the payload is ronda.events.notify.webpush.build_payload.
// `self`, typed as the service worker it is (openNotification is ours: also called by the tests)
const sw = /** @type {ServiceWorkerGlobalScope & typeof globalThis & { openNotification: (n: Notification) => Promise<unknown> }} */ (/** @type {unknown} */ (self));
const CACHE = "ronda-shell-v1";
const SHELL = [
  "./", "index.html", "manifest.webmanifest", "favicon.svg",
  "css/app.css", "css/live.css", "css/alarms.css", "css/playback.css", "css/map.css", "css/admin.css",
  "js/app.js", "js/api.js", "js/dom.js", "js/events.js", "js/i18n.js", "js/live.js", "js/playback.js", "js/push.js",
  "js/playback/frames.js", "js/playback/map.js", "js/playback/sync.js",
  "js/timeline.js",
  "js/views/live.js", "js/views/playback.js", "js/views/alarms.js", "js/views/map.js", "js/views/admin.js",
  "js/views/playback/common.js", "js/views/playback/controls.js", "js/views/playback/exports.js",
  "js/views/playback/grid.js", "js/views/playback/loading.js", "js/views/playback/picker.js", "js/views/playback/reverse.js",
  "js/views/playback/selection.js", "js/views/playback/strings.js", "js/views/playback/tile.js",
  "js/reasons.js", "js/views/admin/camedit.js", "js/views/admin/discover.js", "js/views/admin/onvifadd.js", "js/views/admin/profiles.js",
  "js/views/admin/cameras.js", "js/views/admin/common.js", "js/views/admin/rules.js", "js/views/admin/strings.js",
  "js/views/admin/system.js", "js/views/admin/users.js",
  "js/views/alarms/detail.js", "js/views/alarms/dialog.js", "js/views/alarms/list.js", "js/views/alarms/media.js",
  "js/views/alarms/sound.js", "js/views/alarms/strings.js", "js/views/live/grid.js", "js/views/live/saved.js", "js/views/live/settings.js",
  "js/views/live/strings.js", "js/views/live/tile.js", "js/views/live/tree.js", "js/views/live/zoom.js",
  "js/views/live/ptz.js", "js/views/live/ptzlists.js", "js/views/live/ptzpad.js", "js/views/live/remote.js", "js/views/live/remoteexport.js", "js/views/live/remotelive.js", "js/views/live/remoteplayback.js", "js/views/live/remotetile.js", "js/hlsfollow.js", "js/views/alarms/remote.js", "js/views/map/marker.js", "js/views/map/panel.js", "js/views/map/placement.js", "js/views/map/plan.js",
  "js/views/map/popup.js", "js/views/map/stage.js", "js/views/map/strings.js", "js/views/map/cone.js", "js/views/map/geo.js",
  "js/views/map/geopanel.js", "vendor/leaflet/leaflet-src.esm.js", "vendor/leaflet/leaflet.css",
  "js/sitetime.js", "js/timeline/bar.js", "js/timeline/data.js", "js/timeline/describe.js", "js/timeline/draw.js",
  "js/timeline/input.js", "js/timeline/style.js", "js/timeline/motion.js",
  "css/analytics.css", "js/analytics/frame.js", "js/analytics/shapes.js", "js/analytics/stage.js", "js/analytics/strings.js",
  "js/views/admin/analytics.js", "js/views/admin/anstatus.js", "js/views/admin/ansettings.js", "js/views/admin/ancity.js", "js/views/admin/zonedraw.js", "js/views/admin/zonelist.js",
  "js/views/search.js", "js/views/search/hits.js", "js/views/search/region.js",
  "css/plates.css", "js/views/plates.js", "js/views/plates/strings.js", "js/views/admin/platelists.js",
  "css/cases.css", "css/case-report.css", "js/views/cases.js", "js/views/cases/detail.js", "js/views/cases/list.js",
  "js/views/cases/report.js", "js/views/cases/strings.js",
];

sw.addEventListener("install", (e) => {
  // One by one: a file missing from the list must not stop the worker from installing.
  e.waitUntil(caches.open(CACHE).then((c) => Promise.all(SHELL.map((f) => c.add(f).catch(() => null)))).then(() => sw.skipWaiting()));
});

sw.addEventListener("activate", (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("ronda-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim()),
  );
});

sw.addEventListener("fetch", (e) => {
  const req = e.request;
  const url = new URL(req.url);
  // The API (and media) always go to the network untouched: its answers are per user and change all
  // the time, so a cached copy would be wrong (and on a shared phone, the previous user's cameras).
  if (req.method !== "GET" || url.origin !== sw.location.origin || url.pathname.startsWith("/api/")) return;
  // The shell: network first (a new version shows at once), the cached copy when offline.
  e.respondWith(
    fetch(req)
      .then((res) => {
        if (res.ok && res.type === "basic") {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(req, copy));
        }
        return res;
      })
      .catch(async () => (await caches.match(req, { ignoreSearch: true })) ||
        (req.mode === "navigate" ? caches.match("index.html") : Response.error())),
  );
});

// --- Web Push -----------------------------------------------------------------------------------
function parsePush(data) {
  if (!data) return {};
  try {
    return data.json();
  } catch {
    return { title: data.text() };
  }
}

sw.addEventListener("push", (e) => {
  const msg = parsePush(e.data);
  const id = msg.alarm_id;
  const title = msg.title || "Ronda";
  const options = {
    body: msg.body || "",
    tag: id ? `alarm-${id}` : "ronda",
    renotify: true,
    requireInteraction: msg.priority === "high",
    icon: "favicon.svg",
    timestamp: msg.time || Date.now(),
    data: { url: msg.url || (id ? `/#/alarms/${id}` : "/#/alarms"), alarm_id: id || null },
  };
  // The alarm's picture: a link signed for this recipient that works for minutes, no login needed
  // (ronda.access.image_links). Only a same-origin path or an https URL is taken from the payload.
  if (typeof msg.snapshot === "string" && (msg.snapshot.startsWith("/api/") || msg.snapshot.startsWith("https://"))) {
    options.image = new URL(msg.snapshot, sw.location.origin).href;
  }
  e.waitUntil(sw.registration.showNotification(title, options));
});

// Focuses an open window of the client and shows it the alarm, or opens one. The notificationclick
// handler calls it; so may tests (a headless browser has no notification to click).
sw.openNotification = async (notification) => {
  const target = new URL((notification.data && notification.data.url) || "/#/alarms", sw.location.origin).href;
  notification.close();
  const windows = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
  const win = windows.find((w) => new URL(w.url).origin === sw.location.origin);
  if (win) {
    try {
      const moved = await win.navigate(target); // a fragment change: the client's router shows the alarm
      await (moved || win).focus().catch(() => {});
      return moved || win;
    } catch {
      // not controlled by this worker (a page opened before it): open a new window instead
    }
  }
  return sw.clients.openWindow(target);
};

sw.addEventListener("notificationclick", (e) => {
  e.waitUntil(sw.openNotification(e.notification));
});
