// hiprom app: safety screen -> camera -> camera check, neutral, reps (live overlay) -> result.
// ?auto=1 runs it all without clicks (reps=N: end after N reps a side; seconds=S: after S s
// of video; keep=1: keep the annotated video). window.hiprom shows the progress to scripts.

import { FrameLoop, Link, listCameras, openCamera, stopStream } from "./capture.js";
import { Beeper, Voice } from "./cues.js";
import { drawFrame } from "./draw.js";
import { el, showResult } from "./result.js";

const params = new URLSearchParams(location.search);
const AUTO = params.get("auto") === "1";
const $ = (id) => document.getElementById(id);
const SECTIONS = { safety: "step-safety", camera: "step-camera", setup: "step-test",
  neutral: "step-test", reps: "step-test", result: "step-result" };
const CHECK_NAMES = { legs: "Whole legs in view", distance: "Distance", height: "Camera height",
  angle: "Camera faces you", level: "Camera level", light: "Light" };
const CHECK_UNITS = { distance: (v) => `shin ${v} px`, height: (v) => `tilt ${v}°`,
  angle: (v) => `turn ${v}°`, level: (v) => `roll ${v}°`, light: (v) => `${v}/255` };

const status = { auto: AUTO, step: "", steps: [], phase: null, done: false, error: null,
  session: null, card: null, frames: 0, clock: "", latencies: [], sent: 0, dropped: 0 };
window.hiprom = status;

let config = null;
let stream = null;
let link = null;
let loop = null;
let lastReps = 0;
const voice = new Voice();
const beeper = new Beeper();

function setStep(step) {
  if (status.step === step) return;
  status.step = step;
  status.steps.push(step);
  document.querySelectorAll(".steps li").forEach((li) => {
    li.classList.toggle("done", li.dataset.step !== step && status.steps.includes(li.dataset.step));
    li.classList.toggle("current", li.dataset.step === step);
  });
  for (const id of new Set(Object.values(SECTIONS))) $(id).hidden = id !== SECTIONS[step];
}

function fail(message) {
  status.error = message;
  $("headline").textContent = "Something went wrong";
  $("detail").textContent = message;
  $("banner").className = "banner alert";
  $("camera-error").textContent = message; // the camera step: at the top, not below the fold
  $("camera-error").hidden = status.step !== "camera";
}

// --- safety ------------------------------------------------------------------------------

function showSafety() {
  const items = config.safety.filter((f) => !f.stop_rule);
  $("safety-list").replaceChildren(...items.map((f) =>
    el("li", {}, el("strong", {}, f.situation), f.rule)));
  const stop = config.safety.find((f) => f.stop_rule);
  if (stop) $("stop-rule").textContent = `During the test: ${stop.situation} ${stop.rule}`;
  $("disclaimer").textContent = config.disclaimer;
  $("safety-ack").onchange = () => { $("safety-continue").disabled = !$("safety-ack").checked; };
  $("safety-continue").onclick = () => toCamera();
  setStep("safety");
  if (AUTO) {
    setTimeout(() => {
      $("safety-ack").checked = true;
      $("safety-continue").disabled = false;
      status.safetyAcknowledged = true;
      toCamera();
    }, 800);
  }
}

// --- camera ------------------------------------------------------------------------------

async function fillCameras() {
  const cameras = await listCameras();
  const current = stream ? stream.getVideoTracks()[0].getSettings().deviceId : "";
  $("camera-select").replaceChildren(...cameras.map((c, i) =>
    el("option", { value: c.deviceId, selected: c.deviceId === current }, c.label || `Camera ${i + 1}`)));
}

async function useCamera(deviceId) {
  stopStream(stream);
  stream = await openCamera(deviceId);
  $("preview").srcObject = stream;
  await $("preview").play();
}

async function toCamera() {
  setStep("camera");
  if (AUTO) {
    $("opt-keep").checked = params.get("keep") === "1";
    await startTest();
    return;
  }
  try {
    await useCamera();
    await fillCameras();
    $("start").disabled = false;
  } catch (err) {
    fail(`No camera: ${err.message}. Allow the camera for this page, close other apps using it, then reload.`);
  }
}

// --- the test ----------------------------------------------------------------------------

function cameraLabel() {
  const track = stream && stream.getVideoTracks()[0];
  return track ? track.label || "camera" : "camera";
}

