export {
  type CliIo,
  type CommandContext,
  type CommandSpec,
  commandHelp,
  mainHelp,
  type OptionSpec,
  type OutputStream,
  runMain,
  VERSION,
} from "./cli.js";
export { COMMANDS } from "./commands/index.js";
export { formatDuration, parseDuration } from "./duration.js";
export { EXIT, exitCodeForError, exitCodeForResult, formatError } from "./exit-codes.js";
export { DEFAULT_URL, resolveSettings, type Setting, type SettingSource, type Settings } from "./settings.js";
