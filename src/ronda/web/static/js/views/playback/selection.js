// @ts-check
// The playback view's selection bar: play it, or make a bookmark, an evidence lock or an export of it
// (each on the cameras the user has that right on; the others are named).
import { errorText } from "../../api.js";
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { formatSpan, formatWall, fromLocalInput } from "../../timeline.js";
import { LONG, SHORT, iso } from "./common.js";
import { exportList } from "./exports.js";

/** @typedef {import("./common.js").Camera} Camera */

/**
 * @param {{ api: import("../../api.js").Api, me: { username: string } | null }} ctx
 * @param {Camera[]} cams the cameras shown
 * @param {import("../../timeline.js").Timeline} timeline
 * @param {(ms: number) => unknown} play plays from an instant
 * @param {() => boolean} closed whether the view has been left
 * @param {string | undefined} timeZone the site's time zone
 */
export function selectionPanel(ctx, cams, timeline, play, closed, timeZone) {
  const withRight = (right) => cams.filter((c) => (c.rights || []).includes(right));
  const markCams = withRight("bookmark");
  const lockCams = withRight("evidence_lock");
  const exportCams = withRight("export");
  const range = h("span", { class: "pb-range", "data-testid": "pb-selection-range" });
  const area = h("div", { class: "pb-action" });
  const jobs = exportList(ctx, closed, timeZone);
  const btn = (key, testid, onclick) => h("button", { type: "button", "data-testid": testid, onclick }, t(key));
  const el = h("section", { class: "pb-selection", "data-testid": "pb-selection", "aria-label": t("pb.selection"), hidden: true },
    h("div", { class: "pb-selbar" },
      h("strong", { text: `${t("pb.selection")}:` }), range,
      btn("pb.playSelection", "pb-play-selection", () => timeline.selection && play(timeline.selection.start)),
      markCams.length ? btn("pb.bookmark", "pb-bookmark", () => open(bookmarkForm)) : null,
      lockCams.length ? btn("pb.lock", "pb-lock", () => open(lockForm)) : null,
      exportCams.length ? btn("pb.export", "pb-export", () => open(exportForm)) : null,
      btn("pb.clear", "pb-clear-selection", () => timeline.setSelection(null))),
    area);
  const wrap = h("div", { class: "pb-below" }, el, jobs.el);

  timeline.addEventListener("select", (e) => {
    const s = /** @type {CustomEvent<{ start: number, end: number } | null>} */ (e).detail;
    el.hidden = !s;
    if (!s) area.replaceChildren();
    else range.textContent = `${formatWall(s.start, LONG, timeZone)} – ${formatWall(s.end, SHORT, timeZone)} (${formatSpan(s.end - s.start)})`;
  });

  function open(build) {
    area.replaceChildren(build());
    const first = area.querySelector("input, textarea");
    if (first) first.focus();
  }

  // A form whose submit runs `action(fields)`; API errors (a 422's messages included) stay on the form.
  function form(testid, fields, submitKey, cams, action) {
    const err = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", "data-testid": `${testid}-submit` }, t(submitKey));
    const left = cams.length < timeline.cameras.length
      ? h("p", { class: "muted", text: t("pb.leftOut", { names: timeline.cameras.filter((c) => !cams.some((x) => x.id === c.id)).map((c) => c.name).join(", ") }) })
      : null;
    const f = h("form", { class: "pb-form", "data-testid": testid }, ...fields, left, err,
      h("div", { class: "pb-form-buttons" }, submit, h("button", { type: "button", onclick: () => area.replaceChildren() }, t("common.cancel"))));
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const sel = timeline.selection;
      if (!sel) return;
      err.textContent = "";
      submit.disabled = true;
      try {
        await action(new FormData(f), sel);
        area.replaceChildren();
      } catch (ex) {
        err.textContent = errorText(ex);
      } finally {
        submit.disabled = false;
      }
    });
    return f;
  }

  const field = (key, input) => h("label", {}, t(key), input);

  // One item per camera that has the right; the cameras that failed are named in the error.
  async function perCamera(list, send) {
    const failed = [];
    for (const c of list) {
      try {
        await send(c);
      } catch (e) {
        failed.push(`${c.name}: ${errorText(e)}`);
      }
    }
    if (failed.length < list.length) {
      toast(t("pb.saved", { n: list.length - failed.length }));
      timeline.load();
    }
    if (failed.length) throw new Error(failed.join("\n"));
  }

  const bookmarkForm = () => form("bookmark-form", [
    field("pb.title", h("input", { name: "title", required: true, maxlength: 200, "data-testid": "bookmark-title" })),
    field("pb.note", h("textarea", { name: "note", rows: 2, maxlength: 2000, "data-testid": "bookmark-note" })),
  ], "common.save", markCams, (f, sel) => perCamera(markCams, (c) => ctx.api.call("/api/v1/bookmarks", {
    method: "POST", body: { camera: c.id, start: iso(sel.start), end: iso(sel.end), title: f.get("title"), note: f.get("note") || null },
  })));

  const lockForm = () => form("lock-form", [
    field("pb.reason", h("input", { name: "reason", required: true, maxlength: 500, "data-testid": "lock-reason" })),
    field("pb.until", h("input", { name: "until", type: "datetime-local", step: "1", "data-testid": "lock-until" })),
  ], "common.save", lockCams, (f, sel) => {
    const body = { start: iso(sel.start), end: iso(sel.end), reason: f.get("reason") };
    if (f.get("until")) {
      const until = fromLocalInput(String(f.get("until")), timeZone);
      if (!Number.isFinite(until)) throw new Error(t("pb.badTime"));
      body.until = iso(until);
    }
    return perCamera(lockCams, (c) => ctx.api.call("/api/v1/evidence-locks", { method: "POST", body: { camera: c.id, ...body } }));
  });

  const exportForm = () => form("export-form", [
    field("pb.reason", h("input", { name: "reason", maxlength: 500, "data-testid": "export-reason" })),
    field("pb.case", h("input", { name: "case", maxlength: 200, "data-testid": "export-case" })),
  ], "pb.startExport", exportCams, async (f, sel) => {
    const job = await ctx.api.call("/api/v1/exports", {
      method: "POST", body: { cameras: exportCams.map((c) => c.id), start: iso(sel.start), end: iso(sel.end), reason: f.get("reason") || "", case: f.get("case") || "" },
    });
    jobs.add(job, sel.start, sel.end);
  });

  return {
    el: wrap,
    destroy() {
      jobs.destroy();
    },
  };
}
