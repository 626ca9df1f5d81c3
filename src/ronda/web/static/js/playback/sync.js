// @ts-check
// Several recorded players kept at the same wall-clock instant (the first one leads).

/** @typedef {import("../playback.js").RecordedPlayer} RecordedPlayer */

export class SyncGroup {
  /** @param {RecordedPlayer[]} players */
  constructor(players) {
    this.players = players;
  }

  /** @param {number} wallMs */
  async seekWall(wallMs) {
    await Promise.all(this.players.map((p) => p.seekWall(wallMs)));
  }

  /** @param {number} rate */
  setRate(rate) {
    for (const p of this.players) p.setRate(rate);
  }

  // Re-aligns followers that drifted more than `toleranceMs` from the leader.
  async align(toleranceMs = 200) {
    const lead = this.players[0].wallTime();
    await Promise.all(
      this.players.slice(1).filter((p) => Math.abs(p.wallTime() - lead) > toleranceMs).map((p) => p.seekWall(lead)),
    );
    return lead;
  }
}
