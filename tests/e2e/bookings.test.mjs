// End-to-end tests of the booking pages (web/portal/bookings.html, book.html, dropin.html,
// calendar.html): a real vardrum server in development mode (its test identity provider, the dev
// population register and staff list) and headless chromium. A clinician publishes a digital slot
// starting in a few minutes, a patient books it, and both press Join on their booking pages and
// see each other's video; a guardian books for a child; cancel, reschedule and a Join before the
// window opens; drop-in; axe-core and keyboard use on every new page in both languages.
//
// One server serves the whole file: each test uses its own people and slots, so none depends on
// what another changed. Run: tests/e2e/run.sh tests/e2e/bookings.test.mjs

import assert from 'node:assert/strict';
import { access, constants, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  launchPerson, makePng, overflowsHorizontally, repoRoot, seriousAxeViolations, startServer, stopProcess, tempDir, waitForReady,
  waitForRemoteMedia, withLogs,
} from './helpers.mjs';
import { portalDriver } from './portal-driver.mjs';

const BIN = path.resolve(repoRoot, process.env.VARDRUM_BIN ?? 'target/debug/vardrum');
const MEDIA_TIMEOUT = 30000;

// config/dev/population-register.json and config/dev/staff.json.
const ELSA = { pnr: '199006022397' };
const MAJA = { pnr: '201801012392', name: 'Maja Testsson' };
const JOHAN = { pnr: '199908072391' };
const ERIK = { pnr: '199602292386' };
const ANNA = { button: 'Anna Läkarsson', unit: 'Hälsocentral Testvik' };

let dataDir;
let server;
const stdout = [];
let baseUrl;
const people = [];

const url = (p) => new URL(p, baseUrl).href;

function dumps() {
  const out = { 'vardrum stdout': stdout.join('\n'), 'vardrum stderr': server?.stderr() ?? '' };
  for (const p of people) out[`${p.label} (browser console)`] = p.logs.join('\n');
  return out;
}

async function person(label, options) {
  const p = await launchPerson(label, options);
  people.push(p);
  return p;
}

/** `YYYY-MM-DDTHH:MM` on the Stockholm wall clock, `minutes` from now (the API's input form). */
function stockholmIn(minutes) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(Date.now() + minutes * 60000)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** Adds `minutes` to a `YYYY-MM-DDTHH:MM` wall-clock time (no summer-time change in between). */
function plusMinutes(local, minutes) {
  const date = new Date(`${local}:00Z`);
  return new Date(date.getTime() + minutes * 60000).toISOString().slice(0, 16);
}

const { portalReady, open, loginPatient, loginStaff, apiCall } = portalDriver(() => baseUrl);