async function startTest() {
  setStep("setup");
  voice.enabled = $("opt-voice").checked;
  beeper.enabled = $("opt-beep").checked;
  if (!AUTO) $("preview").srcObject = null;
  link = new Link({ ready: onReady, frame: onFrame, state: (m) => showState(m.state),
    dropped: (m) => loop && loop.released(m), error: onError, result: onResult,
    closed: () => { if (!status.done) fail("The hiprom server stopped. Start `hiprom app` again."); } });
  try {
    await link.open();
  } catch (err) {
    fail(err.message);
    return;
  }
  const number = (name) => (params.has(name) ? Number(params.get(name)) : null);
  link.send({ type: "start", auto: AUTO, reps: number("reps"), seconds: number("seconds"),
    keep_video: $("opt-keep").checked, person: $("person").value.trim() || config.person,
    camera: cameraLabel() });
}

async function onReady(message) {
  status.session = message.session;
  $("person-badge").textContent = `History: ${message.person}`;
  showState(message.state);
  try {
    if (!stream) stream = await openCamera(); // auto: the camera starts once the model is ready
  } catch (err) {
    fail(`No camera: ${err.message}`);
    return;
  }
  const track = stream.getVideoTracks()[0];
  track.onended = () => { // unplugged, or taken by another app: save what was seen, and say so
    status.cameraLost = true;
    link.send({ type: "finish" });
  };
  $("live").srcObject = stream;
  await $("live").play();
  if (!AUTO) link.send({ type: "key", key: "next" }); // the safety screen was acknowledged
  loop = new FrameLoop($("live"), link, (frame, reply) => drawFrame($("view"), frame, reply, config.edges));
  status.latencies = loop.latencies;
  status.parts = loop.parts;
  loop.start();
}

function onFrame(message) {
  if (!loop) return;
  loop.answered(message);
  status.frames += 1;
  status.sent = loop.sent;
  status.clock = loop.clock;
  showState(message.state);
  showSetup(message.setup);
}

function showState(state) {
  if (!state) return;
  status.phase = state.phase;
  if (["setup", "neutral", "reps"].includes(state.phase)) setStep(state.phase);
  $("headline").textContent = state.headline;
  $("detail").textContent = state.detail;
  $("banner").className = `banner${state.alert ? " alert" : ""}${state.complete ? " done" : ""}`;
  $("progress").classList.toggle("idle", state.progress === null); // keeps its place
  if (state.progress !== null) {
    $("progress-bar").style.width = `${Math.round(100 * Math.min(1, state.progress))}%`;
    $("progress-label").textContent = state.progress_label;
  }
  $("count-left").textContent = `${state.counts.left} / ${state.reps_per_side}`;
  $("count-right").textContent = `${state.counts.right} / ${state.reps_per_side}`;
  $("btn-skip-setup").hidden = AUTO || state.phase !== "setup";
  $("btn-redo").hidden = AUTO || state.phase !== "reps" || state.reps.length === 0;
  voice.say(state.headline);
  if (state.progress_label === "Hold done" && !status.holdBeeped) beeper.beep();
  status.holdBeeped = state.progress_label === "Hold done";
  if (state.reps.length > lastReps) beeper.beep(true);
  lastReps = state.reps.length;
}

function showSetup(checks) {
  $("setup-list").replaceChildren(...checks.map((c) => {
    const value = c.value === null || c.value === undefined ? "" : (CHECK_UNITS[c.id] || String)(c.value);
    return el("li", { class: c.ok ? "ok" : "bad", "data-check": c.id },
      el("span", { class: "mark" }, c.ok ? "✓" : "✗"),
      el("span", {}, CHECK_NAMES[c.id] || c.id),
      el("span", { class: "value" }, value),
      c.advice ? el("span", { class: "advice" }, c.advice) : null);
  }));
}

function onError(message) {
  if (loop) loop.released(message);
  if (message.fatal) fail(message.message);
  else $("detail").textContent = message.message;
}

function onResult(message) {
  if (loop) loop.stop();
  status.card = message.card || null;
  status.error = message.error || null;
  status.done = true;
  stopStream(stream);
  stream = null;
  link.close();
  voice.say(message.error ? "The test could not be saved" : "Test complete. Here is your result.");
  setStep("result");
  showResult(message);
  $("result-camera").hidden = !status.cameraLost || AUTO;
}

// --- start -------------------------------------------------------------------------------

async function init() {
  try {
    config = await (await fetch("/api/config")).json();
  } catch (err) {
    document.body.replaceChildren(el("p", { class: "error" }, "The hiprom server is not running."));
    return;
  }
  $("person").value = config.person;
  $("person-badge").textContent = `History: ${config.person}`;
  $("out-dir").textContent = config.out_dir;
  $("camera-select").onchange = async (e) => { await useCamera(e.target.value); };
  $("start").onclick = () => startTest();
  $("btn-skip-setup").onclick = () => link && link.send({ type: "key", key: "next" });
  $("btn-redo").onclick = () => link && link.send({ type: "key", key: "redo" });
  $("btn-finish").onclick = () => link && link.send({ type: "finish" });
  $("btn-again").onclick = () => location.reload();
  showSafety();
}

init();
