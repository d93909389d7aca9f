// The ranked predictions as a table: the pattern's events split into past / present / future
// with matched and missing symbols marked, the observed state with its extras marked, and
// every metric with its formula as the column heading's tooltip.

import { clear, el, eventList, shortName } from "./dom.js";
import { FORMULA, METRICS, formatMetric } from "./metrics.js";

const METRIC_COLUMNS = METRICS.map(([name]) => name);

// Position labels for the flattened state: which symbols are the matches and which are the
// extras (both lists are in state order). Where a symbol could be either, it is a match
// unless the remaining extras could then no longer be found in the rest of the state.
export function stateLabels(state, matches, extras) {
  const labels = [];
  let m = 0;
  let x = 0;
  const fits = (from, start) => {
    let k = from;
    for (let i = start; i < state.length && k < extras.length; i += 1) if (state[i] === extras[k]) k += 1;
    return k === extras.length;
  };
  state.forEach((symbol, i) => {
    const canMatch = m < matches.length && matches[m] === symbol;
    const canExtra = x < extras.length && extras[x] === symbol;
    if (canMatch && (!canExtra || fits(x, i + 1))) {
      labels.push("matched");
      m += 1;
    } else if (canExtra) {
      labels.push("extra");
      x += 1;
    } else {
      labels.push("");
    }
  });
  return labels;
}

function headerCell(label, formula) {
  const attributes = { scope: "col" };
  if (!formula) return el("th", attributes, label);
  // Focusable so a keyboard user gets the same tooltip (CSS :focus) as a mouse user.
  return el(
    "th",
    attributes,
    el("span", { class: "metric", tabindex: 0, title: formula, "data-formula": formula, "aria-label": `${label}: ${formula}` }, label),
  );
}

function observedCell(stm, prediction) {
  const labels = stateLabels(stm.flat(), prediction.matches, prediction.extras);
  let position = 0;
  return eventList(stm, () => labels[position++] || "");
}

function row(prediction, rank, stm) {
  const matched = new Set(prediction.matches);
  const missing = new Set(prediction.missing);
  const inPresent = (symbol) => (matched.has(symbol) ? "matched" : missing.has(symbol) ? "missing" : "");
  const emotives = Object.keys(prediction.emotives || {}).length ? JSON.stringify(prediction.emotives) : "—";
  return el(
    "tr",
    { "data-name": prediction.name },
    el("td", {}, String(rank)),
    el("td", { class: "mono", title: prediction.name }, shortName(prediction.name)),
    el("td", { class: "past" }, eventList(prediction.past, () => "past")),
    el("td", { class: "present" }, eventList(prediction.present, inPresent)),
    el("td", { class: "future" }, eventList(prediction.future, () => "future")),
    el("td", { class: "observed" }, observedCell(stm, prediction)),
    el("td", { class: "matches" }, prediction.matches.join(" ") || "—"),
    el("td", { class: "missing-list" }, prediction.missing.join(" ") || "—"),
    el("td", { class: "extras-list" }, prediction.extras.join(" ") || "—"),
    METRIC_COLUMNS.map((name) => el("td", { class: `num metric-${name}` }, formatMetric(prediction[name]))),
    el("td", { class: "mono" }, emotives),
  );
}

export function renderPredictions(table, predictions, stm) {
  const head = clear(table.tHead);
  const body = clear(table.tBodies[0]);
  table.caption.textContent = predictions.length
    ? `${predictions.length} prediction${predictions.length === 1 ? "" : "s"}, ranked by potential`
    : "No predictions (a prediction needs at least two observed symbols and a learned pattern that shares them)";
  if (!predictions.length) return;
  head.append(
    el(
      "tr",
      {},
      headerCell("#"),
      headerCell("Pattern"),
      headerCell("Past", "events of the pattern before the first matched symbol (§4.8)"),
      headerCell("Present", "events from the one holding the first match to the one holding the last (§4.8)"),
      headerCell("Future", "events after the present: what the pattern predicts next (§4.8)"),
      headerCell("Observed", "the session's STM; extras marked (§4.7)"),
      headerCell("Matches", "state symbols in the matching blocks, in order (§4.6)"),
      headerCell("Missing", "present symbols equal to no matched symbol (§4.9)"),
      headerCell("Extras", "state symbols not covered when matching the present against the state (§4.7)"),
      METRIC_COLUMNS.map((name) => headerCell(name, FORMULA[name])),
      headerCell("Emotives", "average of the pattern's stored emotive windows (§1.8)"),
    ),
  );
  predictions.forEach((prediction, index) => body.append(row(prediction, index + 1, stm)));
}
