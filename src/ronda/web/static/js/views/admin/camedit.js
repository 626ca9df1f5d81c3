// @ts-check
// Editing a camera in place: name, stream URLs, credentials, retention, the RTP transport, and for a
// camera added by ONVIF what the device said about itself (read-only) and which profiles feed main and sub
// (profiles.js).
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { errorBox, field, text } from "./common.js";
import { profilesPart } from "./profiles.js";

export const TRANSPORTS = ["auto", "tcp", "udp", "http"];

/**
 * @typedef {{ url?: string | null, codec?: string | null, width?: number | null, height?: number | null }} StreamInfo
 * @typedef {{ id: number, name: string, username?: string | null, password_set?: boolean,
 *   retention_days?: number | null, transport?: string, ptz?: boolean, onvif_address?: string | null,
 *   device?: { manufacturer?: string | null, model?: string | null, firmware?: string | null } | null,
 *   streams?: Record<string, StreamInfo>, recording?: Record<string, { transport?: string | null }> }} CameraInfo
 */

/** @param {string} name @param {Record<string, any>} [attrs] */
const input = (name, attrs = {}) => h("input", { name, autocomplete: "off", ...attrs });

/**
 * The transport select with its explanation (also used by the add-by-RTSP form).
 * @param {string} value
 * @param {string} testid
 */
export function transportField(value, testid) {
  const select = h("select", { name: "transport", "data-testid": testid },
    ...TRANSPORTS.map((v) => h("option", { value: v, selected: v === value, text: t(`cam.transport.${v}`) })));
  return field(t("cam.transport"), select, t("cam.transportHint"));
}

/** One stream as "codec W×H — url" (what is known of it). @param {StreamInfo | undefined} s */
function streamLine(s) {
  if (!s) return "—";
  const size = s.width && s.height ? `${s.width}×${s.height}` : "";
  return [[s.codec, size].filter(Boolean).join(" "), s.url].filter(Boolean).join(" — ") || "—";
}

/**
 * What an ONVIF camera said about itself and the streams Ronda took from its profiles (read-only).
 * @param {CameraInfo} cam
 */
export function deviceInfo(cam) {
  const d = cam.device || {};
  const rows = [
    ["cam.manufacturer", d.manufacturer], ["cam.model", d.model], ["cam.firmware", d.firmware],
    ["cam.ptz", cam.ptz ? t("admin.yes") : t("admin.no")], ["cam.onvifAddress", cam.onvif_address],
    ["cam.main", streamLine((cam.streams || {}).main)], ["cam.subShort", streamLine((cam.streams || {}).sub)],
  ];
  return h("section", { class: "device-info", "data-testid": "camera-device", "aria-label": t("cam.device") },
    h("h4", { text: t("cam.device") }),
    h("dl", { class: "facts" }, ...rows.flatMap(([k, v]) => [
      h("dt", { text: t(k) }),
      h("dd", { "data-testid": `camera-device-${k.slice(4)}`, text: v == null || v === "" ? "—" : String(v) }),
    ])),
    h("p", { class: "muted small", text: t("cam.profilesHint") }));
}

/**
 * The edit form of one camera; only what changed is sent (PATCH).
 * @param {CameraInfo} cam
 * @param {HTMLElement} detail the row that holds the form (hidden on cancel)
 * @param {import("../../app.js").AppContext} ctx
 * @param {() => Promise<void>} reload
 */
export function editForm(cam, detail, ctx, reload) {
  const streams = cam.streams || {};
  const mainUrl = streams.main ? streams.main.url || "" : "";
  const subUrl = streams.sub ? streams.sub.url || "" : "";
  const fe = errorBox("camera-edit-error");
  const f = h("form", { class: "admin-form inline", "data-testid": "camera-edit", "aria-label": `${t("admin.edit")}: ${cam.name}` },
    cam.onvif_address ? deviceInfo(cam) : null,
    cam.onvif_address ? profilesPart(cam, ctx, reload) : null,
    h("div", { class: "grid" },
      field(t("admin.name"), input("name", { value: cam.name, required: true })),
      field(t("cam.url"), input("url", { value: mainUrl })),
      field(t("cam.sub"), input("sub_url", { value: subUrl })),
      field(t("cam.username"), input("username", { value: cam.username || "" })),
      field(t("cam.password"), input("password", { type: "password", autocomplete: "new-password", placeholder: cam.password_set ? t("cam.passwordKeep") : "" })),
      field(t("cam.retention"), input("retention_days", { type: "number", min: "0.01", max: "3650", step: "any",
        value: cam.retention_days == null ? "" : cam.retention_days, placeholder: t("cam.retentionDefault"), "data-testid": "camera-retention" })),
      transportField(cam.transport || "auto", "camera-transport")),
    fe,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "data-testid": "camera-edit-save", text: t("common.save") }),
      h("button", { type: "button", text: t("common.cancel"), onclick: () => { detail.hidden = true; } })));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = new FormData(f);
    /** @type {Record<string, unknown>} */
    const ch = {};
    if (text(v, "name") !== cam.name) ch.name = text(v, "name");
    if (text(v, "url") && text(v, "url") !== mainUrl) ch.url = text(v, "url");
    if (text(v, "sub_url") !== subUrl) ch.sub_url = text(v, "sub_url") || null;
    if (text(v, "username") !== (cam.username || "")) ch.username = text(v, "username") || null;
    if (v.get("password")) ch.password = v.get("password");
    if (text(v, "transport") !== (cam.transport || "auto")) ch.transport = text(v, "transport");
    const ret = v.get("retention_days");
    const newRet = ret === "" ? null : Number(ret);
    if (newRet !== (cam.retention_days == null ? null : cam.retention_days)) ch.retention_days = newRet;
    if (!Object.keys(ch).length) {
      detail.hidden = true;
      return;
    }
    try {
      await ctx.api.call(`/api/v1/cameras/${cam.id}`, { method: "PATCH", body: ch });
      toast(t("admin.saved", { name: String(ch.name || cam.name) }));
      await reload();
    } catch (ex) {
      fe.show(ex);
    }
  });
  return f;
}
