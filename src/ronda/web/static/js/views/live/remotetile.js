// @ts-check
// A remote camera in the live grid (docs/cluster.md, Federation): its live picture through the centre
// (remotelive.js), labelled "site · camera", with the site's offline badge; its "open" tool opens the remote
// viewer panel (recordings, export). Keys: Enter opens it, Delete empties the tile (grid.js).
import { h } from "../../dom.js";
import { t } from "../../i18n.js";
import { remoteLive } from "./remotelive.js";

export class RemoteTile {
  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {string} key the grid's slot key (remote.js remoteKey)
   * @param {{ id: number, name: string, online: boolean }} site
   * @param {{ id: number, name: string, streams?: string[] }} cam
   * @param {{ index: number, onOpen: () => void, follow: (tile: { key: string, online: (on: boolean) => void }) => () => void }} opts
   */
  constructor(ctx, key, site, cam, { index, onOpen, follow }) {
    this.key = key;
    const label = `${site.name} · ${cam.name}`;
    this.badge = h("span", { class: "badge offline", hidden: site.online, "data-testid": "remote-tile-offline", text: t("remote.offline") });
    const media = h("div", { class: "tile-media" });
    this.el = h("div", { class: "tile tile-grid tile-remote", tabindex: "-1", role: "group", "aria-label": label,
      "data-index": index, "data-remote-key": key, "data-testid": "remote-tile" },
      media,
      h("div", { class: "tile-label" }, h("span", { class: "tile-name", text: label }), this.badge),
      h("div", { class: "tile-tools" },
        h("button", { type: "button", class: "tool", title: t("live.single"), "aria-label": t("live.single"), "data-action": "open",
          onclick: (/** @type {Event} */ e) => { e.stopPropagation(); onOpen(); } }, "⤢")));
    // The sub-stream when the site records one (small pictures for a tile, as a local tile), else the main one.
    const streams = (cam.streams || []).includes("sub") ? ["sub", "main"] : ["main"];
    this.picture = remoteLive(ctx, site, cam, { holder: this.el, prefix: "remote-tile", streams });
    media.append(...this.picture.nodes);
    this.unfollow = follow({ key, online: (on) => { this.badge.hidden = on; } });
  }

  start() {
    this.picture.start();
  }

  stop() {
    this.picture.stop();
    this.unfollow();
  }
}
