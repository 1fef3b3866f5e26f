// The live stream client: one WebSocket that subscribes, pings, reconnects with backoff after a
// drop and subscribes again, and reports its state in the top bar's status.

import { meta } from "./dom.js";
import { clockTime } from "./format.js";
import { setStatus, showError } from "./notices.js";

const PING_EVERY_MS = 25000; // keeps idle proxies from closing the socket
const RECONNECT_MAX_MS = 30000;

export const STREAM_URL =
  meta("trading-stream") || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`;

const statusLine = document.getElementById("status");

export class Stream {
  /**
   * `url()`: where to connect (read at every attempt, so it carries the current key).
   * `subscriptions()`: the channel lists, one subscribe message each (a server refuses a message
   * with a channel the key may not have whole), asked at every connection. `onEvent(channel, event)`: every event.
   * `onResync()`: subscribed again after a drop (events were missed meanwhile).
   * `onKeyRefused(code, reason)`: closed with 4401 or 4403 (no retry: it would be refused again).
   */
  constructor({ url, subscriptions, onEvent, onResync, onKeyRefused }) {
    Object.assign(this, { url, subscriptions, onEvent, onResync, onKeyRefused });
    this.socket = null;
    this.attempts = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.hadDrop = false;
    this.awaiting = 0; // subscribe frames of this connection not yet answered
  }

  connect() {
    this.stop();
    setStatus("connecting", "Connecting to the live stream…");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    const send = (message) => socket.send(JSON.stringify(message));
    socket.addEventListener("open", () => {
      const lists = this.subscriptions();
      this.awaiting = lists.length;
      for (const channels of lists) send({ action: "subscribe", channels });
      this.pingTimer = setInterval(() => send({ action: "ping" }), PING_EVERY_MS);
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "subscribed") {
      this.attempts = 0;
      statusLine.dataset.channels = (message.channels || []).join(" "); // what the server confirmed
      setStatus("open", "Live · subscribed to all events");
      this.answered();
    } else if (message.type === "error") {
      showError(new Error(message.detail), "The live stream rejected a message");
      this.answered();
    } else if (message.event) {
      setStatus("open", `Live · last event ${clockTime()}`);
      this.onEvent(message.channel, message.event);
    }
  }

  // Resync once every subscribe frame is answered: an event of a channel not yet subscribed
  // could otherwise be missed between the reload and its subscription.
  answered() {
    if (this.awaiting === 0) return;
    this.awaiting -= 1;
    if (this.awaiting === 0 && this.hadDrop) {
      this.hadDrop = false;
      this.onResync();
    }
  }

  closed(socket, event) {
    if (socket !== this.socket) return; // an old socket, replaced on purpose
    clearInterval(this.pingTimer);
    this.socket = null;
    if (event.code === 4401 || event.code === 4403) {
      setStatus("denied", `Stream refused the key (${event.code}${event.reason ? `: ${event.reason}` : ""})`);
      this.onKeyRefused(event.code, event.reason);
      return;
    }
    this.hadDrop = true;
    const delay = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** this.attempts) * (0.8 + Math.random() * 0.4);
    this.attempts += 1;
    const code = event.code ? ` (code ${event.code})` : "";
    setStatus("closed", `Disconnected${code} · retrying in ${Math.round(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  stop() {
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "closed by the dashboard");
  }
}
