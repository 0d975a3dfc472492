/**
 * The text of `flotilla-coordinator --help`: every flag, its environment variable and its default.
 */
import { STRATEGY_NAMES } from "@flotilla/scheduler";
import { SERVICE_USAGE } from "@flotilla/service";
import { ALERT_USAGE } from "./alert-flags.js";
import { REDIS_SERVICE_USAGE } from "./service.js";

/** The usage text of `flotilla-coordinator --help`. */
export const USAGE = `Usage: flotilla-coordinator --redis <url> --token <t> [options]
       flotilla-coordinator init-tls --names <name,...> [--out <dir>]   (see init-tls --help)
       flotilla-coordinator token add --scope <scope> --name <name> [--tokens-file <path>]
       flotilla-coordinator service install|uninstall|status|logs [--with-redis] [options]

Runs the coordinator of a Flotilla fleet: agents and clients connect to it over WebSocket; all state is in Redis.

Options:
  --redis <url>             Redis holding the fleet's state          (env FLOTILLA_REDIS_URL, default redis://127.0.0.1:6379)
  --redis-ca <file>         CA certificate (PEM) that signed a rediss:// server's certificate
  --redis-cert <file>       client certificate (PEM), for a Redis run with tls-auth-clients yes
  --redis-key <file>        the client certificate's private key (PEM)
  --redis-user <name>       Redis ACL user (beats the URL's user)
  --redis-password-file <file>  read the Redis user's password from a file (beats the URL's password)
  --redis-sentinel <h:p,...>  Redis Sentinel: ask these sentinels for the primary (with --redis-master;
                            the URL then gives only user, password and database)
  --redis-master <name>     the name the sentinels monitor the primary under
  --redis-cluster <h:p,...> Redis Cluster: some of its primaries (needs a --prefix with a hash tag,
                            such as "{fleet}": one fleet lives in one slot)
  --redis-wait-replicas <n> answer a state change only once n replicas hold it (Redis WAIT; default 0)
  --port <n>                port to listen on                        (env FLOTILLA_PORT, default 7420)
  --host <addr>             interface to listen on (default 0.0.0.0 with TLS or --insecure-listen, else 127.0.0.1)
  --tls-cert <path>         serve https:// and wss:// with this certificate (PEM; reloaded on SIGHUP)
  --tls-key <path>          the certificate's private key (PEM)
  --insecure-listen         listen beyond 127.0.0.1 without TLS (the token then crosses the network in clear text)
  --token <t>               fleet token for agents and clients       (env FLOTILLA_TOKEN)
  --token-file <path>       read the fleet token from a file instead
  --node-token id=token     a token only node <id> may use (scope agent:<id>); repeatable
  --tokens-file <path>      scoped tokens (made by "token add")      (env FLOTILLA_TOKENS_FILE)
  --secret-key-file <path>  key encrypting tasks' secret env in Redis; made (0600) if missing; every
                            coordinator of the fleet needs the same file (default secret.key beside
                            --token-file, else ~/.flotilla/secret.key)
  --prefix <p>              Redis key prefix, so two fleets can share one Redis
  --heartbeat-ms <n>        agent heartbeat period (default 1000; existing bridges use 30000)
  --dead-after-ms <n>       an agent silent this long is dead (default 4500; existing bridges use 90000)
  --strategy <name>         ${STRATEGY_NAMES.join(" | ")} (default least_loaded)
  --load-threshold <x>      avoid nodes whose 1-minute load is at or above this (default 3.0)
  --fallback-node <id>      the coordinator's own node, used when every node is over the threshold
  --hold-ahead-ms <n>       work per slot agents are leased ahead of their slots, by run time (default 10; 0 = none)
  --require-durable         refuse to start when Redis can lose data (no appendonly, an evicting maxmemory-policy)
  --retention-days <x>      finished tasks are forgotten this long after they end (default 7)
  --retention-max-finished <n>  finished tasks kept at most; the oldest go first (default 100000)
  --dead-letter-retention-days <x>  dead-lettered tasks are forgotten after this unless purged (default 30)
  --project-claim-lease-ms <n>  an agent's claim on a project task lapses this long after its last update (default 1800000)
  --max-output-bytes <n>    output bytes kept per task; the rest is cut with a marker (default 16777216)
  --max-waiting <n>         tasks the waiting list holds; beyond, submits get E_QUEUE_FULL (default 10000)
  --max-frames-per-second <n>   frames one connection may send a second (default 100000; 0 = no limit)
  --max-submits-per-second <n>  tasks one token may submit a second (default 50000; 0 = no limit)
  --max-connections-per-token <n>  connections open at once with one token (default 1000; 0 = no limit)
  --max-watches <n>         tasks one connection may watch at once (default 10000; 0 = no limit)
  --max-buffered-bytes <n>  unsent bytes a connection may hold before it is closed (default 67108864; 0 = no limit)
  --metrics-public          serve GET /metrics without a bearer token
  --log-level <level>       fatal | error | warn | info | debug (default info)
  --log-file <path>         log there, rotated at 10 MB with 5 kept, instead of to stderr
  --config <path>           read settings from a JSON file             (env FLOTILLA_CONFIG)
  -h, --help                show this help

${ALERT_USAGE}

Each setting is taken from its flag, else its environment variable, else the config file, else its
default. The config file is one JSON object keyed by flag name, e.g.
  { "redis": "redis://127.0.0.1:6379", "port": 7420, "token-file": "token",
    "node-token": { "mac-mini": "…" }, "fallback-node": "mac-mini" }
A relative token-file, tokens-file, secret-key-file, tls-cert, tls-key or redis-* file there is read
from the config file's directory. Its "tokens" section lists scoped tokens as a token file does,
  "tokens": [{ "name": "laptop", "scope": "submit", "hash": "<sha-256 hex of the token>" }]
and adds to --tokens-file (names must differ).
The fleet token is an admin token named "fleet"; see "token add --help" for scopes.

Commands:
${SERVICE_USAGE}
${REDIS_SERVICE_USAGE}

Example:
  flotilla-coordinator --redis redis://127.0.0.1:6379 --token-file ~/.flotilla/token --fallback-node mac-mini
`;
