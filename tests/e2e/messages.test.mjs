// End-to-end tests of the message pages (web/portal/messages.html for patients and guardians,
// web/portal/inbox.html for staff): a real vardrum server in development mode (its test identity
// provider, the dev population register and staff list) and headless chromium. A patient writes to
// a care unit with a PNG attached; the clinician sees it unread in the inbox, opens it (her unread
// mark clears, the patient's side keeps its own), downloads the PNG byte for byte and replies with
// a PDF; the patient sees the unread reply, opens it and the mark clears. Refused files and texts
// are shown for what they are; assign, close and the closed conversation; a guardian writes for a
// child; keyboard use, axe-core and 320 px in both languages.
//
// One server serves the whole file (its upload limit lowered in a config file, so that "too large"
// costs little, and a staff list with a colleague of Anna's); each test uses its own people or conversations, so none depends on what another
// changed. Run: tests/e2e/run.sh tests/e2e/messages.test.mjs

import assert from 'node:assert/strict';
import { access, constants, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  axeViolations, launchPerson, makePng, overflowsHorizontally, repoRoot, startServer, stopProcess, tempDir, waitForReady,
  withLogs,
} from './helpers.mjs';
import { portalDriver } from './portal-driver.mjs';

const BIN = path.resolve(repoRoot, process.env.VARDRUM_BIN ?? 'target/debug/vardrum');

// config/dev/population-register.json and config/dev/staff.json.
const ELSA = { pnr: '199006022397', name: 'Elsa Testsson' };
const MAJA = { pnr: '201801012392', name: 'Maja Testsson' };
const JOHAN = { pnr: '199908072391' };
const ERIK = { pnr: '199602292386' };
const ANNA = { button: 'Anna Läkarsson', name: 'Anna Läkarsson', unit: 'Hälsocentral Testvik', childUnit: 'Barnmottagning Testvik' };
// tests/fixtures/staff-colleagues.json: Anna's colleague in Hälsocentral Testvik.
const KARIN = { button: 'Karin Sköterskesson', name: 'Karin Sköterskesson' };

/** The server's `uploads.max_bytes` here: small, so a file over it is cheap to make. */
const MAX_BYTES = 200000;

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

/** A small real PDF (the server reads the type from the `%PDF-` signature), padded to `size` bytes. */
function makePdf(label = 'remiss', size = 0) {
  const body = `%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% ${label}\ntrailer << /Root 1 0 R >>\n%%EOF\n`;
  const bytes = Buffer.from(body, 'latin1');
  return size > bytes.length ? Buffer.concat([bytes, Buffer.alloc(size - bytes.length, 0x20)]) : bytes;
}

const GIF = Buffer.from('GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;', 'latin1');

const { portalReady, open, loginPatient, loginStaff, apiCall } = portalDriver(() => baseUrl);

async function setCareUnit(page, unit) {
  const answer = await apiCall(page, 'PUT', '/api/v1/staff/care-unit', { care_unit: unit });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

/** The staff inbox's summary of one conversation, through the API (all statuses). */
async function inboxEntry(page, id) {
  const answer = await apiCall(page, 'GET', '/api/v1/staff/inbox?status=all');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.find((c) => c.id === id);
}

/** The patient side's summary of one conversation, through the API. */
async function patientEntry(page, id) {
  const answer = await apiCall(page, 'GET', '/api/v1/conversations');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.find((c) => c.id === id);
}

/** "3 december 2026 kl. 17:05" as the page writes a Stockholm wall-clock time (Swedish). */
function swedishWhen(local) {
  const [y, m, d] = local.date.split('-').map(Number);
  const date = new Intl.DateTimeFormat('sv-SE', { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, d)));
  return `${date} kl. ${local.time}`;
}

/** The Stockholm wall clock of Unix seconds, `{date, time}`, computed here (not by the server). */
function stockholmOf(unix) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(unix * 1000)).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

