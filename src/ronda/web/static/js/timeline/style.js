// @ts-check
// The timeline's geometry and colours.
export const AXIS_H = 36;
export const ROW_H = 30;
// inside a camera's row: the recording bar, the motion strip under it (timeline/motion.js)
export const RUN_Y = 7;
export const RUN_H = 12;
export const MOTION_Y = 21;
export const COLORS = {
  bg: "#0b1324", row: "#111c33", axis: "#94a3b8", tick: "#334155", day: "#e2e8f0", run: "#16a34a", gap: "#b91c1c",
  event: "#facc15", eventHigh: "#fb923c", bookmark: "#38bdf8", lock: "#a855f7", cursor: "#f8fafc",
  selection: "rgba(56, 189, 248, 0.22)", handle: "#38bdf8", text: "#e2e8f0",
  motionTrack: "#1e293b", motionRgb: "251, 146, 60", motion: "#fb923c", object: "#f472b6",
};
