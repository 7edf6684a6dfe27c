// End-to-end tests of the patient portal pages (web/portal/): a real vardrum server in development
// mode (its built-in test identity provider, the dev population register and staff list) and
// headless chromium, logging in and using the pages as people would.
//
// Every test starts its own server with an empty data directory and its own browser profiles, so
// no test depends on what another one changed. Run: tests/e2e/run.sh tests/e2e/portal.test.mjs

import assert from 'node:assert/strict';
import { access, constants, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
  CHROMIUM, CHROMIUM_ARGS, launchPerson, overflowsHorizontally, repoRoot, seriousAxeViolations, startServer, stopProcess,
  tempDir, waitForReady, withLogs,
} from './helpers.mjs';

const BIN = path.resolve(repoRoot, process.env.VARDRUM_BIN ?? 'target/debug/vardrum');

// Test persons of config/dev/population-register.json (Skatteverket's test numbers).
const ELSA = { pnr: '199006022397', formatted: '19900602-2397', given: 'Elsa', family: 'Testsson', email: 'elsa.testsson@example.org' };
const MAJA = { pnr: '201801012392', formatted: '20180101-2392', given: 'Maja', family: 'Testsson' };
const VERA = { pnr: '201702282383', given: 'Vera' };
const INGRID = { pnr: '195712302842' };
const JOHAN = { pnr: '199908072391', given: 'Johan', family: 'Testlund' };
// config/dev/staff.json
const ANNA = { text: 'Anna Läkarsson', units: ['Hälsocentral Testvik', 'Barnmottagning Testvik'] };

const SV = {
  saved: 'Dina uppgifter är sparade.',
  deleted: 'Kontot är borttaget',
  actionRead: 'Läste uppgifter',
};

/** Only the digits of a phone number, for comparing the register's and the server's forms. */
const digits = (s) => String(s ?? '').replace(/\D/g, '');

/**
 * Runs `fn({ baseUrl, url(path), person(label, options) })` against a fresh server (empty data
 * directory); prints the server's and the browsers' logs if it throws; cleans up after.
 */
