// Tests of the call page alone: web/ served by a tiny static server, signalling answered by fake-signalling.js inside the page.
//
// These run without the Rust server, so they pin down the page's own behaviour (texts, buttons,
// reconnects, accessibility) quickly; call.test.mjs checks the real thing end to end.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  here, launchPerson, overflowsHorizontally, seriousAxeViolations, serveWeb, waitForRemoteMedia, withLogs,
} from './helpers.mjs';

const FAKE = `${here}/fake-signalling.js`;

let web;
let person;

before(async () => {
  web = await serveWeb();
  person = await launchPerson('page');
});

after(async () => {
  await person?.close();
  await web?.close();
});

/**
 * Opens the call page in a fresh tab with the fake server in `mode`. `media` replaces
 * getUserMedia: "ok" (fake devices), "deny" (every request refused) or "deny-video" (only
 * audio-only requests work).
 */
async function openCall({ mode = 'echo', media = 'ok', path = 'call/visit-42', hash = '#token=test-token', lang = 'en', viewport } = {}) {
  const page = await person.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  await page.addInitScript(({ mode, media }) => {
    window.__fakeConfig = { mode };
    if (media !== 'ok') {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (constraints) => {
        if (media === 'deny' || constraints.video) throw new DOMException('denied by test', 'NotAllowedError');
        return real(constraints);
      };
    }
  }, { mode, media });
  await page.addInitScript({ path: FAKE });
  await page.goto(`${web.url}${path}?lang=${lang}${hash}`);
  return page;
}

const state = (page) => page.evaluate(() => window.vardrum.state);
const waitForState = (page, wanted, timeout = 15000) =>
  page.waitForFunction((wanted) => [].concat(wanted).includes(window.vardrum?.state), wanted, { timeout });
const sent = (page, type) => page.evaluate((type) => window.__fake.received.filter((m) => m.type === type), type);
const statusText = (page) => page.locator('#status').textContent();

function logs() {
  return { 'browser console': person.logs.join('\n') };
}

