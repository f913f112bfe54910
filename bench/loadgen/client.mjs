// One Socket.IO v5 client over a raw Engine.IO v4 WebSocket: hand-written frames, no parser
// beyond what the bench needs (CONNECT ack, ACKs, and the fields of a few event names). Events
// are read as bytes where they arrive; only the rarer packets (ACKs, CONNECT) become strings.
import { now } from "./clock.mjs";
import { WebSocketClient } from "./wsclient.mjs";

// the number after `key` (a Buffer) in buffer[start:end]: `"sentAt":123.4` (JSON) or
// `sentAt=123.4` (text); NaN if absent
export function numberAfter(buffer, start, end, key) {
  const at = buffer.indexOf(key, start);
  if (at < 0 || at + key.length > end) return NaN;
  let i = at + key.length;
  while (i < end && !(buffer[i] >= 48 && buffer[i] <= 57) && buffer[i] !== 45) i++;
  const first = i;
  const negative = buffer[i] === 45;
  if (negative) i++;
  let value = 0;
  for (; i < end && buffer[i] >= 48 && buffer[i] <= 57; i++) value = value * 10 + buffer[i] - 48;
  if (buffer[i] === 46) {
    let scale = 1;
    for (i++; i < end && buffer[i] >= 48 && buffer[i] <= 57; i++) {
      value = value * 10 + buffer[i] - 48;
      scale *= 10;
    }
    value /= scale;
  }
  if (buffer[i] === 101 || buffer[i] === 69) {
    // an exponent (never written for the bench's clock readings): the slow, exact way
    return parseFloat(buffer.toString("latin1", first, Math.min(end, first + 32)));
  }
  return negative ? -value : value;
}

// whether buffer[at:end] starts with `bytes` (a Buffer)
function bytesAt(buffer, at, end, bytes) {
  if (end - at < bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (buffer[at + i] !== bytes[i]) return false;
  return true;
}

// whether the string field `key` (a Buffer ending in the opening quote, `"text":"`) of
// buffer[start:end] is `value` (a Buffer ending in the closing quote)
export function fieldIs(buffer, start, end, key, value) {
  const at = buffer.indexOf(key, start);
  return at >= 0 && bytesAt(buffer, at + key.length, end, value);
}

// a string field's value in a frame, for short values without escapes (`"text":"p:abc"`)
export function stringField(frame, name) {
  const key = `"${name}":"`;
  const at = frame.indexOf(key);
  if (at < 0) return undefined;
  const start = at + key.length;
  return frame.slice(start, frame.indexOf('"', start));
}

export class Client {
  constructor({ index, uid, token, url, ns, events, onEvent, onClose }) {
    this.index = index;
    this.uid = uid;
    this.token = token;
    this.url = url;
    this.ns = ns;
    this.eventPrefixes = events.map((e) => Buffer.from(`42${ns},["${e}",`));
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.ws = null;
    this.sid = null;
    this.connected = false;
    this.closed = false;
    this.nextAck = 0;
    this.acks = new Map();
    this.tag = "";
  }

  // resolves with the time from opening the WebSocket to the CONNECT ack, in ms
  connect(timeoutMs) {
    const started = now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error("connect timeout"));
        this.close();
      }, timeoutMs);
      this.onConnected = (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(now() - started);
      };
      const ws = new WebSocketClient(`${this.url}/socket.io/?EIO=4&transport=websocket`);
      this.ws = ws;
      ws.onmessage = (buffer, start, end, receivedAt) => this.packet(buffer, start, end, receivedAt);
      ws.onclose = (error) => {
        const wasConnected = this.connected;
        this.connected = false;
        this.closed = true;
        if (!wasConnected && this.onConnected) this.onConnected(error || new Error("closed"));
        else if (wasConnected && this.onClose) this.onClose(this);
        for (const [, settle] of this.acks) settle(null);
        this.acks.clear();
      };
    });
  }

  // one Engine.IO packet, buffer[start:end]
  packet(buffer, start, end, receivedAt) {
    const c0 = buffer[start];
    if (c0 === 50 /* 2: ping */) {
      this.ws.send("3");
      return;
    }
    if (c0 === 48 /* 0: open */) {
      const auth = JSON.stringify({ token: this.token });
      this.ws.send(`40${this.ns},${auth}`);
      return;
    }
    if (c0 !== 52 /* 4: message */) return;
    if (buffer[start + 1] === 50 /* 2: EVENT */) {
      for (const prefix of this.eventPrefixes) {
        if (bytesAt(buffer, start, end, prefix)) {
          this.onEvent(this, buffer, start, end, receivedAt);
          return;
        }
      }
      return;
    }
    this.control(buffer.toString("utf8", start, end));
  }

  // a Socket.IO packet other than an EVENT, as a string
  control(s) {
    const c1 = s.charCodeAt(1);
    if (c1 === 51 /* 3: ACK */) {
      const rest = s.slice(2 + this.ns.length + 1);
      const bracket = rest.indexOf("[");
      const id = parseInt(rest.slice(0, bracket), 10);
      const settle = this.acks.get(id);
      if (settle) {
        this.acks.delete(id);
        settle(rest.slice(bracket));
      }
    } else if (c1 === 48 /* 0: CONNECT */) {
      const body = JSON.parse(s.slice(2 + this.ns.length + 1));
      this.sid = body.sid;
      this.connected = true;
      if (this.onConnected) this.onConnected(null);
      this.onConnected = null;
    } else if (c1 === 52 /* 4: CONNECT_ERROR */) {
      if (this.onConnected) this.onConnected(new Error(`refused: ${s}`));
      this.onConnected = null;
    }
  }

  emit(event, payload) {
    this.ws.send(`42${this.ns},${JSON.stringify([event, payload])}`);
  }

  // resolves with the ACK's raw JSON array text (null if the socket closed or timed out)
  call(event, payload, timeoutMs = 10_000) {
    const id = this.nextAck++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        resolve(null);
      }, timeoutMs);
      this.acks.set(id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
      this.ws.send(`42${this.ns},${id}${JSON.stringify([event, payload])}`);
    });
  }

  close() {
    this.connected = false; // a close we asked for is not a disconnect
    if (this.ws && !this.closed) {
      this.closed = true;
      this.ws.terminate();
    }
  }
}
