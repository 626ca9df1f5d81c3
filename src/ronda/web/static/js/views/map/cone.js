// @ts-check
// A camera's view on the geographic map: the cone of its direction, field of view and range, and the
// direction a dome looks at now (its direction turned by its pan, read from GET /api/v1/cameras/{id}/ptz).

const EARTH_M_PER_DEG = 111320; // metres per degree of latitude (and of longitude at the equator)
export const DEFAULT_VIEW = { direction: 0, fov: 60, range_m: 50 };

/** @param {number} deg @returns {number} the same direction in [0, 360) */
export function normalise(deg) {
  return ((deg % 360) + 360) % 360;
}

/**
 * Where a dome looks: its mounted direction turned by its pan (ONVIF generic space, -1..1 = ±180°).
 * @param {number} direction degrees clockwise from north
 * @param {number | null | undefined} pan
 */
export function domeDirection(direction, pan) {
  return typeof pan === "number" && Number.isFinite(pan) ? normalise(direction + pan * 180) : normalise(direction);
}

/**
 * The cone's outline as [lat, lon] points: the camera, then an arc at `range` metres from
 * direction - fov/2 to direction + fov/2 (a full circle when fov is 360). Local flat-earth offsets:
 * fine for the tens to thousands of metres a camera sees.
 * @param {number} lat @param {number} lon
 * @param {{ direction: number, fov: number, range_m: number }} view
 * @returns {[number, number][]}
 */
export function conePoints(lat, lon, { direction, fov, range_m }) {
  const full = fov >= 360;
  const steps = Math.max(4, Math.ceil(fov / 6));
  const start = direction - (full ? 180 : fov / 2);
  const kLon = EARTH_M_PER_DEG * Math.max(Math.cos((lat * Math.PI) / 180), 1e-6);
  /** @type {[number, number][]} */
  const pts = full ? [] : [[lat, lon]];
  for (let i = 0; i <= steps; i++) {
    const b = ((start + (i * (full ? 360 : fov)) / steps) * Math.PI) / 180;
    pts.push([lat + (range_m * Math.cos(b)) / EARTH_M_PER_DEG, lon + (range_m * Math.sin(b)) / kLon]);
  }
  return pts;
}

/**
 * Follows the pan of the domes on the map: polls each one's PTZ state every `every` ms while the map
 * is shown. A 404 (the camera has no PTZ service, or the server predates it) or 403 (the user may not
 * see its PTZ state) stops polling that camera.
 */
export class PanFollower {
  /** @type {Map<number, number>} the last pan read, by camera id */
  pans = new Map();
  /** @type {Set<number>} */
  domes = new Set();
  /** @type {Set<number>} cameras whose PTZ state is not there (404) */
  absent = new Set();
  timer = null;
  busy = false;

  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {(cameraId: number, pan: number) => void} onPan called when a dome's pan changes
   * @param {number} every
   */
  constructor(ctx, onPan, every = 2000) {
    this.ctx = ctx;
    this.onPan = onPan;
    this.every = every;
  }

  /** @param {number[]} ids the domes on the map now */
  follow(ids) {
    this.domes = new Set(ids.filter((id) => !this.absent.has(id)));
    if (this.domes.size && !this.timer) {
      this.timer = setInterval(() => this.poll(), this.every);
      this.poll();
    } else if (!this.domes.size) this.stop();
  }

  async poll() {
    if (this.busy) return;
    this.busy = true;
    try {
      await Promise.all([...this.domes].map(async (id) => {
        try {
          const st = await this.ctx.api.call(`/api/v1/cameras/${id}/ptz`);
          const pan = st && st.position ? Number(st.position.pan) : NaN;
          if (Number.isFinite(pan) && this.pans.get(id) !== pan) {
            this.pans.set(id, pan);
            this.onPan(id, pan);
          }
        } catch (e) {
          if (e && (e.status === 404 || e.status === 403)) { // no PTZ there, or not for this user
            this.absent.add(id);
            this.domes.delete(id);
          } // other errors (a busy server, a dome offline): try again next time
        }
      }));
    } finally {
      this.busy = false;
    }
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }
}
