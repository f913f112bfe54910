// The bench's load generator: N raw Socket.IO clients spread over P worker processes.
//
//   node loadgen.mjs '<json spec>'     (see bench/README.md; bench/bench.py writes the spec)
//
// The main process only coordinates: it tells the workers when to connect, set up and run,
// samples the servers' RSS and CPU from /proc, merges the workers' histograms and prints one
// JSON object. Every phase is bounded in time; the whole run is bounded by spec.maxS.
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { Histogram } from "./hist.mjs";
import { now } from "./clock.mjs";

const DEFAULTS = {
  scenario: "fanout", // storm | fanout | message
  urls: ["ws://127.0.0.1:4000"],
  httpUrls: ["http://127.0.0.1:4000"],
  ns: "/v1/conversation",
  clients: 100,
  procs: 1,
  connectConcurrency: 250, // per worker process
  connectTimeoutMs: 30_000,
  tokensFile: null, // JSON [{uid, token}]; else uid = token = "u<i>"
  uidPrefix: "u",
  rooms: 10,
  membersPer: 10, // message scenario: users per conversation
  split: "none", // none | url | sid: how a client knows which server process holds it
  pids: [],
  auxPids: [],
  holdS: 1,
  setupTimeoutS: 60,
  maxS: 300,
  runs: [],
};

const RUN_DEFAULTS = {
  kind: "fanout", // fanout | rest | message
  rate: 0, // deliveries/s (fanout) or requests/s (rest); 0: closed loop at saturation
  sendersPerRoom: 1,
  window: 8, // closed loop: messages in flight per sender
  restConcurrency: 32,
  warmupS: 1,
  durationS: 5,
  drainS: 2,
  everyMember: false, // message: every member of a conversation sends, not only its creator
};

// ----- /proc readings of the servers ------------------------------------------------

function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, s (CLK_TCK 100)
  } catch {
    return NaN;
  }
}

