// End-to-end test of a booking's confirmation e-mail: a real SMTP server (tests/fixtures/smtp_sink.py,
// Debian's python3-aiosmtpd, on 127.0.0.1 port 0), a vardrum server whose config file points
// `[notifications.email]` at it with a one-second outbox worker, and headless chromium. The patient
// turns e-mail notices on in their profile (index.html) with an address of their own, books a
// digital slot on book.html, and the confirmation arrives at the sink: to that address, without
// health data (no care unit, no clinician) and without any join link, with an iCalendar file
// holding the visit's time. A patient who has not opted in gets nothing (their notice ends
// `skipped`, `not_opted_in`). Then patient and clinician press Join on their booking pages and see
// each other's video; and a clinician's reply in the inbox sends "you have a new message", without
// the message.
//
// Run: tests/e2e/run.sh tests/e2e/notifications.test.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, constants, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';

import {
  launchPerson, repoRoot, startServer, stopProcess, tempDir, waitForReady, waitForRemoteMedia, withLogs,
} from './helpers.mjs';
import { portalDriver } from './portal-driver.mjs';

const BIN = path.resolve(repoRoot, process.env.VARDRUM_BIN ?? 'target/debug/vardrum');
const PYTHON = '/usr/bin/python3';
const SINK = path.join(repoRoot, 'tests/fixtures/smtp_sink.py');
const MEDIA_TIMEOUT = 30000;
/** How long a mail may take: the worker runs every second here; generous for a loaded machine. */
const MAIL_TIMEOUT_MS = 30000;

// config/dev/population-register.json and config/dev/staff.json.
const ELSA = { pnr: '199006022397' };
const JOHAN = { pnr: '199908072391' };
const ANNA = { button: 'Anna Läkarsson', unit: 'Hälsocentral Testvik' };
/** The address Elsa types on her profile page (not the register's), so the test sees which is used. */
const ELSA_MAIL = 'elsa.notiser@example.org';
const FROM = '1177 direkt Västerbotten <no-reply@regionvasterbotten.se>';

let dataDir;
let mailDir;
let sink;
let sinkStderr = '';
let server;
const stdout = [];
let baseUrl;
const people = [];

const url = (p) => new URL(p, baseUrl).href;

function dumps() {
  const out = { 'vardrum stdout': stdout.join('\n'), 'vardrum stderr': server?.stderr() ?? '', 'smtp sink stderr': sinkStderr };
  for (const p of people) out[`${p.label} (browser console)`] = p.logs.join('\n');
  return out;
}

async function person(label, options) {
  const p = await launchPerson(label, options);
  people.push(p);
  return p;
}

/**
 * Starts the SMTP sink and resolves to its port (the first line it prints). Its stdin stays an
 * open pipe: the sink exits when it closes.
 */
function startSink(dir) {
  const child = spawn(PYTHON, [SINK, dir, path.join(dir, 'reply')], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { sinkStderr += chunk; });
  const port = new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => (/^\d+$/.test(line.trim()) ? resolve(Number(line.trim())) : reject(new Error(`smtp sink said ${line}`))));
    child.once('exit', (code) => reject(new Error(`smtp sink exited (${code}): ${sinkStderr}`)));
  });
  return { child, port };
}

/**
 * Waits (bounded) until the sink has written message `n` (`n.json`, written whole before the 250
 * reply) and resolves to it parsed. A poll of the directory: the sink tells nothing else.
 */
