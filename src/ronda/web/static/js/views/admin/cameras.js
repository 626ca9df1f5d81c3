// @ts-check
// The cameras tab: find ONVIF devices and add them, add by ONVIF address or by RTSP URL (sub-stream,
// credentials, retention, transport), test, edit, remove.
import { errorText } from "../../api.js";
import { clear, h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { reasonText } from "../../reasons.js";
import { editForm, transportField } from "./camedit.js";
import { confirmButton, createOnSubmit, errorBox, field, loadOrShow, statusCell, table, tabBar, text } from "./common.js";
import "../../analytics/strings.js";
import { findPanel } from "./discover.js";
import { onvifForm } from "./onvifadd.js";
// --- cameras ------------------------------------------------------------------------------------------
// The body of "add a camera" from its form (optional fields only when given).
/** @param {FormData} f */
function newCamera(f) {
  const data = { name: text(f, "name"), url: text(f, "url") };
  for (const k of ["sub_url", "username", "password"]) if (f.get(k)) data[k] = text(f, k);
  if (f.get("retention_days")) data.retention_days = Number(f.get("retention_days"));
  if (text(f, "transport") && text(f, "transport") !== "auto") data.transport = text(f, "transport");
  return data;
}

// The camera's transport setting, and with auto what the main stream uses now ("auto → UDP").
function transportText(cam) {
  const now = cam.recording && cam.recording.main ? cam.recording.main.transport : null;
  const setting = cam.transport || "auto";
  if (setting !== "auto") return t(`cam.transport.${setting}`);
  return now ? t("cam.autoNow", { now: now.toUpperCase() }) : t("cam.auto");
}

/**
 * @param {HTMLElement} panel
 * @param {import("../../app.js").AppContext} ctx
 * @returns {Promise<(() => void) | null | void>} the cleanup
 */
export async function camerasTab(panel, ctx) {
  const err = errorBox("camera-error");
  const body = h("div");
  const input = (name, attrs = {}) => h("input", { name, autocomplete: "off", ...attrs });
  const addErr = errorBox("camera-add-error");
  const form = h("form", { class: "admin-form", "data-testid": "camera-add", "aria-label": t("cam.add") },
    h("h3", { text: t("cam.add") }),
    h("div", { class: "grid" },
      field(t("admin.name"), input("name", { required: true, maxlength: 200 })),
      field(t("cam.url"), input("url", { required: true, placeholder: "rtsp://192.0.2.10:554/stream1" }), t("cam.urlHint")),
      field(t("cam.sub"), input("sub_url", { placeholder: "rtsp://192.0.2.10:554/stream2" })),
      field(t("cam.username"), input("username")),
      field(t("cam.password"), input("password", { type: "password", autocomplete: "new-password" })),
      field(t("cam.retention"), input("retention_days", { type: "number", min: "0.01", max: "3650", step: "any", placeholder: t("cam.retentionDefault") })),
      transportField("auto", "camera-add-transport")),
    addErr,
    h("button", { type: "submit", class: "primary", text: t("cam.addSubmit") }));
  createOnSubmit(form, ctx, { path: "/api/v1/cameras", body: newCamera, box: addErr, reload,
    created: (cam) => t("cam.added", { name: cam.name }) });
  const byOnvif = onvifForm(ctx, { testid: "camera-add-onvif", label: t("onvif.addByAddress"), done: reload });
  panel.append(tabBar(t("admin.tab.cameras"), reload), err, body, findPanel(ctx, reload), h("div", { class: "add-forms" }, byOnvif, form));

  async function patch(cam, changes) {
    try {
      await ctx.api.call(`/api/v1/cameras/${cam.id}`, { method: "PATCH", body: changes });
      err.show(null);
      toast(t("admin.saved", { name: cam.name }));
      return true;
    } catch (ex) {
      err.show(ex);
      return false;
    } finally {
      await reload();
    }
  }

  async function test(cam, out) {
    clear(out);
    out.append(h("span", { class: "muted", text: t("cam.testing") }));
    try {
      const r = await ctx.api.call(`/api/v1/cameras/${cam.id}/test`, { method: "POST" });
      clear(out);
      out.append(h("strong", { class: r.ok ? "ok-text" : "error", text: r.ok ? t("cam.testOk") : t("cam.testFail") }),
        h("ul", {}, ...Object.entries(r.streams).map(([kind, s]) => h("li", {
          text: `${kind === "main" ? t("cam.main") : t("cam.subShort")}: ${s.ok
            ? `${s.codec || "?"} ${s.width || "?"}×${s.height || "?"}${s.audio ? ` + ${s.audio}` : ""}`
            : `${reasonText(s.reason)}${s.detail ? ` — ${s.detail}` : ""}`}`,
        }))));
    } catch (ex) {
      clear(out);
      out.append(h("span", { class: "error", role: "alert", text: errorText(ex) }));
    }
  }

  async function reload() {
    const cams = await loadOrShow(ctx, "/api/v1/cameras", err);
    if (cams === null) return;
    const rows = cams.flatMap((cam) => {
      const streams = cam.streams || {};
      const detail = h("tr", { class: "admin-detail", hidden: true }, h("td", { colspan: 8 }));
      const detailCell = detail.firstChild;
      const openDetail = (content) => {
        clear(detailCell);
        detailCell.append(content);
        detail.hidden = false;
      };
      const enabled = h("input", { type: "checkbox", checked: cam.enabled, "aria-label": `${t("admin.enabled")}: ${cam.name}`, "data-testid": "camera-enabled" });
      enabled.addEventListener("change", () => patch(cam, { enabled: enabled.checked }));
      const row = h("tr", { "data-testid": "admin-camera-row", "data-camera-id": cam.id },
        h("td", { class: "name" }, cam.name,
          cam.ptz ? h("span", { class: "ptz-tag", "data-testid": "camera-ptz", title: t("cam.ptzTitle"), text: "PTZ" }) : null),
        statusCell(cam.status, cam.status_reason),
        h("td", { class: "url opt", text: streams.main ? streams.main.url || "" : "" }),
        h("td", { class: "url opt", text: streams.sub ? streams.sub.url || "" : "—" }),
        h("td", { class: "opt", text: cam.retention_days == null ? t("cam.retentionDefault") : String(cam.retention_days) }),
        h("td", { class: "opt", "data-testid": "camera-transport-cell", text: transportText(cam) }),
        h("td", {}, enabled),
        h("td", { class: "actions" },
          h("button", { type: "button", "data-testid": "camera-test", text: t("cam.test"), onclick: () => {
            const out = h("div", { class: "test-result", "data-testid": "camera-test-result", role: "status" });
            openDetail(out);
            test(cam, out);
          } }),
          h("button", { type: "button", "data-testid": "camera-edit-open", text: t("admin.edit"), onclick: () => openDetail(editForm(cam, detail, ctx, reload)) }),
          h("a", { href: `#/admin/analytics/${cam.id}`, class: "button-link", "data-testid": "camera-analytics", text: t("admin.tab.analytics") }),
          confirmButton(t("admin.delete"), t("admin.confirmDelete", { name: cam.name }), async () => {
            try {
              await ctx.api.call(`/api/v1/cameras/${cam.id}`, { method: "DELETE" });
              err.show(null);
              toast(t("admin.deleted", { name: cam.name }));
            } catch (ex) {
              err.show(ex);
            }
            await reload();
          }, "camera-delete")));
      return [row, detail];
    });
    clear(body);
    body.append(cams.length
      ? table([t("admin.name"), t("admin.status"), [t("cam.main"), "opt"], [t("cam.subShort"), "opt"], [t("cam.retention"), "opt"], [t("cam.transport"), "opt"], t("admin.enabled"), t("admin.actions")],
        rows, { "data-testid": "admin-cameras" })
      : h("p", { class: "muted", text: t("cam.none") }));
  }

  await reload();
  return null;
}
