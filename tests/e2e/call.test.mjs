// End-to-end test of a video visit: a real vardrum server and two headless chromium profiles (clinician and patient) that must see and hear each other.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, constants, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  inboundSnapshot, launchPerson, mintLink, repoRoot, seriousAxeViolations, startServer, stopProcess, tempDir,
  waitForReady, waitForRemoteMedia, withLogs,
} from './helpers.mjs';

const BIN = path.resolve(repoRoot, process.env.VARDRUM_BIN ?? 'target/debug/vardrum');
const ROOM = 'e2e-visit';
const MEDIA_TIMEOUT = 30000;

let dataDir;
let server;
const serverStdout = [];
let baseUrl;
let anna; // the clinician
let pat; // the patient
let annaLink;
let patLink;

function dumps() {
  return {
    'vardrum stdout': serverStdout.join('\n'),
    'vardrum stderr': server?.stderr() ?? '',
    'anna (browser console)': anna?.logs.join('\n') ?? '',
    'pat (browser console)': pat?.logs.join('\n') ?? '',
  };
}

const mint = (name, role) => mintLink({ bin: BIN, dataDir, room: ROOM, name, role, baseUrl });

/** The server's UDP port of the subscriber connection's selected ICE pair. */
const serverMediaPort = (page) => page.evaluate(async () => {
  const stats = await window.vardrum.subscriber.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  stats.forEach((s) => {
    if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  return pair ? stats.get(pair.remoteCandidateId)?.port ?? null : null;
});

const participantNamed = (page, name) =>
  page.evaluate((name) => window.vardrum.participants.find((p) => p.name === name) ?? null, name);

before(async () => {
  try {
    await access(BIN, constants.X_OK);
  } catch {
    throw new Error(`no vardrum binary at ${BIN}: run \`cargo build\` first or set VARDRUM_BIN`);
  }
  dataDir = await tempDir('data');
  // Two media workers, so that a second visit at the same time runs on the second one.
  server = startServer({ bin: BIN, dataDir, args: ['--media-workers', '2'] });
  await withLogs(dumps, async () => {
    baseUrl = await waitForReady(server, serverStdout);
    annaLink = await mint('Anna Berg', 'clinician');
    patLink = await mint('Pat Ient', 'patient');
    anna = await launchPerson('anna');
    pat = await launchPerson('pat');
  });
});

after(async () => {
  if (process.env.E2E_VERBOSE) {
    for (const [name, text] of Object.entries(dumps())) console.error(`\n----- ${name} -----\n${text}`);
  }
  await anna?.close();
  await pat?.close();
  await stopProcess(server?.child);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('a video visit between a clinician and a patient', { concurrency: false, timeout: 120000 }, () => {
  test('both see and hear each other through the server', () => withLogs(dumps, async () => {
    await anna.page.goto(annaLink);
    await pat.page.goto(patLink);
    const [annaGets, patGets] = await Promise.all([
      waitForRemoteMedia(anna.page, { timeout: MEDIA_TIMEOUT }),
      waitForRemoteMedia(pat.page, { timeout: MEDIA_TIMEOUT }),
    ]);
    assert.ok(annaGets.framesDecoded > 0, 'Anna decodes video from Pat');
    assert.ok(annaGets.audioBytesReceived > 0, 'Anna receives audio from Pat');
    assert.ok(patGets.framesDecoded > 0, 'Pat decodes video from Anna');
    assert.ok(patGets.audioBytesReceived > 0, 'Pat receives audio from Anna');

    // Staff see full names; in a 1:1 visit the patient sees the name of the clinician they talk
    // to (the region setting video.patients_see_staff_names_in_visits, default true: "Who sees
    // which name" in docs/signalling.md). Group visits are checked in group.test.mjs.
    const seenByAnna = await participantNamed(anna.page, 'Pat Ient');
    const seenByPat = await participantNamed(pat.page, 'Anna Berg');
    assert.equal(seenByAnna?.role, 'patient');
    assert.equal(seenByAnna?.state, 'active');
    assert.equal(seenByPat?.role, 'clinician');
    assert.equal(await pat.page.locator(`[data-participant="${seenByPat.id}"] .tile-name`).textContent(), 'Anna Berg (care staff)');
    assert.equal(await anna.page.evaluate(() => window.vardrum.kind), 'visit');
    for (const page of [anna.page, pat.page]) {
      await page.waitForFunction(() => window.vardrum.state === 'connected', null, { timeout: 10000 });
    }
    if (process.env.E2E_SCREENSHOTS) {
      await anna.page.screenshot({ path: path.join(process.env.E2E_SCREENSHOTS, 'call-anna.png') });
      await pat.page.screenshot({ path: path.join(process.env.E2E_SCREENSHOTS, 'call-pat.png') });
    }
  }));

  test('muting the microphone shows on the other side', () => withLogs(dumps, async () => {
    await anna.page.locator('#mic').click();
    assert.equal(await anna.page.locator('#mic').getAttribute('aria-pressed'), 'true');
    await pat.page.waitForFunction(
      () => window.vardrum.participants.find((p) => p.name === 'Anna Berg')?.audio_muted === true,
      null, { timeout: 10000 });
    const annaId = (await participantNamed(pat.page, 'Anna Berg')).id;
    assert.ok(await pat.page.locator(`[data-participant="${annaId}"] .badge-mic`).isVisible(), 'the tile shows "microphone off"');

    await anna.page.locator('#mic').click();
    await pat.page.waitForFunction(
      () => window.vardrum.participants.find((p) => p.name === 'Anna Berg')?.audio_muted === false,
      null, { timeout: 10000 });
  }));

  test('the call page and the landing page have no serious accessibility violations', () => withLogs(dumps, async () => {
    assert.deepEqual(await seriousAxeViolations(anna.page), [], 'call page (connected)');
    const landing = await pat.context.newPage();
    try {
      await landing.goto(baseUrl);
      assert.deepEqual(await seriousAxeViolations(landing), [], 'index.html');
    } finally {
      await landing.close();
    }
  }));

  test('reloading the page resumes the visit instead of leaving it', () => withLogs(dumps, async () => {
    const patId = (await participantNamed(anna.page, 'Pat Ient')).id;
    const logFrom = (await anna.page.evaluate(() => window.vardrum.stateLog)).length;
    assert.equal(await anna.page.evaluate(() => window.vardrum.leftEvents), 0);

    await pat.page.reload();
    // Anything Anna decodes beyond this point comes from Pat's new page.
    const annaBefore = await inboundSnapshot(anna.page);

    // Anna hears of Pat's return (participant_updated, maybe via "reconnecting") ...
    await anna.page.waitForFunction(
      ({ id, from }) => window.vardrum.participants.find((p) => p.id === id)?.state === 'active'
        && window.vardrum.stateLog.slice(from).some((e) => e.id === id),
      { id: patId, from: logFrom }, { timeout: MEDIA_TIMEOUT });
    // ... and both get media again.
    const patAgain = await waitForRemoteMedia(pat.page, { timeout: MEDIA_TIMEOUT });
    assert.ok(patAgain.framesDecoded > 0, 'Pat decodes Anna\'s video again after the reload');
    const annaAgain = await waitForRemoteMedia(anna.page, { before: annaBefore, timeout: MEDIA_TIMEOUT });
    assert.ok(annaAgain.framesDecoded > 0, 'Anna decodes Pat\'s new video');

    assert.equal(await anna.page.evaluate(() => window.vardrum.leftEvents), 0, 'Anna never got participant_left');
    const changes = (await anna.page.evaluate(() => window.vardrum.stateLog)).slice(logFrom).filter((e) => e.id === patId);
    for (const change of changes) assert.ok(['reconnecting', 'active'].includes(change.state), `unexpected state ${change.state}`);
    assert.equal((await participantNamed(anna.page, 'Pat Ient'))?.state, 'active');
    assert.equal(await pat.page.evaluate(() => window.vardrum.self?.name), 'Pat Ient');
  }));

  test('a few seconds without network: the visit recovers and nobody leaves', () => withLogs(dumps, async () => {
    const run = promisify(execFile);
    const leftBefore = await anna.page.evaluate(() => window.vardrum.leftEvents);
    const annaBefore = await inboundSnapshot(anna.page);
    const patBefore = await inboundSnapshot(pat.page);
    // The tests run as root in their own network namespace (run.sh): drop every packet on its
    // loopback, signalling and media alike, for five seconds. The wait is the outage itself.
    await run('nft', ['add', 'table', 'inet', 'e2e_outage']);
    try {
      await run('nft', ['add', 'chain', 'inet', 'e2e_outage', 'in', '{ type filter hook input priority 0 ; }']);
      await run('nft', ['add', 'rule', 'inet', 'e2e_outage', 'in', 'iifname', 'lo', 'drop']);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    } finally {
      await run('nft', ['delete', 'table', 'inet', 'e2e_outage']);
    }
    const [annaAgain, patAgain] = await Promise.all([
      waitForRemoteMedia(anna.page, { before: annaBefore, timeout: 60000 }),
      waitForRemoteMedia(pat.page, { before: patBefore, timeout: 60000 }),
    ]);
    assert.ok(annaAgain.framesDecoded > 0, 'Anna decodes new frames from Pat after the outage');
    assert.ok(patAgain.framesDecoded > 0, 'Pat decodes new frames from Anna after the outage');
    assert.equal(await anna.page.evaluate(() => window.vardrum.leftEvents), leftBefore, 'nobody left');
    assert.equal((await participantNamed(anna.page, 'Pat Ient'))?.state, 'active');
  }));
  test('a second visit at the same time runs on the second media worker', () => withLogs(dumps, async () => {
    const room = `${ROOM}-2`;
    const link = (name, role) => mintLink({ bin: BIN, dataDir, room, name, role, baseUrl });
    const annaTab = await anna.context.newPage();
    const patTab = await pat.context.newPage();
    try {
      await annaTab.goto(await link('Anna Berg', 'clinician'));
      await patTab.goto(await link('Pat Ient', 'patient'));
      const [annaGets, patGets] = await Promise.all([
        waitForRemoteMedia(annaTab, { timeout: MEDIA_TIMEOUT }),
        waitForRemoteMedia(patTab, { timeout: MEDIA_TIMEOUT }),
      ]);
      assert.ok(annaGets.framesDecoded > 0 && patGets.framesDecoded > 0, 'both decode video in the second visit');
      const metrics = await (await fetch(new URL('/metrics', baseUrl))).text();
      assert.match(metrics, /^vardrum_media_worker_rooms\{worker="0"\} 1$/m);
      assert.match(metrics, /^vardrum_media_worker_rooms\{worker="1"\} 1$/m);
      const first = await serverMediaPort(anna.page);
      const second = await serverMediaPort(annaTab);
      assert.ok(first && second, `selected ICE pairs: ${first}, ${second}`);
      assert.notEqual(first, second, 'the visits use the two workers\' ports');
      assert.equal(await serverMediaPort(patTab), second);
    } finally {
      await annaTab.close();
      await patTab.close();
    }
  }));
});
