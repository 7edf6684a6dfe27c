// staff.html: who is logged in, the active care unit (PUT /api/v1/staff/care-unit) and the patient
// lookup (POST /api/v1/staff/patients/lookup), which shows a protected-identity marker
// prominently. Every lookup is written to the PDL access log by the server.
//
// The server opens a patient only through a care relationship with the active care unit
// (docs/portal-api.md, "Care relationship and emergency access"). Without one the page says so
// and offers an emergency access (nödåtkomst): the same lookup again with a stated reason. What
// allowed the read (the answer's `basis`) is shown with the patient. Administrators, who do not
// open patients, get the link to the follow-up of emergency accesses (followup.html).

import { api, ApiError, rememberSession } from './api.js';
import { $, errorText, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { formatPersonnummer, has, language, onLanguageChange, t } from './i18n-portal.js';

const ctx = await startPage({ titleKey: 'title_staff', realm: 'staff' });
if (ctx) {
  let session = ctx.session;
  /** The patient shown: `{account, protected_identity_marker, basis}`, or null. */
  let shown = null;
  const messages = {
    unitStatus: null, unitError: null, lookupError: null, lookupStatus: null, personnummerError: null, reasonError: null,
  };
  let offerRegister = false;
  let lastQuery = null;
  /** The lookup refused for want of a care relationship (`{pnr, unit}`), which the emergency form repeats; or null. */
  let refused = null;

  /** The kind of a `basis` (`booking:<id>` → `booking`). */
  const basisKind = (basis) => String(basis ?? '').split(':')[0];

  const text = (value) => {
    if (value === null) return '';
    if (typeof value !== 'string') return errorText(value);
    // The refusal names the number and the unit it was about, which stay as they were asked.
    if (value === 'lookup_no_care_relationship' && refused) return t(value, refused);
    return t(value, { unit: session.staff?.care_unit ?? '' });
  };

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
    const kind = basisKind(shown.basis);
    const basisKey = `basis_${kind}`;
    $('patient-basis').textContent = has(basisKey) ? t(basisKey) : kind;
    $('patient-basis').dataset.basis = kind;
    $('patient-emergency').hidden = kind !== 'emergency';
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
    $('followup-link').hidden = staff.role !== 'administrator';
    $('emergency-form').hidden = !refused;
    const reason = $('emergency-reason');
    say($('emergency-reason-error'), text(messages.reasonError));
    if (messages.reasonError) reason.setAttribute('aria-invalid', 'true');
    else reason.removeAttribute('aria-invalid');
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
      // A refusal was about the unit worked in before: look the patient up again in this one.
      if (refused) {
        refused = null;
        messages.lookupError = null;
        messages.reasonError = null;
      }
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

  /**
   * The reason as the server takes it: one line (it refuses control characters, and a line
   * break typed in the box is one), trimmed.
   */
  const oneLine = (value) => value.replace(/[\r\n\t]+/g, ' ').trim();

  function failed(error) {
    if (leaveOnError(error)) return;
    if (error instanceof ApiError && error.field === 'personnummer') {
      messages.personnummerError = 'lookup_invalid_personnummer';
      render();
      $('lookup-personnummer').focus();
      return;
    }
    if (error instanceof ApiError && error.field === 'emergency_reason') {
      messages.reasonError = 'emergency_reason_invalid';
      render();
      $('emergency-reason').focus();
      return;
    }
    if (error instanceof ApiError && error.code === 'no_care_relationship') {
      refused = { pnr: formatPersonnummer(lastQuery.personnummer), unit: session.staff?.care_unit ?? '' };
      messages.lookupError = 'lookup_no_care_relationship';
      // Registering a new patient opens nothing of anyone's data, so it needs no emergency
      // access: offered whether or not an account exists (the refusal says nothing of that).
      offerRegister = true;
    } else if (error instanceof ApiError && error.code === 'not_found') {
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
    Object.assign(messages, { lookupError: null, lookupStatus: null, personnummerError: null, reasonError: null });
    offerRegister = false;
    refused = null;
    shown = null;
    $('emergency-reason').value = '';
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

  // The refused lookup again, with the reason: the server opens an emergency access.
  $('emergency-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!refused || !lastQuery) return;
    const button = $('emergency-open');
    Object.assign(messages, { lookupStatus: null, reasonError: null });
    render();
    button.disabled = true;
    try {
      shown = await api('POST', '/api/v1/staff/patients/lookup', { ...lastQuery, emergency_reason: oneLine($('emergency-reason').value) });
      messages.lookupError = null;
      refused = null;
      $('emergency-reason').value = '';
      render();
      $('patient-heading').focus();
    } catch (error) {
      // A patient without an account: the emergency access is open, and "no account" is the
      // answer, with registration offered as after any lookup.
      if (error instanceof ApiError && error.code === 'not_found') {
        refused = null;
        $('emergency-reason').value = '';
      }
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
      shown = { account, protected_identity_marker: null, basis: 'registration' };
      offerRegister = false;
      refused = null;
      $('emergency-reason').value = '';
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
