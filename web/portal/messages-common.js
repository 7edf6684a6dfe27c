// What the message pages share (messages.html for patients and guardians, inbox.html for staff):
// a conversation's history with each writer's name, the Stockholm time and the attachments with
// download links; attaching files to a message (the raw body, docs/portal-api.md, Messages); and
// the words for the messages API's refusals.

import { api, ApiError, apiUpload } from './api.js';
import { errorText } from './page.js';
import { formatDate, t } from './i18n-portal.js';
import { sizeText } from './bookings-common.js';

/** At most this many files on one message (the API's limit). */
export const MAX_FILES = 5;

/** The words for a type the browser declares ("PNG"), for the refusal of a file whose content is another. */
const TYPE_NAMES = { 'image/png': 'PNG', 'image/jpeg': 'JPEG', 'application/pdf': 'PDF' };

/** "3 december 2026 kl. 17:05" from a Stockholm wall-clock `{date, time}` of the API. */
export function localWhen(local) {
  if (!local?.date) return '';
  return t('msg_when', { date: formatDate(local.date), time: local.time });
}

/** A `<time>` element for a Stockholm wall-clock `{date, time, utc_offset}`. */
function timeElement(local) {
  const el = document.createElement('time');
  if (local?.date && local.time) el.dateTime = `${local.date}T${local.time}${local.utc_offset ?? ''}`;
  el.textContent = localWhen(local);
  return el;
}

/** "2 olästa meddelanden". */
export function unreadText(n) {
  return n === 1 ? t('msg_unread_one') : t('msg_unread_many', { n });
}

/** The status after a message went with `n` files attached. */
export function sentStatus(n) {
  if (n === 0) return { key: 'msg_sent' };
  return n === 1 ? { key: 'msg_sent_with_file' } : { key: 'msg_sent_with_files', vars: { n } };
}

/** The writer as shown: the name, with "(vårdnadshavare)" or "(vårdpersonal)". */
export function authorText(author) {
  const name = author?.name ?? '';
  if (author?.kind === 'staff') return name ? t('msg_author_staff', { name }) : t('msg_author_unknown');
  if (author?.kind === 'guardian') return t('msg_author_guardian', { name });
  return t('msg_author_patient', { name });
}

export function statusWord(status) {
  return status === 'closed' ? t('msg_status_closed') : t('msg_status_open');
}

/**
 * The `<ol>` of a conversation's messages, by `seq`. `isMine(message)` marks the reader's own side;
 * `attachmentHref(attachment)` is where an attachment downloads from. Unread messages (as the
 * server counted them when the conversation was read) carry the word "Nytt", not only a colour.
 */
export function historyView(conversation, { isMine, attachmentHref }) {
  const list = document.createElement('ol');
  list.className = 'msg-list';
  for (const message of conversation.messages ?? []) {
    const item = document.createElement('li');
    item.className = isMine(message) ? 'msg msg-mine' : 'msg';
    item.id = `m-${message.id}`;
    item.dataset.messageId = message.id;
    item.dataset.seq = String(message.seq);
    item.dataset.author = message.author?.kind ?? '';
    if (message.unread) item.dataset.unread = 'true';

    const meta = document.createElement('p');
    meta.className = 'msg-meta';
    const who = document.createElement('strong');
    who.className = 'msg-author';
    who.textContent = authorText(message.author);
    meta.append(who, ' ', timeElement(message.sent));
    if (message.unread) {
      const badge = document.createElement('span');
      badge.className = 'badge-new';
      badge.textContent = t('msg_new');
      meta.append(' ', badge);
    }
    const text = document.createElement('p');
    text.className = 'msg-text';
    text.textContent = message.text;
    item.append(meta, text);

    if (message.attachments?.length) {
      const files = document.createElement('ul');
      files.className = 'link-list msg-files';
      files.setAttribute('aria-label', t('msg_attachments'));
      for (const attachment of message.attachments) {
        const li = document.createElement('li');
        const link = document.createElement('a');
        link.href = attachmentHref(attachment);
        link.setAttribute('download', '');
        link.dataset.attachmentId = attachment.id;
        link.textContent = attachment.name;
        link.setAttribute('aria-label', t('msg_download', { name: attachment.name, size: sizeText(attachment.size) }));
        const detail = document.createElement('span');
        detail.className = 'choice-detail';
        detail.textContent = ` (${sizeText(attachment.size)})`;
        li.append(link, detail);
        files.append(li);
      }
      item.append(files);
    }
    list.append(item);
  }
  return list;
}

