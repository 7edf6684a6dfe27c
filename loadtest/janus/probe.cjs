#!/usr/bin/env node
// Janus VideoRoom protocol probe for vardrum-loadtest.
//
// Speaks the Janus WebSocket API (subprotocol "janus-protocol") to a Janus
// started by run-janus.sh, with headless Chromium doing the real WebRTC
// (ICE/DTLS/SRTP), and writes every message sent and received to a JSONL
// capture. The captures in README.md come from this script.
//
// Only ever talks to ws://127.0.0.1:8188 and the 127.0.0.1 ICE candidates that
// Janus offers. Run it through probe.sh, which makes the namespace (netns.sh),
// starts Janus (run-janus.sh) and installs ws + playwright-core under /tmp:
//
//   loadtest/janus/probe.sh /tmp/janus-capture.jsonl /tmp/janus.log
//
// or by hand inside such a namespace, with Janus already up:
//
//   NODE_PATH=/tmp/janus-probe/node_modules node loadtest/janus/probe.cjs CAPTURE.jsonl
//
// Environment: CHROMIUM (default /usr/bin/chromium), JANUS_URL (default
// ws://127.0.0.1:8188), PROBE_SECONDS (media time, default 20, > 15 so a
// keepalive is captured), PROBE_SIMULCAST=1 to publish 3 simulcast layers,
// PROBE_NO_TRICKLE=1 to put the client's candidates in its SDP instead of trickling.
'use strict';

const fs = require('fs');
const WebSocket = require('ws');
const { chromium } = require('playwright-core');

const URL = process.env.JANUS_URL || 'ws://127.0.0.1:8188';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SECONDS = Number(process.env.PROBE_SECONDS || 20);
const SIMULCAST = process.env.PROBE_SIMULCAST === '1';
// PROBE_NO_TRICKLE=1: wait for ICE gathering, put the candidates in the SDP, send no trickle.
const NO_TRICKLE = process.env.PROBE_NO_TRICKLE === '1';
const ROOM = 1234;
const out = fs.createWriteStream(process.argv[2] || '/tmp/janus-capture.jsonl');
const t0 = Date.now();

if (!/^wss?:\/\/(127\.0\.0\.1|localhost)(:\d+)?(\/|$)/.test(URL)) {
  throw new Error(`refusing to talk to ${URL}: loopback only`);
}

