export {
  freePort,
  type RedisServer,
  type RedisServerOptions,
  startRedisServer as startRedis,
} from "@flotilla/launcher";
export { agentBin, builtCoordinatorBin, coordinatorBin } from "./bins.js";
export {
  type RedisClusterSet,
  redisCli,
  type SentinelSet,
  startRedisCluster,
  startSentinelSet,
} from "./redis-ha.js";
export { type StandbyDouble, startStandbyDouble } from "./standby.js";
export {
  makeTestCertificates,
  startTlsRedis,
  type TestCertificates,
  type TlsRedis,
} from "./tls.js";
export { waitFor } from "./wait.js";
