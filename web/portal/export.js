// export.html: the download of everything held about the person (GET /api/v1/me/export, a JSON
// attachment) and the access log (GET /api/v1/me/access-log) as a table, where an emergency
// access (staff without a care relationship, `emergency_access: true`) is marked in words.

import { api, ApiError } from './api.js';
import { $, errorText, leaveOnError, markReady, say, startPage } from './page.js';
import { formatTime, onLanguageChange, t } from './i18n-portal.js';

const ACTIONS = new Set(['read', 'create', 'update', 'delete', 'export']);

// Export and deletion never wait for a policy decision, so this page has no policy gate.
const ctx = await startPage({ titleKey: 'title_export', realm: 'patient' });
if (ctx) {
  let entries = null;
  let problem = null;

  function render() {
    const rows = $('log-rows');
    rows.replaceChildren();
    const table = $('log-table');
    if (problem) {
      table.hidden = true;
      $('log-emergency-note').hidden = true;
      say($('log-status'), '');
      say($('log-error'), problem === 'policy' ? t('access_log_unavailable') : errorText(problem));
      return;
    }
    say($('log-error'), '');
    if (entries === null) return;
    for (const entry of entries) {
      const row = document.createElement('tr');
      const time = document.createElement('time');
      time.dateTime = new Date(entry.at * 1000).toISOString();
      time.textContent = formatTime(entry.at);
      const what = document.createDocumentFragment();
      what.append(ACTIONS.has(entry.action) ? t(`action_${entry.action}`) : String(entry.action ?? ''));
      if (entry.emergency_access === true) {
        row.dataset.emergency = 'true';
        const badge = document.createElement('strong');
        badge.className = 'badge-emergency';
        badge.textContent = t('access_log_emergency');
        what.append(' ', badge);
      }
      const cells = [time, entry.care_unit ?? '', what];
      for (const content of cells) {
        const cell = document.createElement('td');
        cell.append(content);
        row.append(cell);
      }
      rows.append(row);
    }
    table.hidden = entries.length === 0;
    $('log-emergency-note').hidden = !entries.some((entry) => entry.emergency_access === true);
    say($('log-status'), entries.length === 0 ? t('access_log_none') : '');
  }

  onLanguageChange(render);
  try {
    const answer = await api('GET', '/api/v1/me/access-log');
    entries = Array.isArray(answer) ? answer : [];
  } catch (error) {
    // A pending policy decision does not send the person away from here: the download works.
    if (error instanceof ApiError && error.code === 'policy_decision_required') problem = 'policy';
    else if (!leaveOnError(error)) problem = error;
  }
  render();
  if (location.hash === '#access-log') $('access-log').focus();
  markReady();
}
