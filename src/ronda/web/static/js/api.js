// @ts-check
// The API client: bearer token in sessionStorage, refreshed before it expires; a 401 sends the user
// back to the login screen with a message (session expired).

const KEY = "ronda.session";

export class ApiError extends Error {
  constructor(status, detail, code = null) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
    this.code = code; // the server's machine-readable reason, when it gives one (e.g. "login_failed")
  }
}

export class Api extends EventTarget {
  constructor() {
    super();
    this.session = JSON.parse(sessionStorage.getItem(KEY) || "null");
    this._refreshing = null;
  }

  get token() {
    return this.session && this.session.access_token;
  }

  get loggedIn() {
    return Boolean(this.token);
  }

  _save(body) {
    this.session = { ...body, expires_at: Date.now() + body.expires_in * 1000 };
    sessionStorage.setItem(KEY, JSON.stringify(this.session));
  }

  async login(username, password, totp) {
    const res = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(totp ? { username, password, totp } : { username, password }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new ApiError(res.status, body.detail || res.statusText, body.code || null);
    this._save(body);
    return body;
  }

  async logout() {
    if (this.session) {
      await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${this.token}` } }).catch(() => {});
    }
    this.session = null;
    sessionStorage.removeItem(KEY);
  }

  async _refresh() {
    if (!this.session || !this.session.refresh_token) return false;
    this._refreshing ||= fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: this.session.refresh_token }),
    })
      .then(async (res) => {
        if (!res.ok) return false;
        this._save(await res.json());
        return true;
      })
      .catch(() => false)
      .finally(() => {
        this._refreshing = null;
      });
    return this._refreshing;
  }

  // fetch JSON from the API; `options.raw` returns the Response.
  /**
   * A picture the API serves with the session (an <img> cannot send it) as an object URL, or null when
   * it is not there; the caller revokes it.
   * @param {string} path @returns {Promise<string | null>}
   */
  async objectUrl(path) {
    const res = await this.call(path, { raw: true });
    return res.ok ? URL.createObjectURL(await res.blob()) : null;
  }

  /**
   * A file the API serves with the session (a segment, a package) as a Blob; an answer other than 2xx
   * throws an Error naming its status and detail.
   * @param {string} path @returns {Promise<Blob>}
   */
  async blob(path) {
    const res = await this.call(path, { raw: true });
    if (!res.ok) throw new Error(`${res.status} ${((await res.json().catch(() => null)) || {}).detail || res.statusText}`);
    return res.blob();
  }

  async call(path, options = {}) {
    if (this.session && this.session.expires_at - Date.now() < 60_000) await this._refresh();
    const send = () => {
      const headers = { ...(options.headers || {}), Authorization: `Bearer ${this.token}` };
      let body = options.body;
      if (body !== undefined && typeof body !== "string" && !(body instanceof FormData) && !(body instanceof Blob)) {
        body = JSON.stringify(body);
        headers["Content-Type"] = "application/json";
      }
      return fetch(path, { ...options, headers, body });
    };
    let res = await send();
    if (res.status === 401 && (await this._refresh())) res = await send();
    if (res.status === 401) {
      this.session = null;
      sessionStorage.removeItem(KEY);
      this.dispatchEvent(new CustomEvent("expired"));
    }
    if (options.raw) return res;
    if (res.status === 204) return null;
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, (data && data.detail) || res.statusText);
    return data;
  }
}

/**
 * The text to show for an error: the API's `detail` sentence, FastAPI's list of `{loc, msg}` for a 422
 * ("field: message; ..."), or any other error's message.
 * @param {unknown} e
 * @returns {string}
 */
export function errorText(e) {
  const err = /** @type {{ detail?: unknown, message?: string } | null} */ (e && typeof e === "object" ? e : null);
  const d = err && err.detail;
  if (Array.isArray(d)) {
    return d.map((x) => (x && typeof x === "object" ? [(x.loc || []).filter((p) => p !== "body").join("."), x.msg].filter(Boolean).join(": ") : String(x))).join("; ");
  }
  return (err && err.message) || String(e);
}

export const api = new Api();
// For modules that take an `api(path, options)` function (live.js, playback.js).
export const apiFn = (path, options) => api.call(path, options);
