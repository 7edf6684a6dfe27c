// Shared helpers of the browser tests: Debian chromium via playwright-core, a static server for web/, axe-core, media stats.

import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
export const webRoot = path.join(repoRoot, 'web');

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function tempDir(prefix) {
  return mkdtemp(path.join(os.tmpdir(), `vardrum-e2e-${prefix}-`));
}

/**
 * One browser profile = one person. Returns `{ context, page, logs, close() }`; `logs` collects
 * the page's console output and errors so a failing test can print them. `timezoneId` sets the
 * browser's time zone (e.g. to check that a page shows Stockholm times wherever the browser is).
 */
export async function launchPerson(label, { viewport = { width: 1024, height: 768 }, timezoneId } = {}) {
  const dir = await tempDir(`chromium-${label}`);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    ...(timezoneId ? { timezoneId } : {}),
    // axe-core is injected as an inline script; a strict server CSP must not block it.
    bypassCSP: true,
  });
  const logs = [];
  const page = context.pages()[0] ?? (await context.newPage());
  const listen = (p) => {
    p.on('console', (message) => logs.push(`[${label} console.${message.type()}] ${message.text()}`));
    p.on('pageerror', (error) => logs.push(`[${label} pageerror] ${error.stack || error}`));
  };
  listen(page);
  context.on('page', listen);
  return {
    label,
    context,
    page,
    logs,
    async close() {
      await context.close().catch(() => {});
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Serves web/ on 127.0.0.1 the way the vardrum server does (`/call/{room}` → call.html), for the
 * page tests that need no server. Resolves to `{ url, close() }`.
 */
export async function serveWeb() {
  const server = createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    let file;
    if (/^\/call\/[^/]+\/?$/.test(pathname)) file = 'call.html';
    else if (pathname === '/') file = 'index.html';
    else file = decodeURIComponent(pathname).replace(/^\/+/, '');
    const full = path.resolve(webRoot, file);
    try {
      if (!full.startsWith(webRoot + path.sep)) throw new Error('outside web/');
      if (!(await stat(full)).isFile()) throw new Error('not a file');
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(full)] ?? 'application/octet-stream' });
    createReadStream(full).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Runs axe-core on the page; returns every violation, of any impact, best practices included. */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  }
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

/** Runs axe-core on the page; returns the violations of impact `serious` or `critical`. */
export async function seriousAxeViolations(page) {
  return (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * Waits until the page's subscriber peer connection has decoded video frames and received audio.
 * `before` (from `inboundSnapshot`) asks for *new* media: some video stream must have decoded
 * more frames than it had then. `waitForFunction` does not await promises, so the predicate
 * starts `getStats()` in the background and judges the last finished report.
 */
export async function waitForRemoteMedia(page, { before = null, timeout = 30000 } = {}) {
  const handle = await page.waitForFunction((before) => {
    const pc = window.vardrum?.subscriber;
    const probe = (window.__e2eProbe ??= { pc: null, pending: false, inbound: null });
    if (!pc) return false;
    if (probe.pc !== pc) {
      probe.pc = pc;
      probe.inbound = null;
    }
    if (!probe.pending) {
      probe.pending = true;
      pc.getStats()
        .then((report) => {
          const inbound = [];
          report.forEach((s) => {
            if (s.type === 'inbound-rtp') {
              inbound.push({ id: s.id, kind: s.kind, framesDecoded: s.framesDecoded ?? 0, bytesReceived: s.bytesReceived ?? 0 });
            }
          });
          if (probe.pc === pc) probe.inbound = inbound;
        })
        .catch(() => {})
        .finally(() => { probe.pending = false; });
    }
    const inbound = probe.inbound;
    if (!inbound) return false;
    const video = inbound.filter((s) => s.kind === 'video' && s.framesDecoded > (before?.[s.id] ?? 0));
    const audio = inbound.filter((s) => s.kind === 'audio' && s.bytesReceived > 0);
    if (video.length === 0 || audio.length === 0) return false;
    return {
      framesDecoded: Math.max(...video.map((s) => s.framesDecoded)),
      audioBytesReceived: Math.max(...audio.map((s) => s.bytesReceived)),
    };
  }, before, { polling: 250, timeout });
  return handle.jsonValue();
}

/** `{ inboundRtpStatsId: framesDecoded }` of the page's subscriber video right now. */
export async function inboundSnapshot(page) {
  return page.evaluate(async () => {
    const snapshot = {};
    const pc = window.vardrum?.subscriber;
    if (!pc) return snapshot;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') snapshot[s.id] = s.framesDecoded ?? 0;
    });
    return snapshot;
  });
}

