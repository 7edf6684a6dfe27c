// Files in a call's chat (docs/portal-api.md, "Files in a call"): sending one, and fetching one back for a download or a preview, both with the join token as a Bearer credential.
//
// The token goes only into the `Authorization` header, never into a URL: a URL ends up in
// access logs, the browser's history and `src` attributes. So a file is never linked to
// directly; it is fetched here and handed to the page as a Blob (saved through a `blob:` URL,
// previewed through a `data:` URL, which the server's Content-Security-Policy allows for images).
// Nothing here logs a file's name or content.

/** The types the server accepts (it reads the type from the content, not from the name). */
export const ACCEPTED_TYPES = Object.freeze(['image/jpeg', 'image/png', 'application/pdf']);

/** Why an upload or a download failed: the API's error `code`, or `network` / `aborted`. */
export class FileError extends Error {
  constructor(code, status = 0) {
    super(code);
    this.name = 'FileError';
    this.code = code;
    this.status = status;
  }
}

/** Codes for answers without the API's JSON error body (a proxy's page, say), by status. */
const BY_STATUS = {
  401: 'token_invalid', 403: 'not_admitted', 404: 'not_found', 410: 'visit_ended', 413: 'file_too_large',
  415: 'unsupported_file_type', 429: 'rate_limited',
};

/** The error code of a failed answer: `{"error": {"code": ...}}` (docs/portal-api.md), else by status. */
export function errorCode(status, body) {
  try {
    const code = JSON.parse(body)?.error?.code;
    if (typeof code === 'string' && code) return code;
  } catch {
    // Not the API's error shape.
  }
  return BY_STATUS[status] ?? (status >= 500 ? 'internal' : 'failed');
}

export class CallFiles {
  constructor({ room, token }) {
    this.room = room;
    this.token = token;
    /** File id → Promise<Blob>: a file is fetched once, for its preview and its download. */
    this.fetched = new Map();
  }

  base() {
    return `/api/v1/calls/${encodeURIComponent(this.room)}/uploads`;
  }

  /**
   * Sends `file` into the call's chat. Returns `{ done, abort }`: `done` resolves to the
   * server's description of the kept file (`{ id, name, content_type, size, ... }`) or rejects
   * with a FileError; `onProgress(fraction)` follows the upload (null when unknown).
   * XMLHttpRequest, not fetch, because only it reports upload progress.
   */
  upload(file, onProgress = () => {}) {
    const xhr = new XMLHttpRequest();
    const done = new Promise((resolve, reject) => {
      xhr.open('POST', `${this.base()}?name=${encodeURIComponent(file.name)}`);
      xhr.setRequestHeader('Authorization', `Bearer ${this.token}`);
      xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
      xhr.upload.addEventListener('progress', (event) => onProgress(event.lengthComputable ? event.loaded / event.total : null));
      xhr.addEventListener('load', () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          let kept = {};
          try {
            kept = JSON.parse(xhr.responseText);
          } catch {
            // Kept all the same: the chat message will say what it is.
          }
          resolve(kept);
        } else {
          reject(new FileError(errorCode(xhr.status, xhr.responseText), xhr.status));
        }
      });
      xhr.addEventListener('error', () => reject(new FileError('network')));
      xhr.addEventListener('timeout', () => reject(new FileError('network')));
      xhr.addEventListener('abort', () => reject(new FileError('aborted')));
      xhr.send(file);
    });
    return { done, abort: () => xhr.abort() };
  }

  /** The file `id` as a Blob (fetched once, then kept while the visit lasts); rejects with a FileError. */
  fetch(id) {
    let blob = this.fetched.get(id);
    if (!blob) {
      blob = this.load(id);
      this.fetched.set(id, blob);
      // A failure is not kept: the next click tries again.
      blob.catch(() => { if (this.fetched.get(id) === blob) this.fetched.delete(id); });
    }
    return blob;
  }

  async load(id) {
    let response;
    try {
      response = await fetch(`${this.base()}/${encodeURIComponent(id)}`, {
        headers: { Authorization: `Bearer ${this.token}` },
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch {
      throw new FileError('network');
    }
    if (!response.ok) throw new FileError(errorCode(response.status, await response.text().catch(() => '')), response.status);
    return response.blob();
  }

  /** Forgets every fetched file (the visit is over for us). */
  clear() {
    this.fetched.clear();
  }
}

/** Saves `blob` as a download named `name`, through a short-lived `blob:` URL. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name || 'file';
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Long enough for the browser to have started the download.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** `blob` as a `data:` URL (for an image preview). */
export function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener('load', () => resolve(reader.result));
    reader.addEventListener('error', () => reject(new FileError('failed')));
    reader.readAsDataURL(blob);
  });
}
