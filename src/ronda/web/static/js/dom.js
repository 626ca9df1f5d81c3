// @ts-check
// Tiny DOM helpers: text always goes through textContent (names from the API are never parsed as HTML).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts") || document.body.appendChild(h("div", { id: "toasts", role: "status" }));
  const item = h("div", { class: `toast ${kind}`, text: message });
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}

// A view's own stylesheet, added once: loadCss("css/live.css").
export function loadCss(href) {
  if (document.querySelector(`link[data-view-css="${href}"]`)) return;
  document.head.append(h("link", { rel: "stylesheet", href, "data-view-css": href }));
}