function log(who, dir, msg) {
  out.write(JSON.stringify({ t_ms: Date.now() - t0, who, dir, msg }) + '\n');
}
function note(text) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${text}`);
  out.write(JSON.stringify({ t_ms: Date.now() - t0, note: text }) + '\n');
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One WebSocket + one Janus session per participant, like the load tester.
class JanusClient {
  constructor(who) {
    this.who = who;
    this.n = 0;
    this.pending = new Map(); // transaction -> {resolve, reject, finals}
    this.listeners = [];
    this.sessionId = null;
  }
  async connect() {
    this.ws = new WebSocket(URL, 'janus-protocol');
    this.ws.on('message', (data) => this.onMessage(JSON.parse(data.toString())));
    await new Promise((res, rej) => { this.ws.once('open', res); this.ws.once('error', rej); });
    note(`${this.who}: websocket open, subprotocol=${JSON.stringify(this.ws.protocol)}`);
  }
  onMessage(msg) {
    log(this.who, '<', msg);
    const p = msg.transaction && this.pending.get(msg.transaction);
    if (p && p.finals.includes(msg.janus)) {
      this.pending.delete(msg.transaction);
      p.resolve(msg);
      return;
    }
    if (p) return; // e.g. the 'ack' before an asynchronous plugin 'event'
    for (const l of this.listeners.slice()) l(msg);
  }
  // finals: which "janus" values end this transaction.
  request(body, finals = ['success', 'error']) {
    const transaction = `${this.who}-${++this.n}`;
    const msg = { ...body, transaction };
    if (this.sessionId && !('session_id' in msg) && body.janus !== 'create') msg.session_id = this.sessionId;
    log(this.who, '>', msg);
    this.ws.send(JSON.stringify(msg));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(transaction); reject(new Error(`${this.who}: timeout on ${JSON.stringify(body)}`)); }, 15000);
      this.pending.set(transaction, { finals, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    });
  }
  // Wait for an unsolicited message matching pred.
  waitFor(pred, what, ms = 15000) {
    return new Promise((resolve, reject) => {
      const l = (m) => { if (pred(m)) { this.listeners = this.listeners.filter((x) => x !== l); clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => { this.listeners = this.listeners.filter((x) => x !== l); reject(new Error(`${this.who}: timeout waiting for ${what}`)); }, ms);
      this.listeners.push(l);
    });
  }
  async createSession() {
    const r = await this.request({ janus: 'create' });
    if (r.janus !== 'success') throw new Error(JSON.stringify(r));
    this.sessionId = r.data.id;
    this.keepalive = setInterval(() => this.request({ janus: 'keepalive' }, ['ack', 'error']).catch(() => {}), 15000);
    return this.sessionId;
  }
  async attach() {
    const r = await this.request({ janus: 'attach', plugin: 'janus.plugin.videoroom' });
    if (r.janus !== 'success') throw new Error(JSON.stringify(r));
    return r.data.id;
  }
  message(handle, body, jsep, finals = ['success', 'error', 'event']) {
    const m = { janus: 'message', handle_id: handle, body };
    if (jsep) m.jsep = jsep;
    return this.request(m, finals);
  }
  trickle(handle, candidate) {
    return this.request({ janus: 'trickle', handle_id: handle, candidate }, ['ack', 'error']);
  }
  close() { clearInterval(this.keepalive); this.ws.close(); }
}

function pdata(m) { return m.plugindata && m.plugindata.data; }
function expectOk(m, what) {
  const d = pdata(m);
  if (m.janus === 'error' || (d && d.error_code)) throw new Error(`${what} failed: ${JSON.stringify(m)}`);
  return d;
}

// ---------------------------------------------------------------- browser --
async function browserPage(browser) {
  const page = await browser.newPage();
  // Serve a blank page for http://localhost/ from the script itself (secure
  // context for getUserMedia; no network involved).
  await page.route('http://localhost/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<html><body>probe</body></html>' }));
  await page.goto('http://localhost/probe');
  page.on('console', (m) => note(`browser console: ${m.text()}`));
  await page.evaluate(() => {
    window.pcs = {};
    window.cands = {};
    window.newPc = (name) => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      window.pcs[name] = pc;
      window.cands[name] = [];
      pc.onicecandidate = (e) => window.cands[name].push(e.candidate ? e.candidate.toJSON() : null);
      return pc;
    };
  });
  return page;
}
async function drainCandidates(page, name) {
  return page.evaluate((n) => window.cands[n].splice(0), name);
}
// Forward browser candidates to Janus as trickle messages until null (end of candidates).
async function trickleAll(page, name, client, handle) {
  for (let i = 0; i < 100; i++) {
    const cs = await drainCandidates(page, name);
    for (const c of cs) {
      if (c === null) { await client.trickle(handle, { completed: true }); return; }
      await client.trickle(handle, c);
    }
    await sleep(100);
  }
  note(`${name}: no end-of-candidates from the browser after 10 s`);
}

// Publish: browser offer -> configure (+ trickle) -> answer. onAnswer runs right
// after Janus' answer arrives (before it is applied).
async function publish(page, name, client, handle, simulcast, onAnswer) {
  const offer = await page.evaluate(async ({ name, simulcast, noTrickle }) => {
    const pc = window.newPc(name);
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480, frameRate: 30 } });
    pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly' });
    const init = { direction: 'sendonly' };
    if (simulcast) init.sendEncodings = [{ rid: 'h', maxBitrate: 900000 }, { rid: 'm', maxBitrate: 300000, scaleResolutionDownBy: 2 }, { rid: 'l', maxBitrate: 100000, scaleResolutionDownBy: 4 }];
    pc.addTransceiver(stream.getVideoTracks()[0], init);
    const o = await pc.createOffer();
    await pc.setLocalDescription(o);
    if (noTrickle) {
      await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r()); });
      return { type: pc.localDescription.type, sdp: pc.localDescription.sdp };
    }
    return { type: o.type, sdp: o.sdp };
  }, { name, simulcast, noTrickle: NO_TRICKLE });
  const webrtcup = client.waitFor((m) => m.janus === 'webrtcup' && m.sender === handle, `${name} webrtcup`);
  const configuring = client.message(handle, { request: 'configure', audio: true, video: true }, offer);
  const trickling = NO_TRICKLE ? Promise.resolve() : trickleAll(page, name, client, handle);
  const conf = await configuring;
  expectOk(conf, `${name} configure`);
  if (onAnswer) await onAnswer();
  await page.evaluate(async ({ name, jsep }) => window.pcs[name].setRemoteDescription(jsep), { name, jsep: conf.jsep });
  await trickling;
  return { webrtcup };
}

// Subscriber: apply Janus' offer, answer with "start" (+ trickle on the first round).
async function answerSubscriber(page, name, client, handle, jsep, first) {
  const answer = await page.evaluate(async ({ name, jsep, first, noTrickle }) => {
    const pc = first ? window.newPc(name) : window.pcs[name];
    if (first) { window.inbound = []; pc.ontrack = (e) => window.inbound.push(e.track.kind); }
    await pc.setRemoteDescription(jsep);
    const a = await pc.createAnswer();
    await pc.setLocalDescription(a);
    if (noTrickle && first) {
      await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r()); });
      return { type: pc.localDescription.type, sdp: pc.localDescription.sdp };
    }
    return { type: a.type, sdp: a.sdp };
  }, { name, jsep, first, noTrickle: NO_TRICKLE });
  const up = first ? client.waitFor((m) => m.janus === 'webrtcup' && m.sender === handle, `${name} webrtcup`) : null;
  const started = client.message(handle, { request: 'start' }, answer);
  if (first && !NO_TRICKLE) await trickleAll(page, name, client, handle);
  expectOk(await started, 'start');
  if (up) await up;
}

async function stats(page) {
  return page.evaluate(async () => {
    const r = {};
    for (const [name, pc] of Object.entries(window.pcs)) {
      const stats = await pc.getStats();
      stats.forEach((x) => {
        if (x.type === 'outbound-rtp') r[`${name}.out.${x.kind}${x.rid ? '.' + x.rid : ''}`] = `${x.packetsSent} pkts ${x.bytesSent} B`;
        if (x.type === 'inbound-rtp') r[`${name}.in.${x.kind}.${x.mid}`] = `${x.packetsReceived} pkts ${x.bytesReceived} B lost=${x.packetsLost} frames=${x.framesDecoded ?? '-'}`;
        if (x.type === 'candidate-pair' && x.nominated && x.state === 'succeeded') {
          const l = stats.get(x.localCandidateId), rc = stats.get(x.remoteCandidateId);
          r[`${name}.pair`] = `${l.candidateType} ${l.address}:${l.port} -> ${rc.candidateType} ${rc.address}:${rc.port} rtt=${x.currentRoundTripTime}`;
        }
      });
    }
    return r;
  });
}

// ------------------------------------------------------------------- main --
async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      // Real host candidates instead of <uuid>.local (Janus ignore_mdns = true drops those).
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      // Let Chromium gather on 127.0.0.1 too.
      '--allow-loopback-in-peer-connection',
    ],
  });
  const page = await browserPage(browser);

  // ---- publisher ----
  const pub = new JanusClient('pub');
  await pub.connect();
  await pub.request({ janus: 'info' }, ['server_info', 'error']);
  await pub.createSession();
  const pubHandle = await pub.attach();

  // Error capture: join a room that does not exist yet.
  await pub.message(pubHandle, { request: 'join', ptype: 'publisher', room: ROOM, display: 'early' });

  expectOk(await pub.message(pubHandle, { request: 'create', room: ROOM, publishers: 16 }), 'create');
  await pub.message(pubHandle, { request: 'create', room: ROOM, publishers: 16 }); // 427 capture
  await pub.message(pubHandle, { request: 'exists', room: ROOM });

  const joined = expectOk(await pub.message(pubHandle, { request: 'join', ptype: 'publisher', room: ROOM, display: 'publisher-1' }), 'join');
  const feedId = joined.id;
  note(`publisher joined: id=${feedId} private_id=${joined.private_id}`);

  // A subscriber that asks for the feed before it publishes gets an error (428?).
  const early = new JanusClient('early-sub');
  await early.connect();
  await early.createSession();
  const earlyHandle = await early.attach();
  await early.message(earlyHandle, { request: 'join', ptype: 'subscriber', room: ROOM, streams: [{ feed: feedId }] });
  early.close();

  // Second participant (publisher-2) joins before publisher-1 publishes, so it
  // receives the "publishers" notification; it publishes later itself.
  const p2 = new JanusClient('p2');
  await p2.connect();
  await p2.createSession();
  const p2Handle = await p2.attach();
  const j2 = expectOk(await p2.message(p2Handle, { request: 'join', ptype: 'publisher', room: ROOM, id: 4242, display: 'publisher-2' }), 'p2 join');
  const feed2 = j2.id;
  const p2SeesPub1 = p2.waitFor((m) => pdata(m) && pdata(m).publishers, 'publishers event');

  // Publisher-1: browser makes a real offer (audio + video, sendonly) and Janus answers.
  const { webrtcup: pubUp, answerTime } = await publish(page, 'pub', pub, pubHandle, SIMULCAST, async () => {
    // Race: a subscriber joining right after the configure answer, before webrtcup.
    const race = new JanusClient('race-sub');
    await race.connect();
    await race.createSession();
    const h = await race.attach();
    const r = await race.message(h, { request: 'join', ptype: 'subscriber', room: ROOM, streams: [{ feed: feedId }] });
    note(`race subscriber (before publisher webrtcup) got: ${pdata(r).videoroom} ${pdata(r).error_code || ''}`);
    race.close();
  });
  await pubUp;
  note('publisher webrtcup');
  await p2SeesPub1;

  // ---- subscriber ----
  const sub = new JanusClient('sub');
  await sub.connect();
  await sub.createSession();
  const subHandle = await sub.attach();
  const attached = await sub.message(subHandle, { request: 'join', ptype: 'subscriber', room: ROOM, streams: [{ feed: feedId }] });
  expectOk(attached, 'subscriber join');
  await answerSubscriber(page, 'sub', sub, subHandle, attached.jsep, true);
  note('subscriber webrtcup');

  // publisher-2 publishes too; the same subscriber handle adds its feed
  // ("subscribe" -> "updated" + new offer -> "start" with the answer).
  const pubSeesP2 = pub.waitFor((m) => pdata(m) && pdata(m).publishers, 'publishers event (p2)');
  const { webrtcup: p2Up } = await publish(page, 'p2', p2, p2Handle, false);
  await p2Up;
  await pubSeesP2;
  note('publisher-2 webrtcup');
  // A publisher joining late learns about both feeds from its 'joined' answer.
  const late = new JanusClient('late');
  await late.connect();
  await late.createSession();
  const lateHandle = await late.attach();
  await late.message(lateHandle, { request: 'join', ptype: 'publisher', room: ROOM, display: 'late-joiner' });
  await late.message(lateHandle, { request: 'leave' });
  late.close();

  const upd = await sub.message(subHandle, { request: 'subscribe', streams: [{ feed: feed2 }] });
  expectOk(upd, 'subscribe');
  const updJsep = upd.jsep || (await sub.waitFor((m) => m.jsep, 'updated offer')).jsep;
  await answerSubscriber(page, 'sub', sub, subHandle, updJsep, false);
  await pub.message(pubHandle, { request: 'listparticipants', room: ROOM });
  if (SIMULCAST) await sub.message(subHandle, { request: 'configure', streams: [{ mid: '1', substream: 1 }] });

  // From now on, answer any offer Janus sends on its own (e.g. "updated" after a
  // publisher left) with "start", as a real subscriber must.
  sub.listeners.push((m) => {
    if (m.sender === subHandle && m.jsep && m.jsep.type === 'offer') {
      answerSubscriber(page, 'sub', sub, subHandle, m.jsep, false).then(() => note('answered an unsolicited offer'), (e) => note(`answering failed: ${e}`));
    }
  });

  // Errors from the Janus core (not the plugin).
  await pub.request({ janus: 'keepalive', session_id: 1 }, ['ack', 'error']);
  await pub.request({ janus: 'message', handle_id: 1, body: { request: 'list' } }, ['success', 'error', 'event']);

  // Media flows for a while; keepalives go out every 15 s.
  for (let s = 0; s < SECONDS; s += 5) {
    await sleep(5000);
    note(`stats after ${s + 5}s: ${JSON.stringify(await stats(page))}`);
  }

  // publisher-2 vanishes (WebSocket closed without leave): what do the others get?
  p2.close();
  await sleep(1500);
  note(`stats after p2 vanished: ${JSON.stringify(await stats(page))}`);

  // ---- teardown (captures leave / unpublished / hangup / detach / destroy) ----
  await sub.message(subHandle, { request: 'leave' });
  await pub.message(pubHandle, { request: 'unpublish' });
  await sleep(500);
  await pub.message(pubHandle, { request: 'leave' });
  await sleep(500);
  await sub.request({ janus: 'detach', handle_id: subHandle });
  await sub.request({ janus: 'destroy' });
  await pub.message(pubHandle, { request: 'destroy', room: ROOM });
  await pub.request({ janus: 'hangup', handle_id: pubHandle });
  await pub.request({ janus: 'detach', handle_id: pubHandle });
  await pub.request({ janus: 'destroy' });
  await sleep(500);
  pub.close();
  sub.close();
  await browser.close();
  note('done');
}

main().then(() => out.end(() => process.exit(0)), (e) => { note(`FAILED: ${e.stack}`); out.end(() => process.exit(1)); });
