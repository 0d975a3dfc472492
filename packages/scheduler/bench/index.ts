/**
 * `pnpm --filter @flotilla/scheduler bench`: prints one JSON object per line. Set BENCH_SEEDS to shorten
 * the makespan sweep (default 200 seeds per cell).
 */
import { benchMakespan } from "./makespan.js";
import { benchPlacement } from "./placement.js";
import { benchAging, benchEdf, benchOps, benchWfq } from "./queues.js";

benchOps();
benchPlacement();
benchEdf();
benchWfq();
benchAging();
benchMakespan(Number(process.env.BENCH_SEEDS ?? 200));
