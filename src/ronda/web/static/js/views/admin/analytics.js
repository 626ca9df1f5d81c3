// @ts-check
// The analytics tab: per camera, its zones drawn on a snapshot (zonedraw.js, zonelist.js), which
// detectors run, motion and object settings; Save sends them all (PUT /cameras/{id}/analytics) and
// shows the server's refusal as it words it. Address: #/admin/analytics/CAMERA_ID.
import { clear, h, loadCss, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { Stage } from "../../analytics/stage.js";
import "../../analytics/strings.js";
import { errorBox, loadOrShow, tabBar } from "./common.js";
import { settingsForm } from "./ansettings.js";
import { ZoneDrawer } from "./zonedraw.js";
import { zoneList } from "./zonelist.js";
import { analyticsStatus } from "./anstatus.js";

/**
 * @param {HTMLElement} panel
 * @param {import("../../app.js").AppContext} ctx
 * @param {string[]} [sub] the camera id from the address
 */
export async function analyticsTab(panel, ctx, sub = []) {
  loadCss("css/analytics.css");
  const err = errorBox("an-load-error");
  const body = h("div", { class: "an-body" });
  const pick = /** @type {HTMLSelectElement} */ (h("select", { "data-testid": "an-camera", "aria-label": t("an.camera") }));
  panel.append(tabBar(t("admin.tab.analytics"), () => open()), h("label", { class: "field an-pick" }, h("span", { text: t("an.camera") }), pick), err, body);
  const cams = await loadOrShow(ctx, "/api/v1/cameras", err);
  if (!cams) return null;
  if (!cams.length) {
    body.append(h("p", { class: "muted", text: t("cam.none") }));
    return null;
  }
  for (const c of cams) pick.append(h("option", { value: c.id, selected: String(c.id) === sub[0] }, c.name));
  /** @type {(() => void) | null} */
  let close = null;
  pick.addEventListener("change", () => open());

  async function open() {
    if (close) close();
    close = null;
    clear(body);
    const cam = cams.find((c) => String(c.id) === pick.value);
    history.replaceState(null, "", `#/admin/analytics/${cam.id}`);
    const settings = await loadOrShow(ctx, `/api/v1/cameras/${cam.id}/analytics`, err);
    if (!settings || pick.value !== String(cam.id)) return;
    err.show(null);
    close = editor(body, ctx, cam, settings, cams.filter((c) => c.id !== cam.id));
  }
  await open();
  return () => close && close();
}

/**
 * @param {HTMLElement} body
 * @param {import("../../app.js").AppContext} ctx
 * @param {{ id: number, name: string }} cam
 * @param {any} settings the camera's analytics settings (the API's)
 * @param {{ id: number, name: string }[]} others the site's other cameras
 */
function editor(body, ctx, cam, settings, others) {
  /** @type {import("../../analytics/shapes.js").Zone[]} */
  const zones = (settings.zones || []).map((z) => ({ ...z, points: z.points.map((p) => [p[0], p[1]]) }));
  const stage = new Stage(ctx, cam.id, { label: t("an.stage", { name: cam.name }), testid: "an-stage" });
  const drawer = new ZoneDrawer(stage, zones);
  const list = h("div", { class: "an-zone-list" });
  const help = h("p", { class: "muted small", id: "an-help", text: t("an.helpIdle") });
  stage.el.setAttribute("aria-describedby", "an-help");
  const tool = (key, testid, onclick) => h("button", { type: "button", "data-testid": testid, text: t(key), onclick });
  const finish = /** @type {HTMLButtonElement} */ (tool("an.finish", "an-finish", () => drawer.finish()));
  const cancel = /** @type {HTMLButtonElement} */ (tool("common.cancel", "an-cancel", () => drawer.cancel()));
  const bar = h("div", { class: "row an-tools", role: "toolbar", "aria-label": t("an.tools") },
    tool("an.drawArea", "an-draw-polygon", () => drawer.start("polygon")),
    tool("an.drawLine", "an-draw-line", () => drawer.start("line")), finish, cancel);
  const showList = () => {
    clear(list);
    list.append(h("h4", { text: t("an.zones") }), zoneList(zones, { selected: drawer.selected, select: (i) => drawer.select(i), changed: () => drawer.render() }));
  };
  const showTools = () => {
    const drawing = drawer.mode !== "idle";
    finish.disabled = !drawing || drawer.draft.length < (drawer.mode === "line" ? 2 : 3);
    cancel.disabled = !drawing;
    help.textContent = t(drawing ? `an.help.${drawer.mode}` : "an.helpIdle");
  };
  drawer.addEventListener("change", () => {
    showList();
    showTools();
  });
  drawer.addEventListener("select", () => showList());
  stage.svg.addEventListener("pointerdown", () => setTimeout(showTools));
  stage.el.addEventListener("keydown", () => setTimeout(showTools));
  showList();
  showTools();

  const form = settingsForm(settings, others);
  const saveErr = errorBox("an-save-error");
  const save = h("button", { type: "button", class: "primary", "data-testid": "an-save", text: t("common.save") });
  const status = analyticsStatus(ctx, cam.id);
  save.addEventListener("click", async () => {
    const next = { ...settings, ...form.read(), zones: zones.map((z) => dropEmpty(z)) };
    try {
      const saved = await ctx.api.call(`/api/v1/cameras/${cam.id}/analytics`, { method: "PUT", body: next });
      saveErr.show(null);
      form.showError(null);
      Object.assign(settings, saved || next);
      body.dataset.saved = String(Number(body.dataset.saved || 0) + 1);
      toast(t("admin.saved", { name: cam.name }));
    } catch (ex) {
      saveErr.show(ex);
      form.showError(ex);
    }
  });
  body.append(h("div", { class: "an-editor" },
    h("div", { class: "an-left" }, bar, help, stage.el),
    list),
  form.el, status.el, saveErr, h("div", { class: "row" }, save));
  return () => {
    stage.destroy();
    status.close();
  };
}

/** A zone without its unset options (the API's defaults apply). @param {import("../../analytics/shapes.js").Zone} z */
function dropEmpty(z) {
  const out = { name: z.name, kind: z.kind, points: z.points };
  for (const k of ["classes", "min_score", "loiter_seconds"]) if (z[k] !== null && z[k] !== undefined) out[k] = z[k];
  return out;
}
