// Drives a simulated ONVIF camera with the npm package `onvif` (an independent client) for
// tests/devices/test_onvif_sim.py. Usage:
//   node onvif_client.js STEP HOST PORT PATH   with the password in $ONVIF_PASSWORD (never in argv)
// STEP: info | ptz | events | connect. Prints one JSON object on stdout; exits 1 with {"error"} on failure.
'use strict';
const { Cam } = require('onvif');

const [step, hostname, port, path] = process.argv.slice(2);
const username = process.env.ONVIF_USERNAME || 'admin';
const password = process.env.ONVIF_PASSWORD;
const timeout = 20000;

function fail(err) {
  process.stdout.write(JSON.stringify({ error: String((err && err.message) || err) }) + '\n');
  process.exit(1);
}

function call(cam, method, ...args) {
  return new Promise((resolve, reject) => {
    cam[method](...args, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connect() {
  return new Promise((resolve, reject) => {
    const cam = new Cam({ hostname, port: Number(port), path, username, password, timeout, autoconnect: false });
    cam.connect((err) => (err ? reject(err) : resolve(cam)));
  });
}

async function info(cam) {
  const device = await call(cam, 'getDeviceInformation');
  const profiles = await call(cam, 'getProfiles');
  const out = { device, profiles: [], scopes: await call(cam, 'getScopes') };
  for (const p of profiles) {
    const enc = p.videoEncoderConfiguration;
    const stream = await call(cam, 'getStreamUri', { protocol: 'RTSP', profileToken: p.$.token });
    const snap = await call(cam, 'getSnapshotUri', { profileToken: p.$.token });
    out.profiles.push({
      token: p.$.token, encoding: enc.encoding, width: enc.resolution.width, height: enc.resolution.height,
      fps: enc.rateControl.frameRateLimit, ptz: Boolean(p.PTZConfiguration), stream: stream.uri, snapshot: snap.uri,
    });
  }
  out.time = (await call(cam, 'getSystemDateAndTime')).toISOString();
  return out;
}

async function waitIdle(cam, token) {
  for (let i = 0; i < 100; i++) {
    const s = await call(cam, 'getStatus', { profileToken: token });
    if (s.moveStatus.panTilt === 'IDLE' && s.moveStatus.zoom === 'IDLE') return s.position;
    await sleep(100);
  }
  throw new Error('the dome did not stop moving');
}

async function ptz(cam) {
  const token = cam.activeSource.profileToken;
  const nodes = await call(cam, 'getNodes');
  const configurations = await call(cam, 'getConfigurations');
  await call(cam, 'absoluteMove', { profileToken: token, x: 0.5, y: -0.25, zoom: 0.3 });
  const absolute = await waitIdle(cam, token);
  await call(cam, 'setPreset', { profileToken: token, presetName: 'gate' });
  await call(cam, 'absoluteMove', { profileToken: token, x: 5, y: -7, zoom: 2 }); // clamped to the limits
  const clamped = await waitIdle(cam, token);
  const presets = await call(cam, 'getPresets', { profileToken: token });
  await call(cam, 'gotoPreset', { profileToken: token, preset: presets.gate.$.token });
  const atPreset = await waitIdle(cam, token);
  await call(cam, 'continuousMove', { profileToken: token, x: -0.5, y: 0, zoom: 0 });
  await sleep(400);
  await call(cam, 'stop', { profileToken: token, panTilt: true, zoom: true });
  const afterContinuous = await waitIdle(cam, token);
  await call(cam, 'relativeMove', { profileToken: token, x: 0.1, y: 0.1, zoom: 0 });
  const afterRelative = await waitIdle(cam, token);
  await call(cam, 'gotoPreset', { profileToken: token, preset: presets.gate.$.token });
  const final = await waitIdle(cam, token);
  return {
    nodes: Object.keys(nodes), configurations: Object.keys(configurations), presetTokens: Object.keys(presets),
    presetToken: presets.gate.$.token, absolute, clamped, atPreset, afterContinuous, afterRelative, final,
  };
}

async function events(cam) {
  const properties = await call(cam, 'getEventProperties');
  await call(cam, 'createPullPointSubscription');
  const topics = [];
  const deadline = Date.now() + 20000;
  const want = (process.env.ONVIF_WANT || '').split(',').filter(Boolean);
  while (Date.now() < deadline) {
    const res = await call(cam, 'pullMessages', { messageLimit: 50 });
    let msgs = res.notificationMessage || [];
    if (!Array.isArray(msgs)) msgs = [msgs];
    for (const m of msgs) {
      const data = m.message.message.data.simpleItem.$;
      topics.push({ topic: m.topic._, operation: m.message.message.$.PropertyOperation, name: data.Name, value: String(data.Value) });
    }
    process.stderr.write(`pulled ${msgs.length}\n`);
    if (want.every((w) => topics.some((t) => t.topic.endsWith(w) && t.value === 'true' && t.operation === 'Changed'))) break;
  }
  await call(cam, 'renew', {});
  await call(cam, 'unsubscribe');
  return { topicSet: Object.keys(properties.topicSet || {}), topics };
}

(async () => {
  const cam = await connect();
  const steps = { info, ptz, events, connect: async () => ({ connected: true }) };
  if (!steps[step]) throw new Error(`unknown step ${step}`);
  process.stdout.write(JSON.stringify(await steps[step](cam)) + '\n');
})().catch(fail);
