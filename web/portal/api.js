// The portal's JSON API (docs/portal-api.md) as the pages use it: same-origin credentials, JSON
// bodies, the session's CSRF token on every state-changing request, and error bodies turned into
// thrown ApiErrors.

/** A failed API call: the HTTP status and the error body's `code`, `field` and texts. */
export class ApiError extends Error {
  constructor(status, error = {}) {
    super(error.message || `HTTP ${status}`);
    this.name = 'ApiError';
    /** HTTP status; 0 when the server could not be reached at all. */
    this.status = status;
    /** Stable code (`invalid_field`, `not_logged_in`, ...); `network` when unreachable. */
    this.code = typeof error.code === 'string' ? error.code : `http_${status}`;
    /** The field at fault, a dotted path (`settings.language`), or null. */
    this.field = typeof error.field === 'string' ? error.field : null;
    /** `{sv, en}` meant for the person (protected identity), or null. */
    this.userMessage = error.user_message && typeof error.user_message === 'object' ? error.user_message : null;
  }
}

let csrfToken = null;

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Calls `method path` with `body` (JSON) and resolves to the parsed answer, or null for an
 * answer without a body (204). Throws ApiError for 4xx/5xx answers and unreachable servers.
 */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (STATE_CHANGING.has(method)) {
    if (csrfToken === null) await getSession();
    headers['X-CSRF-Token'] = csrfToken;
  }
  return send(path, init);
}

/** Fetches and turns the answer into parsed JSON (null without a body) or a thrown ApiError. */
async function send(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { code: 'network', message: 'the server could not be reached' });
  }
  const text = await response.text().catch(() => '');
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!response.ok) {
    const error = json && typeof json.error === 'object' && json.error !== null ? json.error : {};
    if (response.status === 401) csrfToken = null;
    throw new ApiError(response.status, error);
  }
  return json;
}

/**
 * Sends `file` (a File or Blob) as the raw body of `POST path`, as the attachment endpoints take
 * it (docs/portal-api.md, Messages): `Content-Type` is the file's own type (the server compares it
 * with what the content is), `headers` adds e.g. `X-File-Name`. Resolves to the parsed answer;
 * throws ApiError like `api()`.
 */
export async function apiUpload(path, file, headers = {}) {
  if (csrfToken === null) await getSession();
  const init = {
    method: 'POST',
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { Accept: 'application/json', 'X-CSRF-Token': csrfToken, ...headers },
    body: file,
  };
  // Without a type of its own the file goes without one, which the server names
  // (`unsupported_file_type`), rather than the browser's guess.
  if (file.type) init.headers['Content-Type'] = file.type;
  return send(path, init);
}

/** Remembers a session body's CSRF token (from `GET /session` or `PUT /acting-as`). */
export function rememberSession(session) {
  if (session && typeof session.csrf_token === 'string') csrfToken = session.csrf_token;
  return session;
}

/** `GET /api/v1/session`; throws ApiError `not_logged_in` (401) without a session. */
export async function getSession() {
  return rememberSession(await api('GET', '/api/v1/session'));
}

/** `GET /api/v1/session`, or null when nobody is logged in. */
export async function sessionOrNull() {
  try {
    return await getSession();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export const getRegion = () => api('GET', '/api/v1/region');

/** Logs out; a session that had already ended counts as logged out. */
export async function logout() {
  try {
    await api('POST', '/api/v1/auth/logout');
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error;
  } finally {
    csrfToken = null;
  }
}
