// Placeholder until the view is written.
import { h } from "../dom.js";

export default {
  id: "admin",
  right: null,
  render(root) {
    root.append(h("p", { class: "muted", text: "admin" }));
    return null;
  },
};