/** Whether the page is wider than its viewport (content would need sideways scrolling). */
export async function overflowsHorizontally(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
}

/**
 * Spawns a process and returns `{ child, stderr(), lines }`: `lines` is an async iterator over
 * stdout lines. stderr is kept in memory, for printing when a test fails.
 */
export function spawnWithLines(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stderr.length > 4_000_000) stderr = stderr.slice(-2_000_000);
  });
  const lines = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
  return { child, lines, stderr: () => stderr };
}

/** Runs a command to completion; resolves to its stdout, rejects with stderr on failure. */
export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}\n${stderr}`));
    });
  });
}

/** Stops a child process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopProcess(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Runs `fn`; if it throws, prints `dumps()` (logs of the server and the browsers) first. */
export async function withLogs(dumps, fn) {
  try {
    return await fn();
  } catch (error) {
    for (const [name, text] of Object.entries(dumps())) {
      if (text) console.error(`\n----- ${name} -----\n${text}\n----- end of ${name} -----`);
    }
    throw error;
  }
}

/**
 * Starts `vardrum serve` on 127.0.0.1 (ports the OS picks) with its data in `dataDir`, and `args`
 * after the defaults. Returns the
 * `spawnWithLines` handle at once, so a caller can stop it and print its stderr even if it never
 * gets ready; `waitForReady` gives its address.
 */
export function startServer({ bin, dataDir, args = [] }) {
  return spawnWithLines(bin, [
    'serve', '--data-dir', dataDir, '--http', '127.0.0.1:0', '--media-udp', '127.0.0.1:0', ...args,
  ], { cwd: repoRoot, env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' } });
}

const READY = /^vardrum ready at (http:\/\/\S+)$/;

/**
 * Resolves to the URL of the `vardrum ready at URL` line a server (`startServer`) prints on stdout.
 * Every stdout line, before and after that one, is pushed onto `stdoutLines`.
 */
export function waitForReady(proc, stdoutLines = [], timeout = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vardrum serve printed no "vardrum ready at URL" line within ${timeout} ms`)), timeout);
    proc.child.once('error', (error) => { clearTimeout(timer); reject(error); });
    proc.child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`vardrum serve exited (${code ?? signal}) before it was ready`));
    });
    proc.lines.on('line', (line) => {
      stdoutLines.push(line);
      const match = line.match(READY);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
}

/**
 * Mints a join link for a new identity with `vardrum token` and resolves to it, pointed at
 * `baseUrl`; `kind` (`visit` or `group`) and `booking` are passed on when given. Throws unless
 * the link names `/call/{room}` and carries a JWT in its fragment.
 */
export async function mintLink({ bin, dataDir, room, name, role, baseUrl, kind, booking }) {
  const args = ['token', '--data-dir', dataDir, '--room', room, '--name', name, '--role', role];
  if (kind) args.push('--kind', kind);
  if (booking) args.push('--booking', booking);
  const stdout = await run(bin, args, { cwd: repoRoot });
  const last = stdout.split('\n').map((line) => line.trim()).filter(Boolean).at(-1);
  if (!last) throw new Error(`vardrum token printed nothing for ${name}`);
  const printed = new URL(last);
  if (printed.pathname !== `/call/${room}`) throw new Error(`the join link does not name the room ${room}: ${last}`);
  if (!/^#token=[\w-]+\.[\w-]+\.[\w-]+$/.test(printed.hash)) throw new Error(`the join link carries no JWT in the fragment: ${last}`);
  // The link names the running server already (the token command reads DATA_DIR/server.url) unless
  // a public URL is configured in the environment, which would win; so only path and fragment count.
  return new URL(printed.pathname + printed.search + printed.hash, baseUrl).href;
}

/**
 * A real PNG of `width` × `height` pixels of one RGB colour, made here (signature, IHDR, IDAT
 * with zlib, IEND, each chunk with its CRC), for tests that upload an image.
 */
export function makePng(width = 4, height = 3, [r, g, b] = [200, 60, 40]) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => [r, g, b]).flat())]);
  const pixels = zlib.deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', pixels),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