function procRssMiB(pid) {
  try {
    const match = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// CPU seconds the whole machine spent busy (every process, every core)
function machineBusyS() {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    return NaN;
  }
}

const sum = (values) => values.reduce((a, b) => a + b, 0);
const cpuOf = (pids) => sum(pids.map(procStat));
const rssOf = (pids) => sum(pids.map(procRssMiB));

// ----- main: coordinate the workers ---------------------------------------------------

class Workers {
  constructor(spec) {
    this.spec = spec;
    this.children = [];
    this.waiting = new Map();
    const self = fileURLToPath(import.meta.url);
    const workerPath = self.replace(/loadgen\.mjs$/, "worker.mjs");
    for (let w = 0; w < spec.procs; w++) {
      const child = fork(workerPath, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      child.on("message", (message) => this.received(w, message));
      child.on("exit", (code) => {
        if (!this.closing) this.fail(new Error(`worker ${w} exited (${code})`));
      });
      this.children.push(child);
    }
  }

  received(w, message) {
    const key = `${message.cmd}:${w}`;
    const settle = this.waiting.get(key);
    if (settle) {
      this.waiting.delete(key);
      settle(message);
    }
  }

  fail(error) {
    for (const [, settle] of this.waiting) settle({ error: error.message });
    this.waiting.clear();
  }

  // send `message` to every worker and wait for each one's answer to it
  all(message, timeoutS) {
    return Promise.all(
      this.children.map(
        (child, w) =>
          new Promise((resolve) => {
            const timer = setTimeout(() => {
              this.waiting.delete(`${message.cmd}:${w}`);
              resolve({ error: `${message.cmd} timed out in worker ${w}` });
            }, timeoutS * 1000);
            this.waiting.set(`${message.cmd}:${w}`, (answer) => {
              clearTimeout(timer);
              resolve(answer);
            });
            child.send({ ...message, worker: w, workers: this.spec.procs });
          }),
      ),
    );
  }

  close() {
    this.closing = true;
    for (const child of this.children) child.kill("SIGTERM");
  }
}

function merged(answers, name) {
  const histogram = new Histogram();
  for (const answer of answers) if (answer[name]) histogram.merge(new Histogram(answer[name]));
  return histogram.summary();
}

const total = (answers, name) => sum(answers.map((answer) => answer[name] || 0));

function firstError(answers) {
  const failed = answers.find((answer) => answer.error);
  return failed ? failed.error : null;
}

async function connectPhase(workers, spec, result) {
  const rssBefore = rssOf(spec.pids);
  const cpuBefore = cpuOf(spec.pids);
  const busyBefore = machineBusyS();
  const started = now();
  const answers = await workers.all({ cmd: "connect", spec }, spec.connectTimeoutMs / 1000 + 30);
  const elapsedS = (now() - started) / 1000;
  const ok = total(answers, "connected");
  const serverCpuS = cpuOf(spec.pids) - cpuBefore;
  const machineCpuS = machineBusyS() - busyBefore;
  const firstStart = Math.min(...answers.map((a) => a.firstStart ?? Infinity));
  const lastDone = Math.max(...answers.map((a) => a.lastDone ?? -Infinity));
  const spanS = (lastDone - firstStart) / 1000;
  await new Promise((resolve) => setTimeout(resolve, spec.holdS * 1000)); // let RSS settle
  const rssAfter = rssOf(spec.pids);
  result.connect = {
    clients: spec.clients,
    connected: ok,
    failed: total(answers, "failed"),
    error: firstError(answers),
    connectsPerS: spanS > 0 ? ok / spanS : NaN,
    timeToJoined: merged(answers, "joinHist"),
    rssBeforeMiB: rssBefore,
    rssAfterMiB: rssAfter,
    rssPerConnKiB: ok ? ((rssAfter - rssBefore) * 1024) / ok : NaN,
    serverCpuS,
    loadgenCpuS: total(answers, "cpuS"),
    otherCpuS: machineCpuS - serverCpuS - total(answers, "cpuS"),
    elapsedS,
    byTag: mergeTags(answers),
  };
}

function mergeTags(answers) {
  const tags = {};
  for (const answer of answers) {
    for (const [tag, n] of Object.entries(answer.tags || {})) tags[tag] = (tags[tag] || 0) + n;
  }
  return tags;
}

async function runPhase(workers, spec, run) {
  const start = now() + 200; // every worker starts at the same instant
  const warm = start + run.warmupS * 1000;
  const end = warm + run.durationS * 1000;
  const drainEnd = end + run.drainS * 1000;
  const window = {};
  const timers = [
    setTimeout(() => {
      window.cpu0 = cpuOf(spec.pids);
      window.aux0 = cpuOf(spec.auxPids);
      window.busy0 = machineBusyS();
    }, warm - now()),
    setTimeout(() => {
      window.cpu1 = cpuOf(spec.pids);
      window.aux1 = cpuOf(spec.auxPids);
      window.busy1 = machineBusyS();
    }, end - now()),
  ];
  const answers = await workers.all(
    { cmd: "run", spec, run, start, warm, end, drainEnd },
    (drainEnd - now()) / 1000 + 30,
  );
  timers.forEach(clearTimeout);
  const seconds = run.durationS;
  const deliveries = total(answers, "deliveries");
  const out = {
    kind: run.kind,
    rate: run.rate,
    error: firstError(answers),
    seconds,
    sent: total(answers, "sentTotal"),
    sentInWindow: total(answers, "sent"),
    deliveries,
    deliveriesPerS: deliveries / seconds,
    deliveredTotal: total(answers, "deliveredTotal"),
    latency: merged(answers, "hist"),
    latencyLocal: merged(answers, "histLocal"),
    latencyCross: merged(answers, "histCross"),
    acks: total(answers, "acks"),
    ackFailures: total(answers, "ackFailures"),
    ackLatency: merged(answers, "ackHist"),
    requests: total(answers, "requests"),
    requestsPerS: total(answers, "requests") / seconds,
    httpErrors: total(answers, "httpErrors"),
    httpLatency: merged(answers, "httpHist"),
    disconnects: total(answers, "disconnects"),
    serverCpu: (window.cpu1 - window.cpu0) / seconds, // cores busy, on average
    auxCpu: (window.aux1 - window.aux0) / seconds,
    loadgenCpu: total(answers, "cpuS") / seconds,
    machineCpu: (window.busy1 - window.busy0) / seconds,
  };
  // what neither the servers, redis nor the load generator used: other work on the machine
  out.otherCpu = out.machineCpu - out.serverCpu - out.auxCpu - out.loadgenCpu;
  if (run.kind === "fanout") out.expectedDeliveries = out.sent * (spec.clients / spec.rooms);
  return out;
}

async function main() {
  const spec = { ...DEFAULTS, ...JSON.parse(process.argv[2] || "{}") };
  spec.runs = spec.runs.map((run) => ({ ...RUN_DEFAULTS, ...run }));
  const workers = new Workers(spec);
  const deadline = setTimeout(() => {
    console.log(JSON.stringify({ error: `loadgen exceeded maxS=${spec.maxS}` }));
    workers.close();
    process.exit(2);
  }, spec.maxS * 1000);
  const result = { scenario: spec.scenario, clients: spec.clients, procs: spec.procs, runs: [] };
  try {
    await connectPhase(workers, spec, result);
    if (spec.scenario !== "storm" && result.connect.connected > 0) {
      const answers = await workers.all({ cmd: "setup", spec }, spec.setupTimeoutS);
      result.setup = {
        acks: total(answers, "acks"),
        ackFailures: total(answers, "ackFailures"),
        error: firstError(answers),
        ackLatency: merged(answers, "ackHist"),
      };
      spec.cids = Object.assign({}, ...answers.map((answer) => answer.cids || {}));
      for (const run of spec.runs) result.runs.push(await runPhase(workers, spec, run));
    }
    result.rssEndMiB = rssOf(spec.pids);
  } catch (error) {
    result.error = String(error && error.stack ? error.stack : error);
  }
  await workers.all({ cmd: "close" }, 10);
  workers.close();
  clearTimeout(deadline);
  console.log(JSON.stringify(result));
  process.exit(0);
}

main();
