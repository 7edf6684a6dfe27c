// login.html: the two ways in (e-legitimation for patients, the hospital IdP for staff), and
// why the last login failed (`?error=CODE`, set by the login callback).

import { $, markReady, startPage } from './page.js';
import { language, onLanguageChange, t } from './i18n-portal.js';

// The codes of docs/portal-api.md, and `unavailable` (identity provider or register unreachable).
const KNOWN_ERRORS = new Set(['protected_identity', 'not_in_register', 'not_staff', 'login_failed', 'unavailable']);

const ctx = await startPage({ titleKey: 'title_login', withSession: false });
const region = ctx?.region ?? null;
const code = new URLSearchParams(location.search).get('error');

function render() {
  $('region-name').textContent = region?.region_name ?? '';
  if (!code) return;
  const box = $('login-error');
  box.replaceChildren();
  const heading = document.createElement('p');
  heading.className = 'message-title';
  heading.textContent = t('login_error_heading');
  const text = document.createElement('p');
  const known = KNOWN_ERRORS.has(code) ? code : 'login_failed';
  const regionText = region?.texts?.protected_identity_refused;
  text.textContent = known === 'protected_identity' && regionText
    ? (regionText[language()] ?? regionText.sv)
    : t(`login_error_${known}`);
  box.append(heading, text);
}

render();
onLanguageChange(render);
markReady();
