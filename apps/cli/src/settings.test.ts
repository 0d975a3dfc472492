import { describe, expect, it } from "vitest";
import { DEFAULT_URL, resolveSettings } from "./settings.js";

const files = (content: Record<string, string>) => (path: string) => content[path];

describe("resolveSettings", () => {
  const file = "/home/u/.config/flotilla/config.json";

  it("prefers flags, then env, then the config file, then the default", () => {
    const readFile = files({ [file]: JSON.stringify({ url: "ws://file:1", token: "file-token" }) });
    const base = { homedir: "/home/u", readFile };
    expect(resolveSettings({ ...base, flags: {}, env: {} })).toMatchObject({
      url: { value: "ws://file:1", source: "config", origin: file },
      token: { value: "file-token", source: "config" },
    });
    expect(
      resolveSettings({ ...base, flags: {}, env: { FLOTILLA_URL: "ws://env:2", FLOTILLA_TOKEN: "t" } }),
    ).toMatchObject({
      url: { value: "ws://env:2", source: "env", origin: "FLOTILLA_URL" },
      token: { value: "t" },
    });
    expect(
      resolveSettings({ ...base, flags: { url: "ws://flag:3" }, env: { FLOTILLA_URL: "ws://env:2" } }),
    ).toMatchObject({ url: { value: "ws://flag:3", source: "flag", origin: "--url" } });
    expect(resolveSettings({ homedir: "/h", readFile: files({}), flags: {}, env: {} })).toMatchObject({
      url: { value: DEFAULT_URL, source: "default" },
      token: { value: undefined, source: "default" },
    });
  });

  it("takes the CA file from --ca, FLOTILLA_CA or the config file's directory", () => {
    const readFile = files({ [file]: JSON.stringify({ ca: "tls/ca.crt" }) });
    const base = { homedir: "/home/u", readFile };
    expect(resolveSettings({ ...base, flags: {}, env: {} }).ca).toEqual({
      value: "/home/u/.config/flotilla/tls/ca.crt",
      source: "config",
      origin: file,
    });
    expect(resolveSettings({ ...base, flags: {}, env: { FLOTILLA_CA: "/e/ca.crt" } }).ca).toMatchObject({
      value: "/e/ca.crt",
      source: "env",
    });
    expect(
      resolveSettings({ ...base, flags: { ca: "f.crt" }, env: { FLOTILLA_CA: "/e/ca.crt" } }).ca,
    ).toMatchObject({ value: "f.crt", source: "flag", origin: "--ca" });
    expect(resolveSettings({ homedir: "/h", readFile: files({}), flags: {}, env: {} }).ca.value).toBe(
      undefined,
    );
  });

  it("honours XDG_CONFIG_HOME", () => {
    const readFile = files({ "/xdg/flotilla/config.json": '{"url":"ws://xdg:4"}' });
    const settings = resolveSettings({
      homedir: "/h",
      readFile,
      flags: {},
      env: { XDG_CONFIG_HOME: "/xdg" },
    });
    expect(settings.url.value).toBe("ws://xdg:4");
  });

  it("explains a broken config file or URL", () => {
    const broken = { homedir: "/home/u", flags: {}, env: {} };
    expect(() => resolveSettings({ ...broken, readFile: files({ [file]: "{nope" }) })).toThrow(
      /not valid JSON/,
    );
    expect(() => resolveSettings({ ...broken, readFile: files({ [file]: '{"url": [1]}' }) })).toThrow(
      /must be a string/,
    );
    expect(() => resolveSettings({ ...broken, readFile: files({ [file]: '{"uri": "ws://a:1"}' }) })).toThrow(
      /unknown setting "uri"/,
    );
    expect(() => resolveSettings({ ...broken, readFile: files({}), flags: { url: "http://x" } })).toThrow(
      /from --url: "http:\/\/x" is not a WebSocket URL/,
    );
  });

  it("takes a comma-separated list of coordinator URLs from any source, and names the source of a bad one", () => {
    const base = { homedir: "/home/u", readFile: files({ [file]: '{"url": "ws://a:1, ws://b:2"}' }) };
    expect(resolveSettings({ ...base, flags: {}, env: {} }).url).toMatchObject({
      value: "ws://a:1, ws://b:2",
      source: "config",
    });
    expect(
      resolveSettings({ ...base, flags: {}, env: { FLOTILLA_URL: "ws://c:3,ws://d:4" } }).url,
    ).toMatchObject({
      value: "ws://c:3,ws://d:4",
      source: "env",
    });
    expect(() =>
      resolveSettings({ ...base, flags: {}, env: { FLOTILLA_URL: "ws://c:3,,ws://d:4" } }),
    ).toThrow(/from FLOTILLA_URL: .*empty entry \(number 2\)/);
  });
});
