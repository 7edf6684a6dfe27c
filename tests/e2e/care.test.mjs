// End-to-end tests of the care relationship and emergency access (nödåtkomst) on the portal
// pages (web/portal/staff.html, followup.html, export.html): a real vardrum server in development
// mode and headless chromium. A clinician without a care relationship is refused and told why,
// opens the patient with an emergency reason and sees that it was an emergency access; the
// patient's access log marks it; an administrator finds it in the follow-up list, follows it up
// with a note and it leaves the list; a clinician whose unit the patient booked opens the patient
// directly. axe-core, 320 px and the keyboard on each changed page, in Swedish and English.
//
// One server serves the whole file and the tests build on each other in order (the emergency
// access of the first is the one the second and third look at). Run:
// tests/e2e/run.sh tests/e2e/care.test.mjs

import assert from 'node:assert/strict';
import { access, constants, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  launchPerson, overflowsHorizontally, repoRoot, seriousAxeViolations, startServer, stopProcess, tempDir, waitForReady, withLogs,
} from './helpers.mjs';
import { portalDriver } from './portal-driver.mjs';

const BIN = path.resolve(repoRoot, process.env.VARDRUM_BIN ?? 'target/debug/vardrum');

// config/dev/population-register.json and config/dev/staff.json.
const ELSA = { pnr: '199006022397', formatted: '19900602-2397', name: 'Elsa Testsson' };
const JOHAN = { pnr: '199908072391', name: 'Johan Testlund' };
const ALVA = { pnr: '201610252395', name: 'Alva Testberg' };
const ANNA = { button: 'Anna Läkarsson', unit: 'Hälsocentral Testvik', otherUnit: 'Barnmottagning Testvik' };
const BO = { button: 'Bo Adminsson' };

// Typed with a line break, as someone might in the box; the server takes one line.
const REASON_TYPED = 'Patienten kom in medvetslös\nmed ambulans, behöver kontaktuppgifter';
const REASON_SENT = 'Patienten kom in medvetslös med ambulans, behöver kontaktuppgifter';
const NOTE = 'Kontrollerat med Anna Läkarsson: akut omhändertagande, åtkomsten var befogad.';

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

const { portalReady, open, loginPatient, loginStaff, apiCall } = portalDriver(() => baseUrl);

/** `YYYY-MM-DDTHH:MM` on the Stockholm wall clock, `minutes` from now (the API's input form). */
function stockholmIn(minutes) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(Date.now() + minutes * 60000)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** No serious axe violations, and no sideways scrolling at 320 px (and on a desktop). */
async function checkPage(page, what) {
  assert.deepEqual(await seriousAxeViolations(page), [], `axe: ${what}`);
  for (const width of [320, 1024]) {
    await page.setViewportSize({ width, height: 740 });
    assert.equal(await overflowsHorizontally(page), false, `${what} overflows at ${width} px`);
  }
}

/** Switches the page language with its button and waits until `locator` shows `text`. */
async function switchLanguage(page, locator, text) {
  await page.locator('#language').click();
  await locator.filter({ hasText: text }).waitFor({ timeout: 5000 });
}

/** Looks a patient up on staff.html. */
async function lookUp(page, pnr, purpose) {
  await page.locator('#lookup-personnummer').fill(pnr);
  if (purpose !== undefined) await page.locator('#lookup-purpose').fill(purpose);
  await page.locator('#lookup').click();
}

