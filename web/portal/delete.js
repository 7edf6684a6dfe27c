// delete.html: deleting the logged-in person's own account (DELETE /api/v1/me) after an explicit
// confirmation. The PDL access log stays (five years, by law); the page says so before.

import { api, ApiError } from './api.js';
import { $, errorText, leaveOnError, markReady, say, startPage } from './page.js';
import { onLanguageChange, t } from './i18n-portal.js';

// Deletion never waits for a policy decision, so this page has no policy gate.
const ctx = await startPage({ titleKey: 'title_delete', realm: 'patient' });
if (ctx) {
  const { session } = ctx;
  const form = $('delete-form');
  const confirm = $('confirm');
  const button = $('delete');
  let problem = session.acting_as ? 'delete_acting' : null;
  let confirmMissing = false;

  function render() {
    say($('delete-error'), problem === null ? '' : typeof problem === 'string' ? t(problem) : errorText(problem));
    say($('confirm-error'), confirmMissing ? t('delete_confirm_missing') : '');
    if (confirmMissing) confirm.setAttribute('aria-invalid', 'true');
    else confirm.removeAttribute('aria-invalid');
  }

  form.hidden = Boolean(session.acting_as);
  confirm.addEventListener('change', () => {
    if (confirm.checked && confirmMissing) {
      confirmMissing = false;
      render();
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem = null;
    confirmMissing = !confirm.checked;
    render();
    if (confirmMissing) {
      confirm.focus();
      return;
    }
    button.disabled = true;
    button.textContent = t('deleting');
    try {
      await api('DELETE', '/api/v1/me');
      $('before').hidden = true;
      $('logout').hidden = true;
      $('acting-banner').hidden = true;
      $('after').hidden = false;
      $('deleted-heading').focus();
      markReady('deleted');
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = error instanceof ApiError && error.code === 'forbidden' && session.acting_as ? 'delete_acting' : error;
      render();
    } finally {
      button.disabled = false;
      button.textContent = t('delete_button');
    }
  });
  onLanguageChange(render);
  render();
  markReady();
}
