import { describe, expect, it } from "vitest";
import { configFileValues, layerSettings } from "./config-file.js";
import { isFlotillaError } from "./errors.js";

const FLAGS = {
  port: { type: "string" },
  "token-file": { type: "string" },
  label: { type: "string", multiple: true },
  verbose: { type: "boolean" },
  help: { type: "boolean" },
} as const;

function failure(text: string): { code: string; message: string } {
  try {
    configFileValues(text, "/etc/flotilla/x.json", FLAGS);
  } catch (error) {
    if (isFlotillaError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected a failure");
}

describe("configFileValues", () => {
  it("gives each setting as its flag would: numbers as text, lists from arrays or objects", () => {
    expect(
      configFileValues(
        '{"port": 7421, "token-file": "token", "label": {"gpu": true, "room": "b12"}, "verbose": true}',
        "x.json",
        FLAGS,
      ),
    ).toEqual({ port: "7421", "token-file": "token", label: ["gpu=true", "room=b12"], verbose: true });
    expect(configFileValues('{"label": ["a=1", "b=2"]}', "x.json", FLAGS)).toEqual({ label: ["a=1", "b=2"] });
    expect(configFileValues('{"label": "a=1"}', "x.json", FLAGS)).toEqual({ label: ["a=1"] });
  });

  it("leaves out settings that are null, and reads an empty object as no settings", () => {
    expect(configFileValues('{"port": null}', "x.json", FLAGS)).toEqual({});
    expect(configFileValues("{}", "x.json", FLAGS)).toEqual({});
  });

  it("refuses an unknown setting, naming it and the known ones (help is not a setting)", () => {
    const typo = failure('{"prot": 7421}');
    expect(typo.code).toBe("E_CONFIG");
    expect(typo.message).toContain('unknown setting "prot"');
    expect(typo.message).toContain("known: port, token-file, label, verbose");
    expect(failure('{"help": true}').message).toContain('unknown setting "help"');
    expect(failure('{"toString": 1}').message).toContain('unknown setting "toString"');
  });

  it("refuses what is not one JSON object, or values of the wrong kind, naming the file", () => {
    expect(failure("{port: 1}").message).toMatch(/^config file \/etc\/flotilla\/x.json is not valid JSON/);
    expect(failure("[1]").message).toContain("must hold one JSON object");
    expect(failure('"text"').message).toContain("must hold one JSON object");
    expect(failure('{"port": {"a": 1}}').message).toContain('"port" must be a string or a number');
    expect(failure('{"port": 1e999}').message).toContain('"port" must be a string or a number');
    expect(failure('{"verbose": "yes"}').message).toContain('"verbose" must be true or false');
    expect(failure('{"label": [{"a": 1}]}').message).toContain('"label" must be a string or a number');
  });
});

describe("layerSettings", () => {
  const ENV = [
    ["APP_TOKEN", ["token", "token-file"]],
    ["APP_PORT", ["port"]],
  ] as const;
  const file = { port: "1", "token-file": "/etc/t", label: ["a=1"] };

  it("takes the file where neither a flag nor the environment says anything", () => {
    expect(layerSettings({}, file, {}, ENV)).toEqual({
      values: file,
      fromFile: ["port", "token-file", "label"],
    });
  });

  it("lets a set variable, or any flag of its group, replace the file's whole group", () => {
    expect(layerSettings({}, file, { APP_TOKEN: "x", APP_PORT: "" }, ENV)).toEqual({
      values: { port: "1", label: ["a=1"] },
      fromFile: ["port", "label"],
    });
    expect(layerSettings({ token: "flag" }, file, {}, ENV)).toEqual({
      values: { port: "1", label: ["a=1"], token: "flag" },
      fromFile: ["port", "label"],
    });
  });

  it("puts flags over the file, a list replacing the file's list", () => {
    expect(layerSettings({ port: "2", label: ["b=2"] }, file, {}, ENV)).toEqual({
      values: { port: "2", "token-file": "/etc/t", label: ["b=2"] },
      fromFile: ["token-file"],
    });
  });
});
