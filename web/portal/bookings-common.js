// What the booking pages share (bookings.html, book.html, dropin.html, calendar.html): booking
// times as the Europe/Stockholm wall clock the API sends them, the words for kinds, statuses and
// the bookings API's refusals, the Join button's request, and a booking's files.

import { api, ApiError } from './api.js';
import { errorText } from './page.js';
import { formatDate, language, t } from './i18n-portal.js';

/**
 * "12 juni 2026, 10:00–10:30" from a booking's or slot's `starts`/`ends` (Stockholm wall-clock
 * times from the API, so the browser's own time zone never shifts them).
 */
export function whenText(item) {
  const start = item?.starts;
  const end = item?.ends;
  if (!start) return '';
  const date = formatDate(start.date);
  if (!end) return t('when_start', { date, start: start.time });
  if (end.date !== start.date) return t('when_range_days', { date, start: start.time, end_date: formatDate(end.date), end: end.time });
  return t('when_range', { date, start: start.time, end: end.time });
}

/** "10:00–10:30": the times only, for lists grouped by date. */
export function timeRange(item) {
  return `${item?.starts?.time ?? ''}–${item?.ends?.time ?? ''}`;
}

/** "Videobesök" or "Mottagningsbesök, Storgatan 1", plus "gruppbesök" for group slots. */
export function kindText(item) {
  const base = item?.kind === 'digital' ? t('kind_digital') : t('kind_physical', { place: item?.place ?? '' });
  return item?.mode === 'group' ? t('kind_group', { kind: base }) : base;
}

export function statusText(status) {
  switch (status) {
    case 'booked': return t('status_booked');
    case 'done': return t('status_done');
    case 'cancelled': return t('status_cancelled');
    case 'no_show': return t('status_no_show');
    default: return String(status ?? '');
  }
}

/** Whether a booking is still ahead or going on (not ended, and not long past). */
export function isCurrent(booking, nowSeconds = Date.now() / 1000) {
  return booking?.status === 'booked' && booking.ends_at > nowSeconds;
}

/**
 * The time in a `join_not_open` refusal's message ("the visit can be joined from 2026-06-12
 * 09:50 (+02:00)", docs/portal-api.md: the message says when Join opens, in Stockholm time), as
 * `{date, time}`, or null when the message has no such time.
 */
export function joinOpensFrom(message) {
  const match = /(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})/.exec(String(message ?? ''));
  return match ? { date: match[1], time: match[2] } : null;
}

/** The words for a refusal of the bookings API (docs/portal-api.md, Bookings), else the general ones. */
export function bookingErrorText(error) {
  if (!(error instanceof ApiError)) return errorText(error);
  switch (error.code) {
    case 'join_not_open': {
      const opens = joinOpensFrom(error.message);
      return opens
        ? t('error_join_not_open_at', { date: formatDate(opens.date), time: opens.time })
        : t('error_join_not_open', { message: error.message });
    }
    case 'missing_field':
    case 'invalid_field':
    case 'invalid_type':
    case 'invalid_local_time':
    case 'nonexistent_local_time':
    case 'time_out_of_range':
    case 'slot_in_past':
    case 'not_a_clinician_of_unit': {
      const key = `error_${error.code}`;
      return t(key, { field: fieldName(error.field) });
    }
    default: {
      const key = `error_${error.code}`;
      return KNOWN_CODES.has(error.code) ? t(key) : errorText(error);
    }
  }
}

/** Refusals with a text of their own (`error_<code>` in i18n-portal.js). */
const KNOWN_CODES = new Set([
  'join_closed', 'booking_ended', 'not_digital', 'not_your_booking', 'wrong_care_unit', 'not_clinician',
  'slot_not_found', 'booking_not_found', 'slot_full', 'already_booked', 'overlapping_booking',
  'too_late_to_change', 'slot_has_bookings', 'not_started', 'queue_not_found', 'queue_not_open',
  'already_queued', 'not_queued', 'queue_empty', 'conflict', 'no_account', 'not_found',
]);

/** The field a refusal names, in words ("starttid"), or the API's name when there are none. */
function fieldName(field) {
  if (!field) return '';
  const key = `field_name_${field}`;
  const text = t(key);
  return text === key ? field : text;
}

