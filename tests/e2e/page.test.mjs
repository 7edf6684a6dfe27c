// Tests of the call page alone: web/ served by a tiny static server, signalling answered by fake-signalling.js inside the page.
//
// These run without the Rust server, so they pin down the page's own behaviour (texts, buttons,
// reconnects, accessibility) quickly; call.test.mjs checks the real thing end to end.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  axeViolations, here, launchPerson, makePng, overflowsHorizontally, seriousAxeViolations, serveWeb, waitForRemoteMedia, withLogs,
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
 * Opens the call page in a fresh tab with the fake server in `mode` (more of its settings in
 * `fake`, see fake-signalling.js). `media` replaces getUserMedia: "ok" (fake devices), "deny"
 * (every request refused) or "deny-video" (only audio-only requests work).
 */
async function openCall({ mode = 'echo', fake = {}, media = 'ok', path = 'call/visit-42', hash = '#token=test-token', lang = 'en', viewport } = {}) {
  const page = await person.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  await page.addInitScript(({ mode, fake, media }) => {
    window.__fakeConfig = { mode, ...fake };
    if (media !== 'ok') {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (constraints) => {
        if (media === 'deny' || constraints.video) throw new DOMException('denied by test', 'NotAllowedError');
        return real(constraints);
      };
    }
  }, { mode, fake, media });
  await page.addInitScript({ path: FAKE });
  await page.goto(`${web.url}${path}?lang=${lang}${hash}`);
  return page;
}

const state = (page) => page.evaluate(() => window.vardrum.state);
const waitForState = (page, wanted, timeout = 15000) =>
  page.waitForFunction((wanted) => [].concat(wanted).includes(window.vardrum?.state), wanted, { timeout });
const sent = (page, type) => page.evaluate((type) => window.__fake.received.filter((m) => m.type === type), type);
/** Like `sent`, once at least one message of `type` has gone: for actions confirmed in a dialog,
 * whose message leaves when the dialog has closed, a moment after the click. */
const sentOnce = async (page, type) => {
  await page.waitForFunction((type) => window.__fake.received.some((m) => m.type === type), type, { timeout: 5000 });
  return sent(page, type);
};
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

/** A join token whose claims say `kind: group` and name a booking (the fake checks no signature). */
const groupToken = (claims) => `e30.${Buffer.from(JSON.stringify({ kind: 'group', room: 'group-7', ...claims })).toString('base64url')}.sig`;
const GROUP_TOKEN = groupToken({ booking: 'b-1001' });
const GROUP_HASH = `#token=${GROUP_TOKEN}`;
/** As a patient sees them: the clinician by initials (the region's group rule) and another patient. */
const STAFF = { id: 'p-echo', name: 'A. B.', role: 'clinician', state: 'active', audio_muted: false, video_muted: false };
const PATIENT = { id: 'p-nop', name: 'N. O. P.', role: 'patient', state: 'active', audio_muted: false, video_muted: true };

/** Opens a group visit (device check first) with the fake server. */
function openGroup({ fake = {}, ...options } = {}) {
  return openCall({ path: 'call/group-7', hash: GROUP_HASH, fake: { kind: 'group', others: [STAFF, PATIENT], ...fake }, ...options });
}

const screen = (page) => page.evaluate(() => window.vardrum.screen);
const waitForScreen = (page, wanted, timeout = 15000) =>
  page.waitForFunction((wanted) => window.vardrum?.screen === wanted, wanted, { timeout });

/** Opens a group visit and joins from the device check; resolves when in `expected` screen. */
async function joinGroup(options = {}, expected = options.fake?.waiting ? 'waiting' : 'call') {
  const page = await openGroup(options);
  await waitForState(page, ['prejoin', 'prejoin_audio', 'prejoin_none']);
  await page.locator('#join').click();
  await waitForScreen(page, expected);
  return page;
}

const flashText = (page) => page.locator('#flash-text').textContent();

