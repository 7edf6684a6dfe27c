// dropin.html, digital drop-in: a care unit's open queues (GET /api/v1/queues), joining one
// (POST /api/v1/queues/{id}/join), the person's place, asked every few seconds while they wait
// (GET /api/v1/queues/{id}/place) and announced when it changes, and at their turn the Join
// button of the booking the clinician made (POST /api/v1/bookings/{id}/join).

import { api, ApiError } from './api.js';
import { $, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { onLanguageChange, t } from './i18n-portal.js';
import { bookingErrorText, button, factList, joinBooking } from './bookings-common.js';

/** How often the place is asked while waiting: often enough to feel live, rare enough to be polite. */
const POLL_MS = 5000;

const ctx = await startPage({ titleKey: 'title_dropin', realm: 'patient', policyGate: true });
if (ctx) {
  const { session } = ctx;
  const params = new URLSearchParams(location.search);
  let careUnit = params.get('care_unit') ?? '';
  /** The open queues of the last search, or null before one. */
  let queues = null;
  /** The person's place (QueuePlace) in the queue they joined, or null. */
  let place = null;
  let status = null;
  let problem = null;
  let fieldError = null;
  let timer = null;

  const text = (value) => (value === null ? '' : value.key ? t(value.key, value.vars) : bookingErrorText(value.error));

  /** Keeps the queue (and care unit) in the address, so a reload finds the place again. */
  function remember(queueId) {
    const url = new URL(location.href);
    if (careUnit) url.searchParams.set('care_unit', careUnit);
    if (queueId) url.searchParams.set('queue', queueId);
    else url.searchParams.delete('queue');
    history.replaceState(history.state, '', url);
  }

  /** What the live region says about a new place, or null when nothing changed worth saying. */
  function change(before, after) {
    if (!after) return null;
    if (after.state === 'taken' && before?.state !== 'taken') return { key: 'dropin_your_turn' };
    if (after.state === 'waiting' && (before?.state !== 'waiting' || before.place !== after.place)) {
      return { key: 'dropin_place_now', vars: { n: after.place } };
    }
    if (after.state === 'left' && before?.state !== 'left') return { key: 'dropin_left' };
    return null;
  }

  function setPlace(next) {
    const said = change(place, next);
    place = next;
    if (said) status = said;
    schedulePoll();
    render();
  }

  function schedulePoll() {
    clearTimeout(timer);
    timer = null;
    if (place?.state !== 'waiting') return;
    timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    if (!place) return;
    // A hidden tab asks again when it is shown (visibilitychange below).
    if (document.hidden) return;
    try {
      setPlace(await api('GET', `/api/v1/queues/${encodeURIComponent(place.queue_id)}/place`));
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = { error };
      render();
      // A passing fault (network, server) is asked again; the place stays shown meanwhile.
      if (!(error instanceof ApiError) || error.status === 0 || error.status >= 500) {
        timer = setTimeout(poll, POLL_MS * 2);
      }
    }
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && place?.state === 'waiting') {
      clearTimeout(timer);
      timer = null;
      poll();
    }
  });

  async function joinQueue(queue, control) {
    status = null;
    problem = null;
    render();
    control.disabled = true;
    try {
      let joined;
      try {
        joined = await api('POST', `/api/v1/queues/${encodeURIComponent(queue.id)}/join`);
      } catch (error) {
        // Already waiting (another tab, a reload): show that place.
        if (!(error instanceof ApiError && error.code === 'already_queued')) throw error;
        joined = await api('GET', `/api/v1/queues/${encodeURIComponent(queue.id)}/place`);
      }
      remember(queue.id);
      setPlace(joined);
      $('place-heading').focus();
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = { error };
      control.disabled = false;
      render();
    }
  }

  function queueItem(queue) {
    const item = document.createElement('li');
    item.className = 'booking';
    item.dataset.queueId = queue.id;
    const heading = document.createElement('h3');
    heading.id = `q-${queue.id}-heading`;
    heading.textContent = t('dropin_queue_title', { unit: queue.care_unit, opens: queue.opens.time, closes: queue.closes.time });
    const facts = factList([
      ['dropin_waiting', String(queue.waiting)],
      ['dropin_visit_length', t('minutes', { n: queue.visit_minutes })],
    ]);
    const actions = document.createElement('p');
    actions.className = 'actions';
    const join = button(t('dropin_join_queue'), 'button button-primary');
    join.dataset.action = 'join-queue';
    join.setAttribute('aria-describedby', heading.id);
    join.disabled = place?.state === 'waiting' || place?.state === 'taken';
    join.addEventListener('click', () => joinQueue(queue, join));
    actions.append(join);
    item.append(heading, facts, actions);
    return item;
  }

  function render() {
    const acting = session.acting_as;
    $('heading').textContent = acting ? t('dropin_heading_for', { name: fullName(acting) }) : t('dropin_heading');
    say($('status'), text(status));
    say($('error'), text(problem));
    say($('care-unit-error'), fieldError ? t(fieldError) : '');
    if (fieldError) $('care-unit').setAttribute('aria-invalid', 'true');
    else $('care-unit').removeAttribute('aria-invalid');

    const box = $('place-box');
    box.hidden = !place;
    if (place) {
      const waiting = place.state === 'waiting';
      const taken = place.state === 'taken';
      $('place-text').textContent = waiting ? t('dropin_place', { n: place.place })
        : taken ? t('dropin_your_turn') : t('dropin_left');
      $('place-hint').textContent = waiting ? t('dropin_place_hint') : taken ? t('dropin_your_turn_hint') : '';
      $('dropin-join').hidden = !taken;
      $('leave').hidden = !waiting;
      box.dataset.state = place.state;
    }

    $('queues-box').hidden = queues === null;
    $('queues').replaceChildren(...(queues ?? []).map(queueItem));
    $('queues-none').hidden = (queues ?? []).length !== 0;
  }

  async function searchQueues() {
    const query = new URLSearchParams({ care_unit: careUnit });
    const answer = await api('GET', `/api/v1/queues?${query}`);
    queues = Array.isArray(answer) ? answer : [];
  }

  $('search').addEventListener('submit', async (event) => {
    event.preventDefault();
    status = null;
    problem = null;
    fieldError = null;
    careUnit = $('care-unit').value.trim();
    if (!careUnit) {
      fieldError = 'book_care_unit_missing';
      render();
      $('care-unit').focus();
      return;
    }
    remember(place?.state === 'waiting' || place?.state === 'taken' ? place.queue_id : null);
    const control = $('search-button');
    control.disabled = true;
    try {
      await searchQueues();
      status = { key: 'dropin_found', vars: { n: queues.length } };
    } catch (error) {
      if (leaveOnError(error)) return;
      queues = [];
      problem = { error };
    } finally {
      control.disabled = false;
    }
    render();
  });

  $('leave').addEventListener('click', async () => {
    const control = $('leave');
    control.disabled = true;
    problem = null;
    try {
      setPlace(await api('POST', `/api/v1/queues/${encodeURIComponent(place.queue_id)}/leave`));
      remember(null);
      if (queues !== null) await searchQueues();
      render();
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = { error };
      render();
    } finally {
      control.disabled = false;
    }
  });

  $('dropin-join').addEventListener('click', async () => {
    problem = null;
    render();
    const refused = await joinBooking(place.booking_id, $('dropin-join'));
    if (!refused || leaveOnError(refused)) return;
    problem = { error: refused };
    render();
  });

  onLanguageChange(render);
  $('care-unit').value = careUnit;
  const queueId = params.get('queue');
  if (queueId) {
    try {
      place = await api('GET', `/api/v1/queues/${encodeURIComponent(queueId)}/place`);
      schedulePoll();
    } catch (error) {
      // A queue the person is no longer in (or never was) is simply not shown.
      if (!leaveOnError(error) && !(error instanceof ApiError && error.status === 409)) problem = { error };
      remember(null);
    }
  }
  if (careUnit) {
    try {
      await searchQueues();
    } catch (error) {
      if (!leaveOnError(error)) problem = { error };
    }
  }
  render();
  markReady();
}
