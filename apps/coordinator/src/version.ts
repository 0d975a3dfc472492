/** The coordinator's version, as `/healthz` and `agent.welcome` say it; kept equal to package.json's by a test. */
export const COORDINATOR_VERSION = "0.1.0";
