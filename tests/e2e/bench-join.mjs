// Benchmark (not a test: it asserts nothing about time) of the join time of a video visit: from the moment the call page creates its signalling WebSocket to the first decoded remote video frame, on loopback.
//
// One participant A stays in a room publishing chromium's fake camera and microphone; a second
// participant B joins N times (a fresh tab and a fresh identity each time, leaving with the Leave
// button afterwards). Per join it records
//   - B's view: B's WebSocket creation -> B decodes A's first frame (one page, performance.now());
//   - A's view: B's WebSocket creation -> A decodes B's first frame (two pages on the same
//     machine: both marks converted to Date.now() wall-clock time).
// The marks come from `window.vardrum.timing` (web/callpage/test-hooks.js). One warm-up join runs first and is
// not counted.
//
// Usage: node bench-join.mjs [--joins N] [--write-docs]
//   --write-docs  rewrites the section between <!-- join-bench:start --> and <!-- join-bench:end -->
//                 in docs/benchmarks.md (creating the file if missing).
// Env:   VARDRUM_BIN  server binary (default: target/release/vardrum if it exists, else target/debug/vardrum)
//        CHROMIUM     browser (default: /usr/bin/chromium)
//        VARDRUM_BENCH_VERBOSE=1  print the server's log and the browsers' consoles at the end
// Run it through tests/e2e/bench.sh, which builds the release binary and runs this inside a
// loopback-only network namespace. Outside such a namespace it refuses to run unless
// VARDRUM_BENCH_ANY_NETWORK=1 (everything still goes to 127.0.0.1 only).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, constants, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import {
  CHROMIUM, launchPerson, mintLink, repoRoot, startServer, stopProcess, tempDir, waitForReady, withLogs,
} from './helpers.mjs';

const ROOM = 'bench-join';
const JOIN_TIMEOUT = 30000;
const DOC = path.join(repoRoot, 'docs', 'benchmarks.md');
const START = '<!-- join-bench:start -->';
const END = '<!-- join-bench:end -->';

// ---------------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2);
const writeDocs = argv.includes('--write-docs');
const joinsArg = argv.indexOf('--joins');
const JOINS = joinsArg >= 0 ? Number(argv[joinsArg + 1]) : 20;
if (!Number.isInteger(JOINS) || JOINS < 1) {
  console.error('bench-join.mjs: --joins needs a positive integer');
  process.exit(2);
}
for (const [i, arg] of argv.entries()) {
  if (arg !== '--write-docs' && arg !== '--joins' && argv[i - 1] !== '--joins') {
    console.error(`bench-join.mjs: unknown argument ${arg}\nusage: node bench-join.mjs [--joins N] [--write-docs]`);
    process.exit(2);
  }
}

function defaultBin() {
  const release = path.join(repoRoot, 'target/release/vardrum');
  return existsSync(release) ? release : path.join(repoRoot, 'target/debug/vardrum');
}
const BIN = path.resolve(process.env.VARDRUM_BIN || defaultBin());
const PROFILE = path.basename(path.dirname(BIN)); // target/<profile>/vardrum

// Only loopback: in bench.sh's namespace `lo` is the only interface.
const outside = Object.entries(os.networkInterfaces())
  .filter(([, addresses]) => addresses.some((a) => !a.internal))
  .map(([name]) => name);
if (outside.length > 0 && process.env.VARDRUM_BENCH_ANY_NETWORK !== '1') {
  console.error(`bench-join.mjs: this machine has non-loopback interfaces (${outside.join(', ')}); run tests/e2e/bench.sh, `
    + 'which uses a loopback-only network namespace (or set VARDRUM_BENCH_ANY_NETWORK=1)');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Server and links

let dataDir;
let server;
let baseUrl;
const serverStdout = [];
let personA;
let personB;

function dumps() {
  return {
    'vardrum stdout': serverStdout.join('\n'),
    'vardrum stderr': server?.stderr() ?? '',
    'A (browser console)': personA?.logs.join('\n') ?? '',
    'B (browser console)': personB?.logs.join('\n') ?? '',
  };
}

/** A join link for a new identity in ROOM, pointed at the running server. */
const mint = (name, role) => mintLink({ bin: BIN, dataDir, room: ROOM, name, role, baseUrl });

// ---------------------------------------------------------------------------------------------
// Measuring

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until A's publisher has sent video frames, so B joins a room with live media. */
async function waitUntilPublishing(page) {
  const deadline = Date.now() + JOIN_TIMEOUT;
  while (Date.now() < deadline) {
    const frames = await page.evaluate(async () => {
      const pc = window.vardrum?.publisher;
      if (!pc || pc.connectionState !== 'connected') return 0;
      let sent = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') sent += s.framesEncoded ?? 0;
      });
      return sent;
    });
    if (frames > 0) return;
    await sleep(200);
  }
  throw new Error(`A sent no video within ${JOIN_TIMEOUT} ms`);
}

