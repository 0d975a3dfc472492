import { describe, expect, it } from "vitest";
import { describeRedis, parseRedisAddresses, redisConnectionOptions } from "./redis-connection.js";

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

  it("asks sentinels for the named primary, and wants the two settings together", () => {
    const sentinels = parseRedisAddresses("10.0.0.1:26379, [::1]:26380", "--redis-sentinel");
    expect(sentinels).toEqual([
      { host: "10.0.0.1", port: 26379 },
      { host: "::1", port: 26380 },
    ]);
    const options = redisConnectionOptions("redis://:pw@ignored:1", { sentinels, masterName: "main" });
    expect(options).toMatchObject({ sentinels, name: "main", role: "master", failoverDetector: true });
    expect(describeRedis("redis://:pw@ignored:1", { sentinels, masterName: "main" })).toBe(
      'primary "main" of sentinels 10.0.0.1:26379,::1:26380',
    );
    expect(() => redisConnectionOptions("redis://h", { sentinels })).toThrow(/needs --redis-master/);
    expect(() => redisConnectionOptions("redis://h", { masterName: "main" })).toThrow(
      /needs --redis-sentinel/,
    );
    expect(() => parseRedisAddresses("h:0", "--redis-sentinel")).toThrow(/host:port entries, got "h:0"/);
  });
});
