import type { CommandSpec } from "../cli.js";
import { EXIT } from "../exit-codes.js";
import { json, table } from "../format.js";

/** Shows enough of a token to tell two apart, never the whole secret. */
export function maskToken(token: string | undefined): string {
  if (token === undefined) return "(none)";
  return token.length <= 8 ? "****" : `${token.slice(0, 4)}…${token.slice(-2)}`;
}

/** `flotilla config`. */
export const configCommand: CommandSpec = {
  name: "config",
  summary: "show the settings in effect and where each came from",
  usage: "flotilla config [--json]",
  options: { json: { type: "boolean", description: "print JSON (the token stays masked)" } },
  args: { min: 0, max: 0 },
  details: `Precedence: flags (--url, --token), then FLOTILLA_URL / FLOTILLA_TOKEN, then the config file
($XDG_CONFIG_HOME/flotilla/config.json or ~/.config/flotilla/config.json, {"url": …, "token": …}),
then the default ws://127.0.0.1:7420. The URL may list several coordinators separated by commas.`,
  examples: ["flotilla config", "FLOTILLA_URL=ws://studio.local:7420 flotilla config"],
  async run(context) {
    const settings = context.settings();
    const rows = [
      {
        setting: "url",
        value: settings.url.value ?? "",
        source: settings.url.source,
        origin: settings.url.origin,
      },
      {
        setting: "token",
        value: maskToken(settings.token.value),
        source: settings.token.source,
        origin: settings.token.origin,
      },
      {
        setting: "ca",
        value: settings.ca.value ?? "",
        source: settings.ca.source,
        origin: settings.ca.origin,
      },
    ];
    if (context.json) {
      context.out(json({ settings: rows, configFile: settings.configPath }));
      return EXIT.OK;
    }
    context.out(
      table(
        ["SETTING", "VALUE", "SOURCE", "FROM"],
        rows.map((row) => [row.setting, row.value, row.source, row.origin]),
      ),
    );
    context.out(`config file: ${settings.configPath}\n`);
    return EXIT.OK;
  },
};