describe('group visit page with a fake server', { concurrency: false }, () => {
  test('starts with the device check: preview, level meter, device choice; passes axe', () => withLogs(logs, async () => {
    const page = await openGroup({ fake: { waiting: true } });
    await waitForState(page, 'prejoin');
    assert.equal(await screen(page), 'prejoin');
    assert.equal(await statusText(page), 'Check your camera and microphone, then join the visit.');
    assert.equal(await page.locator('#prejoin-heading').textContent(), 'Check your camera and microphone');
    // The preview plays the camera, and the meter moves with the (fake) microphone's beeps.
    await page.waitForFunction(() => document.getElementById('prejoin-video').videoWidth > 0, null, { timeout: 10000 });
    await page.waitForFunction(() => document.getElementById('mic-level').value > 0.01, null, { timeout: 10000 });
    assert.ok(await page.locator('#camera-select option').count() >= 1);
    assert.ok(await page.locator('#mic-select option').count() >= 1);
    assert.ok(await page.locator('#join-audio').isVisible());
    assert.ok(await page.locator('#controls').isHidden(), 'no call controls before joining');
    assert.equal(await page.evaluate(() => window.__fake.connectAttempts), 0, 'nothing is sent before Join');
    assert.deepEqual(await axeViolations(page), [], 'pre-join screen');
    await page.close();
  }));

  test('waiting room until admitted: no media sent, then the call with simulcast', () => withLogs(logs, async () => {
    const page = await joinGroup({ fake: { waiting: true } });
    assert.equal(await state(page), 'waiting_room');
    assert.equal(await page.locator('#waiting-heading').textContent(), 'The host will let you in');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'waiting-heading', 'focus moves to the waiting room');
    assert.deepEqual(await sent(page, 'offer'), [], 'no offer from the waiting room');
    assert.equal(await page.locator('.tile').count(), 0, 'nobody is shown while waiting');
    assert.ok(await page.locator('#leave').isVisible());
    assert.ok(await page.locator('#mic').isHidden());
    // The camera is let go while nobody can see us.
    assert.equal(await page.evaluate(() => document.querySelector('.tile-self video')?.srcObject ?? null), null);
    assert.deepEqual(await axeViolations(page), [], 'waiting screen');

    await page.evaluate(() => window.__fake.admit());
    await waitForScreen(page, 'call');
    assert.equal(await flashText(page), 'You have been let in.');
    await page.waitForFunction(() => window.__fake.received.some((m) => m.type === 'offer'));
    const [offer] = await sent(page, 'offer');
    assert.match(offer.sdp, /a=simulcast:send q;h;f/, 'group visits publish simulcast');
    for (const rid of ['q', 'h', 'f']) assert.match(offer.sdp, new RegExp(`a=rid:${rid} send`));
    await waitForRemoteMedia(page, { timeout: 20000 });
    await waitForState(page, 'connected');
    // Names come from the server only: the other patient by initials, the staff as sent.
    assert.equal(await page.locator('[data-participant="p-nop"] .tile-name').textContent(), 'N. O. P. (patient)');
    assert.equal(await page.locator('[data-participant="p-nop"] .tile-placeholder').textContent(), 'NO', 'initials avatar when the camera is off');
    assert.ok(await page.locator('[data-participant="p-nop"] .tile-placeholder').isVisible());
    await page.close();
  }));

  test('a 1:1 visit publishes one layer', () => withLogs(logs, async () => {
    const page = await openCall({ mode: 'alone' });
    await page.waitForFunction(() => window.__fake.received.some((m) => m.type === 'offer'));
    const [offer] = await sent(page, 'offer');
    assert.doesNotMatch(offer.sdp, /a=simulcast/);
    assert.equal(await screen(page), 'call', 'no device check in a 1:1 visit');
    await page.close();
  }));

  test('a refused camera on the device check joins with sound only', () => withLogs(logs, async () => {
    const page = await openGroup({ media: 'deny-video' });
    await waitForState(page, 'prejoin_audio');
    assert.equal(await statusText(page), 'The camera could not be used. You will join with sound only.');
    assert.ok(await page.locator('#prejoin-no-camera').isVisible());
    assert.ok(await page.locator('#join-audio').isHidden());
    await page.locator('#join').click();
    await waitForScreen(page, 'call');
    await page.waitForFunction(() => window.__fake.received.some((m) => m.type === 'offer'));
    const [offer] = await sent(page, 'offer');
    assert.match(offer.sdp, /m=audio/);
    assert.doesNotMatch(offer.sdp, /m=video/);
    assert.ok((await sent(page, 'mute')).some((m) => m.kind === 'video' && m.muted === true), 'the others are told there is no video');
    await page.close();
  }));

  test('"join with audio only" stops the camera', () => withLogs(logs, async () => {
    const page = await openGroup();
    await waitForState(page, 'prejoin');
    await page.locator('#join-audio').click();
    await waitForScreen(page, 'call');
    await page.waitForFunction(() => window.__fake.received.some((m) => m.type === 'offer'));
    assert.doesNotMatch((await sent(page, 'offer'))[0].sdp, /m=video/);
    assert.ok(await page.locator('#camera').isDisabled());
    await page.close();
  }));

  test('the host panel is only for clinicians', () => withLogs(logs, async () => {
    const patient = await joinGroup();
    await waitForState(patient, 'connected');
    assert.ok(await patient.locator('#host-toggle').isHidden());
    assert.ok(await patient.locator('#host-panel').isHidden());
    await patient.close();

    const host = await joinGroup({ fake: { role: 'clinician', selfName: 'Anna Berg' } });
    await waitForState(host, 'connected');
    assert.ok(await host.locator('#host-toggle').isVisible());
    await host.close();
  }));

  test('host panel: admit, deny with a message, moderate, lock, spotlight, guest link, end for all', () => withLogs(logs, async () => {
    const others = [
      { id: 'p-w1', name: 'Nils Olof Persson', role: 'patient', state: 'waiting', audio_muted: false, video_muted: false },
      { id: 'p-w2', name: 'Greta Holm', role: 'patient', state: 'waiting', audio_muted: false, video_muted: false },
      { id: 'p-w3', name: 'Ove Lind', role: 'patient', state: 'waiting', audio_muted: false, video_muted: false },
      { id: 'p-w4', name: 'Siv Ek', role: 'guest', state: 'waiting', audio_muted: false, video_muted: false },
      { ...STAFF, name: 'Bo Ström' },
    ];
    const page = await joinGroup({ fake: { role: 'clinician', selfName: 'Anna Berg', others } });
    // The grant replaces the context's permissions for the origin: camera and microphone too.
    await person.context.grantPermissions(['clipboard-read', 'clipboard-write', 'camera', 'microphone'], { origin: web.url.replace(/\/$/, '') });
    const panel = page.locator('#host-panel');
    await page.locator('#host-toggle').click();
    assert.ok(await panel.isVisible());
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'host-heading');
    assert.equal(await page.locator('#host-toggle .count').textContent(), '4 waiting');
    assert.equal(await page.locator('#waiting-list-heading').textContent(), 'In the waiting room (4)');
    // Hosts see full names, exactly as the server sent them; nobody waiting gets a tile.
    assert.deepEqual(await page.locator('#waiting-list .person-name').allTextContents(),
      ['Nils Olof Persson', 'Greta Holm', 'Ove Lind', 'Siv Ek']);
    assert.equal(await page.locator('.tile[data-participant^="p-w"]').count(), 0);

    // Admit one, by keyboard.
    await page.locator('#waiting-list li', { hasText: 'Nils Olof Persson' }).getByRole('button', { name: 'Admit' }).focus();
    await page.keyboard.press('Enter');
    assert.deepEqual((await sent(page, 'admit')).at(-1), { type: 'admit', participants: ['p-w1'] });
    await page.locator('.tile[data-participant="p-w1"]').waitFor();
    assert.ok(await page.locator('#people-list', { hasText: 'Nils Olof Persson' }).isVisible());

    // Deny with a message, through the confirmation dialog.
    await page.locator('#waiting-list li', { hasText: 'Siv Ek' }).getByRole('button', { name: 'Deny' }).click();
    const dialog = page.locator('#confirm');
    assert.ok(await dialog.isVisible());
    assert.equal(await page.locator('#confirm-title').textContent(), 'Deny Siv Ek?');
    await page.locator('#confirm-message').fill('This group is full today, please book again.');
    await page.locator('#confirm-ok').click();
    assert.deepEqual((await sentOnce(page, 'deny')).at(-1),
      { type: 'deny', participant: 'p-w4', message: 'This group is full today, please book again.' });
    await page.locator('#waiting-list li', { hasText: 'Siv Ek' }).waitFor({ state: 'detached' });

    // Admit everyone else.
    await page.locator('#admit-all').click();
    assert.equal((await sent(page, 'admit_all')).length, 1);
    await page.locator('#waiting-none').waitFor();
    assert.equal(await page.locator('#people-heading').textContent(), 'In the visit (5)');

    // Moderate a patient: the actions fold out under their name.
    const row = page.locator('#people-list li', { hasText: 'Greta Holm' });
    await row.locator('summary').click();
    await row.getByRole('button', { name: 'Mute microphone' }).click();
    assert.deepEqual((await sent(page, 'mute_participant')).at(-1), { type: 'mute_participant', participant: 'p-w2', kind: 'audio' });
    await row.getByRole('button', { name: 'Mute microphone' }).waitFor({ state: 'detached' });
    assert.ok(await row.locator('summary').evaluate((el) => el === document.activeElement), 'focus stays on the person');
    await row.getByRole('button', { name: 'Stop camera' }).click();
    assert.deepEqual((await sent(page, 'mute_participant')).at(-1), { type: 'mute_participant', participant: 'p-w2', kind: 'video' });
    await page.evaluate(() => window.__fake.update('p-w2', { hand_raised: true }));
    await row.getByRole('button', { name: 'Lower hand' }).click();
    assert.deepEqual((await sent(page, 'lower_hand')).at(-1), { type: 'lower_hand', participant: 'p-w2' });
    await row.getByRole('button', { name: 'Move to waiting room' }).click();
    assert.deepEqual((await sent(page, 'move_to_waiting_room')).at(-1), { type: 'move_to_waiting_room', participant: 'p-w2' });
    await page.locator('#waiting-list li', { hasText: 'Greta Holm' }).waitFor();
    await page.locator('.tile[data-participant="p-w2"]').waitFor({ state: 'detached' });

    // Remove (confirmed), and no moderation offered for another clinician.
    const ove = page.locator('#people-list li', { hasText: 'Ove Lind' });
    await ove.locator('summary').click();
    await ove.getByRole('button', { name: 'Remove from visit' }).click();
    assert.equal(await page.locator('#confirm-title').textContent(), 'Remove Ove Lind from the visit?');
    await page.locator('#confirm-ok').click();
    assert.deepEqual((await sentOnce(page, 'remove_participant')).at(-1), { type: 'remove_participant', participant: 'p-w3' });
    await ove.waitFor({ state: 'detached' });
    const bo = page.locator('#people-list li', { hasText: 'Bo Ström' });
    await bo.locator('summary').click();
    assert.equal(await bo.getByRole('button', { name: 'Mute microphone' }).count(), 0);
    assert.equal(await bo.getByRole('button', { name: 'Remove from visit' }).count(), 0);

    // Spotlight: the person is shown large and first on every page.
    await bo.getByRole('button', { name: 'Spotlight for everyone' }).click();
    assert.deepEqual((await sent(page, 'spotlight')).at(-1), { type: 'spotlight', participant: 'p-echo' });
    await page.locator('.tile.is-spotlight[data-participant="p-echo"]').waitFor();
    await bo.getByRole('button', { name: 'End spotlight' }).click();
    assert.deepEqual((await sent(page, 'spotlight')).at(-1), { type: 'spotlight', participant: null });
    await page.locator('.tile.is-spotlight').waitFor({ state: 'detached' });

    // Lock and unlock.
    await page.locator('#lock').click();
    assert.deepEqual((await sent(page, 'lock')).at(-1), { type: 'lock', locked: true });
    await page.waitForFunction(() => document.getElementById('lock').textContent === 'Unlock the visit');
    assert.equal(await page.locator('#lock-note').textContent(), 'The visit is locked: nobody new can come in or be let in.');
    assert.ok(await page.locator('#waiting-list li', { hasText: 'Greta Holm' }).getByRole('button', { name: 'Admit' }).isDisabled(), 'nobody is admitted while locked');
    await page.locator('#lock').click();
    await page.waitForFunction(() => document.getElementById('lock').textContent === 'Lock the visit');

    // Guest link: shown with a copy button.
    await page.locator('#guest-name').fill('Tolk Ali Hassan');
    await page.locator('#invite-form button[type="submit"]').click();
    assert.deepEqual((await sent(page, 'invite_guest')).at(-1), { type: 'invite_guest', name: 'Tolk Ali Hassan' });
    await page.locator('#guest-link-box').waitFor();
    assert.match(await page.locator('#guest-link').inputValue(), /\/call\/group-7#token=fake-guest-token$/);
    assert.match(await page.locator('#guest-link-label').textContent(), /^Guest link, valid until .+\. The guest enters the waiting room\.$/);
    await page.locator('#copy-guest-link').click();
    await page.waitForFunction(() => document.getElementById('flash-text').textContent === 'The link was copied.');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await page.locator('#guest-link').inputValue());

    assert.deepEqual(await axeViolations(page), [], 'in call with the host panel open');

    // End for everyone: asks first; Cancel changes nothing.
    await page.locator('#end-visit').click();
    assert.equal(await page.locator('#confirm-title').textContent(), 'End the visit for everyone?');
    assert.deepEqual(await axeViolations(page), [], 'confirmation dialog');
    await page.keyboard.press('Escape');
    assert.deepEqual(await sent(page, 'end_visit'), []);
    await page.locator('#end-visit').click();
    await page.locator('#confirm-ok').click();
    await waitForState(page, 'ended');
    assert.equal(await statusText(page), 'The host ended the visit.');
    assert.equal((await sent(page, 'end_visit')).length, 1);
    assert.ok(await page.locator('#host-panel').isHidden());
    assert.ok(await page.locator('#controls').isHidden());
    assert.deepEqual(await axeViolations(page), [], 'ended screen');
    await page.close();
  }));

  test('a host muting us: notice, microphone off, only we can turn it back on', () => withLogs(logs, async () => {
    const page = await joinGroup();
    await waitForState(page, 'connected');
    await page.evaluate(() => window.__fake.hostMute('audio'));
    await page.waitForFunction(() => document.getElementById('mic').getAttribute('aria-pressed') === 'true');
    assert.equal(await flashText(page), 'A host muted your microphone. You can turn it back on.');
    assert.ok(await page.locator('#flash').isVisible());
    await page.waitForFunction(() => document.getElementById('announcer').textContent.includes('A host muted your microphone'));
    assert.equal(await page.evaluate(() => window.vardrum.publisher.getSenders().find((s) => s.track?.kind === 'audio').track.enabled), false);
    assert.ok(await page.locator('.tile-self .badge-mic').isVisible());
    await page.locator('#mic').click();
    assert.deepEqual((await sent(page, 'mute')).at(-1), { type: 'mute', kind: 'audio', muted: false });

    await page.evaluate(() => window.__fake.hostMute('video'));
    await page.waitForFunction(() => document.getElementById('camera').getAttribute('aria-pressed') === 'true');
    assert.equal(await flashText(page), 'A host turned off your camera. You can turn it back on.');
    await page.close();
  }));

  test('raise and lower the hand; a host lowering it is told', () => withLogs(logs, async () => {
    const page = await joinGroup();
    await waitForState(page, 'connected');
    await page.locator('#hand').click();
    assert.deepEqual((await sent(page, 'raise_hand')).at(-1), { type: 'raise_hand', raised: true });
    await page.waitForFunction(() => document.getElementById('hand').getAttribute('aria-pressed') === 'true');
    assert.ok(await page.locator('.tile-self .badge-hand').isVisible());
    await page.evaluate(() => window.__fake.push({ type: 'participant_updated', participant: { ...window.__fake.room.self, hand_raised: false } }));
    await page.waitForFunction(() => document.getElementById('hand').getAttribute('aria-pressed') === 'false');
    assert.equal(await flashText(page), 'A host lowered your hand.');
    await page.close();
  }));

  test('moved back to the waiting room, and let in again', () => withLogs(logs, async () => {
    const page = await joinGroup();
    await waitForRemoteMedia(page, { timeout: 20000 });
    await page.evaluate(() => window.__fake.moveToWaitingRoom());
    await waitForScreen(page, 'waiting');
    assert.equal(await flashText(page), 'You were moved to the waiting room.');
    assert.equal(await state(page), 'waiting_room');
    assert.equal(await page.locator('.tile').count(), 0);
    assert.equal(await page.evaluate(() => window.vardrum.publisher), null, 'our peer connections are closed');
    await page.evaluate(() => window.__fake.admit());
    await waitForScreen(page, 'call');
    await page.waitForFunction(() => window.__fake.received.filter((m) => m.type === 'offer').length === 2);
    await waitForRemoteMedia(page, { timeout: 20000 });
    assert.equal(await page.evaluate(() => window.__fake.connectAttempts), 1, 'the same session throughout');
    await page.close();
  }));

  for (const [reason, text, message] of [
    ['ended', 'The host ended the visit.'],
    ['removed', 'You were removed from the visit.'],
    ['denied', 'You were not let in.', 'This group is full today, please book again.'],
  ]) {
    test(`bye ${reason}: says so and does not reconnect`, () => withLogs(logs, async () => {
      const page = await joinGroup({ fake: { waiting: reason === 'denied' } });
      await page.evaluate(({ reason, message }) => window.__fake.bye(reason, message), { reason, message });
      await waitForState(page, reason, 5000);
      assert.equal(await statusText(page), text);
      if (message) assert.equal(await page.locator('#host-message').textContent(), `Message from the host: ${message}`);
      else assert.ok(await page.locator('#host-message').isHidden());
      assert.equal(await screen(page), 'ended');
      assert.ok(await page.locator('#rejoin').isHidden(), 'no "join again"');
      await page.waitForTimeout(1500); // longer than the first back-off step
      assert.equal(await page.evaluate(() => window.__fake.connectAttempts), 1);
      assert.deepEqual(await axeViolations(page), [], `${reason} screen`);
      await page.close();
    }));
  }

  test('a join refused because the visit ended or is locked is explained', () => withLogs(logs, async () => {
    for (const [code, text] of [
      ['visit_ended', 'This visit has ended.'],
      ['room_locked', 'The visit is locked, so nobody new can come in right now. Try again in a while or contact your care provider.'],
    ]) {
      const page = await joinGroup({ mode: `error:${code}` }, 'ended');
      await waitForState(page, code);
      assert.equal(await statusText(page), text);
      await page.close();
    }
  }));

  test('chat: send, senders as the server names them, time, unread count, nothing logged', () => withLogs(logs, async () => {
    const earlier = { id: 1, from: 'p-echo', name: 'A. B.', role: 'clinician', text: 'Welcome, everyone.', at: Date.UTC(2026, 0, 5, 13, 7) };
    const page = await joinGroup({ fake: { chat: [earlier] } });
    await waitForState(page, 'connected');
    const logFrom = person.logs.length;
    await page.locator('#chat-toggle').click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'chat-heading');
    assert.deepEqual(await page.locator('#chat-list .chat-sender').allTextContents(), ['A. B.'], 'late joiners see the chat so far');
    assert.equal(await page.locator('#chat-list time').first().getAttribute('datetime'), new Date(earlier.at).toISOString());

    await page.locator('#chat-input').fill('Can you hear me? secret-marker-1');
    await page.keyboard.press('Enter');
    assert.deepEqual((await sent(page, 'chat')).at(-1), { type: 'chat', text: 'Can you hear me? secret-marker-1' });
    await page.locator('#chat-list .chat-message.is-own').waitFor();
    assert.equal(await page.locator('#chat-input').inputValue(), '');
    await page.evaluate(() => window.__fake.chatFrom('p-nop', 'Yes! secret-marker-2'));
    await page.locator('#chat-list li', { hasText: 'secret-marker-2' }).waitFor();
    assert.deepEqual(await page.locator('#chat-list .chat-sender').allTextContents(), ['A. B.', 'Test Person', 'N. O. P.']);
    assert.match(await page.locator('#chat-list li').last().locator('time').textContent(), /^\d\d[:.]\d\d$/);
    assert.deepEqual(await axeViolations(page), [], 'in call with the chat open');

    // Closed: new messages are counted on the button and announced.
    await page.locator('#chat-close').click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'chat-toggle');
    await page.evaluate(() => window.__fake.chatFrom('p-nop', 'Hello again secret-marker-3'));
    await page.waitForFunction(() => document.getElementById('chat-unread').textContent === '1 new');
    await page.waitForFunction(() => document.getElementById('announcer').textContent === 'New message from N. O. P.');
    await page.locator('#chat-toggle').click();
    assert.ok(await page.locator('#chat-unread').isHidden());

    // A message the server refuses comes back to the input.
    await page.locator('#chat-input').fill('too fast');
    await page.evaluate(() => {
      const real = window.__fake.socket.handle.bind(window.__fake.socket);
      window.__fake.socket.handle = async (m) => (m.type === 'chat' ? window.__fake.socket.error('rate_limited') : real(m));
    });
    await page.locator('#chat-form button[type="submit"]').click();
    await page.waitForFunction(() => document.getElementById('chat-input').value === 'too fast');
    assert.equal(await flashText(page), 'You are sending too fast. Wait a moment and try again.');

    const logged = person.logs.slice(logFrom).join('\n');
    assert.doesNotMatch(logged, /secret-marker/, 'chat text never reaches the console');
    await page.close();
  }));

  test('more than nine: pages of nine tiles; the spotlight is large and first', () => withLogs(logs, async () => {
    const others = Array.from({ length: 11 }, (_, i) => ({
      id: `p-${i}`, name: `P. ${String.fromCharCode(65 + i)}.`, role: 'patient', state: 'active', audio_muted: false, video_muted: true,
    }));
    const page = await joinGroup({ mode: 'alone', fake: { others } });
    await waitForState(page, 'connected');
    const shown = () => page.locator('.tile:visible').count();
    assert.equal(await shown(), 9);
    assert.ok(await page.locator('#pages').isVisible());
    assert.equal(await page.locator('#page-info').textContent(), 'Page 1 of 2');
    await page.locator('#page-next').click();
    assert.equal(await shown(), 3);
    assert.equal(await page.locator('#page-info').textContent(), 'Page 2 of 2');
    assert.ok(await page.locator('#page-next').isDisabled());

    await page.evaluate(() => window.__fake.push({ type: 'room_updated', locked: false, spotlight: 'p-10' }));
    await page.locator('#page-prev').click();
    const spot = page.locator('.tile[data-participant="p-10"]');
    assert.ok(await spot.isVisible(), 'the spotlight is on the first page');
    assert.ok(await spot.evaluate((el) => el.classList.contains('is-spotlight')));
    const first = await page.locator('.tile:visible').evaluateAll((tiles) => tiles.map((t) => [t.dataset.participant, t.getBoundingClientRect().top, t.getBoundingClientRect().width]));
    const spotBox = first.find(([id]) => id === 'p-10');
    assert.ok(first.every(([id, top]) => id === 'p-10' || top > spotBox[1]), 'shown above everyone else');
    assert.ok(first.every(([id, , width]) => id === 'p-10' || width < spotBox[2]), 'and larger');
    await page.close();
  }));

  test('Swedish: waiting room and notices', () => withLogs(logs, async () => {
    const page = await joinGroup({ lang: 'sv', fake: { waiting: true } });
    assert.equal(await page.locator('#waiting-heading').textContent(), 'Värden släpper in dig');
    assert.equal(await statusText(page), 'Du är i väntrummet. Värden släpper in dig.');
    await page.evaluate(() => window.__fake.bye('ended'));
    await waitForState(page, 'ended');
    assert.equal(await statusText(page), 'Värden har avslutat besöket.');
    await page.close();
  }));

  test('on a phone: no sideways scrolling in the call with the chat open; passes axe', () => withLogs(logs, async () => {
    const page = await joinGroup({ viewport: { width: 360, height: 740 }, fake: { role: 'clinician', selfName: 'Anna Berg' } });
    await waitForState(page, 'connected');
    await page.locator('#chat-toggle').click();
    assert.equal(await overflowsHorizontally(page), false);
    assert.deepEqual(await axeViolations(page), [], 'phone, chat open');
    await page.locator('#host-toggle').click();
    assert.equal(await overflowsHorizontally(page), false);
    assert.deepEqual(await axeViolations(page), [], 'phone, host panel open');
    const controls = await page.locator('#controls .control:visible').evaluateAll((buttons) => buttons.map((b) => b.getBoundingClientRect().width));
    assert.ok(controls.every((w) => w >= 44), `touch targets at least 44 px wide: ${controls}`);
    await page.close();
  }));
});

