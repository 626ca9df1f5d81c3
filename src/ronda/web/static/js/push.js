// @ts-check
// Web Push opt-in: a button that subscribes this browser with the server's VAPID key and shows the
// state (on / off / blocked / unsupported). The service worker (sw.js) shows the notifications.
import { h, toast } from "./dom.js";
import { t } from "./i18n.js";

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// The service worker's registration, or null when there is none within a few seconds.
async function registration() {
  if (!pushSupported()) return null;
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 5000));
  return Promise.race([navigator.serviceWorker.ready, timeout]);
}

// The VAPID public key is base64url; pushManager.subscribe wants the raw bytes.
function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export async function pushState() {
  if (!pushSupported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  const reg = await registration();
  if (!reg) return "unsupported";
  const sub = await reg.pushManager.getSubscription().catch(() => null);
  return sub && Notification.permission === "granted" ? "on" : "off";
}

export async function subscribe(api) {
  if ((await Notification.requestPermission()) !== "granted") return pushState();
  const reg = await registration();
  if (!reg) return "unsupported";
  // Asked only now: a server without Web Push answers 503, which need not show on every page load.
  const { key } = await api.call("/api/v1/notifications/vapid-public-key");
  const options = { userVisibleOnly: true, applicationServerKey: keyBytes(key) };
  let sub = await reg.pushManager.subscribe(options);
  const post = (s) => api.call("/api/v1/notifications/push-subscriptions", { method: "POST", body: s.toJSON() });
  try {
    await post(sub);
  } catch (e) {
    // 409: this browser's subscription belongs to another user (who used it before): the server never
    // hands it over, so drop it here and subscribe anew (a new endpoint of our own).
    if (e.status !== 409) throw e;
    await sub.unsubscribe();
    sub = await reg.pushManager.subscribe(options);
    await post(sub);
  }
  return "on";
}

export async function unsubscribe(api) {
  const reg = await registration();
  const sub = reg && (await reg.pushManager.getSubscription());
  if (sub) {
    await api.call("/api/v1/notifications/push-subscriptions", { method: "DELETE", body: { endpoint: sub.endpoint } }).catch(() => {});
    await sub.unsubscribe();
  }
  return pushState();
}

// The opt-in button for a view's header.
export function pushButton(api) {
  const btn = h("button", { type: "button", class: "push-toggle", "data-testid": "push-toggle", "aria-pressed": "false" });
  const show = (state) => {
    btn.dataset.state = state;
    btn.textContent = t(`push.${state}`);
    btn.title = t(`push.hint.${state}`);
    btn.setAttribute("aria-pressed", String(state === "on"));
    btn.disabled = state === "unsupported" || state === "denied" || state === "busy";
  };
  show("busy");
  pushState().then(show, () => show("unsupported"));
  btn.addEventListener("click", async () => {
    const was = btn.dataset.state;
    show("busy");
    try {
      show(was === "on" ? await unsubscribe(api) : await subscribe(api));
    } catch (e) {
      toast(`${t("push.unsupported")}: ${e.message}`, "error");
      show(await pushState().catch(() => "unsupported"));
    }
  });
  return btn;
}
