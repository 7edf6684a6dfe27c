// policy.html: the region's privacy policy in force (GET /api/v1/policy), and, for a logged-in
// patient with a decision pending, the buttons to accept or decline it.

import { api } from './api.js';
import { $, errorText, leaveOnError, markReady, say, startPage } from './page.js';
import { formatDate, goTo, language, onLanguageChange, portalHref, t } from './i18n-portal.js';
import { renderMarkdown } from './markdown.js';

const ctx = await startPage({ titleKey: 'title_policy' });
if (ctx) {
  const { session } = ctx;
  const patient = session?.realm === 'patient' ? session : null;
  let policy = null;
  let policyError = null;
  /** The person's decision on the version in force: `accepted`, `declined` or null. */
  let decided = patient?.policy?.decision ?? null;
  let decisionError = null;

  async function load() {
    try {
      policy = await api('GET', `/api/v1/policy?lang=${encodeURIComponent(language())}`);
      policyError = null;
    } catch (error) {
      policy = null;
      policyError = error;
    }
  }

  function renderStatus() {
    const box = $('decision-status');
    box.replaceChildren();
    if (!patient || !decided) return;
    const p = document.createElement('p');
    p.textContent = t(decided === 'accepted' ? 'policy_accepted' : 'policy_declined');
    box.append(p);
    if (decided === 'declined') {
      const links = document.createElement('ul');
      links.className = 'link-list';
      for (const [href, key] of [['export.html', 'policy_to_export'], ['delete.html', 'policy_to_delete']]) {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = portalHref(href);
        a.textContent = t(key);
        li.append(a);
        links.append(li);
      }
      box.append(links);
    }
  }

  function render() {
    const back = $('back-link');
    // A declined significant version still waits for a decision: the person may change their mind.
    const required = Boolean(patient?.policy?.decision_required) && decided !== 'accepted';
    if (session?.realm === 'staff') {
      back.parentElement.hidden = true;
    } else if (patient) {
      back.parentElement.hidden = required;
      back.href = portalHref('index.html');
      back.textContent = t('back_to_profile');
    } else {
      back.parentElement.hidden = false;
      back.href = portalHref('login.html');
      back.textContent = t('policy_to_login');
    }
    $('decision').hidden = !required;
    say($('decision-error'), decisionError ? errorText(decisionError) : '');
    renderStatus();

    const article = $('policy-text');
    article.replaceChildren();
    if (policyError) {
      say($('page-error'), errorText(policyError));
      $('policy-meta').textContent = '';
      $('policy-language-note').hidden = true;
      return;
    }
    say($('page-error'), '');
    if (!policy) return;
    $('policy-meta').textContent = t('policy_meta', { version: policy.version, published: formatDate(policy.published) });
    $('policy-language-note').hidden = !policy.language || policy.language === language();
    article.lang = policy.language || language();
    article.append(renderMarkdown(policy.text));
  }

  async function decide(decision, button) {
    decisionError = null;
    for (const b of [$('accept'), $('decline')]) b.disabled = true;
    try {
      const version = patient.policy?.version ?? policy?.version;
      await api('POST', '/api/v1/policy/decision', { version, decision });
      decided = decision;
      if (decision === 'accepted') {
        goTo('index.html');
        return;
      }
      render();
      $('decision-status').querySelector('a')?.focus();
    } catch (error) {
      if (leaveOnError(error)) return;
      decisionError = error;
      render();
      button.focus();
    } finally {
      for (const b of [$('accept'), $('decline')]) b.disabled = false;
    }
  }

  $('accept').addEventListener('click', (event) => decide('accepted', event.currentTarget));
  $('decline').addEventListener('click', (event) => decide('declined', event.currentTarget));
  onLanguageChange(async () => {
    await load();
    render();
  });
  await load();
  render();
  markReady();
}
