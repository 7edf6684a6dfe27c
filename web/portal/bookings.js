// bookings.html, "Mina bokningar": the person's bookings (or the child's, while a guardian acts
// for one), upcoming and past (GET /api/v1/bookings); cancel, reschedule to another open slot of
// the same care unit, the Join button of a digital booking (POST /api/v1/bookings/{id}/join
// mints a join token there and then) and the files uploaded in a booking's call.

import { api } from './api.js';
import { $, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { onLanguageChange, t } from './i18n-portal.js';
import {
  addDays, bookingErrorText, button, factList, filesView, isCurrent, joinBooking, kindText, loadFiles, statusText,
  stockholmNow, whenText,
} from './bookings-common.js';

/** How far ahead the reschedule choice looks for open slots (the API allows 62 days). */
const RESCHEDULE_DAYS = 60;

const ctx = await startPage({ titleKey: 'title_bookings', realm: 'patient', policyGate: true });
if (ctx) {
  const { session } = ctx;
  let bookings = [];
  /** Page-level message: `{key}` or `{error}`, kept so a language switch can redraw it. */
  let pageStatus = null;
  let pageError = null;
  /** Per booking: the last refusal of an action on it. */
  const problems = new Map();
  /** The booking being moved: `{id, slots: [Slot] | null, error}`. */
  let rescheduling = null;
  /** The booking whose cancellation waits for a yes. */
  let confirmingCancel = null;
  /** The files of each booking's call once read: `{files}` or `{error}` (null while reading). */
  const files = new Map();
  /** After a redraw, focus this element id (actions that replace the card move focus sensibly). */
  let focusAfter = null;

  const text = (value) => (value === null ? '' : value.key ? t(value.key, value.vars) : bookingErrorText(value.error));

  async function load() {
    const answer = await api('GET', '/api/v1/bookings');
    bookings = Array.isArray(answer) ? answer : [];
  }

  function rescheduleBox(booking) {
    const box = document.createElement('div');
    box.className = 'inline-panel';
    const selectId = `reschedule-${booking.id}`;
    if (!rescheduling.slots) {
      const p = document.createElement('p');
      p.setAttribute('role', 'status');
      p.textContent = rescheduling.error ? '' : t('loading');
      box.append(p);
      return box;
    }
    const choices = rescheduling.slots.filter((s) => s.id !== booking.slot_id);
    if (choices.length === 0) {
      const p = document.createElement('p');
      p.textContent = t('reschedule_none');
      const close = button(t('reschedule_abort'));
      close.dataset.action = 'reschedule-abort';
      close.addEventListener('click', () => {
        rescheduling = null;
        focusAfter = `b-${booking.id}-reschedule`;
        render();
      });
      box.append(p, close);
      return box;
    }
    const field = document.createElement('div');
    field.className = 'field';
    const label = document.createElement('label');
    label.htmlFor = selectId;
    label.textContent = t('reschedule_choose');
    const select = document.createElement('select');
    select.id = selectId;
    for (const slot of choices) {
      const option = document.createElement('option');
      option.value = slot.id;
      option.textContent = `${whenText(slot)}, ${kindText(slot)}`;
      select.append(option);
    }
    field.append(label, select);
    const actions = document.createElement('p');
    actions.className = 'actions';
    const confirm = button(t('reschedule_confirm'), 'button button-primary');
    confirm.dataset.action = 'reschedule-confirm';
    const abort = button(t('reschedule_abort'));
    abort.dataset.action = 'reschedule-abort';
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      problems.delete(booking.id);
      try {
        const moved = await api('POST', `/api/v1/bookings/${encodeURIComponent(booking.id)}/reschedule`, { slot_id: select.value });
        rescheduling = null;
        pageStatus = { key: 'rescheduled', vars: { when: whenText(moved) } };
        await load();
        focusAfter = 'status';
      } catch (error) {
        if (leaveOnError(error)) return;
        problems.set(booking.id, { error });
        confirm.disabled = false;
      }
      render();
    });
    abort.addEventListener('click', () => {
      rescheduling = null;
      focusAfter = `b-${booking.id}-reschedule`;
      render();
    });
    actions.append(confirm, abort);
    box.append(field, actions);
    return box;
  }

  function cancelBox(booking) {
    const box = document.createElement('div');
    box.className = 'inline-panel';
    const question = document.createElement('p');
    question.id = `b-${booking.id}-cancel-question`;
    question.textContent = t('cancel_question', { when: whenText(booking) });
    const actions = document.createElement('p');
    actions.className = 'actions';
    const yes = button(t('cancel_yes'), 'button button-danger');
    yes.id = `b-${booking.id}-cancel-yes`;
    yes.dataset.action = 'cancel-confirm';
    yes.setAttribute('aria-describedby', question.id);
    const no = button(t('cancel_no'));
    no.dataset.action = 'cancel-abort';
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      problems.delete(booking.id);
      try {
        await api('POST', `/api/v1/bookings/${encodeURIComponent(booking.id)}/cancel`);
        confirmingCancel = null;
        pageStatus = { key: 'cancelled_booking', vars: { when: whenText(booking) } };
        await load();
        focusAfter = 'status';
      } catch (error) {
        if (leaveOnError(error)) return;
        problems.set(booking.id, { error });
        yes.disabled = false;
      }
      render();
    });
    no.addEventListener('click', () => {
      confirmingCancel = null;
      focusAfter = `b-${booking.id}-cancel`;
      render();
    });
    actions.append(yes, no);
    box.append(question, actions);
    return box;
  }

  function card(booking, current) {
    const item = document.createElement('li');
    item.className = 'booking';
    item.dataset.bookingId = booking.id;
    item.dataset.status = booking.status;
    const heading = document.createElement('h3');
    heading.id = `b-${booking.id}-heading`;
    heading.textContent = whenText(booking);
    item.append(heading, factList([
      ['booking_kind', kindText(booking)],
      ['booking_care_unit', booking.care_unit],
      ['booking_status', statusText(booking.status)],
    ]));

    if (current) {
      const actions = document.createElement('p');
      actions.className = 'actions';
      if (booking.kind === 'digital') {
        const join = button(t('join'), 'button button-primary');
        join.id = `b-${booking.id}-join`;
        join.dataset.action = 'join';
        join.setAttribute('aria-describedby', heading.id);
        join.addEventListener('click', async () => {
          problems.delete(booking.id);
          render();
          const refused = await joinBooking(booking.id, $(join.id) ?? join);
          if (!refused) return;
          if (leaveOnError(refused)) return;
          problems.set(booking.id, { error: refused });
          focusAfter = join.id;
          render();
        });
        actions.append(join);
      }
      const move = button(t('reschedule'));
      move.id = `b-${booking.id}-reschedule`;
      move.dataset.action = 'reschedule';
      move.setAttribute('aria-describedby', heading.id);
      move.setAttribute('aria-expanded', String(rescheduling?.id === booking.id));
      move.addEventListener('click', () => openReschedule(booking));
      const cancel = button(t('cancel_booking'));
      cancel.id = `b-${booking.id}-cancel`;
      cancel.dataset.action = 'cancel';
      cancel.setAttribute('aria-describedby', heading.id);
      cancel.setAttribute('aria-expanded', String(confirmingCancel === booking.id));
      cancel.addEventListener('click', () => {
        confirmingCancel = booking.id;
        rescheduling = null;
        focusAfter = `b-${booking.id}-cancel-yes`;
        render();
      });
      actions.append(move, cancel);
      item.append(actions);
    }

    const problem = document.createElement('p');
    problem.className = 'message message-error';
    problem.setAttribute('role', 'alert');
    problem.id = `b-${booking.id}-error`;
    const known = problems.get(booking.id);
    if (known) problem.textContent = text(known);
    else if (rescheduling?.id === booking.id && rescheduling.error) problem.textContent = text({ error: rescheduling.error });
    item.append(problem);

    if (current && rescheduling?.id === booking.id) item.append(rescheduleBox(booking));
    if (current && confirmingCancel === booking.id) item.append(cancelBox(booking));

    // Files can only have been uploaded once the call could be joined.
    if (booking.kind === 'digital' && booking.starts_at - 3600 < Date.now() / 1000) {
      if (!files.has(booking.id)) {
        files.set(booking.id, null);
        loadFiles(booking.id).then((loaded) => {
          files.set(booking.id, loaded);
          render();
        });
      }
      const view = filesView(files.get(booking.id), booking.id);
      view.id = `b-${booking.id}-files`;
      item.append(view);
    }
    return item;
  }

  async function openReschedule(booking) {
    confirmingCancel = null;
    rescheduling = { id: booking.id, slots: null, error: null };
    focusAfter = null;
    render();
    const today = stockholmNow().date;
    const query = new URLSearchParams({ care_unit: booking.care_unit, from: `${today}T00:00`, to: `${addDays(today, RESCHEDULE_DAYS)}T00:00` });
    try {
      const slots = await api('GET', `/api/v1/slots?${query}`);
      if (rescheduling?.id !== booking.id) return;
      rescheduling.slots = Array.isArray(slots) ? slots : [];
    } catch (error) {
      if (leaveOnError(error)) return;
      if (rescheduling?.id !== booking.id) return;
      rescheduling.error = error;
      rescheduling.slots = [];
    }
    focusAfter = rescheduling.error ? `b-${booking.id}-reschedule` : `reschedule-${booking.id}`;
    render();
  }

  function render() {
    const acting = session.acting_as;
    $('heading').textContent = acting ? t('bookings_heading_for', { name: fullName(acting) }) : t('bookings_heading');
    $('who').textContent = session.person ? t('logged_in_as', { name: fullName(session.person) }) : '';
    say($('status'), text(pageStatus));
    say($('error'), text(pageError));
    const now = Date.now() / 1000;
    const upcoming = bookings.filter((b) => isCurrent(b, now));
    const past = bookings.filter((b) => !isCurrent(b, now)).reverse();
    $('upcoming').replaceChildren(...upcoming.map((b) => card(b, true)));
    $('past').replaceChildren(...past.map((b) => card(b, false)));
    $('upcoming-none').hidden = upcoming.length !== 0;
    $('past-none').hidden = past.length !== 0;
    if (focusAfter) {
      const target = $(focusAfter);
      if (target) {
        if (target.tabIndex < 0 && !target.matches('button, select, input, a[href]')) target.tabIndex = -1;
        target.focus();
      }
      focusAfter = null;
    }
  }

  onLanguageChange(render);
  try {
    await load();
  } catch (error) {
    if (leaveOnError(error)) {
      markReady('left');
    } else {
      pageError = { error };
    }
  }
  render();
  markReady();
}
