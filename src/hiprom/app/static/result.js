// The result card, the routine with its diagrams, and the person's history.

const $ = (id) => document.getElementById(id);

/** Build an element; children are nodes or strings (always inserted as text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function deg(value, digits = 1) {
  return value === null || value === undefined ? "—" : `${value.toFixed(digits)}°`;
}

function legCard(side, leg, refused) {
  const title = `${side === "left" ? "Left" : "Right"} hip`;
  if (leg.ir_deg === null) {
    return el("div", { class: "card", "data-side": side }, el("h2", {}, title),
      el("div", { class: "big" }, "—"),
      el("p", {}, refused ? "Not scored: see above."
        : leg.tested === false ? "Not tested: this leg was not swung out in the test."
          : "Not measured: keep both lower legs in view and hold each end position."),
      !refused && leg.quality.length // refused: the reason above is the one that matters
        ? el("ul", { class: "small" }, leg.quality.map((q) => el("li", {}, q.text))) : null);
  }
  const ci = leg.ci95_deg === null ? "" : ` ±${leg.ci95_deg.toFixed(1)}° (95% interval)`;
  const reps = `${leg.reps_used} rep${leg.reps_used === 1 ? "" : "s"} used`;
  return el("div", { class: "card", "data-side": side },
    el("h2", {}, title),
    el("div", { class: "big" }, deg(leg.ir_deg), el("span", { class: "ci" }, ci)),
    el("span", { class: `pill ${leg.code}` }, leg.band), " ",
    el("span", { class: "muted small" }, `internal rotation · target 35–45° · ${reps}`),
    el("p", {}, leg.sentence),
    leg.quality.length ? el("ul", { class: "small" }, leg.quality.map((q) => el("li", {}, q.text))) : null);
}

function exercise(ex) {
  return el("article", { class: "exercise" },
    el("img", { src: ex.diagram, alt: `Diagram: ${ex.name}`, width: 220, height: 156 }),
    el("div", {},
      el("h3", {}, ex.name),
      el("div", { class: "dose" }, ex.dose),
      el("p", { class: "small" }, ex.why),
      el("ol", { class: "small" }, ex.instructions.map((s) => el("li", {}, s))),
      ex.cautions.length ? el("ul", { class: "small muted" }, ex.cautions.map((s) => el("li", {}, s))) : null));
}

/** Fill the result section from the server's card (or show why nothing was saved). */
export function showResult(message) {
  if (message.error) {
    $("result-error").textContent = `Nothing was saved: ${message.error}`;
    $("result-error").hidden = false;
    $("btn-report").hidden = true;
    $("btn-report-pdf").hidden = true;
    $("btn-history").hidden = true;
    return;
  }
  const card = message.card;
  $("result-refused").hidden = !card.refused;
  $("result-refused").textContent = card.refused ? `Not scored, this is not the seated test: ${card.refused}.` : "";
  $("result-legs").replaceChildren(legCard("left", card.legs.left, card.refused),
    legCard("right", card.legs.right, card.refused));
  $("result-asym").textContent = card.asymmetry;
  $("result-flags").replaceChildren(...card.red_flags.map((f) =>
    el("div", { class: "flag" }, el("strong", {}, f.why), " ", f.rule)));
  $("result-quality").replaceChildren(...card.quality.map((f) => el("p", { class: "muted small" }, f)));
  $("result-routine").replaceChildren(...(card.exercises.length
    ? card.exercises.map(exercise)
    : [el("p", {}, "No routine: no leg was measured.")]));
  if (card.notes.length) $("result-routine").append(el("ul", { class: "small" }, card.notes.map((n) => el("li", {}, n))));
  $("btn-report").href = card.report_url;
  $("btn-report-pdf").href = card.report_pdf_url;
  $("btn-history").hidden = !card.history_url;
  $("btn-history").onclick = () => showHistory(card.history_url);
  $("result-files").textContent = `Saved in ${card.out_dir}: ${card.files.join(", ")}` +
    (card.in_history ? ` · added to the history of ${card.person}` : "");
  $("result-disclaimer").textContent = card.disclaimer;
}

/** Load and show the person's history chart, the change since the last test and the table. */
export async function showHistory(url) {
  const box = $("history");
  box.hidden = false;
  const response = await fetch(url);
  const data = await response.json();
  if (!response.ok) {
    box.replaceChildren(el("p", { class: "error" }, data.error || "no history"));
    return data;
  }
  $("history-plot").hidden = !data.plot_url;
  if (data.plot_url) $("history-plot").src = `${data.plot_url}?t=${Date.now()}`;
  $("history-changes").replaceChildren(...(data.changes.length
    ? data.changes.map((c) => el("li", {}, c))
    : [el("li", {}, "One test so far: test again in 2–4 weeks to see a trend.")]));
  const head = el("tr", {}, el("th", {}, "Test"), el("th", {}, "Left IR"), el("th", {}, "Right IR"));
  const rows = data.tests.map((t) => el("tr", {},
    el("td", {}, new Date(t.measured_at).toLocaleString()),
    el("td", {}, deg(t.left.ir_deg) + (t.left.ci95_deg === null ? "" : ` ±${t.left.ci95_deg.toFixed(1)}°`)),
    el("td", {}, deg(t.right.ir_deg) + (t.right.ci95_deg === null ? "" : ` ±${t.right.ci95_deg.toFixed(1)}°`))));
  $("history-table").replaceChildren(head, ...rows);
  box.scrollIntoView({ behavior: "smooth", block: "start" });
  return data;
}
