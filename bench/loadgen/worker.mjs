// A load-generator worker process: its share of the clients (index % workers === worker),
// driven phase by phase by loadgen.mjs over IPC.
import { readFileSync } from "node:fs";

import { Client, fieldIs, numberAfter, stringField } from "./client.mjs";
import { now } from "./clock.mjs";
import { Histogram } from "./hist.mjs";
import { HttpConnection } from "./httpclient.mjs";

let clients = [];
let users = []; // every client's {uid, token}, in index order (all workers alike)
let state = null; // the current run's counters
let disconnects = 0; // connected clients the server dropped, since the connect phase

function userList(spec) {
  if (spec.tokensFile) return JSON.parse(readFileSync(spec.tokensFile, "utf8"));
  return Array.from({ length: spec.clients }, (_, i) => {
    const uid = `${spec.uidPrefix}${i}`;
    return { uid, token: uid };
  });
}

const cpuSeconds = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(ms, 0)));

// ----- connect ------------------------------------------------------------------------

async function connect(spec, worker, workers) {
  users = userList(spec);
  const mine = [];
  for (let i = worker; i < spec.clients; i += workers) mine.push(i);
  const joinHist = new Histogram();
  const answer = { connected: 0, failed: 0, error: null, tags: {} };
  const cpu0 = cpuSeconds();
  answer.firstStart = now();
  let next = 0;
  const events = ["message", "bench", "new_message"];
  async function lane() {
    while (next < mine.length) {
      const index = mine[next++];
      // consecutive members of a room (index, index + rooms, ...) alternate between servers
      const server = Math.floor(index / spec.rooms) % spec.urls.length;
      const url = spec.urls[server];
      const client = new Client({
        index,
        uid: users[index].uid,
        token: users[index].token,
        url,
        ns: spec.ns,
        events,
        onEvent: delivered,
        onClose: () => disconnects++,
      });
      try {
        joinHist.record(await client.connect(spec.connectTimeoutMs));
        client.tag = spec.split === "sid" ? client.sid.slice(0, 8) : String(server);
        client.localText = Buffer.from(`p:${client.tag}"`); // a message's text from its process
        answer.tags[client.tag] = (answer.tags[client.tag] || 0) + 1;
        clients.push(client);
        answer.connected++;
      } catch (error) {
        answer.failed++;
        answer.error = answer.error || String(error.message || error);
      }
    }
  }
  await Promise.all(Array.from({ length: spec.connectConcurrency }, lane));
  answer.lastDone = now();
  answer.joinHist = joinHist.toJSON();
  answer.cpuS = cpuSeconds() - cpu0;
  return answer;
}

// ----- setup: rooms (fanout) or conversations (message) -----------------------------

async function setup(spec) {
  const ackHist = new Histogram();
  const answer = { acks: 0, ackFailures: 0, error: null };
  const call = async (client, event, payload) => {
    const started = now();
    const ack = await client.call(event, payload, spec.setupTimeoutS * 1000);
    ackHist.record(now() - started);
    const ok = ack !== null && (ack.includes('"ok":true') || ack.includes('"success":true'));
    if (ok) answer.acks++;
    else {
      answer.ackFailures++;
      answer.error = answer.error || `${event} ack: ${ack}`;
    }
    return ok ? ack : null;
  };
  if (spec.scenario === "fanout") {
    await Promise.all(clients.map((c) => call(c, "join", { room: `room:${c.index % spec.rooms}` })));
  } else if (spec.scenario === "message") {
    const creators = clients.filter((c) => c.index % spec.membersPer === 0);
    await Promise.all(
      creators.map(async (creator) => {
        const others = [];
        for (let k = 1; k < spec.membersPer && creator.index + k < spec.clients; k++) {
          others.push(users[creator.index + k].uid);
        }
        const payload = { users: others, title: `bench ${creator.index / spec.membersPer}` };
        const ack = await call(creator, "add_conversation", payload);
        if (ack !== null) creator.cid = stringField(ack, "_id");
      }),
    );
    // every member's conversation, for runs where all of them send (`everyMember`)
    answer.cids = Object.fromEntries(creators.filter((c) => c.cid).map((c) => [c.index, c.cid]));
  }
  answer.ackHist = ackHist.toJSON();
  return answer;
}

