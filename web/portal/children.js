// children.html: the guardian picks a child to act for (PUT /api/v1/acting-as), or goes back to
// acting as themselves.

import { api, ApiError, rememberSession } from './api.js';
import { $, errorText, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { formatPersonnummer, goTo, onLanguageChange, t } from './i18n-portal.js';

const ctx = await startPage({ titleKey: 'title_children', realm: 'patient', policyGate: true });
if (ctx) {
  const { session, region } = ctx;
  const age = region?.proxy_age_limit;
  let children = [];
  /** The last refusal: `{key}` for a known reason, `{error}` otherwise. */
  let problem = null;

  const showProblem = () => {
    if (!problem) return say($('child-error'), '');
    say($('child-error'), problem.key ? t(problem.key, { age: age ?? 13 }) : errorText(problem.error));
  };

  async function choose(child, button) {
    problem = null;
    showProblem();
    button.disabled = true;
    try {
      rememberSession(await api('PUT', '/api/v1/acting-as', { child }));
      goTo('index.html');
    } catch (error) {
      button.disabled = false;
      if (leaveOnError(error)) return;
      if (error instanceof ApiError && error.code === 'not_found') problem = { key: 'child_not_found' };
      else if (error instanceof ApiError && error.code === 'forbidden') problem = { key: 'child_forbidden' };
      else problem = { error };
      showProblem();
    }
  }

  function render() {
    $('intro').textContent = age ? t('children_intro', { age }) : t('children_intro_no_age');
    const acting = session.acting_as;
    $('self-box').hidden = !acting;
    if (acting) $('currently-acting').textContent = t('currently_acting', { name: fullName(acting) });
    const list = $('children');
    list.replaceChildren();
    for (const child of children) {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'button choice';
      button.dataset.personnummer = child.personnummer;
      const name = fullName(child);
      const label = document.createElement('span');
      label.textContent = t('act_for', { name });
      const number = document.createElement('span');
      number.className = 'choice-detail';
      number.textContent = formatPersonnummer(child.personnummer);
      button.append(label, number);
      if (acting?.personnummer === child.personnummer) button.setAttribute('aria-current', 'true');
      button.addEventListener('click', () => choose(child.personnummer, button));
      item.append(button);
      list.append(item);
    }
    list.hidden = children.length === 0;
    $('children-none').hidden = children.length !== 0;
    showProblem();
  }

  $('act-as-self').addEventListener('click', (event) => choose(null, event.currentTarget));
  onLanguageChange(render);
  try {
    const answer = await api('GET', '/api/v1/me/children');
    children = Array.isArray(answer) ? answer : [];
  } catch (error) {
    if (!leaveOnError(error)) problem = { error };
  }
  render();
  markReady();
}