/** One join of B: a new identity in a new tab. Resolves to `{ b, a }` in milliseconds. */
async function joinOnce(index) {
  const link = await mint(`Bench B${index}`, 'patient');
  const page = await personB.context.newPage();
  let self = null;
  try {
    await page.goto(link);
    const seen = await page.waitForFunction(() => {
      const t = window.vardrum?.timing;
      const self = window.vardrum?.self;
      return t?.firstRemoteFrame != null && self ? { self: self.id, ...t } : false;
    }, null, { polling: 100, timeout: JOIN_TIMEOUT }).then((handle) => handle.jsonValue());
    self = seen.self;
    const frameAtA = await personA.page.waitForFunction(
      (id) => window.vardrum.timing.remoteFrames.find((f) => f.participant === id) ?? false,
      self, { polling: 100, timeout: JOIN_TIMEOUT },
    ).then((handle) => handle.jsonValue());
    return {
      b: seen.firstRemoteFrame - seen.wsOpenStart,
      a: frameAtA.wall - seen.wsOpenStartWall,
    };
  } finally {
    // Leave properly, so A gets participant_left now rather than after the reconnect grace.
    await page.locator('#leave').click({ timeout: 5000 }).catch(() => {});
    if (self) {
      await personA.page.waitForFunction(
        (id) => !window.vardrum.participants.some((p) => p.id === id), self, { polling: 100, timeout: 10000 },
      ).catch(() => console.error(`A still lists ${self} after B${index} left`));
    }
    await page.close();
    // Let A's renegotiation (the track removal) finish before the next join.
    await sleep(1000);
  }
}

/** Nearest-rank percentile of ascending `sorted`. */
const percentile = (sorted, p) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];

function summarize(values) {
  const sorted = [...values].sort((x, y) => x - y);
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), min: sorted[0], max: sorted.at(-1), sorted };
}

// ---------------------------------------------------------------------------------------------
// Machine description and docs