/** Presses Tab until `selector` has focus; fails after `limit` presses. */
async function tabTo(page, selector, limit = 80) {
  for (let i = 0; i < limit; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  assert.fail(`Tab never reached ${selector}`);
}

/** Writes a new conversation on messages.html (the page must show the list). */
async function startConversation(page, { unit, subject, text, files = [] }) {
  await page.locator('#new-care-unit').fill(unit);
  await page.locator('#new-subject').fill(subject);
  await page.locator('#new-text').fill(text);
  if (files.length) await page.locator('#new-files').setInputFiles(files);
  await page.locator('#new-send').click();
  await page.locator('#conversation-body:visible').waitFor({ timeout: 15000 });
  await page.locator('#conversation-heading', { hasText: subject }).waitFor({ timeout: 10000 });
  return new URL(page.url()).searchParams.get('conversation');
}

before(async () => {
  await access(BIN, constants.X_OK).catch(() => {
    throw new Error(`no vardrum binary at ${BIN}: run \`cargo build\` first or set VARDRUM_BIN`);
  });
  dataDir = await tempDir('messages');
  const config = path.join(dataDir, 'vardrum.toml');
  // A second clinician in Anna's unit to assign conversations to (the dev staff list has one).
  const staffFile = path.join(repoRoot, 'tests/fixtures/staff-colleagues.json');
  await writeFile(config, `[uploads]\nmax_bytes = ${MAX_BYTES}\n\n[portal]\nstaff_file = ${JSON.stringify(staffFile)}\n`);
  server = startServer({ bin: BIN, dataDir, args: ['--config', config] });
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

describe('the message pages', { concurrency: false, timeout: 180000 }, () => {
  let anna;
  let elsa;
  /** Elsa's conversation of the first test, which the refusals test writes in. */
  let elsaConversation;

  test('a patient writes with a PNG; the clinician sees it unread, opens it, downloads it and replies with a PDF; the patient reads the reply and the mark clears', () => withLogs(dumps, async () => {
    // The patient's browser is in New York: times must still be Stockholm's.
    elsa = await person('elsa', { timezoneId: 'America/New_York' });
    await loginPatient(elsa.page, ELSA.pnr);
    await elsa.page.locator('#link-messages').click();
    await elsa.page.waitForURL((u) => u.pathname === '/portal/messages.html');
    await portalReady(elsa.page);
    assert.equal(await elsa.page.locator('h1').textContent(), 'Meddelanden');
    assert.equal(await elsa.page.locator('nav a[aria-current="page"]').textContent(), 'Meddelanden');

    // The region's care units that take messages are suggested.
    const suggested = await elsa.page.locator('#care-units option').evaluateAll((options) => options.map((o) => o.value));
    assert.deepEqual([...suggested].sort(), [ANNA.childUnit, ANNA.unit]);

    const png = makePng(5, 4, [30, 120, 200]);
    const id = await startConversation(elsa.page, {
      unit: ANNA.unit,
      subject: 'Utslag på armen',
      text: 'Hej!\nJag har fått utslag på armen, se bilden.',
      files: [{ name: 'utslag.png', mimeType: 'image/png', buffer: png }],
    });
    elsaConversation = id;
    await elsa.page.locator('#status', { hasText: `Ditt meddelande till ${ANNA.unit} är skickat.` }).waitFor({ timeout: 10000 });
    assert.equal(await elsa.page.evaluate(() => document.activeElement?.id), 'conversation-heading', 'focus moves to the conversation');
    const first = elsa.page.locator('#history li.msg').first();
    assert.match(await first.locator('.msg-author').textContent(), /^Elsa Testsson$/);
    assert.match(await first.locator('.msg-text').textContent(), /Hej!\nJag har fått utslag/);
    assert.equal(await first.locator('a[data-attachment-id]').textContent(), 'utslag.png');
    const mine = (await apiCall(elsa.page, 'GET', `/api/v1/conversations/${id}`)).body;
    assert.equal(mine.messages.length, 1);
    assert.deepEqual(mine.messages[0].attachments.map((a) => [a.name, a.content_type, a.size]), [['utslag.png', 'image/png', png.length]]);
    const sent = mine.messages[0].sent;
    assert.deepEqual({ date: sent.date, time: sent.time }, stockholmOf(mine.messages[0].sent_at), 'the server\'s wall clock is Stockholm\'s');
    assert.equal(await first.locator('time').textContent(), swedishWhen(sent), 'the page shows Stockholm time, not New York\'s');

    // The clinician's inbox: unread for her.
    anna = await person('anna');
    await loginStaff(anna.page, ANNA.button);
    await setCareUnit(anna.page, ANNA.unit);
    await anna.page.locator('#link-inbox').click();
    await anna.page.waitForURL((u) => u.pathname === '/portal/inbox.html');
    await portalReady(anna.page);
    const item = anna.page.locator(`#conversations li[data-conversation-id="${id}"]`);
    await item.waitFor({ timeout: 10000 });
    assert.equal(await item.getAttribute('data-unread'), '1');
    assert.match(await item.textContent(), /1 oläst meddelande.*Elsa Testsson, 19900602-2397/s);
    await anna.page.locator('#filter-unread').check();
    await anna.page.locator('#filter-show').click();
    await anna.page.locator('#status', { hasText: 'Inkorgen visar' }).waitFor({ timeout: 10000 });
    assert.equal(await item.count(), 1, 'listed among those unread for her');

    // Opening marks it read for her: the page sends her read mark up to the last message.
    const annaRead = anna.page.waitForResponse((r) => r.url().endsWith(`/api/v1/staff/conversations/${id}/read`) && r.request().method() === 'POST');
    await item.locator('h3 a').click();
    await anna.page.locator('#conversation-heading', { hasText: 'Utslag på armen' }).waitFor({ timeout: 10000 });
    assert.equal(await anna.page.evaluate(() => document.activeElement?.id), 'conversation-heading');
    assert.match(await anna.page.locator('#conversation-facts').textContent(), /Elsa Testsson, 19900602-2397/);
    assert.equal(await anna.page.locator('#history li.msg[data-unread="true"] .badge-new').textContent(), 'Nytt', 'the new message says so in words');
    assert.equal((await annaRead).status(), 204);
    assert.deepEqual(JSON.parse((await annaRead).request().postData()), { seq: 1 });
    assert.equal((await inboxEntry(anna.page, id)).unread, 0, 'read for the clinician once opened');

    // The attachment downloads byte for byte.
    const [download] = await Promise.all([
      anna.page.waitForEvent('download'),
      anna.page.locator('#history a[data-attachment-id]', { hasText: 'utslag.png' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'utslag.png');
    assert.deepEqual(await readFile(await download.path()), png, 'the clinician gets the patient\'s bytes');

    // She replies with a PDF.
    const pdf = makePdf('egenvård');
    await anna.page.locator('#reply-text').fill('Hej Elsa! Det ser ut som ett kontakteksem. Läs bifogade råd.');
    await anna.page.locator('#reply-files').setInputFiles([{ name: 'råd om eksem.pdf', mimeType: 'application/pdf', buffer: pdf }]);
    await anna.page.locator('#reply-send').click();
    await anna.page.locator('#status', { hasText: 'Ditt meddelande är skickat med en bifogad fil.' }).waitFor({ timeout: 10000 });
    const reply = anna.page.locator('#history li.msg').nth(1);
    assert.equal(await reply.locator('.msg-author').textContent(), 'Anna Läkarsson (vårdpersonal)');
    assert.equal(await reply.getAttribute('class'), 'msg msg-mine');
    assert.equal(await reply.locator('a[data-attachment-id]').textContent(), 'råd om eksem.pdf');
    assert.equal((await inboxEntry(anna.page, id)).unread, 0, 'her own reply is not unread for her');
    assert.equal((await patientEntry(elsa.page, id)).unread, 1, 'the patient\'s side has its own mark: the reply is unread there');

    // The clinician opening the conversation again moves only her own mark.
    await anna.page.reload();
    await portalReady(anna.page);
    assert.equal((await patientEntry(elsa.page, id)).unread, 1, 'still unread for the patient');

    // The patient sees the unread reply in the list, opens it, and the mark clears.
    await open(elsa.page, '/portal/messages.html');
    const listed = elsa.page.locator(`#conversations li[data-conversation-id="${id}"]`);
    assert.equal(await listed.getAttribute('data-unread'), '1');
    assert.match(await listed.textContent(), /1 oläst meddelande/);
    const elsaRead = elsa.page.waitForResponse((r) => r.url().endsWith(`/api/v1/conversations/${id}/read`) && r.request().method() === 'POST');
    await listed.locator('h3 a').click();
    await elsa.page.locator('#conversation-heading', { hasText: 'Utslag på armen' }).waitFor({ timeout: 10000 });
    const answer = elsa.page.locator('#history li.msg[data-author="staff"]');
    assert.equal(await answer.locator('.msg-author').textContent(), 'Anna Läkarsson (vårdpersonal)', 'the patient sees who answered');
    assert.equal(await answer.locator('.badge-new').textContent(), 'Nytt');
    assert.equal((await elsaRead).status(), 200);
    assert.deepEqual(JSON.parse((await elsaRead).request().postData()), { seq: 2 });
    assert.equal((await elsaRead).request().headers()['x-csrf-token']?.length > 0, true, 'with the CSRF token');
    assert.equal((await patientEntry(elsa.page, id)).unread, 0, 'read for the patient once opened');
    const [pdfDownload] = await Promise.all([
      elsa.page.waitForEvent('download'),
      answer.locator('a[data-attachment-id]').click(),
    ]);
    assert.equal(pdfDownload.suggestedFilename(), 'råd om eksem.pdf');
    assert.deepEqual(await readFile(await pdfDownload.path()), pdf, 'the patient gets the clinician\'s bytes');

    await elsa.page.locator('#back').click();
    await elsa.page.locator('#list-view:visible').waitFor({ timeout: 10000 });
    await listed.waitFor({ timeout: 10000 });
    assert.equal(await listed.getAttribute('data-unread'), '0');
    assert.equal(await listed.locator('.badge-unread').count(), 0, 'no unread mark left');
  }));

  test('refused files and texts are shown for what they are; the message stays and another file is attached to it', () => withLogs(dumps, async () => {
    const page = elsa.page;
    await open(page, `/portal/messages.html?conversation=${elsaConversation}`);
    await page.locator('#conversation-body:visible').waitFor({ timeout: 10000 });
    const before = (await apiCall(page, 'GET', `/api/v1/conversations/${elsaConversation}`)).body.messages.length;

    // An invisible bidirectional override in the text: refused on the field, nothing sent.
    await page.locator('#reply-text').fill('Tack!\u202e');
    await page.locator('#reply-send').click();
    await page.locator('#reply-text-error', { hasText: 'inga osynliga styrtecken' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#reply-text').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'reply-text');
    assert.equal((await apiCall(page, 'GET', `/api/v1/conversations/${elsaConversation}`)).body.messages.length, before, 'nothing was sent');

    // A PDF that says it is a PNG, a GIF, and a file over the server's limit.
    await page.locator('#reply-text').fill('Tack! Här är fler bilder.');
    await page.locator('#reply-files').setInputFiles([
      { name: 'arm.png', mimeType: 'image/png', buffer: makePdf('not a png') },
      { name: 'rörlig.gif', mimeType: 'image/gif', buffer: GIF },
      { name: 'stor.pdf', mimeType: 'application/pdf', buffer: makePdf('big', MAX_BYTES + 1) },
    ]);
    await page.locator('#reply-send').click();
    const refusals = page.locator('#files-error');
    await refusals.locator('li').nth(2).waitFor({ timeout: 15000 });
    assert.equal(await refusals.getAttribute('role'), 'alert');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'files-error', 'focus moves to what went wrong');
    const reasons = await refusals.locator('li').allTextContents();
    assert.match(reasons[0], /^arm\.png är inte en riktig PNG-fil/);
    assert.match(reasons[1], /^rörlig\.gif kan inte skickas: bara bilder i JPEG- eller PNG-format och PDF-filer/);
    assert.match(reasons[2], /^stor\.pdf är för stor för att skickas/);
    assert.match(await refusals.textContent(), /Meddelandet är skickat, men alla filer kom inte med/);
    let now = (await apiCall(page, 'GET', `/api/v1/conversations/${elsaConversation}`)).body;
    assert.equal(now.messages.length, before + 1, 'the message went');
    assert.deepEqual(now.messages.at(-1).attachments, [], 'no refused file was kept');

    // Another file, attached to that same message.
    assert.ok(await page.locator('#retry-form').isVisible(), 'the retry form is offered');
    assert.deepEqual(await axeViolations(page), [], 'the refusals and the retry form pass axe');
    const png = makePng(2, 2);
    await page.locator('#retry-files').setInputFiles([{ name: 'arm.png', mimeType: 'image/png', buffer: png }]);
    await page.locator('#retry-send').click();
    await page.locator('#status', { hasText: 'Filen är bifogad till ditt meddelande.' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#retry-form').isVisible(), false);
    assert.equal(await page.locator('#files-error').textContent(), '');
    now = (await apiCall(page, 'GET', `/api/v1/conversations/${elsaConversation}`)).body;
    assert.equal(now.messages.length, before + 1, 'no new message for the file');
    assert.deepEqual(now.messages.at(-1).attachments.map((a) => a.name), ['arm.png']);
    assert.equal(await page.locator(`#m-${now.messages.at(-1).id} a[data-attachment-id]`).textContent(), 'arm.png');

    // A care unit nobody works in: refused on the field, nothing started.
    await open(page, '/portal/messages.html');
    const count = (await apiCall(page, 'GET', '/api/v1/conversations')).body.length;
    await page.locator('#new-care-unit').fill('Vårdcentral Ingenstans');
    await page.locator('#new-subject').fill('Fråga');
    await page.locator('#new-text').fill('Hej');
    await page.locator('#new-send').click();
    await page.locator('#new-care-unit-error', { hasText: 'Det finns ingen vårdenhet med det namnet' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#new-care-unit').getAttribute('aria-invalid'), 'true');
    assert.equal((await apiCall(page, 'GET', '/api/v1/conversations')).body.length, count);
    // Empty fields are named before anything is sent.
    await page.locator('#new-subject').fill('');
    await page.locator('#new-send').click();
    await page.locator('#new-subject-error', { hasText: 'Skriv ett ämne.' }).waitFor({ timeout: 10000 });
  }));

  test('staff filter, assign to a colleague and to themselves, a refused colleague shown on the choice, close; the patient sees it closed and is offered a new one', () => withLogs(dumps, async () => {
    const johan = await person('johan');
    await loginPatient(johan.page, JOHAN.pnr);
    await open(johan.page, '/portal/messages.html');
    const id = await startConversation(johan.page, { unit: ANNA.unit, subject: 'Förnya recept', text: 'Kan jag få mitt recept förnyat?' });

    const page = anna.page;
    await open(page, '/portal/inbox.html');
    await page.locator('#filter-assigned').check();
    await page.locator('#filter-show').click();
    await page.locator('#status', { hasText: 'Inkorgen visar' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator(`#conversations li[data-conversation-id="${id}"]`).count(), 0, 'not assigned to her yet');
    await page.locator('#filter-assigned').uncheck();
    await page.locator('#filter-show').click();
    const item = page.locator(`#conversations li[data-conversation-id="${id}"]`);
    await item.waitFor({ timeout: 10000 });
    assert.match(await item.textContent(), /Tilldelad\s*ingen/);
    await item.locator('h3 a').click();
    await page.locator('#conversation-heading', { hasText: 'Förnya recept' }).waitFor({ timeout: 10000 });

    // The colleagues are the unit's other clinicians, by name.
    const colleague = page.locator('#assign-colleague');
    assert.deepEqual(await colleague.locator('option').allTextContents(), [KARIN.name]);

    // A colleague who has left the unit since the page was loaded: the server's refusal shows on
    // the choice (the request is changed on its way to name someone who is not a clinician here).
    await page.route('**/assign', (route) => route.continue({ postData: JSON.stringify({ staff_id: 'no-such-colleague' }) }));
    await page.locator('#assign-other').click();
    await page.locator('#assign-colleague-error', { hasText: 'arbetar inte längre som vårdpersonal på vårdenheten' }).waitFor({ timeout: 10000 });
    assert.equal(await colleague.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'assign-colleague');
    assert.equal((await inboxEntry(page, id)).assigned_to, null, 'nothing changed');
    await page.unroute('**/assign');

    await page.locator('#assign-other').click();
    await page.locator('#status', { hasText: `Konversationen är tilldelad ${KARIN.name}.` }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#assign-colleague-error').textContent(), '');
    assert.equal((await inboxEntry(page, id)).assigned_to?.name, KARIN.name);

    // Karin finds it among those assigned to her.
    const karin = await person('karin');
    await loginStaff(karin.page, KARIN.button);
    await karin.page.locator('#link-inbox').click();
    await karin.page.waitForURL((u) => u.pathname === '/portal/inbox.html');
    await portalReady(karin.page);
    await karin.page.locator('#filter-assigned').check();
    await karin.page.locator('#filter-show').click();
    await karin.page.locator('#status', { hasText: 'Inkorgen visar 1 konversation.' }).waitFor({ timeout: 10000 });
    assert.match(await karin.page.locator(`#conversations li[data-conversation-id="${id}"]`).textContent(), /Tilldelad\s*dig \(Karin Sköterskesson\)/);
    await karin.close();

    await page.locator('#assign-me').click();
    await page.locator('#status', { hasText: `Konversationen är tilldelad dig (${ANNA.name}).` }).waitFor({ timeout: 10000 });
    assert.equal((await inboxEntry(page, id)).assigned_to?.name, ANNA.name);
    assert.match(await page.locator('#conversation-facts').textContent(), /Tilldelad\s*dig \(Anna Läkarsson\)/);

    await page.locator('#close').click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'close-yes', 'focus on the confirmation');
    await page.locator('#close-yes').click();
    await page.locator('#status', { hasText: 'Konversationen är stängd.' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#reply-section').isVisible(), false, 'no reply to a closed conversation');
    assert.equal(await page.locator('#handle-section').isVisible(), false);
    assert.match(await page.locator('#conversation-facts').textContent(), /Stängd av\s*dig \(Anna Läkarsson\), \d+ \S+ \d{4} kl\. \d\d:\d\d/);
    const closed = await inboxEntry(page, id);
    assert.equal(closed.status, 'closed');
    assert.ok(closed.closed_at, 'closed_at recorded');

    await page.locator('#back').click();
    await page.locator('#list-view:visible').waitFor({ timeout: 10000 });
    assert.equal(await page.locator(`#conversations li[data-conversation-id="${id}"]`).count(), 0, 'gone from the open ones');
    await page.locator('#filter-status').selectOption('closed');
    await page.locator('#filter-show').click();
    await page.locator(`#conversations li[data-conversation-id="${id}"][data-status="closed"]`).waitFor({ timeout: 10000 });

    await open(johan.page, `/portal/messages.html?conversation=${id}`);
    await johan.page.locator('#closed-box:visible').waitFor({ timeout: 10000 });
    assert.match(await johan.page.locator('#closed-text').textContent(), /stängdes .* och tar inte emot fler meddelanden/);
    assert.equal(await johan.page.locator('#reply-section').isVisible(), false);
    const offer = johan.page.locator('#closed-new');
    assert.equal(await offer.textContent(), `Skriv ett nytt meddelande till ${ANNA.unit}`);
    await offer.click();
    await johan.page.locator('#list-view:visible').waitFor({ timeout: 10000 });
    assert.equal(await johan.page.locator('#new-care-unit').inputValue(), ANNA.unit, 'the new message goes to the same unit');
    assert.equal(await johan.page.evaluate(() => document.activeElement?.id), 'new-heading');
    await johan.close();
  }));

  test('a guardian acting for a child writes to the children\'s clinic; the clinician sees who wrote', () => withLogs(dumps, async () => {
    const guardian = await person('elsa-guardian');
    await loginPatient(guardian.page, ELSA.pnr);
    await open(guardian.page, '/portal/children.html');
    await guardian.page.locator(`#children button[data-personnummer="${MAJA.pnr}"]`).click();
    await guardian.page.waitForURL((u) => u.pathname === '/portal/index.html');
    await portalReady(guardian.page);

    await open(guardian.page, '/portal/messages.html');
    assert.equal(await guardian.page.locator('h1').textContent(), `Meddelanden för ${MAJA.name}`);
    assert.match(await guardian.page.locator('#acting-banner').textContent(), /Du agerar för Maja Testsson/);
    const id = await startConversation(guardian.page, {
      unit: ANNA.childUnit, subject: 'Majas öroninflammation', text: 'Maja har haft ont i örat i två dagar.',
    });
    assert.equal(await guardian.page.locator('#history li.msg .msg-author').textContent(), `${ELSA.name} (vårdnadshavare)`);
    const conversation = (await apiCall(guardian.page, 'GET', `/api/v1/conversations/${id}`)).body;
    assert.equal(conversation.started_by, 'guardian');
    assert.equal(conversation.messages[0].author.kind, 'guardian');

    // Elsa's own conversations do not hold the child's.
    await apiCall(guardian.page, 'PUT', '/api/v1/acting-as', { child: null });
    await open(guardian.page, '/portal/messages.html');
    assert.equal(await guardian.page.locator('h1').textContent(), 'Meddelanden');
    assert.equal(await guardian.page.locator(`#conversations li[data-conversation-id="${id}"]`).count(), 0);
    // ... and the child's conversation does not open as hers.
    await open(guardian.page, `/portal/messages.html?conversation=${id}`);
    await guardian.page.locator('#error', { hasText: 'Konversationen finns inte, eller så hör den inte till dig.' }).waitFor({ timeout: 10000 });
    assert.equal(await guardian.page.locator('#conversation-body').isVisible(), false, 'nothing of it is shown');
    assert.ok(await guardian.page.locator('#back').isVisible(), 'the way back to the list is there');

    const page = await anna.context.newPage();
    await setCareUnit(page, ANNA.childUnit);
    await open(page, `/portal/inbox.html?conversation=${id}`);
    await page.locator('#conversation-heading', { hasText: 'Majas öroninflammation' }).waitFor({ timeout: 10000 });
    const facts = await page.locator('#conversation-facts').textContent();
    assert.match(facts, /Maja Testsson, 20180101-2392/);
    assert.match(facts, /Skrivs av en vårdnadshavare/);
    assert.equal(await page.locator('#history li.msg .msg-author').textContent(), `${ELSA.name} (vårdnadshavare)`);
    await setCareUnit(page, ANNA.unit);
    await page.close();
  }));

  test('keyboard: a patient writes and a clinician answers with the keyboard alone', () => withLogs(dumps, async () => {
    const erik = await person('erik-keys');
    await loginPatient(erik.page, ERIK.pnr);
    await open(erik.page, '/portal/messages.html');
    await tabTo(erik.page, '#new-care-unit');
    await erik.page.keyboard.type(ANNA.unit);
    await tabTo(erik.page, '#new-subject');
    await erik.page.keyboard.type('Tangentbord');
    await tabTo(erik.page, '#new-text');
    await erik.page.keyboard.type('Skrivet utan mus.');
    await tabTo(erik.page, '#new-send');
    const outline = await erik.page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused button shows its focus');
    await erik.page.keyboard.press('Enter');
    await erik.page.locator('#conversation-heading', { hasText: 'Tangentbord' }).waitFor({ timeout: 10000 });
    const id = new URL(erik.page.url()).searchParams.get('conversation');

    const page = await anna.context.newPage();
    await open(page, '/portal/inbox.html');
    await tabTo(page, `#conversations li[data-conversation-id="${id}"] h3 a`);
    await page.keyboard.press('Enter');
    await page.locator('#conversation-heading', { hasText: 'Tangentbord' }).waitFor({ timeout: 10000 });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'conversation-heading');
    await tabTo(page, '#reply-text');
    await page.keyboard.type('Svar med tangentbordet.');
    await tabTo(page, '#reply-send');
    await page.keyboard.press('Enter');
    await page.locator('#status', { hasText: 'Ditt meddelande är skickat.' }).waitFor({ timeout: 10000 });
    await tabTo(page, '#assign-me');
    await page.keyboard.press('Enter');
    await page.locator('#status', { hasText: 'tilldelad' }).waitFor({ timeout: 10000 });
    await tabTo(page, '#close');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'close-yes');
    await page.keyboard.press('Enter');
    await page.locator('#status', { hasText: 'Konversationen är stängd.' }).waitFor({ timeout: 10000 });
    await page.close();
    await erik.close();
  }));

  test('the message pages: no axe violations in Swedish and English, no sideways scrolling on a phone', () => withLogs(dumps, async () => {
    const staffPage = await anna.context.newPage();
    const pages = [
      [elsa.page, '/portal/messages.html'],
      [elsa.page, `/portal/messages.html?conversation=${elsaConversation}`],
      [staffPage, '/portal/inbox.html'],
      [staffPage, `/portal/inbox.html?conversation=${elsaConversation}`],
    ];
    for (const lang of ['sv', 'en']) {
      for (const [page, p] of pages) {
        await page.setViewportSize({ width: 1024, height: 768 });
        await open(page, `${p}${p.includes('?') ? '&' : '?'}lang=${lang}`);
        assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
        assert.deepEqual(await axeViolations(page), [], `${p} (${lang}): no axe violation of any impact`);
        const shot = (width) => path.join(process.env.E2E_SCREENSHOTS, `${path.basename(p).replace(/\W.*$/, '')}${p.includes('conversation') ? '-conversation' : ''}-${lang}-${width}.png`);
        if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: shot(1024), fullPage: true });
        await page.setViewportSize({ width: 320, height: 640 });
        assert.equal(await overflowsHorizontally(page), false, `${p} (${lang}) fits 320 px`);
        if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: shot(320), fullPage: true });
      }
    }
    // English texts arrive on the dynamic parts too.
    await open(elsa.page, `/portal/messages.html?conversation=${elsaConversation}&lang=en`);
    assert.equal(await elsa.page.locator('#history li.msg[data-author="staff"] .msg-author').first().textContent(), 'Anna Läkarsson (care staff)');
    assert.match(await elsa.page.locator('#history time').first().textContent(), /^\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d$/);
    await staffPage.close();
  }));
});
