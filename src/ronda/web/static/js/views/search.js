// @ts-check
// Search: where did something move in a region of a camera's picture, or when was an object of a class
// seen, between two instants (GET /api/v1/search/motion, /search/objects: the same camera rights as
// playback). Hits come as cards with a still; a click opens playback there.
// URL: #/search?camera=ID&start=ISO&end=ISO&mode=motion|objects[&region=x0,y0,x1,y1][&class=C][&zone=Z]
// (a search in the address runs at once: back from playback shows the results again).
import { errorText } from "../api.js";
import { Stage } from "../analytics/stage.js";
import "../analytics/strings.js";
import { className } from "../analytics/strings.js";
import { clear, h, loadCss } from "../dom.js";
import { t } from "../i18n.js";
import { fromLocalInput, toLocalInput } from "../sitetime.js";
import { hitList, parseHits } from "./search/hits.js";
import { RegionPicker } from "./search/region.js";

const CLASSES = ["person", "bicycle", "car", "motorbike", "bus", "truck"];
const LIMIT = 200;

export default {
  id: "search",
  right: "playback",
  /**
   * @param {HTMLElement} root
   * @param {import("../app.js").AppContext} ctx
   * @param {Record<string, string>} params
   */
  async render(root, ctx, params) {
    loadCss("css/analytics.css");
    const tz = ctx.siteTimeZone;
    const cams = (await ctx.api.call("/api/v1/cameras")).filter((c) => (c.rights || []).includes("playback"));
    const page = h("div", { class: "se" });
    root.append(page);
    if (!cams.length) {
      page.append(h("p", { class: "muted", text: t("se.noCameras") }));
      return null;
    }
    const end = Date.parse(params.end || "") || Date.now();
    const start = Date.parse(params.start || "") || end - 3600_000;
    const region = /** @type {import("./search/region.js").Region} */ (String(params.region || "0,0,1,1").split(",").map(Number));
    const camera = /** @type {HTMLSelectElement} */ (h("select", { name: "camera", "data-testid": "se-camera" },
      ...cams.map((c) => h("option", { value: c.id, selected: String(c.id) === params.camera }, c.name))));
    const from = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", step: 1, required: true, value: toLocalInput(start, tz), "data-testid": "se-start" }));
    const to = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", step: 1, required: true, value: toLocalInput(end, tz), "data-testid": "se-end" }));
    const mode = params.mode === "objects" ? "objects" : "motion";
    const radio = (value) => h("label", { class: "check" },
      h("input", { type: "radio", name: "mode", value, checked: value === mode, "data-testid": `se-mode-${value}` }), t(`se.${value}`));
    const cls = /** @type {HTMLSelectElement} */ (h("select", { "data-testid": "se-class" }, h("option", { value: "" }, t("se.anyClass")),
      ...CLASSES.map((c) => h("option", { value: c, selected: c === params.class }, className(c)))));
    const zone = /** @type {HTMLInputElement} */ (h("input", { maxlength: 64, value: params.zone || "", "data-testid": "se-zone" }));
    const stageBox = h("div");
    const regionPart = h("div", { class: "se-region" }, h("p", { class: "muted small", text: t("se.region") }), stageBox);
    const objectPart = h("div", { class: "se-objects" }, h("label", {}, t("se.class"), cls), h("label", {}, t("se.zone"), zone));
    const err = h("p", { class: "error", role: "alert", "data-testid": "se-error" });
    const form = h("form", { class: "se-form", "aria-label": t("se.title") },
      h("h2", { text: t("se.title") }), h("label", {}, t("se.camera"), camera), h("label", {}, t("se.from"), from), h("label", {}, t("se.to"), to),
      h("fieldset", {}, h("legend", { text: t("se.mode") }), radio("motion"), radio("objects")),
      regionPart, objectPart, err,
      h("button", { type: "submit", class: "primary", "data-testid": "se-submit", text: t("se.search") }));
    const results = h("section", { class: "se-results", "aria-live": "polite", "data-testid": "se-results" });
    page.append(form, results);

    /** @type {Stage | null} */
    let stage = null;
    /** @type {RegionPicker | null} */
    let picker = null;
    /** @type {{ destroy: () => void } | null} */
    let list = null;
    const currentMode = () => /** @type {HTMLInputElement} */ (form.querySelector("input[name=mode]:checked")).value;
    const showMode = () => {
      regionPart.hidden = currentMode() !== "motion";
      objectPart.hidden = currentMode() !== "objects";
    };
    const showStage = () => {
      if (stage) stage.destroy();
      const cam = cams.find((c) => String(c.id) === camera.value);
      stage = new Stage(ctx, cam.id, { label: t("se.stage", { name: cam.name }), testid: "se-stage", fallbackMs: fromLocalInput(to.value, tz) });
      picker = new RegionPicker(stage, picker ? picker.region : region);
      const whole = h("button", { type: "button", class: "link", text: t("se.wholeFrame"), onclick: () => picker.set([0, 0, 1, 1]) });
      const note = h("small", { class: "muted" });
      stage.ready.then(() => { if (stage.el.dataset.picture === "none") note.textContent = t("se.noPicture"); });
      clear(stageBox);
      stageBox.append(stage.el, whole, note);
    };
    form.addEventListener("change", (e) => {
      if (e.target === camera) showStage();
      showMode();
    });

    async function search() {
      err.textContent = "";
      const s = fromLocalInput(from.value, tz);
      const e = fromLocalInput(to.value, tz);
      if (!(s < e)) {
        err.textContent = t("se.badRange");
        return;
      }
      const m = currentMode();
      const q = new URLSearchParams({ camera: camera.value, start: new Date(s).toISOString(), end: new Date(e).toISOString() });
      if (m === "motion") q.set("region", picker.region.join(","));
      else {
        if (cls.value) q.set("class", cls.value);
        if (zone.value.trim()) q.set("zone", zone.value.trim());
        q.set("limit", String(LIMIT));
      }
      history.replaceState(null, "", `#/search?${new URLSearchParams({ ...Object.fromEntries(q), mode: m })}`);
      if (list) list.destroy();
      list = null;
      clear(results);
      results.append(h("p", { class: "muted", text: t("se.searching") }));
      try {
        const body = await ctx.api.call(`/api/v1/search/${m}?${q}`);
        const hits = parseHits(body, Number(camera.value));
        clear(results);
        results.dataset.count = String(hits.length);
        results.append(h("h3", { text: hits.length ? t("se.hits", { n: hits.length }) : t("se.noHits") }));
        if (m === "objects" && hits.length >= LIMIT) results.append(h("p", { class: "muted", text: t("se.more", { n: LIMIT }) }));
        const made = hitList(ctx, hits);
        list = made;
        results.append(made.el);
      } catch (ex) {
        clear(results);
        err.textContent = errorText(ex);
      }
    }
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      search();
    });
    showMode();
    showStage();
    if (params.camera && params.start) search();
    return () => {
      if (stage) stage.destroy();
      if (list) list.destroy();
    };
  },
};
