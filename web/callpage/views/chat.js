// The chat panel of a group visit: the messages with their senders' names exactly as the server sent them and the time, files sent into the chat (with a download, and a preview of images), and the form to send a message or a file. Chat text and file names are only ever put into the page as text, and never logged.

import { has, locale, t } from '/i18n.js';
import { ACCEPTED_TYPES, FileError, dataUrl, saveBlob } from '../files.js';
import { roleText } from './tile.js';

/** The server's limit (docs/signalling.md, `chat`). */
const MAX_CHARS = 2000;

/** Images up to this size get a preview in the chat (fetched when the message comes into view). */
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;

/** Error codes told with another code's text. */
const SAME_FILE_TEXT = {
  token_missing: 'token_invalid', token_not_yet_valid: 'token_invalid', token_wrong_room: 'token_invalid',
  upload_incomplete: 'network',
};

/** The i18n key of a failed upload's or download's text (`file_error_CODE`, else a general one). */
function fileErrorKey(code, fallback) {
  const key = `file_error_${SAME_FILE_TEXT[code] ?? code}`;
  return has(key) ? key : fallback;
}

/** A size in bytes for people: "830 byte", "47 kB", "2,4 MB" (1 kB = 1 024 bytes). */
export function formatSize(bytes) {
  const size = Number(bytes) || 0;
  const [value, unit] = size < 1024 ? [size, 'byte'] : size < 1024 * 1024 ? [size / 1024, 'kilobyte'] : [size / (1024 * 1024), 'megabyte'];
  return new Intl.NumberFormat(locale(), { style: 'unit', unit, maximumFractionDigits: unit === 'megabyte' ? 1 : 0 }).format(value);
}

/** The kind of file for people ("PDF document"), from the type the server sniffed. */
function typeText(contentType) {
  const key = { 'image/jpeg': 'file_type_jpeg', 'image/png': 'file_type_png', 'application/pdf': 'file_type_pdf' }[contentType];
  return t(key ?? 'file_type_other');
}

