// @ts-check
// The PTZ panel's lists: the dome's presets (go, save the current position under a name, rename) and
// its patrols (start, stop, and whether one runs, is paused by a user or waits for its time profile).
import { clear, h, toast } from "../../dom.js";

/** @typedef {import("./ptz.js").PtzPanel} PtzPanel */
/** @typedef {{ token: string, name: string }} Preset */
/** @typedef {{ id: number, name: string, running: boolean }} Patrol */

/** @param {PtzPanel} panel */
export function presetList(panel) {
  const t = panel.ctx.t;
  const list = h("ul", { class: "ptz-list", "data-testid": "ptz-presets" });
  const name = h("input", { name: "preset-name", maxlength: "64", required: true, "aria-label": t("ptz.presetName"),
    placeholder: t("ptz.presetName"), "data-testid": "ptz-preset-name" });
  const save = h("button", { type: "submit", "data-testid": "ptz-preset-save", text: t("ptz.presetSave") });
  const form = h("form", { class: "ptz-save" }, name, save);
  /** @type {HTMLButtonElement[]} */
  let goButtons = [];

  const load = async () => {
    /** @type {Preset[] | null} */
    const presets = await panel.run(() => panel.call("/presets"));
    if (!presets || panel.disposed) return;
    clear(list);
    goButtons = [];
    if (!presets.length) list.append(h("li", { class: "muted", text: t("ptz.noPresets") }));
    for (const p of presets) list.append(row(p));
    for (const b of goButtons) b.disabled = panel.blockedUntil > Date.now();
  };

  /** @param {Preset} p */
  const row = (p) => {
    const go = h("button", { type: "button", class: "ptz-preset", "data-testid": "ptz-preset-go", "data-token": p.token,
      "aria-label": t("ptz.presetGo", { name: p.name }), text: p.name,
      onclick: () => panel.command({ action: "preset", preset: p.token }) });
    goButtons.push(/** @type {HTMLButtonElement} */ (go));
    const li = h("li", { "data-token": p.token }, go,
      h("button", { type: "button", class: "link", "data-testid": "ptz-preset-rename", "aria-label": t("ptz.presetRename", { name: p.name }),
        title: t("ptz.presetRename", { name: p.name }), text: "✎", onclick: () => li.replaceWith(renameForm(p, li)) }));
    return li;
  };

  /** @param {Preset} p @param {HTMLElement} li */
  const renameForm = (p, li) => {
    const input = h("input", { value: p.name, maxlength: "64", required: true, "aria-label": t("ptz.presetNewName"),
      "data-testid": "ptz-preset-newname" });
    const f = h("form", { class: "ptz-rename" }, input,
      h("button", { type: "submit", "data-testid": "ptz-preset-rename-ok", text: t("ptz.ok") }),
      h("button", { type: "button", class: "link", text: t("ptz.cancel"), onclick: () => f.replaceWith(li) }));
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const value = /** @type {HTMLInputElement} */ (input).value.trim();
      if (!value) return;
      const body = { name: value };
      if (await panel.run(() => panel.call(`/presets/${encodeURIComponent(p.token)}`, "PATCH", body))) {
        toast(t("ptz.presetRenamed", { name: value }));
        load();
      }
    });
    setTimeout(() => /** @type {HTMLInputElement} */ (input).select());
    return h("li", {}, f);
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = /** @type {HTMLInputElement} */ (name).value.trim();
    if (!value) return;
    const created = await panel.run(() => panel.call("/presets", "POST", { name: value }));
    if (created) {
      /** @type {HTMLInputElement} */ (name).value = "";
      toast(t("ptz.presetSaved", { name: created.name }));
      load();
    }
  });

  return {
    el: h("div", { class: "ptz-box" }, h("h2", { text: t("ptz.presets") }), list, form),
    load,
    /** The buttons that steer the dome (off while another user holds it). */
    commandButtons: () => [...goButtons, /** @type {HTMLButtonElement} */ (save)],
  };
}

/** @param {PtzPanel} panel */
export function patrolList(panel) {
  const t = panel.ctx.t;
  const list = h("ul", { class: "ptz-list", "data-testid": "ptz-patrols" });
  const state = h("p", { class: "ptz-patrol-state", "aria-live": "polite", "data-testid": "ptz-patrol-state" });
  const stop = h("button", { type: "button", hidden: true, "data-testid": "ptz-patrol-stop", text: t("ptz.patrolStop"),
    onclick: async () => {
      await panel.run(() => panel.call("/patrol/stop", "POST"));
      load();
    } });
  const box = h("div", { class: "ptz-box", hidden: true }, h("h2", { text: t("ptz.patrols") }), state, list, stop);
  /** @type {{ id: number, name: string, state: string } | null} */
  let current = null;

  const load = async () => {
    /** @type {Patrol[] | null} */
    const patrols = await panel.call("/patrols").catch(() => null);
    if (!patrols || panel.disposed) return;
    clear(list);
    box.hidden = !patrols.length;
    for (const p of patrols) {
      list.append(h("li", { "data-patrol-id": p.id },
        h("span", { class: "ptz-patrol-name", text: p.name }),
        h("button", { type: "button", "data-testid": "ptz-patrol-start", "data-patrol-id": p.id,
          "aria-label": t("ptz.patrolStart", { name: p.name }), text: t("ptz.start"),
          onclick: () => panel.run(() => panel.call(`/patrols/${p.id}/start`, "POST")) })));
    }
  };

  return {
    el: box,
    load,
    /** The running patrol of the dome's state (or null). @param {{ id: number, name: string, state: string } | null} p */
    show(p) {
      current = p || null;
      stop.hidden = !current;
      state.textContent = current ? t("ptz.patrolState", { name: current.name, state: t(`ptz.patrol.${current.state}`) }) : "";
      state.dataset.state = current ? current.state : "";
      for (const li of /** @type {NodeListOf<HTMLElement>} */ (list.querySelectorAll("li[data-patrol-id]"))) {
        li.classList.toggle("running", Boolean(current) && Number(li.dataset.patrolId) === current.id);
      }
    },
  };
}
