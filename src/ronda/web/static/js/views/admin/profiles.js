// @ts-check
// For a camera added by ONVIF: which of the device's media profiles feed its main and sub streams
// (GET and PUT /api/v1/cameras/{id}/onvif/profiles). Part of the camera edit form; its selects have
// no name, so the form's own save (PATCH) ignores them.
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { errorBox, field } from "./common.js";

/**
 * @typedef {{ token: string, name: string, codec?: string | null, width?: number | null,
 *   height?: number | null, fps?: number | null, main: boolean, sub: boolean }} Profile
 */

/** "name — codec W×H fps" @param {Profile} p */
export function profileLabel(p) {
  const size = p.width && p.height ? `${p.width}×${p.height}` : "";
  const fps = p.fps ? `${Math.round(p.fps * 100) / 100} fps` : "";
  const what = [p.codec, size, fps].filter(Boolean).join(" ");
  return what ? `${p.name} — ${what}` : p.name;
}

/**
 * @param {{ id: number, name: string }} cam
 * @param {import("../../app.js").AppContext} ctx
 * @param {() => Promise<void>} reload called after a saved choice (the camera's URLs changed)
 * @returns {HTMLElement}
 */
export function profilesPart(cam, ctx, reload) {
  const url = `/api/v1/cameras/${cam.id}/onvif/profiles`;
  const fe = errorBox("camera-profiles-error");
  const main = /** @type {HTMLSelectElement} */ (h("select", { "data-testid": "camera-profile-main", disabled: true }));
  const sub = /** @type {HTMLSelectElement} */ (h("select", { "data-testid": "camera-profile-sub", disabled: true }));
  const save = /** @type {HTMLButtonElement} */ (h("button", { type: "button", "data-testid": "camera-profiles-save",
    disabled: true, text: t("cam.profilesSave") }));
  const status = h("p", { class: "muted small", "data-testid": "camera-profiles-status", text: t("cam.profilesLoading") });
  const part = h("section", { class: "profiles", "data-testid": "camera-profiles", "aria-label": t("cam.profiles") },
    h("h4", { text: t("cam.profiles") }),
    h("div", { class: "grid" }, field(t("cam.profileMain"), main), field(t("cam.profileSub"), sub)),
    status, fe, h("div", { class: "row" }, save));

  /** @param {Profile[]} profiles */
  function fill(profiles) {
    const opts = (/** @type {"main" | "sub"} */ kind) => profiles.map((p) =>
      h("option", { value: p.token, selected: p[kind], text: profileLabel(p) }));
    main.replaceChildren(...opts("main"));
    sub.replaceChildren(h("option", { value: "", selected: !profiles.some((p) => p.sub), text: t("cam.profileNone") }),
      ...opts("sub"));
    main.disabled = sub.disabled = save.disabled = !profiles.length;
    status.textContent = profiles.length ? t("cam.profilesChoose") : t("cam.profilesNone");
  }

  async function load() {
    fe.show(null);
    try {
      fill(/** @type {Profile[]} */ (await ctx.api.call(url)));
    } catch (ex) {
      status.textContent = "";
      fe.show(ex);
    }
  }

  save.addEventListener("click", async () => {
    fe.show(null);
    save.disabled = true;
    try {
      await ctx.api.call(url, { method: "PUT", body: { main: main.value, sub: sub.value || null } });
      toast(t("cam.profilesSaved", { name: cam.name }));
      await reload();
    } catch (ex) {
      fe.show(ex);
    } finally {
      save.disabled = false;
    }
  });
  void load();
  return part;
}
