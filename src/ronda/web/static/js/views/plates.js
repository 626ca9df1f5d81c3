// @ts-check
// Licence plate search (GET /api/v1/plates): a full or partial plate (or a pattern), a time range and a
// camera (or every camera whose plates the user may read). Reads come as cards with the plate crop; a
// click opens playback at the read. The server audits every search and shows only reads of cameras of
// the user's own organisation.
// URL: #/plates?plate=TEXT&start=ISO&end=ISO[&camera=ID] (a search in the address runs at once).
import { errorText } from "../api.js";
import { clear, h, loadCss } from "../dom.js";
import { t } from "../i18n.js";
import { formatWall, fromLocalInput, toLocalInput } from "../sitetime.js";
import "./plates/strings.js";

const PAGE = 100;

export default {
  id: "plates",
  right: "plates",
  /**
   * @param {HTMLElement} root
   * @param {import("../app.js").AppContext} ctx
   * @param {Record<string, string>} params
   */
  async render(root, ctx, params) {
    loadCss("css/analytics.css");
    loadCss("css/plates.css");
    const tz = ctx.siteTimeZone;
    const cams = (await ctx.api.call("/api/v1/cameras")).filter((c) => (c.rights || []).includes("plates"));
    const names = new Map(cams.map((c) => [c.id, c.name]));
    const page = h("div", { class: "se pl" });
    root.append(page);
    if (!cams.length) {
      page.append(h("p", { class: "muted", text: t("pl.noCameras") }));
      return null;
    }
    const end = Date.parse(params.end || "") || Date.now();
    const start = Date.parse(params.start || "") || end - 86_400_000;
    const plate = /** @type {HTMLInputElement} */ (h("input", { maxlength: 32, value: params.plate || "", autocomplete: "off",
      spellcheck: "false", "data-testid": "pl-plate", placeholder: "AB123CD, AB*, ?B12*" }));
    const camera = /** @type {HTMLSelectElement} */ (h("select", { "data-testid": "pl-camera" }, h("option", { value: "" }, t("pl.allCameras")),
      ...cams.map((c) => h("option", { value: c.id, selected: String(c.id) === params.camera }, c.name))));
    const from = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", step: 1, required: true, value: toLocalInput(start, tz), "data-testid": "pl-start" }));
    const to = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", step: 1, required: true, value: toLocalInput(end, tz), "data-testid": "pl-end" }));
    const err = h("p", { class: "error", role: "alert", "data-testid": "pl-error" });
    const form = h("form", { class: "se-form", "aria-label": t("pl.title") },
      h("h2", { text: t("pl.title") }),
      h("label", {}, t("pl.plate"), plate), h("small", { class: "muted", text: t("pl.plateHint") }),
      h("label", {}, t("pl.camera"), camera), h("label", {}, t("pl.from"), from), h("label", {}, t("pl.to"), to), err,
      h("button", { type: "submit", class: "primary", "data-testid": "pl-submit", text: t("pl.search") }),
      h("small", { class: "muted", text: t("pl.audited") }));
    const results = h("section", { class: "se-results", "aria-live": "polite", "data-testid": "pl-results" });
    page.append(form, results);
    /** @type {string[]} */
    const urls = [];
    let closed = false;

    /** The crop of a read as an object URL (the API needs the session, an <img> cannot send it). */
    async function crop(img, url) {
      try {
        const u = await ctx.api.objectUrl(url);
        if (!u) return;
        if (closed) { URL.revokeObjectURL(u); return; }
        urls.push(u);
        img.src = u;
        img.dataset.thumb = "ok";
      } catch {
        img.dataset.thumb = "none";
      }
    }

    function card(r) {
      const ms = Date.parse(r.time);
      const when = formatWall(ms, undefined, tz);
      const img = h("img", { class: "thumb pl-crop", alt: r.plate, "data-testid": "pl-crop" });
      if (r.crop) crop(img, r.crop);
      const facts = [names.get(r.camera) || `#${r.camera}`, t("pl.confidence", { c: Number(r.confidence).toFixed(2) }),
        r.hotlist ? t("pl.hotlist") : null, r.allowlist ? t("pl.allowlist") : null].filter(Boolean).join(" · ");
      // a little before the read: the vehicle coming into the picture
      const open = () => ctx.navigate(`/playback?${new URLSearchParams({ cameras: String(r.camera), at: new Date(ms - 3000).toISOString() })}`);
      return h("li", { class: "se-hit", "data-testid": "pl-hit", "data-plate": r.plate, "data-camera": r.camera, "data-read": r.id },
        h("button", { type: "button", "aria-label": t("pl.play", { plate: r.plate, time: when }), onclick: open },
          img, h("strong", { class: "pl-text", text: r.plate, "data-testid": "pl-plate-text" }), h("span", { text: when }), h("small", { text: facts })));
    }

    async function search(after = null, list = null) {
      err.textContent = "";
      const s = fromLocalInput(from.value, tz);
      const e = fromLocalInput(to.value, tz);
      if (!(s < e)) {
        err.textContent = t("pl.badRange");
        return;
      }
      const q = new URLSearchParams({ start: new Date(s).toISOString(), end: new Date(e).toISOString() });
      if (plate.value.trim()) q.set("plate", plate.value.trim());
      if (camera.value) q.set("camera", camera.value);
      if (!after) history.replaceState(null, "", `#/plates?${q}`);
      q.set("limit", String(PAGE));
      if (after) q.set("after", String(after));
      else {
        clear(results);
        results.append(h("p", { class: "muted", text: t("pl.searching") }));
      }
      try {
        const found = await ctx.api.call(`/api/v1/plates?${q}`);
        if (!after) {
          clear(results);
          results.append(h("h3", { text: found.length ? t(found.length === 1 ? "pl.hit" : "pl.hits", { n: found.length }) : t("pl.noHits") }));
          list = h("ol", { class: "se-hits", "data-testid": "pl-hits" });
          results.append(list);
        }
        results.dataset.count = String((list.children.length || 0) + found.length);
        list.append(...found.map(card));
        results.querySelector("[data-testid=pl-more]")?.remove();
        if (found.length === PAGE) {
          const last = found[found.length - 1].id;
          results.append(h("button", { type: "button", "data-testid": "pl-more", text: t("pl.more"), onclick: () => search(last, list) }));
        }
      } catch (ex) {
        if (!after) clear(results);
        err.textContent = errorText(ex);
      }
    }
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      search();
    });
    if (params.start) search();
    return () => {
      closed = true;
      for (const u of urls) URL.revokeObjectURL(u);
    };
  },
};
