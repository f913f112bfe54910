// The stock socket.io-client against the test namespaces (tests/support/namespaces.py).
// Usage: node adapter_check.mjs <base url> <websocket|polling|polling-upgrade>
// Prints one JSON object with what the client saw; tests/e2e/test_node_client.py asserts on it.
import { Manager } from "socket.io-client";

const [url, mode] = process.argv.slice(2);
const TRANSPORTS = {
  websocket: ["websocket"],
  polling: ["polling"],
  "polling-upgrade": ["polling", "websocket"],
};
const TIMEOUT_MS = 5000;

const watchdog = setTimeout(() => fail(new Error("the whole run took too long")), 30000);

function fail(error) {
  console.log(JSON.stringify({ error: String(error && error.stack ? error.stack : error) }));
  process.exit(1);
}

// Buffers become {"$hex": "..."} so the JSON says exactly which bytes arrived.
function plain(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { $hex: Buffer.from(value).toString("hex") };
  }
  if (value instanceof ArrayBuffer) return { $hex: Buffer.from(value).toString("hex") };
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

// Queues every event a socket receives, so nothing is missed between two awaits.
function record(socket) {
  const queues = new Map();
  const waiters = new Map();
  const push = (event, args) => {
    const waiting = waiters.get(event);
    if (waiting && waiting.length) return waiting.shift()(args);
    if (!queues.has(event)) queues.set(event, []);
    queues.get(event).push(args);
  };
  socket.onAny((event, ...args) => push(event, args));
  for (const event of ["connect_error", "disconnect"]) socket.on(event, (...args) => push(event, args));
  return {
    next(event) {
      const queued = queues.get(event);
      if (queued && queued.length) return Promise.resolve(queued.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${event} event`)), TIMEOUT_MS);
        if (!waiters.has(event)) waiters.set(event, []);
        waiters.get(event).push((args) => {
          clearTimeout(timer);
          resolve(args);
        });
      });
    },
    pending(event) {
      return (queues.get(event) || []).length;
    },
  };
}

// Emit with an ack; resolves with every ack argument.
function ack(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(TIMEOUT_MS).emit(event, ...args, (error, ...reply) => {
      if (error) reject(new Error(`no ack for ${event}`));
      else resolve(reply);
    });
  });
}

function connected(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

function upgraded(manager) {
  const engine = manager.engine;
  if (engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve) => engine.once("upgrade", resolve));
}

async function main() {
  const options = { transports: TRANSPORTS[mode], reconnection: false, timeout: TIMEOUT_MS };
  const manager = new Manager(url, options);
  const room = `node-room-${Math.random().toString(16).slice(2)}`;
  const results = { mode };

  // connect with an auth payload; two namespaces share one connection
  const ana = manager.socket("/test", { auth: { name: "ana", n: 1 } });
  const anaEvents = record(ana);
  const other = manager.socket("/other", { auth: { name: "ana" } });
  const otherEvents = record(other);
  await Promise.all([connected(ana), connected(other)]);
  const [welcome] = await anaEvents.next("welcome");
  results.welcome = welcome;
  results.welcomeSidIsSocketId = welcome.sid === ana.id;
  results.oneConnection = ana.io === other.io && ana.id !== other.id;
  results.otherWhoami = (await ack(other, "whoami"))[0];
  results.otherSidIsSocketId = results.otherWhoami.sid === other.id;
  if (mode === "polling-upgrade") await upgraded(manager);
  results.transport = manager.engine.transport.name;

  // a refused namespace: CONNECT_ERROR {message, data}
  const refused = manager.socket("/private", { auth: { token: "wrong" } });
  const [refusal] = await record(refused).next("connect_error");
  results.refused = { message: refusal.message, data: refusal.data };

  // events and acks, client to server
  results.echoAck = await ack(ana, "echo", "a", 1, { x: [1, null] }, [true]);
  // text cut inside an emoji: JSON.stringify writes the lone half as an escape
  results.echoCut = await ack(ana, "echo", "thumbs " + "\u{1F44D}".slice(0, 1), { ok: 1 });
  ana.emit("echo_event", "hi", { n: 2 });
  results.echoed = await anaEvents.next("echoed");

  // acks, server to client: the server calls "question" and waits for our answer
  ana.on("question", (...args) => {
    const callback = args.pop();
    if (Buffer.isBuffer(args[0])) callback({ got: Buffer.from(args[0]).reverse(), meta: args[1] });
    else callback(args[0] + args[1], "sum");
  });
  results.serverAck = await ack(ana, "ask", { args: [20, 22] });

  // binary both ways, nested anywhere
  results.binaryAck = plain(
    await ack(ana, "echo", Buffer.from([0, 1, 255]), { deep: [{ b: Buffer.from("abc") }] }, "t"),
  );
  ana.emit("echo_event", { file: Buffer.from([9, 8]) }, Buffer.from("z"));
  results.binaryEvent = plain(await anaEvents.next("echoed"));
  results.binaryServerAck = plain(
    await ack(ana, "ask", { args: [Buffer.from([1, 2, 3]), { k: [Buffer.from([255])] }] }),
  );

  // rooms: a second connection
  const bobManager = new Manager(url, options);
  const bob = bobManager.socket("/test");
  const bobEvents = record(bob);
  await connected(bob);
  results.anaJoin = await ack(ana, "join", room);
  results.bobJoin = await ack(bob, "join", room);
  await ack(ana, "say", { to: room, data: 1, include_self: false });
  await ack(ana, "say", { to: room, data: 2 });
  results.bobSaid = [(await bobEvents.next("said"))[0], (await bobEvents.next("said"))[0]];
  results.anaSaid = (await anaEvents.next("said"))[0];
  results.anaSid = ana.id;
  results.broadcast = await ack(bob, "broadcast", { data: "news", to: room });
  results.anaNews = await anaEvents.next("news");

  // disconnects: the client leaves a namespace; the server disconnects one
  const bobId = bob.id;
  bob.disconnect();
  results.bobLeft = (await anaEvents.next("left"))[0];
  results.bobId = bobId;
  ana.emit("kick");
  results.kickReason = (await anaEvents.next("disconnect"))[0];
  results.otherAfterKick = await ack(other, "echo", "still here");
  results.anaPendingSaid = anaEvents.pending("said");
  results.otherPendingEchoed = otherEvents.pending("echoed");

  other.disconnect();
  refused.disconnect();
  manager.engine.close();
  bobManager.engine.close();
  console.log(JSON.stringify(results));
  clearTimeout(watchdog);
}

main().catch(fail);
