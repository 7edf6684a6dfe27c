// index.html, "Min profil": the person's account (or the child's, while a guardian acts for one)
// and the form that changes it (PUT /api/v1/me).

import { api, ApiError } from './api.js';
import { $, errorText, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { formatPersonnummer, language, onLanguageChange, setLanguage, t } from './i18n-portal.js';

/** The form's inputs by the API's field name (`error.field`). */
const FIELDS = {
  given_name: 'given_name',
  family_name: 'family_name',
  mobile: 'mobile',
  email: 'email',
  'settings.notify_sms': 'notify_sms',
  'settings.notify_email': 'notify_email',
  'settings.language': 'language-setting',
};

/** The text explaining a refused field, by input id. */
const FIELD_TEXTS = {
  given_name: 'field_given_name',
  family_name: 'field_family_name',
  mobile: 'field_mobile',
  email: 'field_email',
  notify_sms: 'field_notify_sms',
  notify_email: 'field_notify_email',
  'language-setting': 'field_language',
};

const form = $('profile');
const saveButton = $('save');

/** What the messages say, kept as text keys (or errors) so a language switch can redraw them. */
const shown = { status: null, formError: null, fieldErrors: new Map() };

function render(session) {
  const acting = session.acting_as;
  $('profile-heading').textContent = acting
    ? t('profile_heading_for', { name: fullName(acting) })
    : t('profile_heading');
  $('who').textContent = session.person ? t('logged_in_as', { name: fullName(session.person) }) : '';
  $('link-delete').parentElement.hidden = Boolean(acting);
  say($('status'), shown.status ? t(shown.status) : '');
  say($('form-error'), shown.formError === null ? '' : typeof shown.formError === 'string' ? t(shown.formError) : errorText(shown.formError));
  for (const id of Object.values(FIELDS)) {
    const key = shown.fieldErrors.get(id);
    const input = $(id);
    say($(`${id}-error`), key ? t(key) : '');
    if (key) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

function fill(account) {
  $('personnummer').textContent = formatPersonnummer(account.personnummer);
  $('given_name').value = account.given_name ?? '';
  $('family_name').value = account.family_name ?? '';
  $('mobile').value = account.mobile ?? '';
  $('email').value = account.email ?? '';
  $('notify_sms').checked = Boolean(account.settings?.notify_sms);
  $('notify_email').checked = Boolean(account.settings?.notify_email);
  $('language-setting').value = account.settings?.language === 'en' ? 'en' : 'sv';
}

function formBody() {
  const text = (id) => $(id).value.trim();
  return {
    given_name: text('given_name'),
    family_name: text('family_name'),
    mobile: text('mobile') || null,
    email: text('email') || null,
    settings: {
      notify_sms: $('notify_sms').checked,
      notify_email: $('notify_email').checked,
      language: $('language-setting').value,
    },
  };
}

const ctx = await startPage({ titleKey: 'title_profile', realm: 'patient', policyGate: true });
if (ctx) {
  const { session } = ctx;
  let account = ctx.me;
  const redraw = () => render(session);
  onLanguageChange(redraw);
  if (account) {
    fill(account);
    form.hidden = false;
  } else {
    shown.formError = ctx.meError ?? new ApiError(500, {});
  }
  redraw();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    shown.status = null;
    shown.formError = null;
    shown.fieldErrors.clear();
    redraw();
    saveButton.disabled = true;
    saveButton.textContent = t('saving');
    try {
      const before = account?.settings?.language;
      account = await api('PUT', '/api/v1/me', formBody());
      fill(account);
      shown.status = 'saved';
      if (account.settings?.language && account.settings.language !== before && account.settings.language !== language()) {
        setLanguage(account.settings.language);
      }
    } catch (error) {
      if (leaveOnError(error)) return;
      const id = error instanceof ApiError && error.field ? FIELDS[error.field] : undefined;
      if (id && ['invalid_field', 'missing_field', 'invalid_type'].includes(error.code)) {
        shown.fieldErrors.set(id, FIELD_TEXTS[id] ?? 'field_invalid');
        shown.formError = 'form_has_errors';
        redraw();
        $(id).focus();
      } else {
        shown.formError = error;
      }
    } finally {
      saveButton.disabled = false;
      saveButton.textContent = t('save');
      redraw();
    }
  });
  markReady();
}