/**
 * Presses Join: asks the server for a join token for this booking there and then
 * (`POST /api/v1/bookings/{id}/join`) and opens the call page it answers with. Resolves to
 * null when it navigates, or to the error when the server refuses (the caller says why, with
 * `bookingErrorText`, where the person is looking).
 */
export async function joinBooking(bookingId, button) {
  button.disabled = true;
  const label = button.textContent;
  button.textContent = t('joining');
  try {
    const answer = await api('POST', `/api/v1/bookings/${encodeURIComponent(bookingId)}/join`);
    // The call page reads the token from the fragment (#token=); it never goes to a server log.
    location.assign(answer.url);
    return null;
  } catch (error) {
    button.disabled = false;
    button.textContent = label;
    return error;
  }
}

/** `YYYY-MM-DD` and `HH:MM` of the Stockholm wall clock at `date` (default now). */
export function stockholmNow(date = new Date()) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(date).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

/** `YYYY-MM-DD` plus `days` calendar days. */
export function addDays(isoDate, days) {
  const [y, m, d] = isoDate.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d + days));
  return date.toISOString().slice(0, 10);
}

/** Whether `value` is a real `YYYY-MM-DD` date. */
export function isIsoDate(value) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(String(value ?? ''))) return false;
  return addDays(value, 0) === value;
}

/** A file size in words ("12 kB"). */
export function sizeText(bytes) {
  const locale = language() === 'sv' ? 'sv-SE' : 'en-GB';
  if (bytes < 1024) return t('size_bytes', { n: bytes });
  const kb = bytes / 1024;
  if (kb < 1024) return t('size_kb', { n: new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(kb) });
  return t('size_mb', { n: new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(kb / 1024) });
}

/**
 * The files uploaded in a booking's call (`GET /api/v1/bookings/{id}/uploads`): `{files}` or
 * `{error}`. Staff reading them is logged by the server, so staff pages ask only on request.
 */
export async function loadFiles(bookingId) {
  try {
    const files = await api('GET', `/api/v1/bookings/${encodeURIComponent(bookingId)}/uploads`);
    return { files: Array.isArray(files) ? files : [] };
  } catch (error) {
    return { error };
  }
}

/** The element listing `loaded` (from `loadFiles`), each file a download link. */
export function filesView(loaded, bookingId) {
  const box = document.createElement('div');
  box.className = 'files-box';
  if (!loaded) return box;
  if (loaded.error) {
    const p = document.createElement('p');
    p.className = 'field-error';
    p.textContent = bookingErrorText(loaded.error);
    box.append(p);
    return box;
  }
  if (loaded.files.length === 0) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = t('files_none');
    box.append(p);
    return box;
  }
  const heading = document.createElement('p');
  heading.className = 'files-heading';
  heading.textContent = t('files_heading');
  const list = document.createElement('ul');
  list.className = 'link-list files';
  for (const file of loaded.files) {
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = `/api/v1/bookings/${encodeURIComponent(bookingId)}/uploads/${encodeURIComponent(file.id)}`;
    link.setAttribute('download', '');
    link.textContent = file.name;
    const detail = document.createElement('span');
    detail.className = 'choice-detail';
    const when = file.uploaded ? `, ${formatDate(file.uploaded.date)} ${file.uploaded.time}` : '';
    detail.textContent = ` (${sizeText(file.size)}, ${t(`uploaded_by_${file.uploaded_by}`)}${when})`;
    item.append(link, detail);
    list.append(item);
  }
  box.append(heading, list);
  return box;
}

/** A `<dl class="facts">` of `[termKey, value]` pairs (values that are empty are left out). */
export function factList(pairs) {
  const dl = document.createElement('dl');
  dl.className = 'facts facts-compact';
  for (const [key, value] of pairs) {
    if (value === null || value === undefined || value === '') continue;
    const div = document.createElement('div');
    const dt = document.createElement('dt');
    dt.textContent = t(key);
    const dd = document.createElement('dd');
    dd.textContent = value;
    div.append(dt, dd);
    dl.append(div);
  }
  return dl;
}

/** A button with text and class. */
export function button(text, className = 'button') {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  return b;
}