before(async () => {
  await access(BIN, constants.X_OK).catch(() => {
    throw new Error(`no vardrum binary at ${BIN}: run \`cargo build\` first or set VARDRUM_BIN`);
  });
  dataDir = await tempDir('care');
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

describe('care relationship and emergency access on the pages', { concurrency: false, timeout: 180000 }, () => {
  let elsa;
  let anna;

  test('a clinician without a care relationship is refused and told why, then opens the patient with an emergency reason', () => withLogs(dumps, async () => {
    elsa = await person('elsa');
    await loginPatient(elsa.page, ELSA.pnr); // her account exists from the first login on
    anna = await person('anna');
    const page = anna.page;
    await loginStaff(page, ANNA.button);
    const session = await (await page.request.get(url('/api/v1/session'))).json();
    assert.equal(session.staff.care_unit, ANNA.unit);

    await lookUp(page, ELSA.pnr, 'Telefonrådgivning');
    const refusal = page.getByRole('alert').filter({ hasText: 'ingen bokning, konversation eller drop-in' });
    await refusal.waitFor({ timeout: 10000 });
    const said = await refusal.textContent();
    assert.ok(said.includes(ELSA.formatted), `the refusal names the patient: ${said}`);
    assert.ok(said.includes(ANNA.unit), `and the active care unit: ${said}`);
    assert.match(said, /nödåtkomst: den loggas, visas för patienten och följs upp/);
    assert.ok(await page.locator('#patient').isHidden(), 'nothing of the patient is shown');
    assert.ok(await page.locator('#register').isVisible(), 'registration offered: it opens nothing, and is offered whether or not an account exists');
    const reason = page.getByLabel('Skäl till nödåtkomsten');
    assert.ok(await reason.isVisible(), 'the reason field, by its label');
    assert.match(await page.locator('#emergency-reason-hint').textContent(), /10–500 tecken/);
    assert.ok((await reason.getAttribute('aria-describedby')).split(/\s+/).includes('emergency-reason-hint'));
    await checkPage(page, 'staff page, refused lookup (sv)');
    await switchLanguage(page, page.locator('#lookup-error'), 'has no booking, conversation or drop-in');
    assert.match(await page.locator('#lookup-error').textContent(), /it is logged, shown to the patient and followed up/);
    assert.equal((await page.locator('#emergency-open').textContent()).trim(), 'Open with emergency access');
    assert.ok(await page.getByLabel('Reason for the emergency access').isVisible());
    await checkPage(page, 'staff page, refused lookup (en)');
    await switchLanguage(page, page.locator('#lookup-error'), 'ingen bokning');
    await page.setViewportSize({ width: 1024, height: 768 });

    // A reason too short is an error on the field; nothing opens (the follow-up list shows one
    // emergency access in the end, not two).
    await reason.fill('Akut');
    await page.getByRole('button', { name: 'Öppna med nödåtkomst' }).click();
    await page.locator('#emergency-reason[aria-invalid="true"]').waitFor({ timeout: 10000 });
    assert.match(await page.locator('#emergency-reason-error').textContent(), /10–500 tecken/);
    assert.ok((await reason.getAttribute('aria-describedby')).split(/\s+/).includes('emergency-reason-error'));
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'emergency-reason', 'focus back on the field');
    assert.ok(await page.locator('#patient').isHidden());
    assert.ok(await refusal.isVisible(), 'the explanation stays');
    await checkPage(page, 'staff page, emergency reason refused');
    await page.setViewportSize({ width: 1024, height: 768 });

    // With the keyboard: type the reason (a line break included), Tab to the button, Enter.
    await reason.fill('');
    await reason.focus();
    await page.keyboard.type(REASON_TYPED);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'emergency-open');
    await page.keyboard.press('Enter');
    await page.locator('#patient').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal((await page.locator('#patient-name').textContent()).trim(), ELSA.name);
    assert.equal((await page.locator('#patient-basis').textContent()).trim(), 'Nödåtkomst', 'the page says what allowed the read');
    assert.match(await page.locator('#patient-emergency').textContent(), /fyra timmar.*åtkomstlogg.*följer upp/s);
    assert.ok(await page.locator('#emergency-form').isHidden());
    assert.equal((await page.locator('#lookup-error').textContent()).trim(), '', 'the refusal is gone');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'patient-heading', 'focus moves to the patient');
    await checkPage(page, 'staff page, patient under emergency access (sv)');
    await switchLanguage(page, page.locator('#patient-basis'), 'Emergency access');
    assert.match(await page.locator('#patient-emergency').textContent(), /four hours/);
    await checkPage(page, 'staff page, patient under emergency access (en)');
    await switchLanguage(page, page.locator('#patient-basis'), 'Nödåtkomst');
    await page.setViewportSize({ width: 1024, height: 768 });

    // The emergency access stays open four hours: the next lookup needs no reason.
    await lookUp(page, ELSA.pnr, '');
    await page.locator('#patient').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal((await page.locator('#patient-basis').textContent()).trim(), 'Nödåtkomst');
    assert.ok(await page.locator('#emergency-form').isHidden(), 'no second prompt');
  }));

  test("the patient's access log marks the emergency access, in Swedish and English", () => withLogs(dumps, async () => {
    const page = elsa.page;
    await open(page, '/portal/export.html#access-log');
    const rows = page.locator('#log-rows tr');
    await rows.first().waitFor({ timeout: 10000 });
    const texts = await rows.allTextContents();
    // The refused lookup wrote nothing; the two reads under the emergency access are marked.
    assert.equal(texts.length, 2, JSON.stringify(texts));
    for (const row of texts) {
      assert.ok(row.includes(ANNA.unit) && row.includes('Läste uppgifter') && row.includes('Nödåtkomst'), row);
      assert.ok(!row.includes('Anna'), 'the care unit, not the staff member');
    }
    assert.equal(await page.locator('#log-rows tr[data-emergency="true"]').count(), 2);
    assert.match(await page.locator('#log-emergency-note').textContent(), /utan att du hade en bokning/);
    await checkPage(page, 'access log with an emergency access (sv)');
    await switchLanguage(page, page.locator('#log-rows'), 'Emergency access');
    assert.match(await page.locator('#log-emergency-note').textContent(), /without you having a booking/);
    await checkPage(page, 'access log with an emergency access (en)');
  }));

  test('the administrator follows the emergency access up with a note and it leaves the list', () => withLogs(dumps, async () => {
    const bo = await person('bo');
    const page = bo.page;
    await loginStaff(page, BO.button);
    assert.ok(await page.locator('#lookup-only-clinicians').isVisible(), 'administrators do not look patients up');
    await page.getByRole('link', { name: 'Uppföljning av nödåtkomster' }).click();
    await page.waitForURL((u) => u.pathname === '/portal/followup.html');
    await portalReady(page);

    const items = page.locator('#accesses li[data-access-id]');
    assert.equal(await items.count(), 1, 'the one emergency access (the refused short reason opened none)');
    assert.equal((await page.locator('#list-summary').textContent()).trim(), '1 nödåtkomst väntar på uppföljning.');
    const item = items.first();
    const shown = await item.textContent();
    for (const part of [ANNA.unit, ELSA.formatted, REASON_SENT, 'Anna Läkarsson', 'Väntar på uppföljning']) {
      assert.ok(shown.includes(part), `the item shows ${part}: ${shown}`);
    }
    const id = await item.getAttribute('data-access-id');
    const listed = (await apiCall(page, 'GET', '/api/v1/staff/emergency-accesses')).body;
    assert.equal(listed[0].id, id);
    // Opened at, valid until: Stockholm wall-clock times, whatever the browser's zone.
    const stockholm = new Intl.DateTimeFormat('sv-SE', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Europe/Stockholm' });
    assert.ok(shown.includes(stockholm.format(new Date(listed[0].expires_at * 1000))), `valid until in Stockholm time: ${shown}`);
    assert.equal(listed[0].expires_at - listed[0].opened_at, 4 * 3600);
    await checkPage(page, 'follow-up list (sv)');
    await switchLanguage(page, page.locator('#list-summary'), '1 emergency access is waiting for follow-up.');
    assert.ok(await page.getByLabel('Note on the follow-up').isVisible());
    await checkPage(page, 'follow-up list (en)');
    await switchLanguage(page, page.locator('#list-summary'), 'väntar på uppföljning');
    await page.setViewportSize({ width: 1024, height: 768 });

    // An empty note is an error on the field, and nothing is followed up.
    const note = item.getByLabel('Anteckning om uppföljningen');
    await item.getByRole('button', { name: 'Markera som uppföljd' }).click();
    await page.locator(`#a-${id}-note[aria-invalid="true"]`).waitFor({ timeout: 10000 });
    assert.match(await page.locator(`#a-${id}-note-error`).textContent(), /1–500 tecken/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), `a-${id}-note`);
    assert.equal((await apiCall(page, 'GET', '/api/v1/staff/emergency-accesses')).body.length, 1, 'still not followed up');
    await checkPage(page, 'follow-up list with a note refused');
    await page.setViewportSize({ width: 1024, height: 768 });

    // With the keyboard: the note, Tab to the button, Enter.
    await note.focus();
    await page.keyboard.type(NOTE);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'är markerad som uppföljd' }).waitFor({ timeout: 10000 });
    assert.equal(await items.count(), 0, 'it has left the list');
    assert.equal((await page.locator('#list-summary').textContent()).trim(), 'Inga nödåtkomster väntar på uppföljning.');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'list-heading', 'focus on the list, not lost');
    assert.deepEqual((await apiCall(page, 'GET', '/api/v1/staff/emergency-accesses')).body, []);

    // Showing all brings it back, followed up: the note, who and when.
    await page.getByLabel('Visa även nödåtkomster som redan är uppföljda').check();
    await items.first().waitFor({ timeout: 10000 });
    const reviewed = await items.first().textContent();
    assert.ok(reviewed.includes(NOTE), reviewed);
    assert.match(reviewed, /Uppföljd.* av Bo Adminsson/s);
    assert.equal(await items.first().getByRole('button').count(), 0, 'nothing left to do on it');
    const all = (await apiCall(page, 'GET', '/api/v1/staff/emergency-accesses?state=all')).body;
    const self = (await (await page.request.get(url('/api/v1/session'))).json()).staff.id;
    assert.equal(all[0].reviewed_by, self);
    assert.equal(all[0].review_note, NOTE);
    assert.ok(reviewed.includes(stockholm.format(new Date(all[0].reviewed_at * 1000))), 'when, in Stockholm time');
    await checkPage(page, 'follow-up list, all (sv)');
    await switchLanguage(page, page.locator('#list-summary'), 'Emergency accesses: 1. 0 of them are waiting for follow-up.');
    assert.match(await items.first().textContent(), /Followed up.* by Bo Adminsson/s);
    await checkPage(page, 'follow-up list, all (en)');

    // A clinician is told that the follow-up is the administrators'.
    await open(anna.page, '/portal/followup.html');
    assert.ok(await anna.page.locator('#followup-only-admins').isVisible());
    assert.ok(await anna.page.locator('#followup').isHidden());
    await bo.close();
  }));

  test('a clinician whose care unit the patient booked opens the patient directly, with no emergency prompt', () => withLogs(dumps, async () => {
    const page = anna.page;
    await open(page, '/portal/staff.html');
    const staffId = (await (await page.request.get(url('/api/v1/session'))).json()).staff.id;
    const starts = stockholmIn(26 * 60);
    const slot = await apiCall(page, 'POST', '/api/v1/staff/slots', {
      kind: 'physical', place: 'Storgatan 1, rum 4', mode: 'single', starts, ends: stockholmIn(26 * 60 + 20), clinicians: [staffId],
    });
    assert.equal(slot.status, 201, JSON.stringify(slot.body));

    // Johan books the time on the booking page.
    const johan = await person('johan');
    await loginPatient(johan.page, JOHAN.pnr);
    await open(johan.page, '/portal/book.html');
    await johan.page.locator('#care-unit').fill(ANNA.unit);
    await johan.page.locator('#search-button').click();
    await johan.page.locator(`#slots li[data-slot-id="${slot.body.id}"] [data-action="book"]`).click();
    await johan.page.locator('#confirmation:visible').waitFor({ timeout: 10000 });

    await lookUp(page, JOHAN.pnr, 'Inför besöket');
    await page.locator('#patient').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal((await page.locator('#patient-name').textContent()).trim(), JOHAN.name);
    assert.equal((await page.locator('#patient-basis').textContent()).trim(), 'Vårdrelation: bokning');
    assert.ok(await page.locator('#patient-emergency').isHidden());
    assert.ok(await page.locator('#emergency-form').isHidden(), 'no emergency prompt');
    assert.equal((await page.locator('#lookup-error').textContent()).trim(), '');
    await switchLanguage(page, page.locator('#patient-basis'), 'Care relationship: booking');
    await checkPage(page, 'staff page, patient through a booking (en)');
    await page.locator('#language').click();

    // The relationship is the unit's: from her other care unit the same lookup is refused.
    await page.locator('#care-unit').selectOption(ANNA.otherUnit);
    await page.locator('#care-unit-save').click();
    await page.getByRole('status').filter({ hasText: ANNA.otherUnit }).waitFor({ timeout: 10000 });
    await lookUp(page, JOHAN.pnr);
    await page.locator('#lookup-error').filter({ hasText: ANNA.otherUnit }).waitFor({ timeout: 10000 });
    assert.ok(await page.locator('#patient').isHidden());
    assert.ok(await page.locator('#emergency-form').isVisible());
    // Changing the unit back drops the refusal, which was about the other one.
    await page.locator('#care-unit').selectOption(ANNA.unit);
    await page.locator('#care-unit-save').click();
    await page.getByRole('status').filter({ hasText: ANNA.unit }).waitFor({ timeout: 10000 });
    assert.ok(await page.locator('#emergency-form').isHidden());
    assert.equal((await page.locator('#lookup-error').textContent()).trim(), '');
    await johan.close();
  }));

  test('a new patient is registered from a refused lookup without an emergency access; an existing one is not', () => withLogs(dumps, async () => {
    const page = anna.page;
    await open(page, '/portal/staff.html');
    await lookUp(page, ALVA.pnr, 'Nybesök');
    await page.locator('#lookup-error').filter({ hasText: 'utan nödåtkomst' }).waitFor({ timeout: 10000 });
    await page.getByRole('button', { name: 'Registrera ett konto åt patienten' }).click();
    await page.getByRole('status').filter({ hasText: 'Kontot är registrerat.' }).waitFor({ timeout: 10000 });
    assert.equal((await page.locator('#patient-name').textContent()).trim(), ALVA.name);
    assert.equal((await page.locator('#patient-basis').textContent()).trim(), 'Registrering av konto');
    assert.ok(await page.locator('#emergency-form').isHidden(), 'the emergency form is gone');
    assert.ok(await page.locator('#patient-emergency').isHidden());

    // Elsa has an account and no relationship with Anna's other care unit: registering her is
    // refused, and the page says what opening her account needs.
    await page.locator('#care-unit').selectOption(ANNA.otherUnit);
    await page.locator('#care-unit-save').click();
    await page.getByRole('status').filter({ hasText: ANNA.otherUnit }).waitFor({ timeout: 10000 });
    await lookUp(page, ELSA.pnr);
    await page.locator('#lookup-error').filter({ hasText: ANNA.otherUnit }).waitFor({ timeout: 10000 });
    await page.locator('#register').click();
    await page.locator('#lookup-error').filter({ hasText: 'redan ett konto' }).waitFor({ timeout: 10000 });
    assert.match(await page.locator('#lookup-error').textContent(), /vårdrelation.*nödåtkomst/);
    assert.ok(await page.locator('#patient').isHidden(), 'nothing of her is shown');
    await checkPage(page, 'staff page, registration refused for an existing account');
    await page.locator('#care-unit').selectOption(ANNA.unit);
    await page.locator('#care-unit-save').click();
    await page.getByRole('status').filter({ hasText: ANNA.unit }).waitFor({ timeout: 10000 });
  }));
});