async function withPortal(fn) {
  await access(BIN, constants.X_OK).catch(() => {
    throw new Error(`no vardrum binary at ${BIN}: run \`cargo build\` first or set VARDRUM_BIN`);
  });
  const dataDir = await tempDir('portal');
  const server = startServer({ bin: BIN, dataDir });
  const stdout = [];
  const people = [];
  const dumps = () => {
    const out = { 'vardrum stdout': stdout.join('\n'), 'vardrum stderr': server.stderr() };
    for (const p of people) out[`${p.label} (browser console)`] = p.logs.join('\n');
    return out;
  };
  try {
    await withLogs(dumps, async () => {
      const baseUrl = await waitForReady(server, stdout);
      const url = (p) => new URL(p, baseUrl).href;
      const person = async (label, options) => {
        const p = await launchPerson(label, options);
        people.push(p);
        return p;
      };
      await fn({ baseUrl, url, person });
    });
    if (process.env.E2E_VERBOSE) {
      for (const [name, text] of Object.entries(dumps())) console.error(`\n----- ${name} -----\n${text}`);
    }
  } finally {
    for (const p of people) await p.close();
    await stopProcess(server.child);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Waits until a portal page has finished loading (`html[data-portal]`, set by page.js). */
async function portalReady(page, state = 'ready') {
  await page.locator(`html[data-portal="${state}"]`).waitFor({ state: 'attached', timeout: 15000 });
}

/** Waits for the profile page with its form filled in. */
async function profileShown(page) {
  await page.locator('#profile').waitFor({ state: 'visible', timeout: 15000 });
  await portalReady(page);
}

/**
 * Logs a patient in through the login page and the built-in test identity provider; resolves
 * once the profile page shows (accepting a significant policy version on the way if one waits).
 */
async function loginPatient(page, url, pnr) {
  await page.goto(url('/portal/login.html'));
  await portalReady(page);
  await page.locator('#login-patient').click();
  await page.waitForURL((u) => u.pathname.startsWith('/dev-idp/patient/'), { timeout: 15000 });
  await page.locator(`button[name="subject"][value$="${pnr}"]`).click();
  await page.waitForURL((u) => u.pathname.startsWith('/portal/'), { timeout: 15000 });
  await page.locator('#profile:visible, #decision:visible, #login-error:not(:empty)').first().waitFor({ timeout: 15000 });
  if (await page.locator('#decision').isVisible().catch(() => false)) {
    await page.locator('#accept').click();
  }
  await profileShown(page);
}

/** Logs a staff member in through the staff realm of the test identity provider. */
async function loginStaff(page, url, buttonText) {
  await page.goto(url('/portal/login.html'));
  await portalReady(page);
  await page.locator('#login-staff').click();
  await page.waitForURL((u) => u.pathname.startsWith('/dev-idp/staff/'), { timeout: 15000 });
  await page.locator('button[name="subject"]', { hasText: buttonText }).click();
  await page.waitForURL((u) => u.pathname === '/portal/staff.html', { timeout: 15000 });
  await portalReady(page);
}

/** A call of the portal API with the browser profile's session (and its CSRF token). */
async function apiCall(page, url, method, p, body) {
  const session = await (await page.request.get(url('/api/v1/session'))).json();
  const response = await page.request.fetch(url(p), {
    method,
    headers: { 'X-CSRF-Token': session.csrf_token, 'Content-Type': 'application/json' },
    data: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status(), body: text ? JSON.parse(text) : null };
}

/** `YYYY-MM-DDTHH:MM` on the Stockholm wall clock, `minutes` from now (the API's input form). */
function stockholmIn(minutes) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(Date.now() + minutes * 60000)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/**
 * Opens a patient the lookup refused for want of a care relationship: the page explains the
 * refusal and offers an emergency access, which the clinician opens with a reason.
 */
async function openWithEmergencyAccess(page, reason) {
  await page.locator('#lookup-error').filter({ hasText: /ingen bokning, konversation eller drop-in/ }).waitFor({ timeout: 10000 });
  await page.getByLabel('Skäl till nödåtkomsten').fill(reason);
  await page.getByRole('button', { name: 'Öppna med nödåtkomst' }).click();
}

/** The status of `GET /api/v1/session` with the browser profile's cookies. */
async function sessionStatus(page, url) {
  const response = await page.request.get(url('/api/v1/session'));
  return response.status();
}

async function fieldValues(page) {
  return {
    given: await page.locator('#given_name').inputValue(),
    family: await page.locator('#family_name').inputValue(),
    mobile: await page.locator('#mobile').inputValue(),
    email: await page.locator('#email').inputValue(),
  };
}

describe('the patient portal pages', { concurrency: false, timeout: 120000 }, () => {
  test('1. log in, see the register prefill, change mobile and e-mail, and the change persists', () => withPortal(async ({ url, person }) => {
    const { page } = await person('elsa');
    await loginPatient(page, url, ELSA.pnr);
    assert.equal(new URL(page.url()).pathname.replace(/index\.html$/, ''), '/portal/');

    assert.match(await page.locator('#who').textContent(), /Elsa Testsson/);
    assert.equal((await page.locator('#personnummer').textContent()).trim(), ELSA.formatted, 'personnummer shown as YYYYMMDD-NNNN');
    assert.equal(await page.locator('input#personnummer, input[name="personnummer"]').count(), 0, 'the personnummer is not an input');
    const prefilled = await fieldValues(page);
    assert.equal(prefilled.given, ELSA.given);
    assert.equal(prefilled.family, ELSA.family);
    assert.ok(digits(prefilled.mobile).endsWith('701740605'), `register mobile 070-174 06 05, got ${prefilled.mobile}`);
    assert.equal(prefilled.email, ELSA.email);

    await page.locator('#mobile').fill('070-123 45 67');
    await page.locator('#email').fill('elsa.ny@example.org');
    await page.locator('#save').click();
    await page.getByRole('status').filter({ hasText: SV.saved }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#email').getAttribute('aria-invalid'), null);

    await page.reload();
    await profileShown(page);
    const after = await fieldValues(page);
    assert.equal(after.mobile, '+46701234567', 'the server normalises the mobile number to E.164');
    assert.equal(after.email, 'elsa.ny@example.org');
    assert.equal(after.given, ELSA.given);
  }));

  test('2. an invalid e-mail shows its error next to the field and nothing is saved', () => withPortal(async ({ url, person }) => {
    const { page } = await person('elsa');
    await loginPatient(page, url, ELSA.pnr);
    const before = await fieldValues(page);

    await page.locator('#mobile').fill('070-765 43 21');
    await page.locator('#email').fill('inte-en-adress');
    await page.locator('#save').click();
    const email = page.locator('#email');
    await page.locator('#email[aria-invalid="true"]').waitFor({ timeout: 10000 });
    const errorText = (await page.locator('#email-error').textContent()).trim();
    assert.ok(errorText.length > 0, 'an error text under the e-mail field');
    assert.ok((await email.getAttribute('aria-describedby')).split(/\s+/).includes('email-error'), 'the field is described by its error');
    assert.equal(await page.locator('#mobile').getAttribute('aria-invalid'), null, 'only the e-mail field is marked');
    assert.ok((await page.locator('#form-error').textContent()).trim().length > 0, 'a summary in the form alert');
    assert.equal(await page.locator('#form-error').getAttribute('role'), 'alert');
    assert.equal((await page.locator('#status').textContent()).trim(), '', 'no success message');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'email', 'focus moves to the field at fault');

    await page.reload();
    await profileShown(page);
    const after = await fieldValues(page);
    assert.equal(after.email, before.email, 'the old e-mail is still there');
    assert.equal(after.mobile, before.mobile, 'the mobile number sent along was not saved either');
  }));

  test('3. a guardian acts for a child, not for a child with protected identity, and stops', () => withPortal(async ({ url, person }) => {
    const { page } = await person('elsa');
    await loginPatient(page, url, ELSA.pnr);
    // Vera has protected identity: the server may leave her out of the list, or offer her and
    // refuse. So that the page's refusal in words is tested either way, the list the page gets
    // has Vera added when the server left her out (as a list from before a change would).
    let serverOffered = null;
    await page.route('**/api/v1/me/children', async (route) => {
      const response = await route.fetch();
      const list = await response.json();
      serverOffered = list.map((c) => c.personnummer);
      if (!serverOffered.includes(VERA.pnr)) list.push({ personnummer: VERA.pnr, given_name: VERA.given, family_name: 'Testsson' });
      await route.fulfill({ response, json: list });
    });
    await page.locator('#link-children').click();
    await page.waitForURL((u) => u.pathname === '/portal/children.html');
    await portalReady(page);
    assert.ok(serverOffered?.includes(MAJA.pnr), `the server offers Maja (offered: ${serverOffered})`);

    await page.locator(`#children button[data-personnummer="${VERA.pnr}"]`).click();
    // docs/portal-api.md: 403 forbidden when protected identity is the reason; 404 not_found
    // otherwise. Either way the page says so in words and names where to get care.
    await page.locator('#child-error').filter({ hasText: /Det går inte att agera för barnet.*1177/ }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#child-error').getAttribute('role'), 'alert');
    assert.equal(new URL(page.url()).pathname, '/portal/children.html', 'still on the list');
    const refused = await (await page.request.get(url('/api/v1/session'))).json();
    assert.equal(refused.acting_as, null, 'not acting for Vera');
    await page.unroute('**/api/v1/me/children');

    await page.locator(`#children button[data-personnummer="${MAJA.pnr}"]`).click();
    await page.waitForURL((u) => u.pathname === '/portal/index.html' || u.pathname === '/portal/');
    await profileShown(page);
    const banner = page.locator('#acting-banner');
    assert.ok(await banner.isVisible(), 'the "acting for" banner shows');
    assert.match(await banner.textContent(), /Du agerar för Maja Testsson/);
    assert.match(await page.locator('h1').textContent(), /Maja Testsson/);
    assert.equal(await page.locator('#given_name').inputValue(), MAJA.given, "Maja's profile is shown");
    assert.equal((await page.locator('#personnummer').textContent()).trim(), MAJA.formatted);
    assert.match(await page.locator('#who').textContent(), /Elsa Testsson/, 'still logged in as Elsa');
    const session = await (await page.request.get(url('/api/v1/session'))).json();
    assert.equal(session.acting_as?.personnummer, MAJA.pnr);

    // The banner follows to the other pages.
    await page.goto(url('/portal/export.html'));
    await portalReady(page);
    assert.match(await page.locator('#acting-banner').textContent(), /Maja Testsson/);

    await page.locator('#stop-acting').click();
    await page.waitForURL((u) => u.pathname === '/portal/index.html');
    await profileShown(page);
    assert.ok(await page.locator('#acting-banner').isHidden(), 'no banner when acting as oneself');
    assert.equal(await page.locator('#given_name').inputValue(), ELSA.given);
    const after = await (await page.request.get(url('/api/v1/session'))).json();
    assert.equal(after.acting_as, null);
  }));

  test('4. a person with protected identity is refused with the region text (Västerbotten)', () => withPortal(async ({ url, person }) => {
    const region = await (await fetch(url('/api/v1/region'))).json();
    const refusal = region.texts?.protected_identity_refused;
    assert.ok(refusal?.sv && refusal?.en, 'the dev region (Västerbotten) has a refusal text');

    const { page } = await person('ingrid');
    await page.goto(url('/portal/login.html'));
    await portalReady(page);
    await page.locator('#login-patient').click();
    await page.waitForURL((u) => u.pathname.startsWith('/dev-idp/patient/'));
    await page.locator(`button[name="subject"][value$="${INGRID.pnr}"]`).click();
    await page.waitForURL((u) => u.pathname === '/portal/login.html' && u.searchParams.get('error') === 'protected_identity');
    await portalReady(page);
    const alert = page.getByRole('alert').filter({ hasText: refusal.sv });
    await alert.waitFor({ timeout: 10000 });
    assert.equal(await sessionStatus(page, url), 401, 'no session was made');

    await page.locator('#language').click();
    await page.getByRole('alert').filter({ hasText: refusal.en }).waitFor({ timeout: 10000 });
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  }));

  test('5. export downloads the own data; deletion removes the account and a new login starts afresh', () => withPortal(async ({ url, person }) => {
    const { page } = await person('elsa');
    await loginPatient(page, url, ELSA.pnr);
    await page.locator('#mobile').fill('070-123 45 67');
    await page.locator('#save').click();
    await page.getByRole('status').filter({ hasText: SV.saved }).waitFor({ timeout: 10000 });

    await page.locator('#link-export').click();
    await page.waitForURL((u) => u.pathname === '/portal/export.html');
    await portalReady(page);
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 15000 }),
      page.locator('#download').click(),
    ]);
    const file = await download.path();
    const exported = JSON.parse(await readFile(file, 'utf8'));
    assert.ok(JSON.stringify(exported).includes(ELSA.pnr), 'the export contains the personnummer');
    assert.equal(exported.account?.personnummer, ELSA.pnr);
    assert.equal(exported.account?.mobile, '+46701234567', 'the export has the edited mobile');
    assert.ok(Array.isArray(exported.access_log), 'the export has the access log array');
    assert.match(download.suggestedFilename(), /\.json$/i);

    await page.goto(url('/portal/delete.html'));
    await portalReady(page);
    assert.match(await page.locator('main').textContent(), /5 år/, 'the page says the access log is kept for 5 years');
    // Without the confirmation nothing happens but an error next to the box.
    await page.locator('#delete').click();
    await page.locator('#confirm[aria-invalid="true"]').waitFor({ timeout: 5000 });
    assert.equal(await sessionStatus(page, url), 200, 'still logged in: nothing was deleted');
    await page.locator('#confirm').check();
    await page.locator('#delete').click();
    await page.getByRole('heading', { name: SV.deleted }).waitFor({ timeout: 10000 });
    await portalReady(page, 'deleted');
    assert.equal(await sessionStatus(page, url), 401, 'deletion ended the session');
    assert.ok(await page.locator('a[href*="login.html"]').isVisible(), 'a link to the login page');

    await page.locator('a[href*="login.html"]').click();
    await page.waitForURL((u) => u.pathname === '/portal/login.html');
    await loginPatient(page, url, ELSA.pnr);
    const fresh = await fieldValues(page);
    assert.ok(digits(fresh.mobile).endsWith('701740605'), `register prefill is back, got ${fresh.mobile}`);
    assert.equal(fresh.email, ELSA.email);
  }));

  test('6. logging out ends the session and the profile page sends you to the login page', () => withPortal(async ({ url, person }) => {
    const { page } = await person('elsa');
    await loginPatient(page, url, ELSA.pnr);
    assert.equal(await sessionStatus(page, url), 200);
    await page.locator('#logout').click();
    await page.waitForURL((u) => u.pathname === '/portal/login.html');
    assert.equal(await sessionStatus(page, url), 401, 'GET /api/v1/session after logout');

    await page.goto(url('/portal/'));
    await page.waitForURL((u) => u.pathname === '/portal/login.html', { timeout: 10000 });
    await portalReady(page);
    for (const p of ['/portal/children.html', '/portal/export.html', '/portal/delete.html']) {
      await page.goto(url(p));
      await page.waitForURL((u) => u.pathname === '/portal/login.html', { timeout: 10000 });
    }
  }));

  test('7. no serious accessibility violations and no sideways scrolling at 360 px', () => withPortal(async ({ url, person }) => {
    const { page } = await person('elsa');
    const check = async (what) => {
      assert.deepEqual(await seriousAxeViolations(page), [], `axe: ${what}`);
      for (const width of [360, 1024]) {
        await page.setViewportSize({ width, height: 740 });
        assert.equal(await overflowsHorizontally(page), false, `${what} overflows at ${width} px`);
      }
    };
    const open = async (p) => {
      await page.goto(url(p));
      await portalReady(page);
    };

    await open('/portal/login.html');
    await check('login page');
    await open('/portal/login.html?error=protected_identity');
    await page.getByRole('alert').filter({ hasText: /\S/ }).first().waitFor();
    await check('login page with an error');
    await open('/portal/login.html?lang=en&error=not_in_register');
    await check('login page in English with an error');
    await open('/portal/policy.html');
    assert.ok(await page.locator('#policy-text h2').count() > 0, 'the policy text is shown with its headings');
    assert.equal(await page.locator('#policy-text script, #policy-text [onclick]').count(), 0);
    await check('policy page (not logged in)');

    await loginPatient(page, url, ELSA.pnr);
    await check('profile page');
    await page.locator('#email').fill('not-an-address');
    await page.locator('#save').click();
    await page.locator('#email[aria-invalid="true"]').waitFor({ timeout: 10000 });
    await check('profile page with a field error');

    await open('/portal/children.html');
    await check('children page');
    await page.locator(`#children button[data-personnummer="${MAJA.pnr}"]`).click();
    await page.waitForURL((u) => u.pathname === '/portal/index.html');
    await profileShown(page);
    await check('profile page while acting for a child');
    await open('/portal/delete.html');
    await check('delete page while acting for a child');
    await page.locator('#stop-acting').click();
    await page.waitForURL((u) => u.pathname === '/portal/index.html');
    await profileShown(page);

    await open('/portal/export.html');
    await check('export page');
    await open('/portal/delete.html');
    await check('delete page');
    await open('/portal/policy.html');
    await check('policy page (logged in)');
    await open('/portal/index.html?lang=en');
    await check('profile page in English');

    // Everything is reachable with the keyboard: Tab from the top reaches the save button.
    await open('/portal/index.html');
    await page.setViewportSize({ width: 360, height: 740 });
    let reached = false;
    for (let i = 0; i < 40 && !reached; i += 1) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.id === 'save');
    }
    assert.ok(reached, 'the save button is reachable with Tab');
  }));

  test('8. staff look up a patient with a purpose; the patient sees the care unit in the access log', () => withPortal(async ({ url, person }) => {
    const elsa = await person('elsa');
    await loginPatient(elsa.page, url, ELSA.pnr); // the account exists from the first login on

    const anna = await person('anna');
    const page = anna.page;
    await loginStaff(page, url, ANNA.text);
    assert.match(await page.locator('#staff-who').textContent(), /Anna Läkarsson/);
    const units = await page.locator('#care-unit option').evaluateAll((options) => options.map((o) => o.value));
    assert.deepEqual([...units].sort(), [...ANNA.units].sort(), "Anna's care units are offered");

    const unit = 'Barnmottagning Testvik';
    await page.locator('#care-unit').selectOption(unit);
    await page.locator('#care-unit-save').click();
    await page.getByRole('status').filter({ hasText: unit }).waitFor({ timeout: 10000 });
    const staffSession = await (await page.request.get(url('/api/v1/session'))).json();
    assert.equal(staffSession.staff?.care_unit, unit);

    // Staff open a patient through a care relationship with their active care unit: Elsa books
    // a time the unit has published (docs/portal-api.md, "Care relationship and emergency access").
    const starts = stockholmIn(26 * 60);
    const slot = await apiCall(page, url, 'POST', '/api/v1/staff/slots', {
      kind: 'physical', place: 'Rum 2', mode: 'single', starts, ends: stockholmIn(26 * 60 + 20), clinicians: [staffSession.staff.id],
    });
    assert.equal(slot.status, 201, JSON.stringify(slot.body));
    const booked = await apiCall(elsa.page, url, 'POST', '/api/v1/bookings', { slot_id: slot.body.id });
    assert.equal(booked.status, 201, JSON.stringify(booked.body));

    await page.locator('#lookup-personnummer').fill(ELSA.formatted);
    await page.locator('#lookup-purpose').fill('Videobesök');
    await page.locator('#lookup').click();
    await page.locator('#patient').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal((await page.locator('#patient-name').textContent()).trim(), 'Elsa Testsson');
    assert.equal((await page.locator('#patient-personnummer').textContent()).trim(), ELSA.formatted);
    assert.ok(await page.locator('#patient-marker').isHidden(), 'no protected-identity marker for Elsa');
    assert.equal((await page.locator('#patient-basis').textContent()).trim(), 'Vårdrelation: bokning', 'what allowed the read');
    assert.ok(await page.locator('#emergency-form').isHidden(), 'no emergency access asked for');
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe: staff page with a patient');
    await page.setViewportSize({ width: 360, height: 740 });
    assert.equal(await overflowsHorizontally(page), false, 'staff page at 360 px');

    // Elsa's own view of the access log.
    await elsa.page.goto(url('/portal/export.html#access-log'));
    await portalReady(elsa.page);
    const rows = elsa.page.locator('#log-rows tr');
    await rows.first().waitFor({ timeout: 10000 });
    const texts = await rows.allTextContents();
    assert.ok(texts.some((row) => row.includes(unit) && row.includes(SV.actionRead)), `a read by ${unit}: ${JSON.stringify(texts)}`);
    assert.equal(await elsa.page.locator('#log-rows tr[data-emergency]').count(), 0, 'no read was an emergency access');
    assert.ok(texts.every((row) => !row.includes('Anna')), 'the patient sees the care unit, not the staff member');
  }));

  test('9. staff register an account for a patient who has none; protected identity and typing errors are explained', () => withPortal(async ({ url, person }) => {
    const { page } = await person('anna');
    await loginStaff(page, url, ANNA.text);
    // Without a care relationship the lookup is refused whether or not there is an account; the
    // clinician opens it as an emergency access and learns that there is none.
    await page.locator('#lookup-personnummer').fill(JOHAN.pnr);
    await page.locator('#lookup').click();
    await openWithEmergencyAccess(page, 'Ny patient på akutmottagningen utan konto');
    await page.locator('#lookup-error').filter({ hasText: 'Ingen patient med det personnumret har ett konto' }).waitFor({ timeout: 10000 });
    assert.ok(await page.locator('#patient').isHidden());
    assert.ok(await page.locator('#emergency-form').isHidden(), 'the emergency form has done its part');
    await page.locator('#register').click();
    await page.locator('#patient').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal((await page.locator('#patient-name').textContent()).trim(), `${JOHAN.given} ${JOHAN.family}`);
    assert.match(await page.locator('#patient-registered-by').textContent(), /vårdpersonal/);
    assert.equal((await page.locator('#patient-basis').textContent()).trim(), 'Registrering av konto');

    // Västerbotten refuses people with protected identity: the region's text says so.
    const refusal = (await (await fetch(url('/api/v1/region'))).json()).texts.protected_identity_refused.sv;
    await page.locator('#lookup-personnummer').fill(INGRID.pnr);
    await page.locator('#lookup').click();
    await openWithEmergencyAccess(page, 'Medvetslös patient, behöver kontaktuppgifter');
    await page.locator('#register').waitFor({ state: 'visible', timeout: 10000 });
    await page.locator('#register').click();
    await page.getByRole('alert').filter({ hasText: refusal }).waitFor({ timeout: 10000 });
    assert.ok(await page.locator('#patient').isHidden());

    // A mistyped number (wrong check digit) is an error on the field.
    await page.locator('#lookup-personnummer').fill('19900602-2398');
    await page.locator('#lookup').click();
    await page.locator('#lookup-personnummer[aria-invalid="true"]').waitFor({ timeout: 10000 });
    assert.ok((await page.locator('#lookup-personnummer-error').textContent()).trim().length > 0);
  }));
  test('10. the language: Swedish by default, the switch, and the account setting after the next login', () => withPortal(async ({ url, person }) => {
    const { page } = await person('elsa');
    await loginPatient(page, url, ELSA.pnr);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'sv');
    assert.equal((await page.locator('h1').textContent()).trim(), 'Min profil');

    // The switch changes the page at once and is carried on to the other portal pages.
    await page.locator('#language').click();
    assert.equal((await page.locator('h1').textContent()).trim(), 'My profile');
    assert.equal(new URL(page.url()).searchParams.get('lang'), 'en');
    assert.equal(new URL(await page.locator('#link-children').evaluate((a) => a.href)).searchParams.get('lang'), 'en');
    await page.locator('#language').click();
    assert.equal((await page.locator('h1').textContent()).trim(), 'Min profil');

    // The account's language setting is the default at the next login.
    await page.locator('#language-setting').selectOption('en');
    await page.locator('#save').click();
    await page.getByRole('status').filter({ hasText: 'Your details have been saved.' }).waitFor({ timeout: 10000 });
    await page.locator('#logout').click();
    await page.waitForURL((u) => u.pathname === '/portal/login.html');
    await loginPatient(page, url, ELSA.pnr);
    assert.equal(new URL(page.url()).searchParams.get('lang'), null);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    assert.equal((await page.locator('h1').textContent()).trim(), 'My profile');
    // ... and ?lang= in the address wins over it.
    await page.goto(url('/portal/index.html?lang=sv'));
    await profileShown(page);
    assert.equal((await page.locator('h1').textContent()).trim(), 'Min profil');
  }));
  test('11. every page runs under the server\'s Content-Security-Policy', () => withPortal(async ({ url }) => {
    // launchPerson bypasses CSP (for axe); this browser does not, so inline code would fail here.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    try {
      const page = await browser.newPage();
      const problems = [];
      page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text()); });
      page.on('pageerror', (e) => problems.push(String(e)));
      const response = await page.goto(url('/portal/login.html'));
      assert.match(response.headers()['content-security-policy'] ?? '', /default-src 'self'/);
      await portalReady(page);
      await loginPatient(page, url, ELSA.pnr);
      for (const p of ['children.html', 'export.html', 'delete.html', 'policy.html', 'index.html?lang=en']) {
        await page.goto(url(`/portal/${p}`));
        await portalReady(page);
      }
      await page.locator('#logout').click();
      await page.waitForURL((u) => u.pathname === '/portal/login.html');
      await loginStaff(page, url, ANNA.text);
      await page.goto(url('/portal/followup.html'));
      await portalReady(page);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  }));
});
