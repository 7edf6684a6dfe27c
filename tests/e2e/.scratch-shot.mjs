import { launchPerson, serveWeb, waitForRemoteMedia, seriousAxeViolations, overflowsHorizontally } from './helpers.mjs';
const web = await serveWeb();
const mode = process.argv[2] ?? 'echo';
const width = Number(process.argv[3] ?? 1024);
const person = await launchPerson('a', { viewport: { width, height: 800 } });
try {
  await person.context.addInitScript((config) => { window.__fakeConfig = config; }, { mode });
  await person.context.addInitScript({ path: new URL('./fake-signalling.js', import.meta.url).pathname });
  await person.page.goto(`${web.url}call/visit-42?lang=${process.argv[4] ?? 'en'}#token=abc`);
  if (mode === 'echo') console.log(await waitForRemoteMedia(person.page, { timeout: 15000 }));
  else await person.page.waitForTimeout(1500);
  console.log('state', await person.page.evaluate(() => window.vardrum.state));
  console.log('overflow', await overflowsHorizontally(person.page));
  await person.page.waitForTimeout(500);
  await person.page.screenshot({ path: `/tmp/scratch/${mode.replace(':','_')}-${width}.png`, fullPage: true });
  console.log(JSON.stringify(await seriousAxeViolations(person.page), null, 1));
} finally {
  console.log(person.logs.join('\n'));
  await person.close();
  await web.close();
}
