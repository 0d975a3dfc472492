/**
 * Redacting URLs for log lines and error messages. A Redis (or any other) URL may carry a password in its
 * user-info part or in a `password` query parameter; {@link redactUrl} is the one place that hides both, so
 * every log line and error that names a URL goes through it. It never parses with `new URL`: a password
 * with an unencoded `/`, `@`, `:` or `#` makes such a URL invalid or splits it in the wrong place, and the
 * secret would then leak through the fallback.
 */

/** What a hidden secret is shown as. */
export const REDACTED = "***";

/** Query parameters whose value is a secret (ioredis reads connection options from the query string). */
const SECRET_PARAMS = /([?&](?:password|pass|pwd|token|secret)=)[^&]*/gi;

/**
 * `url` with its password replaced by `***`: `redis://flotilla:***@host:6379/0`. The user name is kept,
 * so an error still says which account failed. User info ends at the last `@`, so a password holding `@`,
 * `/`, `:` or percent-escapes is hidden whole; user info without a `:` may be a bare password
 * (`redis://secret@host`) and is hidden too. Text that is not a URL comes back unchanged.
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  const start = scheme ? scheme[0].length : url.startsWith("//") ? 2 : 0;
  const at = url.lastIndexOf("@");
  let out = url;
  if (at >= start) {
    const userInfo = url.slice(start, at);
    const colon = userInfo.indexOf(":");
    const shown = colon === -1 ? REDACTED : `${userInfo.slice(0, colon)}:${REDACTED}`;
    out = url.slice(0, start) + shown + url.slice(at);
  }
  return out.replace(SECRET_PARAMS, `$1${REDACTED}`);
}
