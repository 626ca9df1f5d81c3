// Placeholder until the view is written.
import { h } from "../dom.js";

export default {
  id: "alarms",
  right: null,
  render(root) {
    root.append(h("p", { class: "muted", text: "alarms" }));
    return null;
  },
};