/** The last `track_settings` the fake accepted for the echoed video, or null. */
const lastVideoSettings = (page) => page.evaluate(() => {
  const [video] = window.__fake.echoTracks.video;
  return (video && window.__fake.lastTrackSettings[video]) ?? null;
});

/**
 * Waits until the last `track_settings` of the echoed video says `visible` and, when shown, the
 * size of the tile `selector` as it is now (CSS pixels, rounded). Resolves to those settings.
 */
async function waitForVideoSettings(page, visible, selector = '.tile[data-participant="p-echo"]') {
  const handle = await page.waitForFunction(({ visible, selector }) => {
    const [video] = window.__fake.echoTracks.video;
    const last = video && window.__fake.lastTrackSettings[video];
    if (!last || last.visible !== visible) return false;
    if (!visible) return last;
    const box = document.querySelector(selector)?.getBoundingClientRect();
    return box && last.width === Math.round(box.width) && last.height === Math.round(box.height) && last.width > 0 ? last : false;
  }, { visible, selector }, { timeout: 10000 });
  return handle.jsonValue();
}

/** Makes the page hidden (or visible again) as the Page Visibility API reports it. */
const setPageHidden = (page, hidden) => page.evaluate((hidden) => {
  if (hidden) {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
  } else {
    delete document.visibilityState;
    delete document.hidden;
  }
  document.dispatchEvent(new Event('visibilitychange'));
}, hidden);

