import { describe, expect, it } from "vitest";
import { redisConnectionOptions } from "./redis-connection.js";

describe("redisConnectionOptions", () => {
  it("turns TLS on for rediss:// with the CA and client certificate given, and the user beats the URL's", () => {
    const options = redisConnectionOptions("rediss://url-user:url-pass@redis.lan:6380", {
      ca: "CA",
      cert: "CERT",
      key: "KEY",
      username: "flotilla",
      password: "from-file",
    });
    expect(options.tls).toEqual({ ca: "CA", cert: "CERT", key: "KEY" });
    expect(options).toMatchObject({ username: "flotilla", password: "from-file" });
    expect(redisConnectionOptions("rediss://redis.lan").tls).toEqual({});
  });

  it("leaves TLS, user and password to the URL when nothing is given", () => {
    const options = redisConnectionOptions("redis://:secret@127.0.0.1:6379");
    expect(options.tls).toBeUndefined();
    expect(options.username).toBeUndefined();
    expect(options.password).toBeUndefined();
  });

  it("refuses TLS material for a plain redis:// URL, naming it without its password", () => {
    const call = () => redisConnectionOptions("redis://u:p@ss/w@h:1", { ca: "CA" });
    expect(call).toThrow(/redis:\/\/u:\*\*\*@h:1 is not a rediss:\/\/ URL/);
    expect(call).not.toThrow(/p@ss/);
  });

  it("refuses a client certificate without its key, and a key without its certificate", () => {
    expect(() => redisConnectionOptions("rediss://h", { cert: "CERT" })).toThrow(/needs its key/);
    expect(() => redisConnectionOptions("rediss://h", { key: "KEY" })).toThrow(/needs its key/);
  });
});
