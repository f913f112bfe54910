// One Socket.IO v5 client over a raw Engine.IO v4 WebSocket: hand-written frames, no parser
// beyond what the bench needs (CONNECT ack, ACKs, and the sentAt of one event name).
import WebSocket from "ws";

export function now() {
  // CLOCK_MONOTONIC in ms: one clock for every process on the machine, so a sentAt stamped
  // by one load-generator process is read by another
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

// the number after `sentAt` in a frame: `"sentAt":123.4` (JSON) or `sentAt=123.4` (text)
export function sentAtOf(frame) {
  const at = frame.indexOf("sentAt");
  if (at < 0) return NaN;
  let i = at + 6;
  while (i < frame.length) {
    const c = frame.charCodeAt(i);
    if ((c >= 48 && c <= 57) || c === 45) break;
    i++;
  }
  return parseFloat(frame.slice(i, i + 24));
}

// a string field's value in a frame, for short values without escapes (`"text":"p:abc"`)
export function stringField(frame, name) {
  const key = `"${name}":"`;
  const at = frame.indexOf(key);
  if (at < 0) return undefined;
  const start = at + key.length;
  return frame.slice(start, frame.indexOf('"', start));
}

export function numberField(frame, name) {
  const key = `"${name}":`;
  const at = frame.indexOf(key);
  if (at < 0) return NaN;
  return parseFloat(frame.slice(at + key.length, at + key.length + 24));
}

export class Client {
  constructor({ index, uid, token, url, ns, events, onEvent, onClose }) {
    this.index = index;
    this.uid = uid;
    this.token = token;
    this.url = url;
    this.ns = ns;
    this.eventPrefixes = events.map((e) => `42${ns},["${e}",`);
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
      const ws = new WebSocket(`${this.url}/socket.io/?EIO=4&transport=websocket`, {
        perMessageDeflate: false,
        skipUTF8Validation: true,
        maxPayload: 10 * 1024 * 1024,
      });
      this.ws = ws;
      ws.on("message", (data) => this.frame(data.toString()));
      ws.on("error", (error) => {
        if (!this.connected && this.onConnected) this.onConnected(error);
      });
      ws.on("close", () => {
        const wasConnected = this.connected;
        this.connected = false;
        this.closed = true;
        if (!wasConnected && this.onConnected) this.onConnected(new Error("closed"));
        else if (wasConnected && this.onClose) this.onClose(this);
        for (const [, settle] of this.acks) settle(null);
        this.acks.clear();
      });
    });
  }

  frame(s) {
    const c0 = s.charCodeAt(0);
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
    const c1 = s.charCodeAt(1);
    if (c1 === 50 /* 2: EVENT */) {
      for (const prefix of this.eventPrefixes) {
        if (s.startsWith(prefix)) {
          this.onEvent(this, s);
          return;
        }
      }
    } else if (c1 === 51 /* 3: ACK */) {
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