/** Patients shown as avatars (camera off), enough with STAFF and ourselves for two pages. */
const AVATARS = Array.from({ length: 9 }, (_, i) => ({
  id: `p-a${i}`, name: `P. ${String.fromCharCode(65 + i)}.`, role: 'patient', state: 'active', audio_muted: false, video_muted: true,
}));

describe('group visit page: tile sizes and the active speaker', { concurrency: false }, () => {
  test('track_settings: every received video with its tile size; hidden when paged away, the page hidden or the camera off', () => withLogs(logs, async () => {
    const page = await joinGroup({ fake: { others: [STAFF, ...AVATARS] } });
    await waitForRemoteMedia(page, { timeout: 20000 });
    assert.equal(await page.locator('#page-info').textContent(), 'Page 1 of 2');

    const shown = await waitForVideoSettings(page, true);
    const { audio, video } = await page.evaluate(() => window.__fake.echoTracks);
    assert.deepEqual(Object.keys(shown).sort(), ['at', 'height', 'track', 'type', 'visible', 'width']);
    assert.equal(shown.track, video[0], 'named by the track id of the subscriber offer');
    assert.ok(shown.width > 100 && shown.height > 50, `a real tile size: ${shown.width}×${shown.height}`);
    const settings = () => page.evaluate(() => window.__fake.trackSettings);
    assert.ok((await settings()).every((m) => m.track !== audio[0]), 'audio is never reported');
    assert.deepEqual(await page.evaluate(() => window.__fake.received.filter((m) => m.type === 'error')), []);

    // A window dragged narrower: the size follows, at most every 250 ms and only on change.
    for (const width of [1000, 960, 920, 880, 840, 800, 760]) await page.setViewportSize({ width, height: 768 });
    await waitForVideoSettings(page, true);
    const sent = (await settings()).filter((m) => m.track === video[0]);
    for (let i = 1; i < sent.length; i += 1) {
      assert.ok(sent[i].at - sent[i - 1].at >= 245, `at most every 250 ms: ${sent.map((m) => Math.round(m.at))}`);
      const [a, b] = [sent[i - 1], sent[i]];
      assert.ok(a.visible !== b.visible || a.width !== b.width || a.height !== b.height, 'only on change');
    }

    // The next page of the grid: the tile is not shown.
    await page.locator('#page-next').click();
    await waitForVideoSettings(page, false);
    await page.locator('#page-prev').click();
    await waitForVideoSettings(page, true);

    // The page hidden (another tab, a minimised window), then shown again.
    await setPageHidden(page, true);
    await waitForVideoSettings(page, false);
    await setPageHidden(page, false);
    await waitForVideoSettings(page, true);

    // A camera turned off shows initials: its video is not shown either.
    await page.evaluate(() => window.__fake.update('p-echo', { video_muted: true }));
    await waitForVideoSettings(page, false);
    await page.evaluate(() => window.__fake.update('p-echo', { video_muted: false }));
    await waitForVideoSettings(page, true);
    assert.deepEqual(await page.evaluate(() => window.__fake.received.filter((m) => m.type === 'error')), []);
    await page.close();
  }));

  test('the active speaker is highlighted; speaker view shows them large, the spotlight wins; keyboard, both languages, axe', () => withLogs(logs, async () => {
    const page = await joinGroup();
    await waitForRemoteMedia(page, { timeout: 20000 });
    const toggle = page.locator('#view-toggle');
    assert.ok(await toggle.isVisible());
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    assert.ok(await page.locator('#speaker-now').isHidden(), 'nobody has spoken yet');

    await page.evaluate(() => window.__fake.speaker('p-nop'));
    const nop = page.locator('.tile[data-participant="p-nop"]');
    await page.locator('.tile.is-speaking[data-participant="p-nop"]').waitFor();
    assert.equal(await page.locator('.tile.is-speaking').count(), 1);
    assert.equal(await nop.locator('.badge-speaking .badge-text').textContent(), 'Speaking', 'a badge says it, not only a colour');
    assert.ok(await nop.locator('.badge-speaking').isVisible());
    assert.notEqual(await nop.evaluate((el) => getComputedStyle(el).boxShadow), 'none', 'an outline around the tile');
    assert.equal(await page.locator('#speaker-now').textContent(), 'Speaking now: N. O. P.');
    assert.equal(await page.evaluate(() => window.vardrum.speaker), 'p-nop');

    // We speak ourselves: our tile is highlighted.
    await page.evaluate(() => window.__fake.speaker('me'));
    await page.locator('.tile-self.is-speaking').waitFor();
    assert.equal(await page.locator('.tile.is-speaking').count(), 1);
    assert.equal(await page.locator('#speaker-now').textContent(), 'You are speaking');

    // Speaker view, by keyboard: while we speak, the last other speaker stays large.
    await toggle.focus();
    await page.keyboard.press('Enter');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    assert.equal(await page.evaluate(() => window.vardrum.view), 'speaker');
    await page.locator('.tile.is-main[data-participant="p-nop"]').waitFor();
    const boxes = await page.locator('.tile:visible').evaluateAll((tiles) => tiles.map((t) => ({
      id: t.dataset.participant ?? 'me', main: t.classList.contains('is-main'), top: t.getBoundingClientRect().top, width: t.getBoundingClientRect().width,
    })));
    const main = boxes.find((b) => b.main);
    assert.equal(boxes.length, 3);
    assert.ok(boxes.every((b) => b.main || (b.top > main.top && b.width < main.width / 2)), `large above the small ones: ${JSON.stringify(boxes)}`);
    if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/page-speaker-view.png` });

    // The large tile reports its size, and a small one its own.
    await page.evaluate(() => window.__fake.speaker('p-echo'));
    await page.locator('.tile.is-main[data-participant="p-echo"]').waitFor();
    const large = await waitForVideoSettings(page, true);
    await page.evaluate(() => window.__fake.speaker('p-nop'));
    await page.locator('.tile.is-main[data-participant="p-nop"]').waitFor();
    const small = await waitForVideoSettings(page, true);
    assert.ok(small.width * 2 < large.width, `small ${small.width} px, large ${large.width} px`);

    // A spotlight wins over the voice, until it ends.
    await page.evaluate(() => window.__fake.push({ type: 'room_updated', locked: false, spotlight: 'p-echo' }));
    await page.locator('.tile.is-main[data-participant="p-echo"]').waitFor();
    assert.ok(await nop.evaluate((el) => el.classList.contains('is-speaking')), 'the speaker is still highlighted');
    assert.deepEqual(await axeViolations(page), [], 'speaker view with a spotlight');
    await page.evaluate(() => window.__fake.push({ type: 'room_updated', locked: false, spotlight: null }));
    await page.locator('.tile.is-main[data-participant="p-nop"]').waitFor();

    await page.locator('#language').click();
    assert.equal((await toggle.textContent()).trim(), 'Talarvy');
    assert.equal(await nop.locator('.badge-speaking .badge-text').textContent(), 'Talar');
    assert.equal(await page.locator('#speaker-now').textContent(), 'Talar nu: N. O. P.');
    assert.deepEqual(await axeViolations(page), [], 'speaker view in Swedish');

    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    assert.equal(await page.locator('.tile.is-main').count(), 0, 'back to the grid');
    assert.ok(await nop.evaluate((el) => el.classList.contains('is-speaking')));

    // Someone who leaves is no longer the speaker.
    await page.evaluate(() => window.__fake.push({ type: 'participant_left', participant_id: 'p-nop', reason: 'left' }));
    await nop.waitFor({ state: 'detached' });
    assert.ok(await page.locator('#speaker-now').isHidden());
    assert.equal(await page.locator('.tile.is-speaking').count(), 0);
    await page.close();
  }));

  test('a 1:1 visit has no speaker view', () => withLogs(logs, async () => {
    const page = await openCall();
    await waitForState(page, 'connected');
    assert.ok(await page.locator('#stage-bar').isHidden());
    await page.close();
  }));

});

describe('group visit page: files in the chat (the uploads API stubbed)', { concurrency: false }, () => {
  test('sending a file: the token only in the header, progress, every refusal explained in both languages, nothing logged', () => withLogs(logs, async () => {
    const page = await joinGroup();
    // Listened for from the start: Playwright intercepts file choosers only once someone
    // listens, and a key press right after the first listener could beat that.
    const chooserOpens = new Promise((resolve) => page.once('filechooser', resolve));
    await waitForState(page, 'connected');
    const logFrom = person.logs.length;
    await page.locator('#chat-toggle').click();
    const attach = page.locator('#chat-attach');
    assert.ok(await attach.isVisible());
    assert.equal(await page.locator('#chat-file').getAttribute('accept'), 'image/jpeg,image/png,application/pdf');

    const requests = [];
    let answer = null;
    const photo = { name: 'secret-photo-name.jpg', mimeType: 'image/jpeg', buffer: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9]) };
    await page.route('**/api/v1/**', async (route) => {
      const request = route.request();
      // The preview of the file once it is in the chat.
      if (request.method() === 'GET') return route.fulfill({ status: 200, contentType: 'image/jpeg', body: photo.buffer });
      requests.push({ method: request.method(), url: request.url(), headers: await request.allHeaders(), body: request.postDataBuffer() });
      return answer(route);
    });
    const refuse = (status, code) => (route) => route.fulfill({
      status, contentType: 'application/json', body: JSON.stringify({ error: { code, message: `refused (${code})` } }),
    });
    const errorText = () => page.locator('#upload-error').textContent();

    // Refusals, each in the words of the page (docs/portal-api.md, "Files in a call").
    const refusals = [
      [413, 'file_too_large', 'The file is too large to send here. Choose a smaller file.'],
      [415, 'unsupported_file_type', 'Only images (JPEG, PNG) and PDF documents can be sent.'],
      [403, 'not_admitted', 'That is only possible while you are in the visit, not from the waiting room.'],
      [403, 'no_booking', 'The link you joined with belongs to no booking, so there is nowhere to keep a file. Ask the care staff.'],
      [403, 'booking_mismatch', 'The file could not be linked to your booking. Open the link from your care provider again.'],
      [410, 'visit_ended', 'The visit has ended.'],
      [401, 'token_expired', 'The link has expired – ask your care provider for a new one.'],
      [401, 'token_invalid', 'The link is not valid for this. Open the link from your care provider again.'],
      [400, 'empty_file', 'The file is empty.'],
      [400, 'upload_incomplete', 'The file did not get through. Check your internet connection and try again.'],
      [500, 'internal', 'The file could not be sent. Try again in a moment.'],
    ];
    for (const [status, code, text] of refusals) {
      answer = refuse(status, code);
      await page.locator('#chat-file').setInputFiles(photo);
      await page.waitForFunction((text) => document.getElementById('upload-error').textContent === text, text);
      assert.ok(await page.locator('#upload-error').isVisible(), code);
      await page.waitForFunction((text) => document.getElementById('announcer').textContent === text, text);
    }
    assert.equal(requests.length, refusals.length);
    for (const request of requests) {
      const url = new URL(request.url);
      assert.equal(request.method, 'POST');
      assert.equal(url.pathname, '/api/v1/calls/group-7/uploads');
      assert.equal(url.search, '?name=secret-photo-name.jpg');
      assert.equal(request.headers.authorization, `Bearer ${GROUP_TOKEN}`);
      assert.ok(!request.url.includes(GROUP_TOKEN), 'the token is never in a URL');
      assert.deepEqual(request.body, photo.buffer, 'the raw file is the body');
    }
    assert.deepEqual(await axeViolations(page), [], 'chat with an upload error');
    if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/page-chat-upload-error.png` });

    // A network failure.
    answer = (route) => route.abort('connectionreset');
    await page.locator('#chat-file').setInputFiles(photo);
    await page.waitForFunction(() => document.getElementById('upload-error').textContent.startsWith('The file did not get through.'));

    // The other language.
    await page.locator('#language').click();
    assert.equal(await errorText(), 'Filen kom inte fram. Kontrollera internetanslutningen och försök igen.');
    answer = refuse(413, 'file_too_large');
    await page.locator('#chat-file').setInputFiles(photo);
    await page.waitForFunction(() => document.getElementById('upload-error').textContent === 'Filen är för stor för att skickas här. Välj en mindre fil.');
    assert.equal((await attach.textContent()).trim(), 'Skicka en fil');
    await page.locator('#language').click();

    // A type the server does not take is refused before a byte is sent.
    const before = requests.length;
    await page.locator('#chat-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await page.waitForFunction(() => document.getElementById('upload-error').textContent === 'Only images (JPEG, PNG) and PDF documents can be sent.');
    assert.equal(requests.length, before);

    // Kept with the booking but not announced (the chat's rate): said so.
    answer = (route) => route.fulfill({
      status: 201,
      contentType: 'application/json',
      body: JSON.stringify({ id: 'f-0', name: 'secret-photo-name.jpg', content_type: 'image/jpeg', size: 10, booking: 'b-1001', announced: false }),
    });
    await page.locator('#chat-file').setInputFiles(photo);
    await page.waitForFunction(() => document.getElementById('upload-error').textContent.startsWith('The file was kept with your booking but is not shown in the chat'));

    // Kept: busy while it goes, cancel possible; then the server's chat message shows it. The
    // file is chosen by keyboard.
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    answer = async (route) => {
      await held;
      await page.evaluate(() => window.__fake.announceFile({ id: 'f-1', name: 'secret-photo-name.jpg', content_type: 'image/jpeg', size: 10 }));
      await route.fulfill({
        status: 201,
        contentType: 'application/json',
        body: JSON.stringify({ id: 'f-1', name: 'secret-photo-name.jpg', content_type: 'image/jpeg', size: 10, booking: 'b-1001', announced: true }),
      });
    };
    await attach.focus();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'chat-attach');
    await page.keyboard.press('Enter');
    const chooser = await Promise.race([chooserOpens, new Promise((resolve, reject) => setTimeout(() => reject(new Error('no file chooser opened')), 5000))]);
    await chooser.setFiles(photo);
    await page.locator('#upload-status').waitFor();
    assert.ok(await page.locator('#upload-error').isHidden(), 'the old error is gone');
    assert.equal(await page.locator('#upload-text').textContent(), 'Sending secret-photo-name.jpg…');
    assert.equal(await attach.getAttribute('aria-disabled'), 'true');
    assert.equal(await page.locator('#chat-form').getAttribute('aria-busy'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'chat-attach', 'focus stays on the button');
    assert.deepEqual(await axeViolations(page), [], 'chat while a file is sent');
    if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/page-chat-upload.png` });
    release();
    await page.locator('#upload-status').waitFor({ state: 'hidden' });
    assert.equal(await attach.getAttribute('aria-disabled'), 'false');
    const item = page.locator('#chat-list li', { hasText: 'secret-photo-name.jpg' });
    await item.waitFor();
    assert.ok(await item.evaluate((el) => el.classList.contains('is-own')));
    assert.equal(await item.locator('.chat-file-info').textContent(), 'JPEG image, 10 byte');
    await page.waitForFunction(() => document.getElementById('announcer').textContent === 'The file was sent.');

    // Cancelled: nothing to explain.
    answer = () => new Promise(() => {});
    await page.locator('#chat-file').setInputFiles(photo);
    await page.locator('#upload-status').waitFor();
    await page.locator('#upload-cancel').click();
    await page.locator('#upload-status').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('#upload-error').isHidden());

    await page.unroute('**/api/v1/**');
    const logged = person.logs.slice(logFrom).join('\n');
    assert.doesNotMatch(logged, /secret-photo-name/, 'file names never reach the console');
    await page.close();
  }));

  test('a link without a booking offers no file sending', () => withLogs(logs, async () => {
    const page = await joinGroup({ hash: `#token=${groupToken({})}` });
    await waitForState(page, 'connected');
    await page.locator('#chat-toggle').click();
    assert.ok(await page.locator('#chat-attach').isHidden());
    assert.ok(await page.locator('#chat-attach-hint').isHidden());
    await page.close();
  }));

  test('files in the chat: name, kind and size; downloads and previews fetched with the token, never in a URL', () => withLogs(logs, async () => {
    const png = makePng(24, 16);
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n');
    const at = Date.UTC(2026, 0, 5, 13, 7);
    const fileMessage = (id, file) => ({ id, from: 'p-nop', name: 'N. O. P.', role: 'patient', text: '', at, file });
    const chat = [
      fileMessage(1, { id: 'f-png', name: 'rash.png', content_type: 'image/png', size: png.length }),
      fileMessage(2, { id: 'f-pdf', name: 'care plan.pdf', content_type: 'application/pdf', size: 1536 }),
      fileMessage(3, { id: 'f-gone', name: 'old.pdf', content_type: 'application/pdf', size: 3 * 1024 * 1024 }),
    ];
    const page = await openGroup({ fake: { chat } });
    const requests = [];
    page.on('request', (request) => requests.push(request.url()));
    const fetched = [];
    await page.route('**/api/v1/**', async (route) => {
      const request = route.request();
      const { pathname } = new URL(request.url());
      fetched.push({ method: request.method(), pathname, authorization: (await request.allHeaders()).authorization });
      const file = { '/api/v1/calls/group-7/uploads/f-png': [png, 'image/png', 'rash.png'], '/api/v1/calls/group-7/uploads/f-pdf': [pdf, 'application/pdf', 'care plan.pdf'] }[pathname];
      if (!file) {
        await route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ error: { code: 'not_found', message: 'not found' } }) });
        return;
      }
      await route.fulfill({
        status: 200, body: file[0],
        headers: { 'content-type': file[1], 'content-disposition': `attachment; filename="${file[2]}"`, 'x-content-type-options': 'nosniff' },
      });
    });
    await waitForState(page, ['prejoin']);
    await page.locator('#join').click();
    await waitForState(page, 'connected');
    assert.deepEqual(fetched, [], 'nothing is fetched while the chat is closed');

    await page.locator('#chat-toggle').click();
    const items = page.locator('#chat-list .chat-file');
    assert.deepEqual(await items.locator('.chat-file-name').allTextContents(), ['rash.png', 'care plan.pdf', 'old.pdf']);
    assert.deepEqual(await items.locator('.chat-file-info').allTextContents(), [`PNG image, ${png.length} byte`, 'PDF document, 2 kB', 'PDF document, 3 MB']);
    assert.deepEqual(await page.locator('#chat-list .chat-text').count(), 0, 'no empty text paragraphs');
    const buttons = page.locator('#chat-list .chat-file-download');
    assert.deepEqual(await buttons.evaluateAll((els) => els.map((el) => el.textContent)), ['Download rash.png', 'Download care plan.pdf', 'Download old.pdf']);

    // The image's preview: fetched with the token, shown from a data: URL.
    const preview = page.locator('.chat-file[data-file="f-png"] .chat-file-preview');
    await page.waitForFunction(() => document.querySelector('.chat-file[data-file="f-png"] .chat-file-preview')?.naturalWidth === 24);
    assert.match(await preview.getAttribute('src'), /^data:image\/png;base64,/);
    assert.equal(await preview.getAttribute('alt'), 'The image rash.png');

    // Downloads save the same bytes under the file's name.
    for (const [id, bytes, name] of [['f-pdf', pdf, 'care plan.pdf'], ['f-png', png, 'rash.png']]) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator(`.chat-file[data-file="${id}"] .chat-file-download`).click()]);
      assert.equal(download.suggestedFilename(), name);
      const chunks = [];
      for await (const chunk of await download.createReadStream()) chunks.push(chunk);
      assert.deepEqual(Buffer.concat(chunks), bytes, `${name} arrives whole`);
    }
    assert.equal(fetched.filter((f) => f.pathname.endsWith('/f-png')).length, 1, 'the preview\'s fetch is reused for the download');

    // A file that is gone says so under it.
    await page.locator('.chat-file[data-file="f-gone"] .chat-file-download').click();
    const gone = page.locator('.chat-file[data-file="f-gone"] .chat-file-error');
    await gone.waitFor();
    assert.equal(await gone.textContent(), 'The file is no longer there.');
    assert.deepEqual(await axeViolations(page), [], 'chat with files, a preview and an error');
    if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/page-chat-files.png` });

    for (const f of fetched) {
      assert.equal(f.method, 'GET');
      assert.equal(f.authorization, `Bearer ${GROUP_TOKEN}`);
    }
    assert.ok(requests.length > 0 && requests.every((url) => !url.includes(GROUP_TOKEN.split('.')[1])), 'no request carries the token in its URL');
    assert.ok(!(await page.content()).includes(GROUP_TOKEN.split('.')[1]), 'the token is nowhere in the page');

    // A file from someone else while the chat is closed: counted and announced.
    await page.locator('#chat-close').click();
    await page.evaluate(() => window.__fake.fileFrom('p-nop', { id: 'f-new', name: 'x-ray.pdf', content_type: 'application/pdf', size: 2048 }));
    await page.waitForFunction(() => document.getElementById('chat-unread').textContent === '1 new');
    await page.waitForFunction(() => document.getElementById('announcer').textContent === 'N. O. P. sent a file');
    await page.close();
  }));
});

async function axeIn(page) {
  return seriousAxeViolations(page);
}
