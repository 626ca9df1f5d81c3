// @ts-check
// The alarm sound: a short beep pattern per priority, generated (no audio files), and the mute button.
import { h } from "../../dom.js";
import { t } from "../../i18n.js";

const MUTE_KEY = "ronda.alarms.muted";

/** @type {AudioContext | null} */
let audio = null;
let activated = false; // browsers without navigator.userActivation: our own record of a first gesture
for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, () => (activated = true), { once: true, capture: true });

function userHasInteracted() {
  return navigator.userActivation ? navigator.userActivation.hasBeenActive : activated;
}

function muted() {
  return localStorage.getItem(MUTE_KEY) === "1";
}

/**
 * Plays the pattern of `priority`; false when muted or before the user's first gesture (a page may
 * not start sound by itself, and an operator must never be startled by a tab opened in the background).
 * @param {string} priority
 * @returns {boolean} whether it sounded
 */
export function beep(priority) {
  if (muted() || !userHasInteracted() || typeof AudioContext === "undefined") return false;
  audio ||= new AudioContext();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  /** @type {[number, number, OscillatorType]} */
  const [freq, count, wave] = { high: [880, 3, "square"], medium: [660, 2, "triangle"], low: [440, 1, "sine"] }[priority] || [440, 1, "sine"];
  let t0 = audio.currentTime + 0.02;
  for (let i = 0; i < count; i++) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = wave;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(0.25, t0 + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.16);
    osc.connect(gain).connect(audio.destination);
    osc.start(t0);
    osc.stop(t0 + 0.18);
    t0 += 0.24;
  }
  return true;
}

/** The button that mutes and unmutes the alarm sound (kept per browser). */
export function muteButton() {
  const muteBtn = h("button", { type: "button", class: "mute", "data-testid": "alarm-mute" });
  const showMute = () => {
    muteBtn.textContent = muted() ? t("alarms.sound.off") : t("alarms.sound.on");
    muteBtn.title = muted() ? t("alarms.unmute") : t("alarms.mute");
    muteBtn.setAttribute("aria-label", t("alarms.mute"));
    muteBtn.setAttribute("aria-pressed", String(muted()));
  };
  muteBtn.addEventListener("click", () => {
    localStorage.setItem(MUTE_KEY, muted() ? "0" : "1");
    showMute();
  });
  showMute();
  return muteBtn;
}
