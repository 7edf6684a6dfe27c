// book.html, "Boka tid": a care unit's open slots from a chosen day (GET /api/v1/slots), shown
// by kind, and booking one (POST /api/v1/bookings) for the person, or for the child a guardian
// acts for, with the confirmation.

import { api, ApiError } from './api.js';
import { $, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { onLanguageChange, t } from './i18n-portal.js';
import { addDays, bookingErrorText, button, factList, isIsoDate, kindText, stockholmNow, whenText } from './bookings-common.js';

/** How many days of slots one search shows (the API allows up to 62). */
const SEARCH_DAYS = 14;

const ctx = await startPage({ titleKey: 'title_book', realm: 'patient', policyGate: true });
if (ctx) {
  const { session } = ctx;
  /** The last search: `{careUnit, from, kind}` and its slots, or null before the first. */
  let search = null;
  let slots = [];
  let booked = null;
  let status = null;
  let problem = null;
  const fieldErrors = new Map();
  let focusAfter = null;

  const text = (value) => (value === null ? '' : value.key ? t(value.key, value.vars) : bookingErrorText(value.error));

  function slotItem(slot) {
    const item = document.createElement('li');
    item.className = 'booking';
    item.dataset.slotId = slot.id;
    item.dataset.kind = slot.kind;
    const heading = document.createElement('h3');
    heading.id = `s-${slot.id}-heading`;
    heading.textContent = whenText(slot);
    const facts = [
      ['booking_kind', kindText(slot)],
      ['booking_care_unit', slot.care_unit],
    ];
    if (slot.mode === 'group') facts.push(['slot_places_left', String(Math.max(0, slot.capacity - slot.booked))]);
    const actions = document.createElement('p');
    actions.className = 'actions';
    const book = button(t('book_this'), 'button button-primary');
    book.id = `s-${slot.id}-book`;
    book.dataset.action = 'book';
    book.setAttribute('aria-describedby', heading.id);
    book.addEventListener('click', () => bookSlot(slot, book));
    actions.append(book);
    item.append(heading, factList(facts), actions);
    return item;
  }

  async function bookSlot(slot, control) {
    status = null;
    problem = null;
    render();
    control.disabled = true;
    try {
      booked = await api('POST', '/api/v1/bookings', { slot_id: slot.id });
      focusAfter = 'confirmation-heading';
      await runSearch();
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = { error };
      control.disabled = false;
      // A slot taken meanwhile goes from the list.
      if (error instanceof ApiError && ['slot_full', 'slot_not_found', 'slot_in_past'].includes(error.code)) await runSearch();
    }
    render();
  }

  async function runSearch() {
    if (!search) return;
    const to = addDays(search.from, SEARCH_DAYS);
    const query = new URLSearchParams({ care_unit: search.careUnit, from: `${search.from}T00:00`, to: `${to}T00:00` });
    const answer = await api('GET', `/api/v1/slots?${query}`);
    slots = (Array.isArray(answer) ? answer : []).filter((s) => !search.kind || s.kind === search.kind);
  }

  function renderConfirmation() {
    $('confirmation').hidden = !booked;
    if (!booked) return;
    const facts = [
      ['booking_when', whenText(booked)],
      ['booking_kind', kindText(booked)],
      ['booking_care_unit', booked.care_unit],
      ['booking_patient', fullName(booked.patient)],
    ];
    const box = $('confirmation-facts');
    const note = document.createElement('p');
    note.textContent = booked.kind === 'digital' ? t('book_confirmed_digital') : t('book_confirmed_physical');
    box.replaceChildren(factList(facts), note);
  }

  function render() {
    const acting = session.acting_as;
    $('heading').textContent = acting ? t('book_heading_for', { name: fullName(acting) }) : t('book_heading');
    say($('status'), text(status));
    say($('error'), text(problem));
    for (const id of ['care-unit', 'from-date']) {
      const key = fieldErrors.get(id);
      say($(`${id}-error`), key ? t(key) : '');
      if (key) $(id).setAttribute('aria-invalid', 'true');
      else $(id).removeAttribute('aria-invalid');
    }
    renderConfirmation();
    $('results').hidden = !search;
    $('slots').replaceChildren(...slots.map(slotItem));
    $('results-none').hidden = slots.length !== 0;
    if (focusAfter) {
      $(focusAfter)?.focus();
      focusAfter = null;
    }
  }

  $('search').addEventListener('submit', async (event) => {
    event.preventDefault();
    fieldErrors.clear();
    status = null;
    problem = null;
    booked = null;
    const careUnit = $('care-unit').value.trim();
    const from = $('from-date').value;
    if (!careUnit) fieldErrors.set('care-unit', 'book_care_unit_missing');
    if (!isIsoDate(from)) fieldErrors.set('from-date', 'book_from_date_invalid');
    if (fieldErrors.size) {
      render();
      $(fieldErrors.keys().next().value).focus();
      return;
    }
    const searchButton = $('search-button');
    searchButton.disabled = true;
    search = { careUnit, from, kind: $('kind-filter').value };
    const url = new URL(location.href);
    url.searchParams.set('care_unit', careUnit);
    history.replaceState(history.state, '', url);
    try {
      await runSearch();
      status = { key: 'book_found', vars: { n: slots.length } };
    } catch (error) {
      if (leaveOnError(error)) return;
      slots = [];
      if (error instanceof ApiError && error.field === 'from') fieldErrors.set('from-date', 'book_from_date_invalid');
      problem = { error };
    } finally {
      searchButton.disabled = false;
    }
    render();
  });

  // Suggest the care units of the person's bookings, and one named in the address.
  const asked = new URLSearchParams(location.search).get('care_unit');
  const units = new Set();
  try {
    for (const b of (await api('GET', '/api/v1/bookings')) ?? []) units.add(b.care_unit);
  } catch (error) {
    if (leaveOnError(error)) {
      markReady('left');
    }
  }
  for (const unit of [...units].sort()) {
    const option = document.createElement('option');
    option.value = unit;
    $('care-units').append(option);
  }
  $('care-unit').value = asked ?? (units.size === 1 ? [...units][0] : '');
  $('from-date').value = stockholmNow().date;
  $('from-date').min = stockholmNow().date;
  onLanguageChange(render);
  render();
  markReady();
}