async function waitForMail(n, timeoutMs = MAIL_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  const file = path.join(mailDir, `${n}.json`);
  while (Date.now() < deadline) {
    if ((await readdir(mailDir)).includes(`${n}.json`)) return JSON.parse(await readFile(file, 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail ${n} at the SMTP sink within ${timeoutMs} ms (have: ${(await readdir(mailDir)).join(', ')})`);
}

function stockholmIn(minutes) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(Date.now() + minutes * 60000)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

function plusMinutes(local, minutes) {
  const date = new Date(`${local}:00Z`);
  return new Date(date.getTime() + minutes * 60000).toISOString().slice(0, 16);
}

/** Unix seconds as iCalendar UTC time (`20260316T090000Z`). */
const icsUtc = (unix) => new Date(unix * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

const { open, loginPatient, loginStaff, apiCall } = portalDriver(() => baseUrl);

async function publish(page, slot) {
  const staffId = (await (await page.request.get(url('/api/v1/session'))).json()).staff.id;
  const answer = await apiCall(page, 'POST', '/api/v1/staff/slots', { mode: 'single', clinicians: [staffId], ...slot });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

/** Books `slot` on book.html as the logged-in patient; resolves to the booking (from the API). */
async function bookOnPage(page, slot) {
  await open(page, '/portal/book.html');
  await page.locator('#care-unit').fill(ANNA.unit);
  await page.locator('#search-button').click();
  await page.locator(`#slots li[data-slot-id="${slot.id}"] [data-action="book"]`).click();
  await page.locator('#confirmation:visible').waitFor({ timeout: 10000 });
  const booking = (await apiCall(page, 'GET', '/api/v1/bookings')).body.find((b) => b.slot_id === slot.id);
  assert.ok(booking, 'the booking is there through the API');
  return booking;
}

before(async () => {
  await access(BIN, constants.X_OK).catch(() => {
    throw new Error(`no vardrum binary at ${BIN}: run \`cargo build\` first or set VARDRUM_BIN`);
  });
  await access(PYTHON, constants.X_OK);
  dataDir = await tempDir('notifications');
  mailDir = path.join(dataDir, 'mail');
  sink = startSink(mailDir);
  const port = await sink.port;
  // docs/operations.md, Notifications: the worker's pass every second, SMTP without TLS to the
  // sink on this machine (allowed in development mode).
  const config = path.join(dataDir, 'vardrum.toml');
  await writeFile(config, [
    '[notifications]',
    'poll_interval_secs = 1',
    '',
    '[notifications.email]',
    'host = "127.0.0.1"',
    `port = ${port}`,
    'tls = "none"',
    `from = "${FROM}"`,
    'timeout_secs = 10',
    '',
  ].join('\n'));
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
  if (sink) {
    sink.child.stdin.end();
    await stopProcess(sink.child);
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('notices by e-mail: a booking confirmation and a new message', { concurrency: false, timeout: 180000 }, () => {
  let anna;
  let elsa;
  let booking;

  test('the patient opts in to e-mail on the profile page, books a digital slot, and the confirmation arrives at the SMTP server with an .ics and no health data or join link', () => withLogs(dumps, async () => {
    anna = await person('anna');
    await loginStaff(anna.page, ANNA.button);
    // Inside the join window (10 minutes before the start) from the moment it exists.
    const starts = stockholmIn(3);
    const slot = await publish(anna.page, { kind: 'digital', starts, ends: plusMinutes(starts, 30) });

    elsa = await person('elsa');
    await loginPatient(elsa.page, ELSA.pnr);
    assert.equal(await elsa.page.locator('#notify_email').isChecked(), false, 'off until the patient turns it on');
    await elsa.page.locator('#email').fill(ELSA_MAIL);
    await elsa.page.locator('#notify_email').check();
    await elsa.page.locator('#save').click();
    await elsa.page.locator('#status', { hasText: 'Dina uppgifter är sparade.' }).waitFor({ timeout: 10000 });
    const me = (await apiCall(elsa.page, 'GET', '/api/v1/me')).body;
    assert.equal(me.email, ELSA_MAIL);
    assert.equal(me.settings.notify_email, true);

    booking = await bookOnPage(elsa.page, slot);
    assert.equal(booking.kind, 'digital');

    const mail = await waitForMail(1);
    assert.deepEqual(mail.rcpt_tos, [ELSA_MAIL], 'sent to the address on the profile');
    assert.match(mail.to, new RegExp(ELSA_MAIL.replace(/\./g, '\\.')));
    assert.equal(mail.from, FROM);
    assert.equal(mail.subject, '1177 direkt Västerbotten: Bokningsbekräftelse');
    assert.match(mail.text, new RegExp(`^Din tid är bokad: .*kl\\. ${booking.starts.time}\\. Logga in i 1177 direkt Västerbotten för att se bokningen\\.`));

    // No health data (where, with whom) and nothing that lets anyone into the visit.
    const ics = mail.attachments.find((a) => a.filename === 'bokning.ics');
    assert.ok(ics, `an .ics is attached (${mail.attachments.map((a) => a.filename)})`);
    assert.equal(mail.attachments.length, 1, 'nothing else is attached');
    assert.match(ics.content_type, /^text\/calendar/);
    for (const [what, text] of [['subject', mail.subject], ['text', mail.text], ['ics', ics.content]]) {
      for (const secret of [ANNA.unit, 'Testvik', 'Anna', 'Läkarsson', booking.room, '/call/', 'token', 'http://', 'https://']) {
        assert.ok(!text.includes(secret), `the ${what} does not hold ${secret}`);
      }
      assert.doesNotMatch(text, /[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}/, `no JWT in the ${what}`);
    }
    const lines = ics.content.replace(/\r\n[ \t]/g, '').split(/\r\n/);
    assert.ok(lines.includes('BEGIN:VCALENDAR') && lines.includes('BEGIN:VEVENT'), ics.content);
    assert.ok(lines.includes(`DTSTART:${icsUtc(booking.starts_at)}`), `DTSTART is the visit's start (${icsUtc(booking.starts_at)}): ${ics.content}`);
    assert.ok(lines.includes(`DTEND:${icsUtc(booking.ends_at)}`), `DTEND is the visit's end: ${ics.content}`);
    assert.ok(lines.includes('SUMMARY:Videobesök'), ics.content);
    // The booking's id names the calendar entry (so a move or cancel updates it); on its own it
    // opens nothing: Join mints a token for a logged-in participant only.
    assert.ok(lines.includes(`UID:${booking.id}@vardrum`), ics.content);
    assert.match(mail.message_id, /^<[^@\s]+@regionvasterbotten\.se>$/, 'the notice id is the Message-ID');

    // Someone who has not opted in gets no mail: their notice ends skipped, not_opted_in.
    const johan = await person('johan');
    await loginPatient(johan.page, JOHAN.pnr);
    const another = stockholmIn(4 * 60);
    const johanSlot = await publish(anna.page, { kind: 'digital', starts: another, ends: plusMinutes(another, 20) });
    const johanBooking = await bookOnPage(johan.page, johanSlot);
    const deadline = Date.now() + MAIL_TIMEOUT_MS;
    let notice;
    while (Date.now() < deadline) {
      const exported = (await apiCall(johan.page, 'GET', '/api/v1/me/export')).body;
      notice = (exported.notifications ?? []).find((n) => n.channel === 'email' && n.kind === 'booking_confirmed' && n.booking_id === johanBooking.id);
      if (notice && notice.state !== 'pending') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(notice, 'the notice is in Johan\'s export');
    assert.equal(notice.state, 'skipped');
    assert.equal(notice.reason, 'not_opted_in');
    assert.deepEqual((await readdir(mailDir)).filter((f) => f.endsWith('.json')), ['1.json'], 'only Elsa\'s mail arrived');
    await johan.close();
  }));

  test('at visit time patient and clinician press Join on their booking pages and see each other', () => withLogs(dumps, async () => {
    assert.ok(booking, 'the booking of the test before');
    await open(elsa.page, '/portal/bookings.html');
    await elsa.page.locator(`#upcoming li[data-booking-id="${booking.id}"] [data-action="join"]`).click();
    await elsa.page.waitForURL((u) => u.pathname === `/call/${booking.room}`, { timeout: 15000 });

    await open(anna.page, '/portal/calendar.html');
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
  }));

  test('a clinician\'s reply in the inbox sends "a new message" by e-mail, without the message', () => withLogs(dumps, async () => {
    const patientTab = await elsa.context.newPage();
    await open(patientTab, '/portal/messages.html');
    const started = await apiCall(patientTab, 'POST', '/api/v1/conversations', {
      care_unit: ANNA.unit, subject: 'Halsont sedan en vecka', text: 'Har jag fått svar på odlingen?',
    });
    assert.equal(started.status, 201, JSON.stringify(started.body));

    const staffTab = await anna.context.newPage();
    await open(staffTab, `/portal/inbox.html?conversation=${started.body.id}`);
    await staffTab.locator('#reply-text').fill('Odlingen visade streptokocker. Hämta ut penicillin på apoteket.');
    await staffTab.locator('#reply-send').click();
    await staffTab.locator('#status', { hasText: 'Ditt meddelande är skickat.' }).waitFor({ timeout: 10000 });

    const mail = await waitForMail(2);
    assert.deepEqual(mail.rcpt_tos, [ELSA_MAIL]);
    assert.equal(mail.subject, '1177 direkt Västerbotten: Nytt meddelande');
    assert.match(mail.text, /^Du har ett nytt meddelande i 1177 direkt Västerbotten\./);
    assert.deepEqual(mail.attachments, [], 'no calendar file and nothing else');
    for (const secret of ['streptokocker', 'penicillin', 'Halsont', 'odling', ANNA.unit, 'Anna', 'Läkarsson', started.body.id, 'http']) {
      assert.ok(!`${mail.subject}\n${mail.text}`.toLowerCase().includes(secret.toLowerCase()), `the mail does not hold ${secret}`);
    }
    await staffTab.close();
    await patientTab.close();
  }));
});