// ----- run ----------------------------------------------------------------------------

function newState(spec, run, msg) {
  return {
    spec,
    run,
    warm: msg.warm,
    end: msg.end,
    seq: msg.worker,
    step: msg.workers,
    inflight: new Map(), // closed loop: seq -> {client, deliveries still awaited}
    wholeRoom: msg.workers === 1,
    roomSize: Math.ceil(spec.clients / spec.rooms),
    sent: 0,
    sentTotal: 0,
    deliveries: 0,
    deliveredTotal: 0,
    acks: 0,
    ackFailures: 0,
    requests: 0,
    httpErrors: 0,
    hist: new Histogram(),
    histLocal: new Histogram(),
    histCross: new Histogram(),
    ackHist: new Histogram(),
    httpHist: new Histogram(),
  };
}

const SENT_AT = Buffer.from("sentAt");
const SEQ = Buffer.from('"seq":');
const TEXT = Buffer.from('"text":"');

// an event for `client`, buffer[start:end], read at `t` (one clock reading per chunk read)
function delivered(client, buffer, start, end, t) {
  const s = state;
  if (s === null) return;
  s.deliveredTotal++;
  if (t >= s.warm && t < s.end) {
    const latency = t - numberAfter(buffer, start, end, SENT_AT);
    s.deliveries++;
    s.hist.record(latency);
    if (s.spec.split !== "none") {
      const local = fieldIs(buffer, start, end, TEXT, client.localText);
      (local ? s.histLocal : s.histCross).record(latency);
    }
  }
  if (s.inflight.size > 0) {
    const seq = numberAfter(buffer, start, end, SEQ);
    const entry = s.inflight.get(seq);
    if (entry && (s.wholeRoom || entry.client === client) && --entry.remaining === 0) {
      s.inflight.delete(seq);
      if (t < s.end) sendMessage(entry.client);
    }
  }
}

function nextSeq() {
  const seq = state.seq;
  state.seq += state.step;
  return seq;
}

function countSent(t) {
  state.sentTotal++;
  if (t >= state.warm && t < state.end) state.sent++;
}

function sendMessage(client) {
  if (!client.connected) return;
  const seq = nextSeq();
  const t = now();
  const payload = { room: `room:${client.index % state.spec.rooms}`, text: `p:${client.tag}` };
  payload.sentAt = t;
  payload.seq = seq;
  if (state.run.rate === 0) {
    // closed loop: the next message goes once this one reached the whole room (every member
    // lives in this process when there is one worker), else once it came back to the sender
    const remaining = state.wholeRoom ? state.roomSize : 1;
    state.inflight.set(seq, { client, remaining });
  }
  client.emit("message", payload);
  countSent(t);
}

async function sendConversationMessage(client) {
  const s = state;
  const t = now();
  const seq = nextSeq();
  // a client id of its own in every run: a second run's `m<seq>` would be a retry of the first's
  const id = `m${s.end}-${seq}`;
  const payload = { cid: client.cid || client.memberCid, content: `bench sentAt=${t}`, client_msg_id: id };
  countSent(t);
  const ack = await client.call("message", payload, 10_000);
  if (ack !== null && ack.includes('"success":true')) {
    s.acks++;
    if (t >= s.warm && t < s.end) s.ackHist.record(now() - t);
  } else s.ackFailures++;
}

function senders(spec, run) {
  if (run.kind === "fanout") {
    return clients.filter((c) => Math.floor(c.index / spec.rooms) < run.sendersPerRoom);
  }
  if (run.kind === "message" && run.everyMember) {
    for (const client of clients) {
      const creator = client.index - (client.index % spec.membersPer);
      client.memberCid = (spec.cids || {})[creator];
    }
    return clients.filter((c) => c.memberCid);
  }
  if (run.kind === "message") return clients.filter((c) => c.cid);
  return [];
}

