/** The agent's version as announced in `agent.hello`; kept equal to package.json's by a test. */
export const AGENT_VERSION = "0.1.0";
