// Optional cues, both off by default: the instructions spoken (speechSynthesis), and a beep.

export class Voice {
  constructor() {
    this.enabled = false;
    this.last = "";
    this.lastAt = 0;
  }

  /** Speak `text` when it is new, at most every 2.5 s (the newest instruction wins). */
  say(text) {
    if (!this.enabled || !text || text === this.last || !("speechSynthesis" in window)) return;
    const now = performance.now();
    if (now - this.lastAt < 2500) return;
    this.last = text;
    this.lastAt = now;
    window.speechSynthesis.cancel();
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.rate = 0.95;
    window.speechSynthesis.speak(utterance);
  }
}

export class Beeper {
  constructor() {
    this.enabled = false;
    this.context = null;
  }

  /** A short tone; `high` for a finished rep. */
  beep(high = false) {
    if (!this.enabled) return;
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!AudioContext) return;
    this.context = this.context || new AudioContext();
    const ctx = this.context;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = high ? 1175 : 880;
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.25, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.2);
  }
}
