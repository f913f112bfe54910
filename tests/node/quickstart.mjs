// The seed's quick start, verbatim: connect to /v1/conversation over websocket with the token
// in the query, emit `join`, print its ack as JSON and exit.
// Usage: node quickstart.mjs <port> <token>
import { io } from "socket.io-client";

const [port, token] = process.argv.slice(2);

const socket = io(`http://localhost:${port}/v1/conversation`, {
  transports: ["websocket"],
  query: { token },
});
socket.emit("join", {}, (ack) => {
  process.stdout.write(JSON.stringify(ack));
  process.exit(0);
});
socket.on("connect_error", (err) => {
  process.stdout.write(JSON.stringify({ connect_error: err.message, data: err.data }));
  process.exit(1);
});
setTimeout(() => {
  process.stdout.write(JSON.stringify({ timeout: true }));
  process.exit(2);
}, 10_000);
