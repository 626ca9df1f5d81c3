// @ts-check
// Adding a camera by ONVIF (POST /api/v1/cameras {name, onvif: {address, username, password}}): Ronda
// reads the streams, PTZ and identity from the device. The form used for a device the search found and
// for an address typed by hand. A refusal (wrong credentials, no answer, a bad stream URI) is the API's
// sentence, shown in the form; nothing is added then.
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { errorBox, field, text } from "./common.js";

/** @param {string} name @param {Record<string, any>} [attrs] */
const input = (name, attrs = {}) => h("input", { name, autocomplete: "off", ...attrs });

/**
 * The fields and submit button of an ONVIF add form; on success `done(camera)` is called.
 * @param {import("../../app.js").AppContext} ctx
 * @param {{ address?: string, name?: string, testid: string, label: string,
 *   done: (camera: any) => Promise<void> | void, cancel?: () => void }} opts
 * @returns {HTMLFormElement}
 */
export function onvifForm(ctx, { address, name, testid, label, done, cancel }) {
  const box = errorBox(`${testid}-error`);
  const submit = h("button", { type: "submit", class: "primary", "data-testid": `${testid}-submit`, text: t("onvif.addSubmit") });
  const busy = h("span", { class: "muted", role: "status", "data-testid": `${testid}-busy` });
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "admin-form", "data-testid": testid, "aria-label": label },
    h("h3", { text: label }),
    h("div", { class: "grid" },
      field(t("admin.name"), input("name", { required: true, maxlength: 200, value: name || "" })),
      address === undefined
        ? field(t("onvif.address"), input("address", { required: true, maxlength: 2048, placeholder: "192.0.2.10 / http://192.0.2.10:8080/onvif/device_service" }), t("onvif.addressHint"))
        : null,
      field(t("cam.username"), input("username")),
      field(t("cam.password"), input("password", { type: "password", autocomplete: "new-password" }))),
    box,
    h("div", { class: "row" }, submit,
      cancel ? h("button", { type: "button", "data-testid": `${testid}-cancel`, text: t("common.cancel"), onclick: cancel }) : null,
      busy)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    /** @type {Record<string, string>} */
    const onvif = { address: address === undefined ? text(f, "address") : address };
    if (text(f, "username")) onvif.username = text(f, "username");
    if (f.get("password")) onvif.password = String(f.get("password"));
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    busy.textContent = t("onvif.adding");
    try {
      const cam = await ctx.api.call("/api/v1/cameras", { method: "POST", body: { name: text(f, "name"), onvif } });
      box.show(null);
      form.reset();
      toast(t("onvif.addedToast", { name: cam.name, ptz: cam.ptz ? t("onvif.withPtz") : "" }));
      await done(cam);
    } catch (ex) {
      box.show(ex);
      /** @type {HTMLElement} */ (form.querySelector("input[name=password]")).focus();
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
      busy.textContent = "";
    }
  });
  return form;
}