/** Publishes a slot in Anna's active care unit through the API; resolves to the slot. */
async function publish(page, slot) {
  const answer = await apiCall(page, 'POST', '/api/v1/staff/slots', { mode: 'single', clinicians: [await staffId(page)], ...slot });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

async function staffId(page) {
  return (await (await page.request.get(url('/api/v1/session'))).json()).staff.id;
}

/** Searches the care unit's free times on book.html. */
async function searchSlots(page, unit) {
  await page.locator('#care-unit').fill(unit);
  await page.locator('#search-button').click();
  await page.locator('#results:visible').waitFor({ timeout: 10000 });
}

before(async () => {
  await access(BIN, constants.X_OK).catch(() => {
    throw new Error(`no vardrum binary at ${BIN}: run \`cargo build\` first or set VARDRUM_BIN`);
  });
  dataDir = await tempDir('bookings');
  server = startServer({ bin: BIN, dataDir });
  await withLogs(dumps, async () => {
    baseUrl = await waitForReady(server, stdout);
  });
});

after(async () => {
  if (process.env.E2E_VERBOSE) {
    for (const [name, text] of Object.entries(dumps())) console.error(`\n----- ${name} -----\n${text}`);
  }
  for (const p of people) await p.close();
  await stopProcess(server?.child);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the booking pages', { concurrency: false, timeout: 180000 }, () => {
  let anna;

  test('a clinician publishes a digital slot, a patient books it, both press Join and see each other', () => withLogs(dumps, async () => {
    anna = await person('anna');
    await loginStaff(anna.page, ANNA.button);
    await anna.page.locator('#link-calendar').click();
    await anna.page.waitForURL((u) => u.pathname === '/portal/calendar.html');
    await portalReady(anna.page);

    // Inside the join window (10 minutes before the start by default) from the moment it exists.
    const starts = stockholmIn(3);
    await anna.page.locator('#kind-digital').check();
    await anna.page.locator('#publish-starts').fill(starts);
    await anna.page.locator('#publish-ends').fill(plusMinutes(starts, 30));
    await anna.page.locator('#publish-button').click();
    await anna.page.locator('#status', { hasText: 'är publicerad' }).waitFor({ timeout: 10000 });
    const slotItem = anna.page.locator('#calendar li[data-slot-id]', { hasText: starts.slice(11) });
    await slotItem.waitFor({ timeout: 10000 });
    const slotId = await slotItem.getAttribute('data-slot-id');

    const elsa = await person('elsa');
    await loginPatient(elsa.page, ELSA.pnr);
    await elsa.page.locator('#link-book').click();
    await elsa.page.waitForURL((u) => u.pathname === '/portal/book.html');
    await portalReady(elsa.page);
    await searchSlots(elsa.page, ANNA.unit);
    const offered = elsa.page.locator(`#slots li[data-slot-id="${slotId}"]`);
    assert.match(await offered.textContent(), /Videobesök/);
    await offered.locator('[data-action="book"]').click();
    await elsa.page.locator('#confirmation:visible').waitFor({ timeout: 10000 });
    assert.match(await elsa.page.locator('#confirmation').textContent(), /Videobesök.*Hälsocentral Testvik.*Elsa Testsson/s);
    assert.equal(await elsa.page.evaluate(() => document.activeElement?.id), 'confirmation-heading', 'focus moves to the confirmation');
    const mine = (await apiCall(elsa.page, 'GET', '/api/v1/bookings')).body;
    const booking = mine.find((b) => b.slot_id === slotId);
    assert.ok(booking, 'the booking is there through the API');
    assert.equal(booking.booked_by, 'patient');

    await elsa.page.locator('#to-bookings').click();
    await elsa.page.waitForURL((u) => u.pathname === '/portal/bookings.html');
    await portalReady(elsa.page);
    const card = elsa.page.locator(`#upcoming li[data-booking-id="${booking.id}"]`);
    assert.match(await card.textContent(), /Hälsocentral Testvik.*Bokad/s);
    await card.locator('[data-action="join"]').click();
    await elsa.page.waitForURL((u) => u.pathname === `/call/${booking.room}`, { timeout: 15000 });
    assert.match(new URL(elsa.page.url()).hash, /^#token=[\w-]+\.[\w-]+\.[\w-]+$/, 'the call page gets a fresh join token');

    await anna.page.reload();
    await portalReady(anna.page);
    await anna.page.locator(`li[data-booking-id="${booking.id}"] [data-action="join"]`).click();
    await anna.page.waitForURL((u) => u.pathname === `/call/${booking.room}`, { timeout: 15000 });

    const [annaGets, elsaGets] = await Promise.all([
      waitForRemoteMedia(anna.page, { timeout: MEDIA_TIMEOUT }),
      waitForRemoteMedia(elsa.page, { timeout: MEDIA_TIMEOUT }),
    ]);
    assert.ok(annaGets.framesDecoded > 0, 'the clinician decodes the patient\'s video');
    assert.ok(elsaGets.framesDecoded > 0, 'the patient decodes the clinician\'s video');
    const roles = await anna.page.evaluate(() => window.vardrum.participants.map((p) => p.role));
    assert.ok(roles.includes('patient'), `the clinician sees the patient (${roles})`);

    // A file the patient shares in the call is listed on the booking, with download.
    const token = new URL(elsa.page.url()).hash.slice('#token='.length);
    const upload = await fetch(url(`/api/v1/calls/${booking.room}/uploads?name=${encodeURIComponent('utslag.png')}&booking=${booking.id}`), {
      method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'image/png' }, body: makePng(),
    });
    assert.equal(upload.status, 201, await upload.text());
    const list = await elsa.context.newPage();
    await open(list, '/portal/bookings.html');
    const link = list.locator(`#b-${booking.id}-files a`, { hasText: 'utslag.png' });
    await link.waitFor({ timeout: 10000 });
    const [download] = await Promise.all([list.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'utslag.png');
    assert.deepEqual(await readFile(await download.path()), makePng(), 'the downloaded file is the uploaded one');
    await elsa.close();
  }));

  test('a guardian acting for a child books for the child', () => withLogs(dumps, async () => {
    const staff = await person('anna-api');
    await loginStaff(staff.page, ANNA.button);
    const starts = stockholmIn(26 * 60);
    const slot = await publish(staff.page, { kind: 'physical', place: 'Storgatan 1, rum 3', starts, ends: plusMinutes(starts, 20) });

    const elsa = await person('elsa-guardian');
    await loginPatient(elsa.page, ELSA.pnr);
    await open(elsa.page, '/portal/children.html');
    await elsa.page.locator(`#children button[data-personnummer="${MAJA.pnr}"]`).click();
    await elsa.page.waitForURL((u) => u.pathname === '/portal/index.html');
    await portalReady(elsa.page);

    await open(elsa.page, '/portal/book.html');
    assert.equal(await elsa.page.locator('h1').textContent(), `Boka tid för ${MAJA.name}`);
    assert.match(await elsa.page.locator('#acting-banner').textContent(), /Du agerar för Maja Testsson/);
    await searchSlots(elsa.page, ANNA.unit);
    await elsa.page.locator(`#slots li[data-slot-id="${slot.id}"] [data-action="book"]`).click();
    await elsa.page.locator('#confirmation:visible').waitFor({ timeout: 10000 });
    assert.match(await elsa.page.locator('#confirmation').textContent(), /Storgatan 1, rum 3.*Maja Testsson/s);

    const bookings = (await apiCall(elsa.page, 'GET', '/api/v1/bookings')).body;
    const booking = bookings.find((b) => b.slot_id === slot.id);
    assert.equal(booking?.patient.personnummer, MAJA.pnr, 'the booking is the child\'s');
    assert.equal(booking.booked_by, 'guardian');

    await open(elsa.page, '/portal/bookings.html');
    assert.equal(await elsa.page.locator('h1').textContent(), `Bokningar för ${MAJA.name}`);
    const card = elsa.page.locator(`#upcoming li[data-booking-id="${booking.id}"]`);
    assert.match(await card.textContent(), /Besök på mottagningen, Storgatan 1, rum 3/);
    assert.equal(await card.locator('[data-action="join"]').count(), 0, 'no Join on a visit at the clinic');
    await elsa.close();
  }));

  test('cancel and reschedule on the page; Join before the window opens shows when it opens', () => withLogs(dumps, async () => {
    const staff = await person('anna-api-2');
    await loginStaff(staff.page, ANNA.button);
    const firstStart = stockholmIn(3 * 60);
    const secondStart = stockholmIn(5 * 60);
    const first = await publish(staff.page, { kind: 'digital', starts: firstStart, ends: plusMinutes(firstStart, 30) });
    const second = await publish(staff.page, { kind: 'digital', starts: secondStart, ends: plusMinutes(secondStart, 30) });

    const johan = await person('johan');
    await loginPatient(johan.page, JOHAN.pnr);
    await open(johan.page, '/portal/book.html');
    await searchSlots(johan.page, ANNA.unit);
    await johan.page.locator(`#slots li[data-slot-id="${first.id}"] [data-action="book"]`).click();
    await johan.page.locator('#confirmation:visible').waitFor({ timeout: 10000 });
    const booking = (await apiCall(johan.page, 'GET', '/api/v1/bookings')).body.find((b) => b.slot_id === first.id);

    await open(johan.page, '/portal/bookings.html');
    const card = () => johan.page.locator(`li[data-booking-id="${booking.id}"]`);
    await card().locator('[data-action="join"]').click();
    // The server's refusal says when Join opens (10 minutes before the start, Stockholm time).
    const opens = plusMinutes(firstStart, -10);
    const error = johan.page.locator(`#b-${booking.id}-error`);
    await error.filter({ hasText: 'Videobesöket har inte öppnat ännu' }).waitFor({ timeout: 10000 });
    assert.match(await error.textContent(), new RegExp(`Du kan ansluta från .* kl\\. ${opens.slice(11)}\\.`));
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(new URL(johan.page.url()).pathname, '/portal/bookings.html', 'still on the bookings page');

    await card().locator('[data-action="reschedule"]').click();
    const select = johan.page.locator(`#reschedule-${booking.id}`);
    await select.waitFor({ timeout: 10000 });
    assert.equal(await johan.page.evaluate(() => document.activeElement?.id), `reschedule-${booking.id}`, 'focus on the choice');
    await select.selectOption(second.id);
    await card().locator('[data-action="reschedule-confirm"]').click();
    await johan.page.locator('#status', { hasText: 'ombokat' }).waitFor({ timeout: 10000 });
    let now = (await apiCall(johan.page, 'GET', `/api/v1/bookings/${booking.id}`)).body;
    assert.equal(now.slot_id, second.id, 'the same booking is in the second slot');
    assert.equal(now.status, 'booked');

    await card().locator('[data-action="cancel"]').click();
    await card().locator('[data-action="cancel-confirm"]').click();
    await johan.page.locator('#status', { hasText: 'är avbokat' }).waitFor({ timeout: 10000 });
    now = (await apiCall(johan.page, 'GET', `/api/v1/bookings/${booking.id}`)).body;
    assert.equal(now.status, 'cancelled');
    assert.ok(now.ended_at, 'ended_at recorded');
    const past = johan.page.locator(`#past li[data-booking-id="${booking.id}"]`);
    assert.match(await past.textContent(), /Avbokad/);
    assert.equal(await past.locator('button').count(), 0, 'a cancelled booking offers no actions');
    await johan.close();
  }));

  test('drop-in: staff open a queue, a patient waits and sees their turn with a Join button', () => withLogs(dumps, async () => {
    const staffTab = await anna.context.newPage();
    await open(staffTab, '/portal/calendar.html');
    await staffTab.locator('#open-queue-button').click();
    await staffTab.locator('#status', { hasText: 'Kön är öppnad' }).waitFor({ timeout: 10000 });

    const erik = await person('erik');
    await loginPatient(erik.page, ERIK.pnr);
    await open(erik.page, `/portal/dropin.html?care_unit=${encodeURIComponent(ANNA.unit)}`);
    await erik.page.locator('#queues [data-action="join-queue"]').first().click();
    await erik.page.locator('#place-text', { hasText: 'Du är nummer 1 i kön.' }).waitFor({ timeout: 10000 });
    assert.equal(await erik.page.locator('#status').getAttribute('role'), 'status');

    await staffTab.reload();
    await portalReady(staffTab);
    await staffTab.locator('#queues [data-action="take"]').first().click();
    await staffTab.locator('#taken:visible').waitFor({ timeout: 10000 });
    assert.match(await staffTab.locator('#taken').textContent(), /Erik Testsson/);

    // The page asks for the place every 5 seconds.
    await erik.page.locator('#status', { hasText: 'Det är din tur' }).waitFor({ timeout: 15000 });
    assert.ok(await erik.page.locator('#dropin-join').isVisible(), 'Join shows at the patient\'s turn');
    await erik.page.locator('#dropin-join').click();
    await erik.page.waitForURL((u) => u.pathname.startsWith('/call/visit-'), { timeout: 15000 });
    await staffTab.close();
    await erik.close();
  }));

  test('staff calendar: book a patient in by personnummer, move, cancel, withdraw and mark a started visit done', () => withLogs(dumps, async () => {
    const page = await anna.context.newPage();
    await open(page, '/portal/calendar.html');
    const firstStart = stockholmIn(30 * 60);
    const secondStart = stockholmIn(32 * 60);
    const first = await publish(page, { kind: 'digital', starts: firstStart, ends: plusMinutes(firstStart, 20) });
    const second = await publish(page, { kind: 'digital', starts: secondStart, ends: plusMinutes(secondStart, 20) });
    await page.locator('#range-days').selectOption('7');
    await page.locator('#range-show').click();
    const slot = (id) => page.locator(`#calendar li[data-slot-id="${id}"]`);
    await slot(first.id).waitFor({ timeout: 10000 });

    // Someone in the register without an account: the page says what to do instead.
    await slot(first.id).locator('input').fill('19121212-1212');
    await slot(first.id).locator('[data-action="book-in"]').click();
    const refusal = page.locator(`#s-${first.id}-error`);
    await refusal.filter({ hasText: 'Patienten har inget konto' }).waitFor({ timeout: 10000 });
    assert.equal(await refusal.getAttribute('role'), 'alert');

    await slot(first.id).locator('input').fill(ERIK.pnr);
    await slot(first.id).locator('[data-action="book-in"]').click();
    await page.locator('#status', { hasText: 'Erik Testsson är inbokad' }).waitFor({ timeout: 10000 });
    const bookingItem = slot(first.id).locator('li[data-booking-id]');
    const bookingId = await bookingItem.getAttribute('data-booking-id');
    let booking = (await apiCall(page, 'GET', `/api/v1/staff/bookings/${bookingId}`)).body;
    assert.equal(booking.booked_by, 'staff');
    assert.equal(booking.patient.personnummer, ERIK.pnr);

    await bookingItem.locator('[data-action="move"]').click();
    await page.locator(`#b-${bookingId}-move-to`).selectOption(second.id);
    await page.locator(`li[data-booking-id="${bookingId}"] [data-action="move-confirm"]`).click();
    await page.locator('#status', { hasText: 'är flyttad' }).waitFor({ timeout: 10000 });
    booking = (await apiCall(page, 'GET', `/api/v1/staff/bookings/${bookingId}`)).body;
    assert.equal(booking.slot_id, second.id, 'the same booking is in the other slot');

    await slot(first.id).locator('[data-action="withdraw"]').click();
    await page.locator('#status', { hasText: 'är borttagen' }).waitFor({ timeout: 10000 });
    assert.equal(await slot(first.id).count(), 0, 'the withdrawn slot is gone from the calendar');

    await page.locator(`li[data-booking-id="${bookingId}"] [data-action="cancel"]`).click();
    await page.locator('#status', { hasText: 'är avbokad' }).waitFor({ timeout: 10000 });
    booking = (await apiCall(page, 'GET', `/api/v1/staff/bookings/${bookingId}`)).body;
    assert.equal(booking.status, 'cancelled');
    assert.equal(booking.ended_by, 'staff');

    // Erik's drop-in visit (the test before) has started: it can be marked done.
    const dropin = page.locator('li[data-booking-id][data-status="booked"]', { hasText: 'Erik Testsson' }).first();
    const dropinId = await dropin.getAttribute('data-booking-id');
    await dropin.locator('[data-action="done"]').click();
    await page.locator('#status', { hasText: 'markerat som genomfört' }).waitFor({ timeout: 10000 });
    booking = (await apiCall(page, 'GET', `/api/v1/staff/bookings/${dropinId}`)).body;
    assert.equal(booking.status, 'done');
    assert.ok(booking.ended_at, 'ended_at recorded');
    await page.close();
  }));

  test('keyboard: the booking form and the Join button are reachable and work with the keyboard', () => withLogs(dumps, async () => {
    const staff = await person('anna-api-3');
    await loginStaff(staff.page, ANNA.button);
    const starts = stockholmIn(8 * 60);
    const slot = await publish(staff.page, { kind: 'digital', starts, ends: plusMinutes(starts, 15) });

    const johan = await person('johan-keys');
    await loginPatient(johan.page, JOHAN.pnr);
    await open(johan.page, '/portal/book.html');
    const tabTo = async (selector, limit = 60) => {
      for (let i = 0; i < limit; i += 1) {
        await johan.page.keyboard.press('Tab');
        if (await johan.page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
      }
      assert.fail(`Tab never reached ${selector}`);
    };
    await tabTo('#care-unit');
    await johan.page.keyboard.type(ANNA.unit);
    await tabTo('#search-button');
    await johan.page.keyboard.press('Enter');
    await johan.page.locator(`#slots li[data-slot-id="${slot.id}"]`).waitFor({ timeout: 10000 });
    await tabTo(`#s-${slot.id}-book`);
    await johan.page.keyboard.press('Enter');
    await johan.page.locator('#confirmation:visible').waitFor({ timeout: 10000 });

    await open(johan.page, '/portal/bookings.html');
    const booking = (await apiCall(johan.page, 'GET', '/api/v1/bookings')).body.find((b) => b.slot_id === slot.id);
    await tabTo(`#b-${booking.id}-join`);
    const outline = await johan.page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused Join button shows its focus');
    await johan.page.keyboard.press('Enter');
    await johan.page.locator(`#b-${booking.id}-error`, { hasText: 'Du kan ansluta från' }).waitFor({ timeout: 10000 });
    await johan.close();
  }));

  test('every booking page: no serious axe violations in Swedish and English, no sideways scrolling on a phone', () => withLogs(dumps, async () => {
    const elsa = await person('elsa-axe');
    await loginPatient(elsa.page, ELSA.pnr);
    const staffPage = await anna.context.newPage();
    const pages = [
      [elsa.page, '/portal/bookings.html', null],
      [elsa.page, '/portal/book.html', async (page) => searchSlots(page, ANNA.unit)],
      [elsa.page, `/portal/dropin.html?care_unit=${encodeURIComponent(ANNA.unit)}`, null],
      [staffPage, '/portal/calendar.html', null],
    ];
    for (const lang of ['sv', 'en']) {
      for (const [page, p, prepare] of pages) {
        await page.setViewportSize({ width: 1024, height: 768 });
        await open(page, `${p}${p.includes('?') ? '&' : '?'}lang=${lang}`);
        if (prepare) await prepare(page);
        assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
        assert.deepEqual(await seriousAxeViolations(page), [], `${p} (${lang})`);
        const shot = (width) => path.join(process.env.E2E_SCREENSHOTS, `${path.basename(p).replace(/\W.*$/, '')}-${lang}-${width}.png`);
        if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: shot(1024), fullPage: true });
        await page.setViewportSize({ width: 320, height: 640 });
        assert.equal(await overflowsHorizontally(page), false, `${p} (${lang}) fits 320 px`);
        if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: shot(320), fullPage: true });
      }
    }
    await staffPage.close();
  }));
});
