// The live overlay: the measured frame (mirrored like a mirror), skeleton, shank lines,
// the angle against the reference vertical, and the hold progress around the knee.

const COLOURS = { left: "#3b82f6", right: "#f97316" };
const SKELETON = "rgba(255,255,255,0.85)";
const MIN_VISIBILITY = 0.5;

function mirrorX(x, width) { return width - x; }

function line(ctx, a, b, colour, width, dash = []) {
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = width;
  ctx.lineCap = "round";
  ctx.setLineDash(dash);
  ctx.beginPath();
  ctx.moveTo(a[0], a[1]);
  ctx.lineTo(b[0], b[1]);
  ctx.stroke();
  ctx.restore();
}

function skeleton(ctx, landmarks, edges) {
  for (const [a, b] of edges) {
    const p = landmarks[a];
    const q = landmarks[b];
    if (p[2] >= MIN_VISIBILITY && q[2] >= MIN_VISIBILITY) {
      line(ctx, p, q, "rgba(0,0,0,0.55)", 6);
      line(ctx, p, q, SKELETON, 3);
    }
  }
  const joints = new Set(edges.flat());
  for (const index of joints) {
    const [x, y, v] = landmarks[index];
    if (v < MIN_VISIBILITY) continue;
    ctx.beginPath();
    ctx.arc(x, y, 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = v >= 0.8 ? "#22c55e" : "#f59e0b";
    ctx.fill();
  }
}

function angleOf(v) { return Math.atan2(v[1], v[0]); }

/** Shank, dashed reference along the pelvis perpendicular, the arc between them. */
function legAngle(ctx, leg, down, colour, active, progress) {
  const { knee, ankle } = leg;
  if (!knee || !ankle || !down) return;
  const shank = [ankle[0] - knee[0], ankle[1] - knee[1]];
  const length = Math.hypot(shank[0], shank[1]);
  const reference = [knee[0] + down[0] * length, knee[1] + down[1] * length];
  line(ctx, knee, reference, "rgba(255,255,255,0.9)", 2, [7, 6]);
  line(ctx, knee, ankle, "rgba(0,0,0,0.6)", active ? 10 : 8);
  line(ctx, knee, ankle, colour, active ? 6 : 4);
  const a0 = angleOf(down);
  const a1 = angleOf(shank);
  let delta = a1 - a0;
  while (delta > Math.PI) delta -= 2 * Math.PI;
  while (delta < -Math.PI) delta += 2 * Math.PI;
  const radius = Math.max(24, Math.min(60, 0.45 * length));
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = 3;
  ctx.beginPath();
  ctx.arc(knee[0], knee[1], radius, a0, a0 + delta, delta < 0);
  ctx.stroke();
  if (active && progress !== null) {
    ctx.strokeStyle = "#22c55e";
    ctx.lineWidth = 6;
    ctx.beginPath();
    ctx.arc(knee[0], knee[1], 16, -Math.PI / 2, -Math.PI / 2 + 2 * Math.PI * Math.min(1, progress));
    ctx.stroke();
  }
  ctx.restore();
}

/** A text box; `anchor` -1 puts it left of x, +1 right of x, 0 centred on x. */
function label(ctx, text, x, y, colour, anchor = 0) {
  ctx.save();
  ctx.font = "600 20px system-ui, 'DejaVu Sans', sans-serif";
  const w = ctx.measureText(text).width + 16;
  let left = anchor < 0 ? x - w : anchor > 0 ? x : x - w / 2;
  left = Math.max(2, Math.min(ctx.canvas.width - w - 2, left));
  ctx.fillStyle = "rgba(15,23,42,0.82)";
  ctx.fillRect(left, y - 15, w, 28);
  ctx.fillStyle = colour;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, left + w / 2, y);
  ctx.restore();
}

function holdProgress(state) {
  if (!state || state.progress === null || !state.progress_label) return null;
  return state.progress_label.startsWith("Hold") ? state.progress : null;
}

/**
 * Draw one answered frame onto `canvas`.
 * @param {HTMLCanvasElement} canvas the visible canvas
 * @param {HTMLCanvasElement} frame the frame that was measured (camera orientation)
 * @param {object} reply the server's frame message
 * @param {number[][]} edges landmark index pairs
 */
export function drawFrame(canvas, frame, reply, edges) {
  const ctx = canvas.getContext("2d");
  const w = frame.width;
  const h = frame.height;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.save();
  ctx.setTransform(-1, 0, 0, 1, w, 0); // a mirror: the person's left is on their left
  ctx.drawImage(frame, 0, 0, w, h);
  const state = reply.state || {};
  if (reply.landmarks) skeleton(ctx, reply.landmarks, edges);
  const legs = reply.legs;
  const measuring = state.phase === "reps" || state.phase === "neutral";
  if (legs) {
    for (const side of ["left", "right"]) {
      const active = state.side === side;
      legAngle(ctx, legs[side], legs.down, COLOURS[side], active, active ? holdProgress(state) : null);
    }
  }
  ctx.restore();
  if (legs && measuring) {
    const screenX = (side) => (legs[side].ankle ? mirrorX(legs[side].ankle[0], w) : w / 2);
    for (const side of ["left", "right"]) {
      const leg = legs[side];
      if (!leg.ankle || leg.rotation_deg === null) continue;
      const value = leg.rotation_deg;
      const word = value >= 0 ? "IR" : "ER";
      const text = `${side === "left" ? "L" : "R"} ${Math.abs(value).toFixed(0)}° ${word}`;
      const other = screenX(side === "left" ? "right" : "left");
      const outward = screenX(side) <= other ? -1 : 1; // away from the other leg
      label(ctx, text, screenX(side) - outward * 8, Math.min(h - 20, leg.ankle[1] + 30),
        COLOURS[side], outward);
    }
  }
  if (!reply.landmarks) label(ctx, "No person found", w / 2, 30, "#fca5a5");
}
