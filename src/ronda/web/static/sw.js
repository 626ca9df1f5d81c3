// Service worker: installable PWA; Web Push arrives here (see js/views/alarms.js for the opt-in).
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
