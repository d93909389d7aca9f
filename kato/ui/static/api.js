// The HTTP client of the page: the typed credential lives in sessionStorage (this tab only)
// and travels as a header, never in a URL. Errors carry the server's envelope message.

const CREDENTIAL_KEY = "kato.credential";

export function credential() {
  return sessionStorage.getItem(CREDENTIAL_KEY) || "";
}

export function setCredential(value) {
  if (value) sessionStorage.setItem(CREDENTIAL_KEY, value);
  else sessionStorage.removeItem(CREDENTIAL_KEY);
}

// API keys look like kato_<12 hex>_<secret> and go in X-API-Key; anything else is a JWT.
function authHeaders() {
  const value = credential();
  if (!value) return {};
  return value.startsWith("kato_") ? { "X-API-Key": value } : { Authorization: `Bearer ${value}` };
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(response) {
  let code = "HTTP_" + response.status;
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, code, `${message} (${response.status} ${code})`);
}

export async function request(method, path, { body, headers = {}, text = false } = {}) {
  const init = { method, headers: { ...authHeaders(), ...headers }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  return text ? response.text() : response.json();
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const patch = (path, body) => request("PATCH", path, { body });
export const del = (path) => request("DELETE", path);

export const enc = encodeURIComponent;