/**
 * Attaches `files` one by one to the message at `messagePath` (`…/messages/{id}`) and resolves to
 * `{attached: [Attachment], refused: [{file, error}]}`: a refused file does not stop the others.
 * The name travels percent-encoded in `X-File-Name` (never in the address).
 */
export async function attachFiles(messagePath, files) {
  const attached = [];
  const refused = [];
  for (const file of files) {
    try {
      attached.push(await apiUpload(`${messagePath}/attachments`, file, { 'X-File-Name': encodeURIComponent(file.name) }));
    } catch (error) {
      refused.push({ file, error });
    }
  }
  return { attached, refused };
}

/** Codes with a text of their own (`msg_error_<code>`). */
const FILE_CODES = new Set([
  'too_many_attachments', 'file_too_large', 'file_type_mismatch', 'unsupported_file_type', 'empty_file', 'upload_incomplete',
]);
const OTHER_CODES = new Set([
  'unknown_care_unit', 'conversation_closed', 'conversation_not_found', 'message_not_found', 'attachment_not_found',
  'not_your_message', 'not_clinician', 'no_account', 'no_care_unit', 'not_a_clinician_of_unit',
]);

/**
 * The words for a refusal of the messages API; `file` is the File a refused attachment was
 * (its name goes into the text, so the person knows which one).
 */
export function messageErrorText(error, file = null) {
  if (!(error instanceof ApiError)) return errorText(error);
  const name = file?.name ?? '';
  if (FILE_CODES.has(error.code)) {
    const type = TYPE_NAMES[file?.type] ?? (file?.type || t('msg_type_unknown'));
    return t(`msg_error_${error.code}`, { file: name, type });
  }
  if (error.code === 'invalid_field' && error.field === 'X-File-Name') return t('msg_error_file_name', { file: name });
  if (OTHER_CODES.has(error.code)) return t(`msg_error_${error.code}`);
  if (error.code === 'invalid_field' || error.code === 'missing_field') {
    switch (error.field) {
      case 'subject': return t('msg_subject_invalid');
      case 'text': return t('msg_text_invalid');
      case 'care_unit': return t('msg_care_unit_missing');
      case 'staff_id': return t('msg_error_staff_id_invalid');
      default: break;
    }
  }
  return errorText(error);
}

/**
 * What the person typed in a subject or message field, checked as the server will (trimmed
 * length; the server also refuses invisible characters and says so): an i18n key or null.
 */
export function checkText(value, { max, missingKey, invalidKey, oneLine = false }) {
  const trimmed = value.trim();
  if (!trimmed) return missingKey;
  if ([...trimmed].length > max || (oneLine && /[\r\n]/.test(trimmed))) return invalidKey;
  return null;
}

/** A list element saying which files were refused and why. */
export function refusalList(refused) {
  const list = document.createElement('ul');
  for (const { file, error } of refused) {
    const li = document.createElement('li');
    li.textContent = messageErrorText(error, file);
    list.append(li);
  }
  return list;
}

const $ = (id) => document.getElementById(id);

