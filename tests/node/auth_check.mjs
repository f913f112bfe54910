// Connects the stock socket.io-client to each case's namespace, emits `join` with an ack, and
// prints one JSON array: {ack: <join ack>} ({connected: true} when `join` is null) or
// {error: {message, data}} per case.
// Usage: node auth_check.mjs <url> '<JSON [{namespace, auth?, query?, extraHeaders?, transports?, join?}]>'
import { io } from "socket.io-client";

const [url, casesJson] = process.argv.slice(2);
const TIMEOUT_MS = 5000;

function attempt({ namespace, auth, query, extraHeaders, transports, join }) {
  return new Promise((resolve) => {
    const socket = io(url + namespace, {
      auth,
      query,
      extraHeaders,
      transports: transports ?? ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: TIMEOUT_MS,
    });
    const finish = (outcome) => {
      socket.close();
      resolve(outcome);
    };
    socket.on("connect", async () => {
      if (join === null) return finish({ connected: true });
      try {
        finish({ ack: await socket.timeout(TIMEOUT_MS).emitWithAck("join", join ?? {}) });
      } catch (err) {
        finish({ failed: String(err) });
      }
    });
    socket.on("connect_error", (err) => finish({ error: { message: err.message, data: err.data } }));
  });
}

const outcomes = [];
for (const testCase of JSON.parse(casesJson)) {
  outcomes.push(await attempt(testCase));
}
process.stdout.write(JSON.stringify(outcomes));
process.exit(0);