function tryRun(command, args) {
  try {
    return execFileSync(command, args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

async function machine(userAgent) {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1].trim() ?? os.cpus()[0]?.model ?? 'unknown CPU';
  const chromium = tryRun(CHROMIUM, ['--version'])?.split('\n').at(-1)
    ?? userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? 'unknown chromium';
  const commit = tryRun('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = tryRun('git', ['status', '--porcelain', '--untracked-files=no']);
  return {
    cores: tryRun('nproc', []) ?? String(os.availableParallelism()),
    model,
    chromium,
    commit: commit ? `${commit}${dirty ? ' with uncommitted changes' : ''}` : 'unknown',
    node: process.version,
  };
}

const ms = (x) => x.toFixed(0);

function printTable(rows, info) {
  const head = ['', 'n', 'p50', 'p95', 'min', 'max'];
  const body = rows.map(({ label, s }) => [label, String(s.n), ms(s.p50), ms(s.p95), ms(s.min), ms(s.max)]);
  const widths = head.map((_, i) => Math.max(head[i].length, ...body.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\njoin time, WebSocket created -> first decoded remote video frame, ms (${info.profile} build)`);
  console.log(line(head));
  for (const r of body) console.log(line(r));
  for (const { label, s } of rows) console.log(`\n${label}, sorted: ${s.sorted.map(ms).join(' ')}`);
  console.log(`\n${info.cores} cores, ${info.model}; ${info.chromium}; commit ${info.commit}; load average before: ${info.load}`);
}

function docSection(rows, info) {
  return [
    START,
    `Measured ${info.date} with \`tests/e2e/bench.sh\` (${info.joins} joins after one warm-up join), `
      + `**${info.profile}** build (\`${info.bin}\`), commit ${info.commit}.`,
    '',
    '| view | joins | p50 ms | p95 ms | min ms | max ms |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(({ doc, s }) => `| ${doc} | ${s.n} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.min)} | ${ms(s.max)} |`),
    '',
    'Every join, sorted (ms):',
    '',
    ...rows.map(({ doc, s }) => `- ${doc}: ${s.sorted.map(ms).join(', ')}`),
    '',
    `Machine: ${info.cores} cores (\`nproc\`), ${info.model} (\`/proc/cpuinfo\`), ${info.chromium}, `
      + `Node ${info.node}; 1-minute load average ${info.load} just before the run. `
      + `Both browsers, the server and the benchmark driver shared these ${info.cores} cores.`,
    END,
  ].join('\n');
}

const INTRO = `# Benchmarks

Numbers measured on one machine, to notice regressions and to have an order of magnitude; they are
not guarantees. Nothing here is a test: the benchmarks assert nothing about time.

## Join time

How long a person waits, once the call page has the camera and starts connecting, until they see
the other person, and how long the person already in the room waits until they see the newcomer.

- **What is measured**: from the moment the call page creates its signalling WebSocket
  (\`new WebSocket\`, after the page has loaded and got the fake camera and microphone) to the first
  decoded frame of the remote video (\`requestVideoFrameCallback\`'s \`presentationTime\` on the
  remote \`<video>\`; \`window.vardrum.timing\` in \`web/callpage/test-hooks.js\`).
- **How**: \`tests/e2e/bench.sh\` (\`tests/e2e/bench-join.mjs\`) starts \`vardrum serve\` on
  127.0.0.1 inside a loopback-only network namespace, keeps participant A (Debian's chromium,
  headless, fake camera) publishing in a room, and lets participant B join 20 times, each time in a
  fresh tab with a fresh identity, leaving with the Leave button afterwards. One warm-up join runs
  first and is not counted.
- **Views**: *B joins* is B's WebSocket to B's first frame of A (one page's clock): \`join\`,
  the server's subscriber offer and B's answer, ICE and DTLS of B's new subscriber connection, and
  A's keyframe on its way through the server. *A, already in the room* is B's WebSocket to A's
  first frame of B (two browsers on the same machine, compared by wall-clock time,
  \`Date.now()\`): B's publisher offer/answer, ICE and DTLS, then a renegotiation of A's existing
  subscriber connection (made during the warm-up join) and B's keyframe.
- **Percentiles** are nearest-rank: with 20 joins p50 is the 10th and p95 the 19th smallest.
- **Caveat**: both browsers (software VP8 encoding and decoding, no GPU), the server and the
  benchmark driver share the same few cores, so the numbers include CPU contention that a real
  visit, with each person on their own device, does not have. Compare runs on the same machine only.

`;

async function writeDoc(section) {
  let text = await readFile(DOC, 'utf8').catch((error) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (text === null) {
    text = `${INTRO}${section}\n`;
  } else {
    const start = text.indexOf(START);
    const end = text.indexOf(END);
    if (start >= 0 && end > start) text = text.slice(0, start) + section + text.slice(end + END.length);
    else text = `${text.replace(/\n*$/, '\n\n')}${section}\n`;
  }
  await writeFile(DOC, text);
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  try {
    await access(BIN, constants.X_OK);
  } catch {
    throw new Error(`no vardrum binary at ${BIN}: run \`cargo build --release\` first or set VARDRUM_BIN`);
  }
  const load = (await readFile('/proc/loadavg', 'utf8').catch(() => '?')).split(' ')[0];
  dataDir = await tempDir('bench-data');
  server = startServer({ bin: BIN, dataDir });
  try {
    await withLogs(dumps, async () => {
      baseUrl = await waitForReady(server, serverStdout);
      if (new URL(baseUrl).hostname !== '127.0.0.1') throw new Error(`the server is not on 127.0.0.1: ${baseUrl}`);
      console.log(`vardrum (${PROFILE}) at ${baseUrl}; A joins room ${ROOM}`);
      personA = await launchPerson('a');
      personB = await launchPerson('b');
      await personA.page.goto(await mint('Bench A', 'clinician'));
      await waitUntilPublishing(personA.page);

      const warmUp = await joinOnce(0);
      console.log(`warm-up: B ${ms(warmUp.b)} ms, A ${ms(warmUp.a)} ms (not counted)`);
      const samples = [];
      for (let i = 1; i <= JOINS; i += 1) {
        const sample = await joinOnce(i);
        samples.push(sample);
        console.log(`join ${String(i).padStart(2)}: B ${ms(sample.b).padStart(5)} ms, A ${ms(sample.a).padStart(5)} ms`);
      }

      const rows = [
        { label: 'B joins: own WebSocket -> first frame of A', doc: 'B joins: its WebSocket → its first frame of A', s: summarize(samples.map((x) => x.b)) },
        { label: "A in the room: B's WebSocket -> first frame of B", doc: 'A, already in the room: B\'s WebSocket → A\'s first frame of B', s: summarize(samples.map((x) => x.a)) },
      ];
      const userAgent = await personA.page.evaluate(() => navigator.userAgent);
      const info = {
        ...(await machine(userAgent)),
        profile: PROFILE,
        bin: path.relative(repoRoot, BIN) || BIN,
        joins: JOINS,
        load,
        date: new Date().toISOString().replace(/:\d\d\.\d+Z$/, ' UTC').replace('T', ' '),
      };
      printTable(rows, info);
      if (writeDocs) {
        await writeDoc(docSection(rows, info));
        console.log(`\nwrote ${path.relative(repoRoot, DOC)}`);
      }
    });
  } finally {
    if (process.env.VARDRUM_BENCH_VERBOSE) {
      for (const [name, text] of Object.entries(dumps())) console.error(`\n----- ${name} -----\n${text}`);
    }
    await personA?.close();
    await personB?.close();
    await stopProcess(server?.child);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