// paced: `perSecond` sends shared round robin by `send`, checked every 2 ms, until `end`
async function paced(perSecond, start, end, send) {
  let done = 0;
  while (now() < end) {
    const due = Math.floor(((now() - start) / 1000) * perSecond);
    for (; done < due; done++) send(done);
    await sleep(2);
  }
}

// one lane of REST emits: a request at a time, on a keep-alive connection to each server
async function restLoop(lane, lanes, spec, end) {
  const s = state;
  const connections = spec.httpUrls.map((url) => new HttpConnection(url));
  let target = lane;
  while (now() < end) {
    const connection = connections[target % connections.length];
    const uid = users[target % spec.clients].uid;
    target += lanes;
    const t = now();
    const path = `/emit/${encodeURIComponent(uid)}/bench?namespace=conversation`;
    const status = await connection.post(path, JSON.stringify({ sentAt: t, seq: nextSeq() }));
    countSent(t);
    const inWindow = t >= s.warm && t < s.end;
    if (status < 200 || status >= 300) s.httpErrors++;
    else if (inWindow) {
      s.requests++;
      s.httpHist.record(now() - t);
    }
  }
  for (const connection of connections) connection.close();
}

async function run(msg) {
  const { spec, run: r, start, end, drainEnd, worker, workers } = msg;
  state = newState(spec, r, msg);
  await sleep(start - now());
  const cpu = {};
  const cpuTimers = [
    setTimeout(() => (cpu.at0 = cpuSeconds()), msg.warm - now()),
    setTimeout(() => (cpu.at1 = cpuSeconds()), end - now()),
  ];
  const mine = senders(spec, r);
  if (r.kind === "fanout" && r.rate === 0) {
    for (const client of mine) for (let k = 0; k < r.window; k++) sendMessage(client);
  } else if (r.kind === "fanout") {
    const roomSize = spec.clients / spec.rooms;
    const allSenders = spec.rooms * r.sendersPerRoom;
    const perSecond = ((r.rate / roomSize) * mine.length) / allSenders;
    await paced(perSecond, start, end, (k) => sendMessage(mine[k % mine.length]));
  } else if (r.kind === "message") {
    await Promise.all(
      mine.map(async (client) => {
        while (now() < end && client.connected) await sendConversationMessage(client);
      }),
    );
  } else if (r.kind === "rest") {
    const lanes = Math.max(1, Math.round(r.restConcurrency / workers));
    await Promise.all(
      Array.from({ length: lanes }, (_, k) =>
        restLoop(worker + k * workers, lanes * workers, spec, end),
      ),
    );
  }
  await sleep(drainEnd - now());
  cpuTimers.forEach(clearTimeout);
  const s = state;
  state = null;
  return {
    sent: s.sent,
    sentTotal: s.sentTotal,
    deliveries: s.deliveries,
    deliveredTotal: s.deliveredTotal,
    disconnects,
    acks: s.acks,
    ackFailures: s.ackFailures,
    requests: s.requests,
    httpErrors: s.httpErrors,
    hist: s.hist.toJSON(),
    histLocal: s.histLocal.toJSON(),
    histCross: s.histCross.toJSON(),
    ackHist: s.ackHist.toJSON(),
    httpHist: s.httpHist.toJSON(),
    cpuS: (cpu.at1 ?? cpuSeconds()) - (cpu.at0 ?? 0),
  };
}

process.on("message", async (msg) => {
  let answer;
  try {
    if (msg.cmd === "connect") answer = await connect(msg.spec, msg.worker, msg.workers);
    else if (msg.cmd === "setup") answer = await setup(msg.spec);
    else if (msg.cmd === "run") answer = await run(msg);
    else if (msg.cmd === "close") {
      for (const client of clients) client.close();
      clients = [];
      answer = {};
    }
  } catch (error) {
    answer = { error: String(error && error.stack ? error.stack : error) };
  }
  process.send({ cmd: msg.cmd, ...answer });
  if (msg.cmd === "close") setTimeout(() => process.exit(0), 100);
});
