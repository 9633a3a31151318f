// The admin API as the dashboard calls it: same-origin fetches with the session
// cookie, the session's CSRF token on every change, errors as ApiError with the API's
// message. A 401 anywhere means the session is gone: the app shows the login again.

let csrf = null;
let onLoggedOut = () => {};

/** An admin API error: the HTTP status and the API's one-sentence message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Remembers the CSRF token of the current session (null after logout). */
export function setCsrf(token) {
  csrf = token;
}

/** What to do when the API says the session is gone. */
export function whenLoggedOut(fn) {
  onLoggedOut = fn;
}

/** Query string of the non-empty values of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Calls `/api/v1{path}`; resolves to the parsed JSON body. */
export async function api(path, { method = 'GET', body, params } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  const resp = await fetch(`/api/v1${path}${query(params)}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, (data && data.message) || text || resp.statusText);
    if (resp.status === 401 && !path.startsWith('/session/login')) onLoggedOut();
    throw err;
  }
  return data;
}

/** The URL of a list as CSV (the browser sends the session cookie with it). */
export function csvUrl(path, params) {
  return `/api/v1${path}${query({ ...params, format: 'csv', cursor: undefined, limit: undefined })}`;
}
