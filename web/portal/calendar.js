// calendar.html, staff: the active care unit's calendar (GET /api/v1/staff/calendar) with each
// slot's bookings; publishing (POST /api/v1/staff/slots) and withdrawing slots, booking a patient
// in by personnummer, moving, cancelling, marking done or no-show, Join on one's own digital
// bookings and the files of a booking's call (each a PDL access the server logs); and digital
// drop-in: opening and closing a queue and taking the next patient.

import { api, ApiError } from './api.js';
import { $, fullName, leaveOnError, markReady, say, startPage } from './page.js';
import { formatDate, formatPersonnummer, has, onLanguageChange, t } from './i18n-portal.js';
import {
  addDays, bookingErrorText, button, factList, filesView, isIsoDate, joinBooking, kindText, loadFiles, statusText,
  stockholmNow, timeRange,
} from './bookings-common.js';

/** The publish form's inputs by the API's field name (`error.field`). */
const PUBLISH_FIELDS = { place: 'publish-place', capacity: 'publish-capacity', starts: 'publish-starts', ends: 'publish-ends', clinicians: 'publish-clinicians' };
const QUEUE_FIELDS = { opens: 'queue-opens', closes: 'queue-closes', visit_minutes: 'queue-minutes' };

const ctx = await startPage({ titleKey: 'title_calendar', realm: 'staff' });
if (ctx) {
  const { session } = ctx;
  const me = session.staff ?? {};
  const unit = me.care_unit ?? '';
  let range = { from: stockholmNow().date, days: 7 };
  /** `[{slot, bookings}]` of the range shown. */
  let calendar = [];
  let queues = [];
  let taken = null;
  let status = null;
  let problem = null;
  let publishProblem = null;
  let queueProblem = null;
  const fieldErrors = new Map();
  /** Per slot or booking (`s-<id>`, `b-<id>`): the last refusal of an action on it. */
  const problems = new Map();
  /** Files shown on request, by booking id: `{files}`/`{error}`, null while reading. */
  const files = new Map();
  /** Which booking's move choice is open. */
  let moving = null;
  let focusAfter = null;

  const text = (value) => (value === null ? '' : value.key ? t(value.key, value.vars) : bookingErrorText(value.error));
  const staffName = (id) => (id === me.id ? t('clinician_you', { name: fullName(me) }) : t('clinician_id', { id }));
  const now = () => Date.now() / 1000;

  async function loadCalendar() {
    const query = new URLSearchParams({ from: `${range.from}T00:00`, to: `${addDays(range.from, range.days)}T00:00` });
    const answer = await api('GET', `/api/v1/staff/calendar?${query}`);
    calendar = Array.isArray(answer) ? answer : [];
  }

  async function loadQueues() {
    const answer = await api('GET', '/api/v1/staff/queues');
    queues = Array.isArray(answer) ? answer : [];
  }

  /** Runs one action on a slot or booking (`key`: `s-<id>` or `b-<id>`, its elements' prefix), then reloads the calendar. */
  async function act(key, control, request, done) {
    problems.delete(key);
    status = null;
    control.disabled = true;
    try {
      const answer = await request();
      status = done(answer);
      moving = null;
      await loadCalendar();
      focusAfter = 'status';
    } catch (error) {
      if (leaveOnError(error)) return;
      problems.set(key, { error });
      control.disabled = false;
      focusAfter = `${key}-error`;
    }
    render();
  }

  const bookingPath = (booking, action) => `/api/v1/staff/bookings/${encodeURIComponent(booking.id)}/${action}`;

  function bookingItem(entry, booking) {
    const { slot } = entry;
    const item = document.createElement('li');
    item.className = 'calendar-booking';
    item.dataset.bookingId = booking.id;
    item.dataset.status = booking.status;
    const name = document.createElement('p');
    name.className = 'booking-patient';
    name.id = `b-${booking.id}-name`;
    name.textContent = `${fullName(booking.patient)}, ${formatPersonnummer(booking.patient.personnummer)}`;
    item.append(name, factList([
      ['booking_status', statusText(booking.status)],
      ['patient_mobile', booking.patient.mobile ?? ''],
      ['patient_email', booking.patient.email ?? ''],
    ]));
    const open = booking.status === 'booked';
    const actions = document.createElement('p');
    actions.className = 'actions';
    const add = (label, action, handler, className = 'button button-small') => {
      const b = button(label, className);
      b.dataset.action = action;
      b.id = `b-${booking.id}-${action}`;
      b.setAttribute('aria-describedby', name.id);
      b.addEventListener('click', () => handler(b));
      actions.append(b);
      return b;
    };
    if (open && booking.kind === 'digital' && (booking.clinicians ?? slot.clinicians).includes(me.id)) {
      add(t('join'), 'join', async (b) => {
        problems.delete(`b-${booking.id}`);
        const refused = await joinBooking(booking.id, b);
        if (!refused || leaveOnError(refused)) return;
        problems.set(`b-${booking.id}`, { error: refused });
        focusAfter = b.id;
        render();
      }, 'button button-primary button-small');
    }
    if (open) {
      const move = add(t('move'), 'move', () => {
        moving = moving === booking.id ? null : booking.id;
        focusAfter = moving ? `b-${booking.id}-move-to` : `b-${booking.id}-move`;
        render();
      });
      move.setAttribute('aria-expanded', String(moving === booking.id));
      add(t('cancel_booking'), 'cancel', (b) => act(`b-${booking.id}`, b, () => api('POST', bookingPath(booking, 'cancel')),
        () => ({ key: 'staff_cancelled', vars: { name: fullName(booking.patient) } })));
      if (slot.starts_at <= now()) {
        add(t('mark_done'), 'done', (b) => act(`b-${booking.id}`, b, () => api('POST', bookingPath(booking, 'done')),
          () => ({ key: 'staff_marked_done', vars: { name: fullName(booking.patient) } })));
        add(t('mark_no_show'), 'no-show', (b) => act(`b-${booking.id}`, b, () => api('POST', bookingPath(booking, 'no-show')),
          () => ({ key: 'staff_marked_no_show', vars: { name: fullName(booking.patient) } })));
      }
    }
    if (booking.kind === 'digital' && !files.has(booking.id)) {
      add(t('show_files'), 'files', async () => {
        files.set(booking.id, null);
        const loaded = await loadFiles(booking.id);
        if (loaded.error && leaveOnError(loaded.error)) return;
        files.set(booking.id, loaded);
        focusAfter = `b-${booking.id}-files`;
        render();
      });
    }
    item.append(actions);
    const problemLine = document.createElement('p');
    problemLine.className = 'message message-error';
    problemLine.setAttribute('role', 'alert');
    problemLine.id = `b-${booking.id}-error`;
    problemLine.tabIndex = -1;
    if (problems.has(`b-${booking.id}`)) problemLine.textContent = text(problems.get(`b-${booking.id}`));
    item.append(problemLine);

    if (moving === booking.id) item.append(moveBox(entry, booking));
    if (files.has(booking.id) && files.get(booking.id)) {
      const view = filesView(files.get(booking.id), booking.id);
      view.id = `b-${booking.id}-files`;
      view.tabIndex = -1;
      item.append(view);
    }
    return item;
  }

  function moveBox(entry, booking) {
    const box = document.createElement('div');
    box.className = 'inline-panel';
    const targets = calendar.map((e) => e.slot)
      .filter((s) => s.id !== entry.slot.id && s.booked < s.capacity && s.starts_at > now());
    if (targets.length === 0) {
      const p = document.createElement('p');
      p.id = `b-${booking.id}-move-to`;
      p.tabIndex = -1;
      p.textContent = t('move_none');
      box.append(p);
      return box;
    }
    const field = document.createElement('div');
    field.className = 'field';
    const label = document.createElement('label');
    label.htmlFor = `b-${booking.id}-move-to`;
    label.textContent = t('move_to');
    const select = document.createElement('select');
    select.id = `b-${booking.id}-move-to`;
    for (const slot of targets) {
      const option = document.createElement('option');
      option.value = slot.id;
      option.textContent = `${formatDate(slot.starts.date)} ${timeRange(slot)}, ${kindText(slot)}`;
      select.append(option);
    }
    field.append(label, select);
    const actions = document.createElement('p');
    actions.className = 'actions';
    const confirm = button(t('move_confirm'), 'button button-primary');
    confirm.dataset.action = 'move-confirm';
    confirm.addEventListener('click', () => act(`b-${booking.id}`, confirm,
      () => api('POST', bookingPath(booking, 'move'), { slot_id: select.value }),
      () => ({ key: 'staff_moved', vars: { name: fullName(booking.patient) } })));
    actions.append(confirm);
    box.append(field, actions);
    return box;
  }

  function slotItem(entry) {
    const { slot, bookings } = entry;
    const item = document.createElement('li');
    item.className = 'booking';
    item.dataset.slotId = slot.id;
    const heading = document.createElement('h4');
    heading.id = `s-${slot.id}-heading`;
    heading.textContent = `${timeRange(slot)}, ${kindText(slot)}`;
    item.append(heading, factList([
      ['slot_places', t('slot_places_value', { booked: slot.booked, capacity: slot.capacity })],
      ['slot_clinicians', slot.clinicians.map(staffName).join(', ')],
      ['slot_origin', slot.origin === 'dropin' ? t('slot_origin_dropin') : ''],
    ]));
    const list = document.createElement('ul');
    list.className = 'calendar-bookings';
    list.setAttribute('aria-label', t('slot_bookings_label', { time: timeRange(slot) }));
    list.append(...bookings.map((b) => bookingItem(entry, b)));
    if (bookings.length) item.append(list);

    const actions = document.createElement('div');
    if (slot.booked < slot.capacity && slot.starts_at > now()) {
      const form = document.createElement('form');
      form.className = 'form book-in';
      form.noValidate = true;
      const field = document.createElement('div');
      field.className = 'field';
      const label = document.createElement('label');
      label.htmlFor = `s-${slot.id}-pnr`;
      label.textContent = t('book_in_personnummer');
      const input = document.createElement('input');
      input.type = 'text';
      input.id = `s-${slot.id}-pnr`;
      input.inputMode = 'numeric';
      input.autocomplete = 'off';
      input.maxLength = 20;
      input.setAttribute('aria-describedby', `s-${slot.id}-heading`);
      field.append(label, input);
      const submit = document.createElement('button');
      submit.type = 'submit';
      submit.className = 'button button-small';
      submit.dataset.action = 'book-in';
      submit.textContent = t('book_in');
      form.append(field, submit);
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        act(`s-${slot.id}`, submit, () => api('POST', '/api/v1/staff/bookings', { personnummer: input.value.trim(), slot_id: slot.id }),
          (booking) => ({ key: 'staff_booked_in', vars: { name: fullName(booking.patient) } }));
      });
      actions.append(form);
    }
    if (slot.booked === 0 && bookings.every((b) => b.status !== 'booked')) {
      const row = document.createElement('p');
      row.className = 'actions';
      const withdraw = button(t('withdraw_slot'), 'button button-small');
      withdraw.dataset.action = 'withdraw';
      withdraw.setAttribute('aria-describedby', heading.id);
      withdraw.addEventListener('click', () => act(`s-${slot.id}`, withdraw,
        () => api('DELETE', `/api/v1/staff/slots/${encodeURIComponent(slot.id)}`),
        () => ({ key: 'slot_withdrawn', vars: { time: `${formatDate(slot.starts.date)} ${timeRange(slot)}` } })));
      row.append(withdraw);
      actions.append(row);
    }
    item.append(actions);
    const problemLine = document.createElement('p');
    problemLine.className = 'message message-error';
    problemLine.setAttribute('role', 'alert');
    problemLine.id = `s-${slot.id}-error`;
    problemLine.tabIndex = -1;
    if (problems.has(`s-${slot.id}`)) problemLine.textContent = text(problems.get(`s-${slot.id}`));
    item.append(problemLine);
    return item;
  }

  function renderCalendar() {
    const box = $('calendar');
    const days = new Map();
    for (const entry of calendar) {
      const date = entry.slot.starts.date;
      if (!days.has(date)) days.set(date, []);
      days.get(date).push(entry);
    }
    const parts = [];
    for (const [date, entries] of days) {
      const heading = document.createElement('h3');
      heading.textContent = formatDate(date);
      const list = document.createElement('ul');
      list.className = 'booking-list';
      list.append(...entries.map(slotItem));
      parts.push(heading, list);
    }
    box.replaceChildren(...parts);
    $('calendar-none').hidden = calendar.length !== 0;
  }

  function queueItem(queue) {
    const item = document.createElement('li');
    item.className = 'booking';
    item.dataset.queueId = queue.id;
    const heading = document.createElement('h4');
    heading.id = `q-${queue.id}-heading`;
    heading.textContent = t('queue_title', { opens: `${formatDate(queue.opens.date)} ${queue.opens.time}`, closes: queue.closes.time });
    const actions = document.createElement('p');
    actions.className = 'actions';
    const take = button(t('take_next'), 'button button-primary button-small');
    take.dataset.action = 'take';
    take.setAttribute('aria-describedby', heading.id);
    take.disabled = queue.waiting === 0;
    take.addEventListener('click', async () => {
      queueProblem = null;
      take.disabled = true;
      try {
        taken = await api('POST', `/api/v1/staff/queues/${encodeURIComponent(queue.id)}/take`);
        status = { key: 'taken_status', vars: { name: fullName(taken.patient) } };
        await Promise.all([loadQueues(), loadCalendar()]);
        focusAfter = 'taken-heading';
      } catch (error) {
        if (leaveOnError(error)) return;
        queueProblem = { error };
      }
      render();
    });
    actions.append(take);
    if (!queue.closed_at) {
      const close = button(t('close_queue'), 'button button-small');
      close.dataset.action = 'close-queue';
      close.setAttribute('aria-describedby', heading.id);
      close.addEventListener('click', async () => {
        queueProblem = null;
        close.disabled = true;
        try {
          await api('POST', `/api/v1/staff/queues/${encodeURIComponent(queue.id)}/close`);
          status = { key: 'queue_closed_status' };
          await loadQueues();
        } catch (error) {
          if (leaveOnError(error)) return;
          queueProblem = { error };
        }
        render();
      });
      actions.append(close);
    }
    item.append(heading, factList([
      ['dropin_waiting', String(queue.waiting)],
      ['dropin_visit_length', t('minutes', { n: queue.visit_minutes })],
      ['queue_state', queue.closed_at ? t('queue_closed_state') : t('queue_open_state')],
    ]), actions);
    return item;
  }

  function render() {
    const roleKey = `staff_role_${me.role}`;
    $('staff-who').textContent = t('staff_who', { name: fullName(me), role: has(roleKey) ? t(roleKey) : String(me.role ?? '') });
    $('unit-line').textContent = t('calendar_unit', { unit });
    $('publish-self-label').textContent = t('publish_self', { name: fullName(me) });
    say($('status'), text(status));
    say($('error'), text(problem));
    say($('publish-error'), text(publishProblem));
    say($('queue-error'), text(queueProblem));
    for (const id of [...Object.values(PUBLISH_FIELDS), ...Object.values(QUEUE_FIELDS), 'range-from']) {
      const error = fieldErrors.get(id);
      say($(`${id}-error`), error ? text(error) : '');
      const input = id === 'publish-clinicians' ? $('publish-others') : $(id);
      if (error) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    $('place-field').hidden = !$('kind-physical').checked;
    $('capacity-field').hidden = !$('mode-group').checked;
    renderCalendar();
    $('queues').replaceChildren(...queues.map(queueItem));
    $('queues-none').hidden = queues.length !== 0;
    $('taken').hidden = !taken;
    if (taken) {
      $('taken-facts').replaceChildren(factList([
        ['patient_name', fullName(taken.patient)],
        ['personnummer', formatPersonnummer(taken.patient.personnummer)],
        ['booking_when', `${formatDate(taken.starts.date)} ${timeRange(taken)}`],
      ]));
    }
    if (focusAfter) {
      $(focusAfter)?.focus();
      focusAfter = null;
    }
  }

  /** Shows a refusal at the field it names (`fields`: API field → input id), else in `fallback`. */
  function refused(error, fields, setFallback) {
    const id = error instanceof ApiError && error.field ? fields[error.field] : undefined;
    if (id) {
      fieldErrors.set(id, { error });
      render();
      $(id === 'publish-clinicians' ? 'publish-others' : id).focus();
    } else {
      setFallback({ error });
      render();
    }
  }

  $('range').addEventListener('submit', async (event) => {
    event.preventDefault();
    fieldErrors.delete('range-from');
    const from = $('range-from').value;
    if (!isIsoDate(from)) {
      fieldErrors.set('range-from', { key: 'book_from_date_invalid' });
      render();
      $('range-from').focus();
      return;
    }
    range = { from, days: Number($('range-days').value) || 7 };
    problem = null;
    try {
      await loadCalendar();
      status = { key: 'calendar_shown', vars: { n: calendar.length } };
    } catch (error) {
      if (leaveOnError(error)) return;
      problem = { error };
    }
    render();
  });

  for (const id of ['kind-digital', 'kind-physical', 'mode-single', 'mode-group']) $(id).addEventListener('change', render);

  $('publish').addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const id of Object.values(PUBLISH_FIELDS)) fieldErrors.delete(id);
    publishProblem = null;
    status = null;
    const kind = $('kind-physical').checked ? 'physical' : 'digital';
    const mode = $('mode-group').checked ? 'group' : 'single';
    const clinicians = $('publish-others').value.split(',').map((s) => s.trim()).filter(Boolean);
    if ($('publish-self').checked && me.id) clinicians.unshift(me.id);
    const body = { kind, mode, starts: $('publish-starts').value, ends: $('publish-ends').value, clinicians };
    if (kind === 'physical') body.place = $('publish-place').value.trim();
    if (mode === 'group') body.capacity = Number($('publish-capacity').value);
    const control = $('publish-button');
    control.disabled = true;
    try {
      const slot = await api('POST', '/api/v1/staff/slots', body);
      status = { key: 'slot_published', vars: { time: `${formatDate(slot.starts.date)} ${timeRange(slot)}` } };
      if (slot.starts.date < range.from || slot.starts.date >= addDays(range.from, range.days)) range = { from: slot.starts.date, days: range.days };
      $('range-from').value = range.from;
      await loadCalendar();
      render();
      $('status').tabIndex = -1;
      $('status').focus();
    } catch (error) {
      if (leaveOnError(error)) return;
      refused(error, PUBLISH_FIELDS, (p) => { publishProblem = p; });
    } finally {
      control.disabled = false;
    }
  });

  $('open-queue').addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const id of Object.values(QUEUE_FIELDS)) fieldErrors.delete(id);
    queueProblem = null;
    status = null;
    const control = $('open-queue-button');
    control.disabled = true;
    try {
      await api('POST', '/api/v1/staff/queues', {
        opens: $('queue-opens').value, closes: $('queue-closes').value, visit_minutes: Number($('queue-minutes').value),
      });
      status = { key: 'queue_opened' };
      await loadQueues();
      render();
    } catch (error) {
      if (leaveOnError(error)) return;
      refused(error, QUEUE_FIELDS, (p) => { queueProblem = p; });
    } finally {
      control.disabled = false;
    }
  });

  $('taken-join').addEventListener('click', async () => {
    queueProblem = null;
    const refusal = await joinBooking(taken.id, $('taken-join'));
    if (!refusal || leaveOnError(refusal)) return;
    queueProblem = { error: refusal };
    render();
  });

  onLanguageChange(render);
  $('range-from').value = range.from;
  const nowHere = stockholmNow();
  $('queue-opens').value = `${nowHere.date}T${nowHere.time}`;
  const later = stockholmNow(new Date(Date.now() + 2 * 3600 * 1000));
  $('queue-closes').value = `${later.date}T${later.time}`;
  try {
    await Promise.all([loadCalendar(), loadQueues()]);
  } catch (error) {
    if (!leaveOnError(error)) problem = { error };
  }
  render();
  markReady();
}
