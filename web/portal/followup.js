// followup.html: administrators follow up emergency accesses (nödåtkomst), the reads of a
// patient's data that clinicians opened without a care relationship (docs/portal-api.md, "Care
// relationship and emergency access"). The list is GET /api/v1/staff/emergency-accesses (those
// not yet followed up, or `?state=all`); each one is followed up with a note through
// POST /api/v1/staff/emergency-accesses/{id}/review. Times are on the Stockholm wall clock, as
// on the booking pages, whatever the browser's own time zone.

import { api, ApiError } from './api.js';
import { $, errorText, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { formatPersonnummer, has, language, onLanguageChange, t } from './i18n-portal.js';

/** Unix seconds as a date and time on the Stockholm wall clock, in the page language. */
function stockholmTime(unixSeconds) {
  const locale = language() === 'sv' ? 'sv-SE' : 'en-GB';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Europe/Stockholm' })
    .format(new Date(unixSeconds * 1000));
}

/** The note as the server takes it: one line (line breaks are control characters to it), trimmed. */
const oneLine = (value) => value.replace(/[\r\n\t]+/g, ' ').trim();

const ctx = await startPage({ titleKey: 'title_followup', realm: 'staff' });
if (ctx) {
  const staff = ctx.session.staff ?? {};
  const roleText = (role) => (has(`staff_role_${role}`) ? t(`staff_role_${role}`) : String(role ?? ''));
  /** The emergency accesses shown (the API's `EmergencyAccess`), or null before the first answer. */
  let accesses = null;
  let showAll = false;
  /** Staff members by id (`GET /api/v1/admin/staff`), so the list can name them; empty if unknown. */
  let members = new Map();
  /** Notes typed but not sent, by emergency access id: they survive redraws and reloads. */
  const drafts = new Map();
  /** The emergency access whose note the server refused, or null. */
  let noteRefused = null;
  /** Page messages: `{key, vars}` for texts, or an error for errorText(). */
  let status = null;
  let problem = null;
  let loadProblem = null;
  /** Only the newest list request is shown, when the toggle is flipped quickly. */
  let generation = 0;

  const message = (value) => {
    if (!value) return '';
    if (value instanceof Error) return errorText(value);
    return t(value.key, value.vars);
  };

  function staffText(id) {
    const member = members.get(id);
    return member
      ? t('followup_staff_named', { name: fullName(member), role: roleText(member.role), id })
      : t('followup_staff_id', { id });
  }

  function fact(list, labelKey, value) {
    const row = document.createElement('div');
    const dt = document.createElement('dt');
    dt.textContent = t(labelKey);
    const dd = document.createElement('dd');
    dd.append(value);
    row.append(dt, dd);
    list.append(row);
    return dd;
  }

  function time(unixSeconds) {
    const el = document.createElement('time');
    el.dateTime = new Date(unixSeconds * 1000).toISOString();
    el.textContent = stockholmTime(unixSeconds);
    return el;
  }

  function reviewForm(access) {
    const base = `a-${access.id}`;
    const form = document.createElement('form');
    form.className = 'review-note-box';
    form.noValidate = true;
    form.dataset.accessId = access.id;
    const field = document.createElement('div');
    field.className = 'field';
    const label = document.createElement('label');
    label.htmlFor = `${base}-note`;
    label.textContent = t('followup_note');
    const hint = document.createElement('p');
    hint.className = 'hint';
    hint.id = `${base}-note-hint`;
    hint.textContent = t('followup_note_hint');
    const note = document.createElement('textarea');
    note.id = `${base}-note`;
    note.name = 'note';
    note.rows = 3;
    note.maxLength = 500;
    note.dataset.accessId = access.id;
    note.value = drafts.get(access.id) ?? '';
    note.setAttribute('aria-describedby', `${base}-note-hint ${base}-note-error`);
    const error = document.createElement('p');
    error.className = 'field-error';
    error.id = `${base}-note-error`;
    if (noteRefused === access.id) {
      error.textContent = t('followup_note_invalid');
      note.setAttribute('aria-invalid', 'true');
    }
    field.append(label, hint, note, error);
    const actions = document.createElement('p');
    actions.className = 'actions';
    const button = document.createElement('button');
    button.type = 'submit';
    button.className = 'button button-primary';
    button.dataset.action = 'review';
    button.textContent = t('followup_mark');
    actions.append(button);
    form.append(field, actions);
    return form;
  }

  function item(access) {
    const li = document.createElement('li');
    li.className = 'booking';
    li.dataset.accessId = access.id;
    const reviewed = access.reviewed_at !== null && access.reviewed_at !== undefined;
    li.dataset.state = reviewed ? 'reviewed' : 'open';
    const heading = document.createElement('h3');
    heading.textContent = t('followup_item_heading', { time: stockholmTime(access.opened_at) });
    const facts = document.createElement('dl');
    facts.className = 'facts-compact';
    fact(facts, 'followup_state', t(reviewed ? 'followup_state_reviewed' : 'followup_state_open'));
    fact(facts, 'followup_opened', time(access.opened_at));
    fact(facts, 'followup_expires', time(access.expires_at));
    fact(facts, 'followup_care_unit', access.care_unit ?? '');
    fact(facts, 'followup_staff', staffText(access.staff_id));
    fact(facts, 'followup_patient', formatPersonnummer(access.patient));
    fact(facts, 'followup_reason', access.reason ?? '');
    if (reviewed) {
      fact(facts, 'followup_reviewed', t('followup_reviewed_value', {
        time: stockholmTime(access.reviewed_at), who: staffText(access.reviewed_by),
      }));
      fact(facts, 'followup_review_note', access.review_note ?? '');
    }
    li.append(heading, facts);
    if (!reviewed) li.append(reviewForm(access));
    return li;
  }

  function summary() {
    if (loadProblem) return '';
    if (accesses === null) return t('loading');
    const open = accesses.filter((a) => a.reviewed_at === null || a.reviewed_at === undefined).length;
    if (showAll) {
      return accesses.length === 0 ? t('followup_all_none') : t('followup_all_count', { n: accesses.length, open });
    }
    if (open === 0) return t('followup_none');
    return open === 1 ? t('followup_count_one') : t('followup_count_many', { n: open });
  }

  function render() {
    $('staff-who').textContent = t('staff_who', { name: fullName(staff), role: roleText(staff.role) });
    say($('followup-status'), message(status));
    say($('followup-error'), message(problem ?? loadProblem));
    say($('list-summary'), summary());
    const list = $('accesses');
    list.replaceChildren(...(accesses ?? []).map(item));
    list.hidden = !accesses || accesses.length === 0;
  }

  async function load() {
    const mine = ++generation;
    try {
      const answer = await api('GET', `/api/v1/staff/emergency-accesses${showAll ? '?state=all' : ''}`);
      if (mine !== generation) return;
      accesses = Array.isArray(answer) ? answer : [];
      loadProblem = null;
    } catch (error) {
      if (mine !== generation || leaveOnError(error)) return;
      loadProblem = error;
    }
    render();
  }

  /** Staff names for the list; without them the list names staff by id. */
  async function loadMembers() {
    try {
      const list = await api('GET', '/api/v1/admin/staff');
      members = new Map((Array.isArray(list) ? list : []).map((m) => [m.id, m]));
    } catch (error) {
      if (leaveOnError(error)) return;
      members = new Map();
    }
  }

  if (staff.role !== 'administrator') {
    $('followup-only-admins').hidden = false;
    $('staff-who').textContent = t('staff_who', { name: fullName(staff), role: roleText(staff.role) });
    onLanguageChange(() => {
      $('staff-who').textContent = t('staff_who', { name: fullName(staff), role: roleText(staff.role) });
    });
    markReady();
  } else {
    $('followup').hidden = false;

    $('show-all').addEventListener('change', async (event) => {
      showAll = event.target.checked;
      status = null;
      problem = null;
      noteRefused = null;
      accesses = null;
      render();
      await load();
    });

    $('accesses').addEventListener('input', (event) => {
      const id = event.target.dataset?.accessId;
      if (id && event.target.name === 'note') drafts.set(id, event.target.value);
    });

    $('accesses').addEventListener('submit', async (event) => {
      const form = event.target.closest('form[data-access-id]');
      if (!form) return;
      event.preventDefault();
      const id = form.dataset.accessId;
      const access = accesses?.find((a) => a.id === id);
      const button = form.querySelector('[data-action="review"]');
      status = null;
      problem = null;
      button.disabled = true;
      try {
        await api('POST', `/api/v1/staff/emergency-accesses/${encodeURIComponent(id)}/review`, {
          note: oneLine(form.querySelector('textarea').value),
        });
        drafts.delete(id);
        noteRefused = null;
        status = { key: 'followup_marked', vars: { time: access ? stockholmTime(access.opened_at) : '' } };
      } catch (error) {
        if (leaveOnError(error)) return;
        if (error instanceof ApiError && error.field === 'note') {
          noteRefused = id;
          button.disabled = false;
          render();
          $(`a-${id}-note`)?.focus();
          return;
        }
        if (error instanceof ApiError && error.code === 'already_reviewed') problem = { key: 'followup_already_reviewed' };
        else if (error instanceof ApiError && error.code === 'not_found') problem = { key: 'followup_not_found' };
        else {
          // Nothing changed: the note stays for another try.
          problem = error;
          button.disabled = false;
          render();
          return;
        }
      }
      // The item this form belonged to is followed up (or gone): the list is asked again, and
      // focus goes to its heading, since the button that had it is no more.
      await load();
      $('list-heading').focus();
    });

    onLanguageChange(render);
    render();
    await loadMembers();
    await load();
    markReady();
  }
}