describe('call page with a fake server', { concurrency: false }, () => {
  test('joins, publishes and shows the other person with media', () => withLogs(logs, async () => {
    const page = await openCall();
    const media = await waitForRemoteMedia(page, { timeout: 20000 });
    assert.ok(media.framesDecoded > 0 && media.audioBytesReceived > 0);
    assert.equal(await state(page), 'connected');
    assert.equal(await statusText(page), 'Connected.');

    const [join] = await sent(page, 'join');
    assert.deepEqual(join, { type: 'join', v: 1, room: 'visit-42', token: 'test-token' });
    const [offer] = await sent(page, 'offer');
    assert.equal(offer.pc, 'publisher');
    assert.match(offer.sdp, /a=sendonly/);
    assert.equal((await sent(page, 'answer'))[0].pc, 'subscriber');
    const candidates = await sent(page, 'candidate');
    assert.ok(candidates.some((c) => c.pc === 'publisher' && c.candidate && typeof c.candidate.sdp_mline_index === 'number'));
    assert.ok(candidates.some((c) => c.pc === 'publisher' && c.candidate === null), 'end of candidates is sent');

    const participants = await page.evaluate(() => window.vardrum.participants);
    assert.deepEqual(participants.map((p) => p.id), ['p-echo']);
    assert.equal(await page.locator('[data-participant="p-echo"] .tile-name').textContent(), 'Eko Person (care staff)');
    assert.ok(await page.evaluate(() => window.vardrum.publisher instanceof RTCPeerConnection));
    await page.close();
  }));

  test('mute and camera buttons toggle, tell the server and are keyboard reachable', () => withLogs(logs, async () => {
    const page = await openCall();
    await waitForState(page, 'connected');
    const mic = page.locator('#mic');
    await mic.focus();
    await page.keyboard.press('Enter');
    assert.equal(await mic.getAttribute('aria-pressed'), 'true');
    assert.deepEqual((await sent(page, 'mute')).at(-1), { type: 'mute', kind: 'audio', muted: true });
    assert.equal(await page.evaluate(() => window.vardrum.publisher.getSenders().find((s) => s.track?.kind === 'audio').track.enabled), false);
    assert.ok(await page.locator('.tile-self .badge-mic').isVisible());

    await page.locator('#camera').click();
    assert.equal(await page.locator('#camera').getAttribute('aria-pressed'), 'true');
    assert.deepEqual((await sent(page, 'mute')).at(-1), { type: 'mute', kind: 'video', muted: true });
    await page.locator('#camera').click();
    assert.equal(await page.locator('#camera').getAttribute('aria-pressed'), 'false');
    assert.deepEqual((await sent(page, 'mute')).at(-1), { type: 'mute', kind: 'video', muted: false });

    // Tab order reaches every control, and focus is visible (an outline is drawn).
    assert.ok(await page.locator('#enable-sound').isHidden(), 'the browser let the call play with sound');
    await page.locator('#language').focus();
    const reached = [];
    for (let i = 0; i < 3; i += 1) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => document.activeElement.id));
    }
    assert.deepEqual(reached, ['mic', 'camera', 'leave']);
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none');
    await page.close();
  }));

  test('shows the other person muted, reconnecting and gone', () => withLogs(logs, async () => {
    const page = await openCall();
    await waitForState(page, 'connected');
    const tile = page.locator('[data-participant="p-echo"]');
    const echo = { id: 'p-echo', name: 'Eko Person', role: 'clinician', state: 'active', audio_muted: true, video_muted: true };
    await page.evaluate((p) => window.__fake.push({ type: 'participant_updated', participant: p }), echo);
    await tile.locator('.badge-mic').waitFor();
    assert.equal(await tile.locator('.badge-mic .badge-text').textContent(), 'Microphone off');
    assert.equal(await tile.locator('.badge-camera .badge-text').textContent(), 'Camera off');

    await page.evaluate((p) => window.__fake.push({ type: 'participant_updated', participant: { ...p, state: 'reconnecting' } }), echo);
    await tile.locator('.tile-overlay').waitFor();
    assert.equal(await tile.locator('.tile-overlay-text').textContent(), 'Reconnecting…');
    if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/page-reconnecting.png` });

    assert.notEqual(await tile.locator('.spinner').evaluate((el) => getComputedStyle(el).animationName), 'none');
    await page.emulateMedia({ reducedMotion: 'reduce' });
    assert.equal(await tile.locator('.spinner').evaluate((el) => getComputedStyle(el).animationName), 'none', 'no spinning with prefers-reduced-motion');

    await page.evaluate(() => window.__fake.push({ type: 'participant_left', participant_id: 'p-echo', reason: 'left' }));
    await tile.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => window.vardrum.leftEvents), 1);
    assert.deepEqual(await page.evaluate(() => window.vardrum.participants), []);
    assert.equal(await state(page), 'waiting');
    await page.close();
  }));

  test('a lost connection reconnects with the same token and keeps the camera', () => withLogs(logs, async () => {
    const page = await openCall();
    await waitForState(page, 'connected');
    const trackId = await page.evaluate(() => window.vardrum.publisher.getSenders().find((s) => s.track?.kind === 'video').track.id);
    await page.evaluate(() => window.__fake.drop());
    await waitForState(page, 'reconnecting', 5000);
    assert.equal(await statusText(page), 'The connection was lost – reconnecting…');
    await waitForState(page, 'connected');
    await waitForRemoteMedia(page, { timeout: 20000 });
    const joins = await sent(page, 'join');
    assert.equal(joins.length, 2);
    assert.equal(joins[1].token, 'test-token');
    const newTrackId = await page.evaluate(() => window.vardrum.publisher.getSenders().find((s) => s.track?.kind === 'video').track.id);
    assert.equal(newTrackId, trackId, 'the same camera track is published again');
    await page.close();
  }));

  test('server shutdown says the service is restarting and reconnects', () => withLogs(logs, async () => {
    const page = await openCall({ mode: 'alone' });
    await waitForState(page, 'waiting');
    await page.evaluate(() => {
      window.__fake.push({ type: 'bye', reason: 'server_shutdown' });
      window.__fake.socket.serverClose(1001);
    });
    await waitForState(page, 'server_shutdown', 5000);
    assert.equal(await statusText(page), 'The service is restarting – reconnecting…');
    await waitForState(page, 'waiting');
    await page.close();
  }));

  test('being replaced by another window does not reconnect', () => withLogs(logs, async () => {
    const page = await openCall({ mode: 'alone' });
    await waitForState(page, 'waiting');
    await page.evaluate(() => {
      window.__fake.push({ type: 'bye', reason: 'replaced' });
      window.__fake.socket.serverClose(4003);
    });
    await waitForState(page, 'replaced', 5000);
    await page.waitForTimeout(1500); // longer than the first back-off step
    assert.equal(await page.evaluate(() => window.__fake.connectAttempts), 1);
    assert.ok(await page.locator('#rejoin').isVisible());
    await page.close();
  }));

  for (const [code, text] of [
    ['token_expired', 'The link has expired – ask your care provider for a new one.'],
    ['token_invalid', 'The link is not valid. Open the link from your care provider again, or ask for a new one.'],
    ['token_wrong_room', 'The link is not valid. Open the link from your care provider again, or ask for a new one.'],
    ['room_full', 'The visit already has the maximum number of participants.'],
  ]) {
    test(`a fatal ${code} is explained and not retried`, () => withLogs(logs, async () => {
      const page = await openCall({ mode: `error:${code}` });
      await page.waitForFunction(() => !['starting', 'media_prompt', 'connecting'].includes(window.vardrum.state));
      assert.equal(await statusText(page), text);
      await page.waitForTimeout(1500);
      assert.equal(await page.evaluate(() => window.__fake.connectAttempts), 1);
      assert.ok(await page.locator('#controls').isHidden());
      await page.close();
    }));
  }

  test('an unreachable server is reported and retried with back-off', () => withLogs(logs, async () => {
    const page = await openCall({ mode: 'unreachable' });
    await waitForState(page, 'unreachable', 5000);
    assert.match(await statusText(page), /cannot be reached/);
    await page.waitForFunction(() => window.__fake.connectAttempts >= 3, null, { timeout: 10000 });
    await page.close();
  }));

  test('a link without token says so in plain words', () => withLogs(logs, async () => {
    const page = await openCall({ hash: '' });
    await waitForState(page, 'no_token');
    assert.equal(await statusText(page), 'The link is missing its access code. Open the link from your care provider again.');
    assert.equal(await page.evaluate(() => window.__fake.connectAttempts), 0);
    await page.close();
  }));

  test('opening a new link in the same tab joins with the new token', () => withLogs(logs, async () => {
    const page = await openCall({ mode: 'error:token_expired' });
    await waitForState(page, 'token_expired');
    await Promise.all([
      page.waitForEvent('load'),
      page.evaluate(() => { location.hash = '#token=fresh-token'; }),
    ]);
    await page.waitForFunction(() => window.__fake?.received.some((m) => m.type === 'join'));
    assert.equal((await sent(page, 'join'))[0].token, 'fresh-token');
    await page.close();
  }));

  test('camera refused: join with audio only', () => withLogs(logs, async () => {
    const page = await openCall({ media: 'deny-video', mode: 'alone' });
    await waitForState(page, 'media_denied');
    assert.ok(await page.locator('#audio-only').isVisible());
    assert.ok(await page.locator('#watch-only').isVisible());
    assert.deepEqual(await axeIn(page), []);
    await page.locator('#audio-only').click();
    await waitForState(page, 'waiting');
    await page.waitForFunction(() => window.__fake.received.some((m) => m.type === 'offer'));
    const offer = (await sent(page, 'offer'))[0];
    assert.match(offer.sdp, /m=audio/);
    assert.doesNotMatch(offer.sdp, /m=video/);
    assert.ok((await sent(page, 'mute')).some((m) => m.kind === 'video' && m.muted === true), 'the others are told there is no video');
    assert.ok(await page.locator('#camera').isDisabled());
    await page.close();
  }));

  test('camera and microphone refused: watch and listen only sends no offer', () => withLogs(logs, async () => {
    const page = await openCall({ media: 'deny' });
    await waitForState(page, 'media_denied');
    await page.locator('#watch-only').click();
    await waitForState(page, 'connected');
    assert.deepEqual(await sent(page, 'offer'), []);
    assert.equal(await page.evaluate(() => window.vardrum.publisher), null);
    await page.close();
  }));

  test('leave ends the call and offers to join again', () => withLogs(logs, async () => {
    const page = await openCall({ mode: 'alone' });
    await waitForState(page, 'waiting');
    await page.locator('#leave').click();
    await waitForState(page, 'left');
    assert.equal(await statusText(page), 'You left the call.');
    assert.deepEqual((await sent(page, 'leave')).length, 1);
    assert.equal(await page.evaluate(() => window.vardrum.publisher), null);
    await page.locator('#rejoin').click();
    await waitForState(page, 'waiting');
    assert.equal((await sent(page, 'join')).length, 2);
    await page.close();
  }));

  test('the language switch changes texts and the lang attribute', () => withLogs(logs, async () => {
    const page = await openCall({ mode: 'alone', lang: 'sv' });
    await waitForState(page, 'waiting');
    assert.equal(await page.getAttribute('html', 'lang'), 'sv');
    assert.equal(await page.locator('#leave').textContent().then((s) => s.trim()), 'Lämna samtalet');
    await page.locator('#language').click();
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal(await page.locator('#leave').textContent().then((s) => s.trim()), 'Leave call');
    assert.equal(await statusText(page), 'Connected. Waiting for the other person to join…');
    assert.match(page.url(), /[?&]lang=en.*#token=test-token$/);
    await page.close();
  }));

  test('works on a 360 px wide phone screen and passes axe', () => withLogs(logs, async () => {
    const page = await openCall({ viewport: { width: 360, height: 740 } });
    await waitForState(page, 'connected');
    await waitForRemoteMedia(page, { timeout: 20000 });
    assert.equal(await overflowsHorizontally(page), false);
    const boxes = await page.locator('.tile').evaluateAll((tiles) => tiles.map((t) => t.getBoundingClientRect().top));
    assert.equal(new Set(boxes).size, boxes.length, 'tiles are stacked, not side by side');
    assert.deepEqual(await axeIn(page), []);
    await page.close();
  }));

  test('the landing page passes axe in both languages', () => withLogs(logs, async () => {
    const page = await person.context.newPage();
    await page.goto(web.url);
    assert.equal(await page.getAttribute('html', 'lang'), 'sv');
    assert.equal(await page.locator('[lang="en"] h2').first().textContent(), 'Video visits in healthcare');
    assert.deepEqual(await axeIn(page), []);
    await page.close();
  }));
});

async function axeIn(page) {
  return seriousAxeViolations(page);
}
