// @ts-check
// Why a camera is not recording, in words: the API's status and gap reasons (docs/recording.md#gaps)
// are codes; every place the client shows one goes through reasonText, so a new code needs one line
// here in each language. An unknown code is shown as it is.
import { addStrings, t } from "./i18n.js";

addStrings({
  en: {
    "reason.camera_unreachable": "camera unreachable", "reason.auth_failed": "the camera refused the credentials",
    "reason.stream_not_found": "stream not found on the camera",
    "reason.transport_refused": "the camera refuses the RTP transport asked for (try another transport)",
    "reason.stream_stalled": "stream stalled", "reason.stream_error": "stream error",
    "reason.ronda_stopped": "Ronda was stopped", "reason.capture_crashed": "capture crashed (restarted)",
    "reason.recorder_restart": "Ronda restarted after a crash", "reason.disk_full": "disk full",
    "reason.volume_missing": "recording volume missing", "reason.camera_disabled": "camera disabled",
    "reason.camera_deleted": "camera deleted", "reason.camera_reconfigured": "camera reconfigured",
    "reason.camera_restarted": "the camera restarted with new stream addresses",
    "reason.clock_adjusted": "clock adjusted", "reason.recorder_error": "recorder error",
    "reason.failover": "recorder node failed: another node took the camera over",
    "reason.rebalanced": "camera moved to another recorder node",
    "reason.not_rtsp": "the device at the camera's address does not answer in RTSP (wrong port or another service?)",
    "reason.video_invalid": "the camera's video cannot be decoded (broken SPS/PPS)",
    "reason.resolution_too_large": "the camera declares a picture larger than 8192x4320",
  },
  it: {
    "reason.camera_unreachable": "telecamera non raggiungibile", "reason.auth_failed": "la telecamera ha rifiutato le credenziali",
    "reason.stream_not_found": "flusso non trovato sulla telecamera",
    "reason.transport_refused": "la telecamera rifiuta il trasporto RTP richiesto (prova un altro trasporto)",
    "reason.stream_stalled": "flusso bloccato", "reason.stream_error": "errore del flusso",
    "reason.ronda_stopped": "Ronda è stato fermato", "reason.capture_crashed": "acquisizione interrotta (riavviata)",
    "reason.recorder_restart": "Ronda riavviato dopo un arresto anomalo", "reason.disk_full": "disco pieno",
    "reason.volume_missing": "volume di registrazione assente", "reason.camera_disabled": "telecamera disattivata",
    "reason.camera_deleted": "telecamera eliminata", "reason.camera_reconfigured": "telecamera riconfigurata",
    "reason.camera_restarted": "la telecamera si è riavviata con nuovi indirizzi dei flussi",
    "reason.clock_adjusted": "orologio corretto", "reason.recorder_error": "errore del registratore",
    "reason.failover": "nodo di registrazione guasto: un altro nodo ha preso la telecamera",
    "reason.rebalanced": "telecamera spostata su un altro nodo di registrazione",
    "reason.not_rtsp": "il dispositivo all'indirizzo della telecamera non risponde in RTSP (porta sbagliata o un altro servizio?)",
    "reason.video_invalid": "il video della telecamera non è decodificabile (SPS/PPS guasti)",
    "reason.resolution_too_large": "la telecamera dichiara un'immagine più grande di 8192x4320",
  },
});

/**
 * The words for a reason code (the code itself when it has none).
 * @param {string | null | undefined} code
 * @returns {string}
 */
export function reasonText(code) {
  if (!code) return "";
  const key = `reason.${code}`;
  const text = t(key);
  return text === key ? code : text;
}
