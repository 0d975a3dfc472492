import { describe, expect, it } from "vitest";
import { redactUrl } from "./redact-url.js";

describe("redactUrl", () => {
  const nasty = ["p@ss/w:rd", "a/b/c", "x@y@z", "colon:in:it", "pct%2F%40%3Aenc", "#frag?q=1", "🔑 k"];

  it.each(nasty)("hides the password %j whole and keeps user, host, port and db", (password) => {
    for (const scheme of ["redis", "rediss"]) {
      const url = `${scheme}://flotilla:${password}@redis.lan:6380/2`;
      const shown = redactUrl(url);
      expect(shown).toBe(`${scheme}://flotilla:***@redis.lan:6380/2`);
      expect(shown).not.toContain(password);
    }
  });

  it("hides a password with an empty user name and a bare user-info", () => {
    expect(redactUrl("redis://:s3cret@127.0.0.1:6379")).toBe("redis://:***@127.0.0.1:6379");
    expect(redactUrl("redis://s3cret@127.0.0.1:6379")).toBe("redis://***@127.0.0.1:6379");
  });

  it("hides a password given as a query parameter", () => {
    expect(redactUrl("redis://127.0.0.1:6379?password=s3cret&db=1")).toBe(
      "redis://127.0.0.1:6379?password=***&db=1",
    );
    expect(redactUrl("rediss://u:a@b@h:1/0?Password=x%2Fy")).toBe("rediss://u:***@h:1/0?Password=***");
  });

  it("hides user info without a scheme, and leaves URLs without secrets alone", () => {
    expect(redactUrl("user:p/w@host:6379")).toBe("user:***@host:6379");
    expect(redactUrl("redis://127.0.0.1:6379/0")).toBe("redis://127.0.0.1:6379/0");
    expect(redactUrl("ws://127.0.0.1:7420")).toBe("ws://127.0.0.1:7420");
    expect(redactUrl("/tmp/redis.sock")).toBe("/tmp/redis.sock");
  });
});
