// Camera, WebSocket link and the frame loop: one JPEG in flight, the next only after the answer.

const MAGIC = [0x48, 0x50, 0x46, 0x31]; // "HPF1"
const HEADER_BYTES = 24;
export const FRAME_W = 640;
export const FRAME_H = 480;

/** Open a camera; 640x480 asked for, whatever the camera gives is scaled to 640 wide. */
export async function openCamera(deviceId) {
  const video = { width: { ideal: FRAME_W }, height: { ideal: FRAME_H }, frameRate: { ideal: 30 } };
  if (deviceId) video.deviceId = { exact: deviceId };
  return navigator.mediaDevices.getUserMedia({ video, audio: false });
}

/** The cameras the browser knows (labels appear once a camera was allowed). */
export async function listCameras() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === "videoinput");
}

/** Stop every track of a stream. */
export function stopStream(stream) {
  if (stream) stream.getTracks().forEach((t) => t.stop());
}

/** The WebSocket to the hiprom server: JSON messages in, handlers by message type. */
export class Link {
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
  }

  open() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => { this.ws = ws; resolve(); };
      ws.onerror = () => reject(new Error("cannot reach the hiprom server"));
      ws.onclose = () => { this.ws = null; (this.handlers.closed || (() => {}))(); };
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        const handler = this.handlers[message.type];
        if (handler) handler(message);
      };
    });
  }

  send(message) {
    if (this.ws) this.ws.send(JSON.stringify(message));
  }

  sendBinary(parts) {
    if (this.ws) this.ws.send(new Blob(parts));
  }

  close() {
    if (this.ws) this.ws.close();
  }
}

function header(seq, captureMs, lastLatencyMs) {
  const buffer = new ArrayBuffer(HEADER_BYTES);
  const view = new DataView(buffer);
  MAGIC.forEach((b, i) => view.setUint8(i, b));
  view.setUint32(4, seq, true);
  view.setFloat64(8, captureMs, true);
  view.setFloat64(16, lastLatencyMs, true);
  return buffer;
}

/** The capture time of a video frame on the performance.now() clock, and what it is. */
function captureTime(metadata) {
  const now = performance.now();
  if (metadata && Number.isFinite(metadata.captureTime) && metadata.captureTime <= now) {
    return [metadata.captureTime, "captureTime"];
  }
  if (metadata && Number.isFinite(metadata.presentationTime)) {
    return [Math.min(metadata.presentationTime, now), "presentationTime"];
  }
  return [now, "performance.now"];
}

/**
 * Sends the camera's frames to the server, one at a time, and hands each answer to `draw`
 * together with the picture that was measured. Records capture -> overlay latency.
 */
export class FrameLoop {
  constructor(video, link, draw) {
    this.video = video;
    this.link = link;
    this.draw = draw;
    this.canvas = document.createElement("canvas");
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: false });
    this.running = false;
    this.inFlight = null;
    this.seq = 0;
    this.lastLatency = NaN;
    this.latencies = [];
    this.parts = []; // per frame: [capture -> grab, encode, round trip, draw] in ms
    this.clock = "";
    this.sent = 0;
    this.dropped = 0;
  }

  start() {
    this.running = true;
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      const tick = (now, metadata) => {
        if (!this.running) return;
        if (!this.inFlight) this.grab(metadata);
        this.video.requestVideoFrameCallback(tick);
      };
      this.video.requestVideoFrameCallback(tick);
    } else {
      this.timer = setInterval(() => { if (!this.inFlight) this.grab(null); }, 1000 / 30);
    }
  }

  stop() {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
  }

  async grab(metadata) {
    const [capture, clock] = captureTime(metadata);
    this.clock = clock;
    const w = FRAME_W;
    const h = Math.round((FRAME_W * this.video.videoHeight) / Math.max(1, this.video.videoWidth)) || FRAME_H;
    const seq = ++this.seq;
    const grabbed = performance.now();
    this.inFlight = { seq, capture, grabbed };
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.ctx.drawImage(this.video, 0, 0, w, h);
    const jpeg = await new Promise((resolve) => this.canvas.toBlob(resolve, "image/jpeg", 0.9));
    if (!this.running || !jpeg) { this.inFlight = null; return; }
    this.inFlight.sentAt = performance.now();
    this.link.sendBinary([header(seq, capture, this.lastLatency), jpeg]);
    this.sent += 1;
  }

  /** The server's answer to the frame in flight: draw it, then free the slot. */
  answered(message) {
    if (!this.inFlight || message.seq !== this.inFlight.seq) return;
    const arrived = performance.now();
    this.draw(this.canvas, message);
    const drawn = performance.now();
    const { capture, grabbed, sentAt } = this.inFlight;
    const latency = drawn - capture;
    this.parts.push([grabbed - capture, sentAt - grabbed, arrived - sentAt, drawn - arrived]
      .map((v) => Math.round(v * 10) / 10));
    this.latencies.push(latency);
    this.lastLatency = latency;
    this.inFlight = null;
  }

  /** The server dropped or refused the frame in flight: free the slot. */
  released(message) {
    if (this.inFlight && (message.seq === undefined || message.seq === this.inFlight.seq)) {
      if (message.type === "dropped") this.dropped += 1;
      this.inFlight = null;
    }
  }
}
