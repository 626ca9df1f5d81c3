// Globals the web client sets for tests and the browser console (checked by tsc, never served).
interface Window {
  rondaApp: import("./static/js/app.js").AppContext;
  rondaPlayer: unknown;
}