/** Shows a field's problem (an i18n key, or null to clear) on `#id` and `#id-error`. */
export function fieldProblem(id, text) {
  const input = $(id);
  const out = $(`${id}-error`);
  if (out) out.textContent = text ?? '';
  if (!input) return;
  if (text) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

/**
 * The reply form of an open conversation (`#reply-form` with `#reply-text`, `#reply-files`) and
 * the form that attaches a file again after a refusal (`#retry-form`, `#retry-files`,
 * `#files-error`), the same on the patient's page and the staff inbox. `path()` is the open
 * conversation's API path (`/api/v1/conversations/{id}` or `/api/v1/staff/conversations/{id}`);
 * `sent({message, attached})` runs after a message went (the page reads the conversation again and
 * says so); `failed(error)` shows a refusal of the message itself.
 *
 * A message goes first and its files after it (the API attaches files to a written message), so a
 * refused file leaves the message sent without it: the refusal says which file and why, and the
 * retry form attaches another file to that same message.
 */
export class Composer {
  constructor({ path, sent, failed }) {
    this.path = path;
    this.sent = sent;
    this.failed = failed;
    /** `{messagePath, refused: [{file, error}]}` while files a refusal left out may be attached again. */
    this.retry = null;
    this.fieldErrors = new Map();

    $('reply-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    $('retry-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.attachAgain();
    });
    $('retry-done').addEventListener('click', () => {
      this.retry = null;
      this.render();
      $('reply-text').focus();
    });
  }

  /** Forgets the refusals and field problems (another conversation was opened). */
  reset() {
    this.retry = null;
    this.fieldErrors.clear();
    $('reply-form').reset();
    this.render();
  }

  /** After files were refused on the message at `messagePath`: show why and offer the retry form. */
  showRefused(messagePath, refused) {
    this.retry = { messagePath, refused };
    this.render();
    $('files-error').focus();
  }

  render() {
    for (const id of ['reply-text', 'reply-files', 'retry-files']) {
      const key = this.fieldErrors.get(id);
      fieldProblem(id, key ? t(key) : null);
    }
    $('retry-form').hidden = !this.retry;
    const box = $('files-error');
    if (!this.retry || this.retry.refused.length === 0) {
      box.replaceChildren();
      return;
    }
    const intro = document.createElement('p');
    intro.textContent = t('msg_files_not_attached');
    box.replaceChildren(intro, refusalList(this.retry.refused));
  }

  async send() {
    this.fieldErrors.clear();
    const text = $('reply-text').value;
    const files = [...$('reply-files').files];
    const problem = checkText(text, { max: 5000, missingKey: 'msg_text_missing', invalidKey: 'msg_text_invalid' });
    if (problem) this.fieldErrors.set('reply-text', problem);
    if (files.length > MAX_FILES) this.fieldErrors.set('reply-files', 'msg_too_many_files');
    this.render();
    if (this.fieldErrors.size) {
      $(this.fieldErrors.keys().next().value).focus();
      return;
    }
    const button = $('reply-send');
    button.disabled = true;
    button.textContent = t('msg_sending');
    try {
      const path = this.path();
      let message;
      try {
        message = await api('POST', `${path}/messages`, { text });
      } catch (error) {
        if (error instanceof ApiError && error.field === 'text') {
          this.fieldErrors.set('reply-text', 'msg_text_invalid');
          this.render();
          $('reply-text').focus();
          return;
        }
        this.failed(error);
        return;
      }
      $('reply-form').reset();
      this.retry = null;
      const messagePath = `${path}/messages/${encodeURIComponent(message.id)}`;
      const { attached, refused } = await attachFiles(messagePath, files);
      await this.sent({ message, attached });
      if (refused.length) {
        this.showRefused(messagePath, refused);
      } else {
        this.render();
        $('reply-text').focus();
      }
    } finally {
      button.disabled = false;
      button.textContent = t('msg_send');
    }
  }

  async attachAgain() {
    this.fieldErrors.clear();
    const files = [...$('retry-files').files];
    if (files.length === 0) this.fieldErrors.set('retry-files', 'msg_retry_choose');
    else if (files.length > MAX_FILES) this.fieldErrors.set('retry-files', 'msg_too_many_files');
    this.render();
    if (this.fieldErrors.size) {
      $('retry-files').focus();
      return;
    }
    const button = $('retry-send');
    button.disabled = true;
    try {
      const { messagePath } = this.retry;
      const { attached, refused } = await attachFiles(messagePath, files);
      $('retry-files').value = '';
      await this.sent({ message: null, attached });
      if (refused.length) {
        this.showRefused(messagePath, refused);
      } else {
        this.retry = null;
        this.render();
        $('reply-text').focus();
      }
    } finally {
      button.disabled = false;
    }
  }
}
