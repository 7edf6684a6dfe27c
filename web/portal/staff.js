// staff.html: who is logged in, the active care unit (PUT /api/v1/staff/care-unit) and the patient
// lookup (POST /api/v1/staff/patients/lookup), which shows a protected-identity marker
// prominently. Every lookup is written to the PDL access log by the server.

import { api, ApiError, rememberSession } from './api.js';
import { $, errorText, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { formatPersonnummer, has, language, onLanguageChange, t } from './i18n-portal.js';

const ctx = await startPage({ titleKey: 'title_staff', realm: 'staff' });
if (ctx) {
  let session = ctx.session;
  /** The patient shown: `{account, protected_identity_marker}`, or null. */
  let shown = null;
  const messages = { unitStatus: null, unitError: null, lookupError: null, lookupStatus: null, personnummerError: null };
  let offerRegister = false;
  let lastQuery = null;

  const text = (value) => (value === null ? '' : typeof value === 'string' ? t(value, { unit: session.staff?.care_unit ?? '' }) : errorText(value));

  function renderPatient() {
    const section = $('patient');
    section.hidden = !shown;
    if (!shown) return;
    const { account } = shown;
    const marker = shown.protected_identity_marker;
    const box = $('patient-marker');
    box.hidden = !(marker || account.protected_identity);
    $('patient-marker-title').textContent = t('protected_identity_marker');
    $('patient-marker-text').textContent = marker ? (marker[language()] ?? marker.sv) : '';
    $('patient-marker-text').hidden = !marker;
    $('patient-name').textContent = fullName(account);
    $('patient-personnummer').textContent = formatPersonnummer(account.personnummer);
    $('patient-mobile').textContent = account.mobile || t('none_given');
    $('patient-email').textContent = account.email || t('none_given');
    const by = `registered_by_${account.registered_by}`;
    $('patient-registered-by').textContent = has(by) ? t(by) : String(account.registered_by ?? '');
  }

  /** Fills the care-unit selector from the session (not on every redraw: it would undo a choice). */
  function renderUnits() {
    const staff = session.staff ?? {};
    const select = $('care-unit');
    select.replaceChildren();
    for (const unit of staff.care_units ?? []) {
      const option = document.createElement('option');
      option.value = unit;
      option.textContent = unit;
      option.selected = unit === staff.care_unit;
      select.append(option);
    }
  }

  function render() {
    const staff = session.staff ?? {};
    const roleKey = `staff_role_${staff.role}`;
    $('staff-who').textContent = t('staff_who', { name: fullName(staff), role: has(roleKey) ? t(roleKey) : String(staff.role ?? '') });
    const clinician = staff.role === 'clinician';
    $('lookup-form').hidden = !clinician;
    $('lookup-only-clinicians').hidden = clinician;
    say($('care-unit-status'), text(messages.unitStatus));
    say($('care-unit-error'), text(messages.unitError));
    say($('lookup-error'), text(messages.lookupError));
    say($('lookup-status'), text(messages.lookupStatus));
    const input = $('lookup-personnummer');
    say($('lookup-personnummer-error'), text(messages.personnummerError));
    if (messages.personnummerError) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    $('register').hidden = !offerRegister;
    renderPatient();
  }

  $('care-unit-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('care-unit-save');
    const careUnit = $('care-unit').value;
    messages.unitStatus = null;
    messages.unitError = null;
    render();
    button.disabled = true;
    try {
      session = rememberSession(await api('PUT', '/api/v1/staff/care-unit', { care_unit: careUnit }));
      messages.unitStatus = 'care_unit_changed';
      renderUnits();
    } catch (error) {
      if (leaveOnError(error)) return;
      messages.unitError = error;
    } finally {
      button.disabled = false;
      render();
    }
  });

  function query() {
    const personnummer = $('lookup-personnummer').value.trim();
    const purpose = $('lookup-purpose').value.trim();
    return purpose ? { personnummer, purpose } : { personnummer };
  }

  function failed(error) {
    if (leaveOnError(error)) return;
    if (error instanceof ApiError && error.field === 'personnummer') {
      messages.personnummerError = 'lookup_invalid_personnummer';
      render();
      $('lookup-personnummer').focus();
      return;
    }
    if (error instanceof ApiError && error.code === 'not_found') {
      messages.lookupError = 'lookup_not_found';
      offerRegister = true;
    } else if (error instanceof ApiError && error.code === 'already_exists') {
      messages.lookupError = 'lookup_already_exists';
    } else if (error instanceof ApiError && error.code === 'not_in_register') {
      messages.lookupError = 'lookup_not_in_register';
    } else {
      messages.lookupError = error;
    }
    render();
  }

  $('lookup-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('lookup');
    Object.assign(messages, { lookupError: null, lookupStatus: null, personnummerError: null });
    offerRegister = false;
    shown = null;
    render();
    lastQuery = query();
    button.disabled = true;
    try {
      shown = await api('POST', '/api/v1/staff/patients/lookup', lastQuery);
      render();
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  });

  $('register').addEventListener('click', async () => {
    const button = $('register');
    if (!lastQuery) return;
    Object.assign(messages, { lookupError: null, lookupStatus: null });
    button.disabled = true;
    try {
      const account = await api('POST', '/api/v1/staff/patients', lastQuery);
      shown = { account, protected_identity_marker: null };
      offerRegister = false;
      messages.lookupStatus = 'lookup_registered';
      render();
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  });

  onLanguageChange(render);
  renderUnits();
  render();
  markReady();
}
