// @ts-check
// Small helpers of the administration tabs: form fields, tables, error boxes, in-place confirm.
import { errorText } from "../../api.js";
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { reasonText } from "../../reasons.js";
/**
 * A text field of a form, trimmed ("" when absent).
 * @param {FormData} form
 * @param {string} name
 */
export function text(form, name) {
  return String(form.get(name) ?? "").trim();
}

export function errorBox(testid) {
  const box = h("p", { class: "error", role: "alert", "data-testid": testid || null });
  box.show = (e) => {
    box.textContent = e ? errorText(e) : "";
  };
  return box;
}

export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", { text: label }), input, hint ? h("small", { class: "muted", text: hint }) : null);
}

export function table(headers, rows, attrs = {}) {
  return h("table", { class: "admin-table", ...attrs },
    // a header is its text, or [text, class] ("opt": a column phones leave out)
    h("thead", {}, h("tr", {}, ...headers.map((x) => (Array.isArray(x)
      ? h("th", { scope: "col", class: x[1], text: x[0] })
      : h("th", { scope: "col", text: x }))))),
    h("tbody", {}, ...rows));
}

// A button that asks "Delete X? Yes / No" in place instead of a blocking browser dialog.
export function confirmButton(label, question, onYes, testid) {
  const btn = h("button", { type: "button", class: "danger", text: label, "data-testid": testid || null });
  btn.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger", text: t("admin.yes"), "data-testid": testid ? `${testid}-yes` : null });
    const no = h("button", { type: "button", text: t("admin.no") });
    const box = h("span", { class: "confirm", role: "group" }, h("span", { text: question }), yes, no);
    no.addEventListener("click", () => {
      box.replaceWith(btn);
      btn.focus();
    });
    yes.addEventListener("click", () => onYes());
    btn.replaceWith(box);
    no.focus();
  });
  return btn;
}

// A camera's status with why, in words (the code stays in data-reason and the tooltip).
export function statusCell(status, reason) {
  const cls = status === "recording" ? "ok" : status === "starting" || status === "paused" ? "warn" : status === "disabled" ? "off" : "bad";
  return h("td", { class: "status", "data-testid": "camera-status", "data-reason": reason || null },
    h("span", { class: `dot ${cls}` }), ` ${status}`,
    reason ? h("small", { class: "muted", title: reason, text: ` (${reasonText(reason)})` }) : null);
}

export function formatBytes(n) {
  if (typeof n !== "number") return String(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// Key/value list of a JSON object (nested objects as nested lists; *_bytes as sizes).
export function facts(obj) {
  if (obj === null || typeof obj !== "object") return h("span", { text: String(obj) });
  return h("dl", { class: "facts" }, ...Object.entries(obj).flatMap(([k, v]) => [
    h("dt", { text: k }),
    h("dd", {}, v !== null && typeof v === "object" ? facts(v) : h("span", { text: v === null ? "—" : /bytes$/.test(k) ? formatBytes(v) : String(v) })),
  ]));
}

// The tab's title with its refresh button.
export function tabBar(title, reload) {
  return h("div", { class: "admin-bar" }, h("h3", { text: title }),
    h("button", { type: "button", text: t("admin.refresh"), onclick: () => reload() }));
}

/**
 * What `path` answers, or null when the API refused it (the refusal is shown in `box`).
 * @param {import("../../app.js").AppContext} ctx
 * @param {string} path
 * @param {{show: (e: unknown) => void}} box
 */
export async function loadOrShow(ctx, path, box) {
  try {
    return await ctx.api.call(path);
  } catch (ex) {
    box.show(ex);
    return null;
  }
}

/**
 * A form that creates something: on submit, POST what `body` makes of its data to `path`; once it is
 * created the form is cleared, `created(answer)` is said and the tab reloaded; a refusal stays in `box`.
 * @param {HTMLFormElement} form
 * @param {import("../../app.js").AppContext} ctx
 * @param {{path: string, body: (f: FormData) => object, box: {show: (e: unknown) => void},
 *   created: (answer: any) => string, reload: () => Promise<void>}} how
 */
export function createOnSubmit(form, ctx, { path, body, box, created, reload }) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = body(new FormData(form));
    try {
      const answer = await ctx.api.call(path, { method: "POST", body: data });
      box.show(null);
      form.reset();
      toast(created(answer));
      await reload();
    } catch (ex) {
      box.show(ex);
    }
  });
}
