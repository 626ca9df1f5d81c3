// Placeholder until the view is written.
import { h } from "../dom.js";

export default {
  id: "live",
  right: null,
  render(root) {
    root.append(h("p", { class: "muted", text: "live" }));
    return null;
  },
};
