// How the portal's browser tests drive its pages: open a page and wait until it is ready, log a
// patient or a staff member in through the built-in test identity provider, and call the API
// with a browser profile's own session and CSRF token. One copy for every *.test.mjs that
// drives the portal (bookings, care, messages, notifications).

/**
 * The driver for a server whose base URL `base()` returns (read at each call: the server is
 * started in a `before` hook, after the test file has loaded).
 */
export function portalDriver(base) {
  const url = (p) => new URL(p, base()).href;

  async function portalReady(page) {
    await page.locator('html[data-portal="ready"]').waitFor({ state: 'attached', timeout: 15000 });
  }

  /** Opens a portal page and waits until it has loaded. */
  async function open(page, p) {
    await page.goto(url(p));
    await portalReady(page);
  }

  /** Logs a patient in through the login page, accepting the privacy policy if asked. */
  async function loginPatient(page, pnr) {
    await open(page, '/portal/login.html');
    await page.locator('#login-patient').click();
    await page.waitForURL((u) => u.pathname.startsWith('/dev-idp/patient/'), { timeout: 15000 });
    await page.locator(`button[name="subject"][value$="${pnr}"]`).click();
    await page.waitForURL((u) => u.pathname.startsWith('/portal/'), { timeout: 15000 });
    await page.locator('#profile:visible, #decision:visible').first().waitFor({ timeout: 15000 });
    if (await page.locator('#decision').isVisible().catch(() => false)) await page.locator('#accept').click();
    await page.locator('#profile').waitFor({ state: 'visible', timeout: 15000 });
  }

  /** Logs a staff member in by the name on their test-IdP button; lands on staff.html. */
  async function loginStaff(page, buttonText) {
    await open(page, '/portal/login.html');
    await page.locator('#login-staff').click();
    await page.waitForURL((u) => u.pathname.startsWith('/dev-idp/staff/'), { timeout: 15000 });
    await page.locator('button[name="subject"]', { hasText: buttonText }).click();
    await page.waitForURL((u) => u.pathname === '/portal/staff.html', { timeout: 15000 });
    await portalReady(page);
  }

  /** A call of the portal API with the browser profile's session (and its CSRF token). */
  async function apiCall(page, method, p, body) {
    const session = await (await page.request.get(url('/api/v1/session'))).json();
    const response = await page.request.fetch(url(p), {
      method,
      headers: { 'X-CSRF-Token': session.csrf_token, 'Content-Type': 'application/json' },
      data: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status(), body: text ? JSON.parse(text) : null };
  }

  return { url, portalReady, open, loginPatient, loginStaff, apiCall };
}
