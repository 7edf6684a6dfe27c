// What every portal page shares: texts and the language switch, the region's service name, the
// session (or the way to the login page), the log-out button and the "acting for" banner.

import { api, ApiError, getRegion, getSession, logout, rememberSession } from './api.js';
import {
  adoptAccountLanguage, goTo, language, onLanguageChange, setTitleKey, setUpLanguageSwitch, t, translatePage,
} from './i18n-portal.js';

export const $ = (id) => document.getElementById(id);

export const fullName = (person) => [person?.given_name, person?.family_name].filter(Boolean).join(' ');

/** Shows `text` in a message element (role=alert or role=status); empty text clears it. */
export function say(element, text) {
  if (!element) return;
  element.textContent = text ?? '';
}

/** The words for an ApiError (or anything thrown) that no page-specific text covers. */
export function errorText(error) {
  if (!(error instanceof ApiError)) return t('error_generic');
  if (error.userMessage) return error.userMessage[language()] ?? error.userMessage.sv ?? t('error_generic');
  switch (error.code) {
    case 'network': return t('error_network');
    case 'unavailable': return t('error_unavailable');
    case 'csrf': return t('error_csrf');
    case 'forbidden': return t('error_forbidden');
    case 'not_logged_in': return t('error_not_logged_in');
    default: return error.status >= 500 ? t('error_unavailable') : t('error_generic');
  }
}

/**
 * Handles the errors that mean "this page cannot go on": an ended session sends the person to
 * the login page, a pending policy decision to the policy page. True when it navigated away.
 */
export function leaveOnError(error) {
  if (!(error instanceof ApiError)) return false;
  if (error.status === 401) {
    goTo('login.html', { replace: true });
    return true;
  }
  if (error.code === 'policy_decision_required') {
    goTo('policy.html', { replace: true });
    return true;
  }
  return false;
}

/** Marks the page as done loading (tests and styles look at `html[data-portal]`). */
export function markReady(state = 'ready') {
  document.documentElement.dataset.portal = state;
}

function showServiceName(region) {
  const el = $('service-name');
  if (el && region?.service_name) el.textContent = region.service_name;
}

function setUpLogout() {
  const button = $('logout');
  if (!button) return;
  button.hidden = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await logout();
      goTo('login.html', { replace: true });
    } catch (error) {
      button.disabled = false;
      say($('page-error'), errorText(error));
    }
  });
}

function setUpActingBanner(session) {
  const banner = $('acting-banner');
  if (!banner) return;
  const child = session.acting_as;
  if (!child) {
    banner.hidden = true;
    return;
  }
  const name = fullName(child);
  const render = () => {
    $('acting-title').textContent = t('acting_for', { name });
    $('acting-hint').textContent = t('acting_for_hint', { name });
    $('stop-acting').textContent = t('stop_acting', { name });
  };
  render();
  onLanguageChange(render);
  banner.hidden = false;
  const stop = $('stop-acting');
  stop.addEventListener('click', async () => {
    stop.disabled = true;
    try {
      rememberSession(await api('PUT', '/api/v1/acting-as', { child: null }));
      goTo('index.html');
    } catch (error) {
      stop.disabled = false;
      if (!leaveOnError(error)) say($('page-error'), errorText(error));
    }
  });
}

/**
 * Sets up a page. `realm` is the session the page needs (`patient`, `staff`, or null for public
 * pages, which still get the session when there is one, unless `withSession` is false). `policyGate` sends a patient with a
 * pending policy decision to policy.html. Patient pages also get the person's account (`me`,
 * null when it could not be read), whose language setting becomes the page language unless the
 * address chose one.
 *
 * Resolves to `{ region, session, me, meError }`, or null when the page navigated away or cannot
 * go on (the reason is then shown in #page-error).
 */
export async function startPage({ titleKey, realm = null, policyGate = false, withSession = true } = {}) {
  setTitleKey(titleKey);
  translatePage();
  const languageButton = $('language');
  if (languageButton) setUpLanguageSwitch(languageButton);

  const regionPromise = getRegion().then((region) => {
    showServiceName(region);
    return region;
  }, () => null);

  let session = null;
  try {
    if (withSession || realm) session = await getSession();
  } catch (error) {
    // Public pages go on without a session; the others need one.
    if (realm) {
      if (error instanceof ApiError && error.status === 401) {
        goTo('login.html', { replace: true });
      } else {
        say($('page-error'), errorText(error));
        markReady('error');
      }
      return null;
    }
  }

  if (realm && session.realm !== realm) {
    goTo(session.realm === 'staff' ? 'staff.html' : 'index.html', { replace: true });
    return null;
  }
  if (session) setUpLogout();

  let me = null;
  let meError = null;
  if (session?.realm === 'patient') {
    if (policyGate && session.policy?.decision_required) {
      goTo('policy.html', { replace: true });
      return null;
    }
    setUpActingBanner(session);
    if (realm === 'patient' && !session.policy?.decision_required) {
      try {
        me = await api('GET', '/api/v1/me');
        // A guardian acting for a child keeps their own language, not the child's setting.
        if (!session.acting_as) adoptAccountLanguage(me?.settings?.language);
      } catch (error) {
        if (leaveOnError(error)) return null;
        meError = error;
      }
    }
  }

  const region = await regionPromise;
  return { region, session, me, meError };
}
