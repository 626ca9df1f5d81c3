// @ts-check
// One WebSocket to /api/v1/ws for the whole client: events and alarm changes, re-connected with
// backoff. Listen with live.addEventListener("event" | "alarm", e => e.detail). After a re-connection
// ("resync"), changes made while the socket was down were missed: views read their state again.
import { api } from "./api.js";

export class LiveEvents extends EventTarget {
  constructor() {
    super();
    this.ws = null;
    this.stopped = true;
    this.delay = 1000;
    this.opened = false;
  }

  async start() {
    this.stopped = false;
    await this._connect();
  }

  stop() {
    this.stopped = true;
    this.opened = false;
    if (this.ws) this.ws.close();
  }

  async _connect() {
    if (this.stopped || !api.loggedIn) return;
    let ticket;
    try {
      ticket = (await api.call("/api/v1/ws-ticket", { method: "POST" })).ticket;
    } catch {
      return this._retry();
    }
    const url = new URL(`/api/v1/ws?ticket=${encodeURIComponent(ticket)}`, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 1000;
      const again = this.opened;
      this.opened = true;
      this.dispatchEvent(new CustomEvent("open"));
      if (again) this.dispatchEvent(new CustomEvent("resync"));
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      this.dispatchEvent(new CustomEvent(msg.kind, { detail: msg }));
    };
    ws.onclose = () => this._retry();
  }

  _retry() {
    if (this.stopped) return;
    setTimeout(() => this._connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 15000);
  }
}

export const liveEvents = new LiveEvents();
