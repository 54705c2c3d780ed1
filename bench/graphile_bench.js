'use strict';
// bench/graphile_bench.js: the workloads of bench/queue.sh through
// graphile-worker, for comparison.  bench/queue.sh installs graphile-worker
// into bench/node_modules (never committed) and runs this.
//
//   node graphile_bench.js migrate
//       installs graphile-worker's schema
//   node graphile_bench.js drain CONCURRENCY LOCAL_QUEUE BATCH_DELAY
//       works through the queued "noop" jobs (a task that does nothing)
//       until none is left, then prints "jobs=N first_ms=T last_ms=T", the
//       epoch milliseconds of its first and last task.  LOCAL_QUEUE > 0
//       fetches jobs in batches of that size (localQueue), BATCH_DELAY >= 0
//       completes them in batches (completeJobBatchDelay); -1 for neither.
//   node graphile_bench.js latency SAMPLES INTERVAL_MS
//       one worker (LISTENing, as graphile-worker does) and one client that
//       adds a job every INTERVAL_MS; prints the time from just before
//       add_job is sent to the start of its task, as
//       "samples=N mean_ms= p50_ms= p90_ms= p99_ms= max_ms=".
//
// Connects with the PG* environment (PGHOST may be a socket folder) to the
// database GW_DATABASE.  Exits 1 on any error.

const { run, runMigrations, Logger } = require('graphile-worker');
const { Client, Pool } = require('pg');

const quiet = new Logger(() => () => {});
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function connection() {
  return {
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER,
    database: process.env.GW_DATABASE,
  };
}

function fail(e) {
  console.error('graphile_bench:', e.message);
  process.exit(1);
}

function pool(max) {
  const p = new Pool({ ...connection(), max });
  p.on('error', fail);
  p.on('connect', (client) => client.on('error', fail));
  return p;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function migrate() {
  const pgPool = pool(2);
  await runMigrations({ pgPool, logger: quiet });
  await pgPool.end();
}

async function drain(concurrency, localQueue, batchDelay) {
  const pgPool = pool(Math.max(10, concurrency + 2));
  const worker = { concurrentJobs: concurrency, pollInterval: 100 };
  if (localQueue > 0) worker.localQueue = { size: localQueue };
  if (batchDelay >= 0) {
    worker.completeJobBatchDelay = batchDelay;
    worker.failJobBatchDelay = batchDelay;
  }
  let jobs = 0;
  let first = 0;
  let last = 0;
  const runner = await run({
    pgPool,
    logger: quiet,
    noHandleSignals: true,
    preset: { worker },
    taskList: {
      noop: async () => {
        const t = now();
        if (!first) first = t;
        last = t;
        jobs++;
      },
    },
  });
  // Until the queue is empty (completed jobs are deleted).
  for (;;) {
    await sleep(100);
    const { rows } = await pgPool.query(
      'SELECT EXISTS (SELECT FROM graphile_worker._private_jobs) AS more');
    if (!rows[0].more) break;
  }
  await runner.stop();
  await pgPool.end();
  console.log(`jobs=${jobs} first_ms=${first.toFixed(3)} last_ms=${last.toFixed(3)}`);
}

async function latency(samples, intervalMs) {
  const pgPool = pool(10);
  const sent = new Float64Array(samples);
  const took = new Float64Array(samples);
  let received = 0;
  let allReceived;
  const done = new Promise((resolve) => { allReceived = resolve; });
  const runner = await run({
    pgPool,
    logger: quiet,
    noHandleSignals: true,
    preset: { worker: { concurrentJobs: 1, pollInterval: 2000 } },
    taskList: {
      noop: async (payload) => {
        took[payload.seq] = now() - sent[payload.seq];
        if (++received === samples) allReceived();
      },
    },
  });
  const client = new Client(connection());
  client.on('error', fail);
  await client.connect();
  for (let i = 0; i < samples; i++) {
    await sleep(intervalMs);
    sent[i] = now();
    await client.query({
      name: 'add',
      text: "SELECT FROM graphile_worker.add_job('noop', json_build_object('seq', $1::integer))",
      values: [i],
    });
  }
  await done;
  await client.end();
  await runner.stop();
  await pgPool.end();
  const sorted = Array.from(took).sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / samples;
  console.log(`samples=${samples} mean_ms=${mean.toFixed(3)}` +
    ` p50_ms=${percentile(sorted, 0.5).toFixed(3)}` +
    ` p90_ms=${percentile(sorted, 0.9).toFixed(3)}` +
    ` p99_ms=${percentile(sorted, 0.99).toFixed(3)}` +
    ` max_ms=${sorted[samples - 1].toFixed(3)}`);
}

const [mode, ...args] = process.argv.slice(2);
const modes = {
  migrate: () => migrate(),
  drain: () => drain(Number(args[0]), Number(args[1]), Number(args[2])),
  latency: () => latency(Number(args[0]), Number(args[1])),
};
if (!modes[mode]) {
  console.error('usage: node graphile_bench.js migrate | drain CONCURRENCY LOCAL_QUEUE BATCH_DELAY'
    + ' | latency SAMPLES INTERVAL_MS');
  process.exit(2);
}
modes[mode]().catch(fail);
