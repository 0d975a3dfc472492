/**
 * The agent as a service: what `flotilla-agent service install` runs (its flags, the token kept in a
 * file or a 0600 service file, the spawn helper chosen) and the hand-over to `@flotilla/service`, which
 * writes, inspects and removes the launchd or systemd file.
 */
import {
  type ProgramService,
  type ProgramServiceIo,
  runProgramService,
  type ServiceAction,
  type ServiceCommandFlags,
} from "@flotilla/service";

/** Seconds the manager waits after SIGTERM: the drain (30 s) plus the tasks' SIGTERM -> SIGKILL grace (10 s) and a margin. */
export const AGENT_STOP_TIMEOUT_SECONDS = 45;

/** What the service bakes in, from the agent's resolved settings (install only). */
export interface AgentServiceSettings {
  args: string[];
  /** `FLOTILLA_TOKEN` when no token file is used, `FLOTILLA_SPAWN_HELPER` when chosen. */
  env: Record<string, string>;
  /** One line on how commands will be started there and what it costs. */
  spawnNote: string;
}

/** The agent as a program to run: `Interactive`, so macOS does not throttle the builds it runs. */
export function agentProgram(settings: AgentServiceSettings): ProgramService {
  return {
    name: "agent",
    description: "Flotilla node agent",
    args: settings.args,
    env: settings.env,
    processType: "Interactive",
    stopTimeoutSeconds: AGENT_STOP_TIMEOUT_SECONDS,
    notes: [settings.spawnNote],
  };
}

/** Runs `service <action>` for the agent. `settings` is called for install only. */
export function runAgentService(
  action: ServiceAction,
  flags: ServiceCommandFlags,
  settings: () => Promise<AgentServiceSettings>,
  io: ProgramServiceIo,
): Promise<number> {
  return runProgramService(
    action,
    flags,
    ["agent"],
    async () => ({ program: agentProgram(await settings()), extra: [], notes: [] }),
    io,
  );
}