export class ChatView {
  /**
   * `ui`: `{ log, list, empty, form, input, attach, attachHint, fileInput, upload, uploadText,
   * progress, uploadCancel, uploadError }`; `send(message)` sends on the signalling session; `files`
   * (files.js) sends and fetches files, when `canAttach` (the link has a booking to keep them
   * with); `isOpen()` says whether the panel shows; `onUnread(count)` is told how many came
   * unseen.
   */
  constructor({ ui, state, notices, send, files, canAttach = true, isOpen, onUnread }) {
    this.ui = ui;
    this.state = state;
    this.notices = notices;
    this.send = send;
    this.files = files;
    this.isOpen = isOpen;
    this.onUnread = onUnread;
    this.unread = 0;
    /** The text of the last message sent, to give it back if the server refuses it. */
    this.lastSent = null;
    /** The upload under way: `{ name, abort }`, or null. */
    this.uploading = null;
    /** The last upload error shown: `{ key }`, redrawn on a language switch. */
    this.uploadErrorKey = null;
    /** Image previews by file id: a `data:` URL, or null when it could not be had. */
    this.previews = new Map();
    /** Download errors by file id (an i18n key), shown under the file until the next try. */
    this.downloadErrors = new Map();
    /** Previews are fetched when their message scrolls into view in the open panel. */
    this.previewObserver = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        this.previewObserver.unobserve(entry.target);
        this.loadPreview(entry.target);
      }
    }, { root: ui.log });

    ui.attach.hidden = !canAttach;
    ui.attachHint.hidden = !canAttach;
    ui.fileInput.accept = ACCEPTED_TYPES.join(',');
    // Busy is aria-disabled, not disabled: a disabled button would lose the keyboard focus.
    ui.attach.addEventListener('click', () => { if (!this.uploading) ui.fileInput.click(); });
    ui.fileInput.addEventListener('change', () => {
      const [file] = ui.fileInput.files;
      ui.fileInput.value = '';
      if (file) this.sendFile(file);
    });
    ui.uploadCancel.addEventListener('click', () => this.uploading?.abort());
    // Files fetched for this visit are let go when we are out of it.
    state.on('screen', (screen) => {
      if (screen === 'call') return;
      this.uploading?.abort();
      this.files.clear();
      this.previews.clear();
      this.downloadErrors.clear();
      this.showUploadError(null);
    });

    state.on('chat', ({ reset, message }) => (reset ? this.renderAll() : this.append(message)));
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    // Enter sends, Shift+Enter starts a new line (as in other chats).
    ui.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.renderAll();
  }

  submit() {
    const text = this.ui.input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      this.notices.flash('flash_chat_too_long');
      return;
    }
    this.send({ type: 'chat', text });
    this.lastSent = this.ui.input.value;
    this.ui.input.value = '';
  }

  /** Sends `file` into the chat (docs/portal-api.md, "Files in a call"), showing its progress. */
  async sendFile(file) {
    if (this.uploading) return;
    this.showUploadError(null);
    // What the server would refuse anyway, said before a byte is sent. The type is checked
    // only when the browser knows it: the server reads it from the content.
    if (file.type && !ACCEPTED_TYPES.includes(file.type)) {
      this.showUploadError('file_error_unsupported_file_type');
      return;
    }
    if (file.size === 0) {
      this.showUploadError('file_error_empty_file');
      return;
    }
    const { done, abort } = this.files.upload(file, (fraction) => this.showProgress(fraction));
    this.uploading = { name: file.name, abort };
    this.renderUpload();
    try {
      const kept = await done;
      // Kept with the booking, but not shown in the chat (sent too fast, or we left meanwhile).
      if (kept?.announced === false) this.showUploadError('file_not_announced');
      else this.notices.announce(t('file_sent'));
    } catch (error) {
      const code = error instanceof FileError ? error.code : 'failed';
      // The code only: never the file's name.
      if (code !== 'aborted') console.warn('upload refused', code);
      this.showUploadError(code === 'aborted' ? null : fileErrorKey(code, 'file_error_upload'));
    } finally {
      this.uploading = null;
      this.renderUpload();
    }
  }

  showProgress(fraction) {
    const { progress } = this.ui;
    if (fraction === null) progress.removeAttribute('value');
    else progress.value = fraction;
  }

  /** The busy state while a file is being sent: a progress bar and a cancel button. */
  renderUpload() {
    const { ui } = this;
    const busy = Boolean(this.uploading);
    ui.upload.hidden = !busy;
    ui.attach.setAttribute('aria-disabled', String(busy));
    ui.form.setAttribute('aria-busy', String(busy));
    if (busy) {
      ui.uploadText.textContent = t('file_sending', { name: this.uploading.name });
      this.showProgress(0);
    }
  }

  /** Shows (and says) why a file could not be sent, or clears it with null. */
  showUploadError(key) {
    this.uploadErrorKey = key;
    this.ui.uploadError.hidden = !key;
    this.ui.uploadError.textContent = key ? t(key) : '';
    if (key) this.notices.announce(t(key));
  }

  /** The server refused our last message (`chat_too_long`, `rate_limited`): give it back to edit. */
  refused() {
    if (this.lastSent && !this.ui.input.value) this.ui.input.value = this.lastSent;
    this.lastSent = null;
  }

  /** The panel was opened: everything is seen now. */
  opened() {
    this.setUnread(0);
    this.scrollToEnd();
  }

  setUnread(count) {
    this.unread = count;
    this.onUnread(count);
  }

  renderAll() {
    this.previewObserver.disconnect();
    this.ui.list.replaceChildren(...this.state.chat.map((m) => this.item(m)));
    this.ui.empty.hidden = this.state.chat.length > 0;
    this.scrollToEnd();
  }

  append(message) {
    const log = this.ui.log;
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    this.ui.list.append(this.item(message));
    while (this.ui.list.children.length > this.state.chat.length) this.ui.list.firstElementChild.remove();
    this.ui.empty.hidden = true;
    if (atEnd || message.from === this.state.self?.id) this.scrollToEnd();
    if (message.from === this.state.self?.id) {
      this.lastSent = null;
    } else if (!this.isOpen()) {
      this.setUnread(this.unread + 1);
      this.notices.announce(t(message.file ? 'announce_file' : 'announce_chat', { name: message.name }));
    }
  }

  scrollToEnd() {
    this.ui.log.scrollTop = this.ui.log.scrollHeight;
  }

  /** One message: sender (as the server named them for us), role, time, text. */
  item(message) {
    const li = document.createElement('li');
    li.className = 'chat-message';
    li.dataset.id = String(message.id);
    li.classList.toggle('is-own', message.from === this.state.self?.id);
    const meta = document.createElement('p');
    meta.className = 'chat-meta';
    const sender = document.createElement('span');
    sender.className = 'chat-sender';
    sender.textContent = message.name;
    meta.append(sender);
    const role = roleText(message.role);
    if (role) {
      const roleEl = document.createElement('span');
      roleEl.className = 'chat-role';
      roleEl.textContent = ` (${role})`;
      meta.append(roleEl);
    }
    const time = document.createElement('time');
    time.className = 'chat-time';
    const at = new Date(Number(message.at));
    if (!Number.isNaN(at.getTime())) {
      time.dateTime = at.toISOString();
      time.textContent = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(at);
    }
    meta.append(' ', time);
    li.append(meta);
    if (message.text) {
      const text = document.createElement('p');
      text.className = 'chat-text';
      text.textContent = message.text;
      li.append(text);
    }
    if (message.file && typeof message.file.id === 'string') li.append(this.fileItem(message.file));
    return li;
  }

  /** A file in the chat: preview (images), name, kind and size, and a download button. */
  fileItem(file) {
    const box = document.createElement('div');
    box.className = 'chat-file';
    box.dataset.file = file.id;
    if (this.previewable(file)) {
      const preview = document.createElement('img');
      preview.className = 'chat-file-preview';
      preview.alt = t('file_preview_alt', { name: file.name });
      const known = this.previews.get(file.id);
      if (known) preview.src = known;
      preview.hidden = !known;
      box.append(preview);
      if (!this.previews.has(file.id)) this.previewObserver.observe(box);
    }
    const name = document.createElement('p');
    name.className = 'chat-file-name';
    name.textContent = file.name;
    const info = document.createElement('p');
    info.className = 'chat-file-info';
    info.textContent = `${typeText(file.content_type)}, ${formatSize(file.size)}`;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'button button-small chat-file-download';
    const label = document.createElement('span');
    label.textContent = t('file_download');
    // The name makes each button's accessible name unique ("Download rash.jpg").
    const hidden = document.createElement('span');
    hidden.className = 'visually-hidden';
    hidden.textContent = ` ${file.name}`;
    button.append(label, hidden);
    button.addEventListener('click', () => this.download(file, box));
    const error = document.createElement('p');
    error.className = 'chat-file-error form-error';
    const errorKey = this.downloadErrors.get(file.id);
    error.hidden = !errorKey;
    error.textContent = errorKey ? t(errorKey) : '';
    box.append(name, info, button, error);
    return box;
  }

  previewable(file) {
    return (file.content_type === 'image/jpeg' || file.content_type === 'image/png') && Number(file.size) <= PREVIEW_MAX_BYTES;
  }

  /** Fetches an image's preview for the file box `box` (with the token, never in a `src`). */
  async loadPreview(box) {
    const id = box.dataset.file;
    if (this.previews.has(id)) return;
    let url = null;
    try {
      url = await dataUrl(await this.files.fetch(id));
    } catch (error) {
      console.warn('no preview', error instanceof FileError ? error.code : 'failed');
    }
    this.previews.set(id, url);
    // The message may have been drawn again meanwhile: fill whichever box shows it now.
    const img = this.ui.list.querySelector(`.chat-file[data-file="${CSS.escape(id)}"] .chat-file-preview`);
    if (img && url) {
      img.src = url;
      img.hidden = false;
    }
  }

  /** Fetches the file with the token and saves it; a failure is shown under the file. */
  async download(file, box) {
    const button = box.querySelector('.chat-file-download');
    const error = box.querySelector('.chat-file-error');
    if (button.getAttribute('aria-disabled') === 'true') return;
    this.downloadErrors.delete(file.id);
    error.hidden = true;
    button.setAttribute('aria-disabled', 'true');
    try {
      saveBlob(await this.files.fetch(file.id), file.name);
    } catch (failure) {
      const code = failure instanceof FileError ? failure.code : 'failed';
      console.warn('download failed', code);
      const key = fileErrorKey(code, 'file_error_download');
      this.downloadErrors.set(file.id, key);
      error.textContent = t(key);
      error.hidden = false;
      this.notices.announce(t(key));
    } finally {
      button.removeAttribute('aria-disabled');
    }
  }

  /** Draws again in the new language (role names, times, file texts). */
  redraw() {
    this.renderAll();
    if (this.uploadErrorKey) this.ui.uploadError.textContent = t(this.uploadErrorKey);
    if (this.uploading) this.ui.uploadText.textContent = t('file_sending', { name: this.uploading.name });
  }
}
