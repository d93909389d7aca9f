// The playground: create or pick a session, observe events, watch the STM, learn, and see
// the ranked predictions (table and chart) after every change.

import { enc, get, post } from "./api.js";
import { drawChart } from "./chart.js";
import { $, clear, el, eventList, notify } from "./dom.js";
import { renderPredictions } from "./predictions.js";

const SESSIONS_KEY = "kato.sessions";

function knownSessions() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSIONS_KEY) || "[]");
  } catch {
    return [];
  }
}

function remember(session) {
  const sessions = knownSessions().filter((known) => known.id !== session.id);
  sessions.unshift(session);
  sessionStorage.setItem(SESSIONS_KEY, JSON.stringify(sessions.slice(0, 20)));
}

function forget(id) {
  sessionStorage.setItem(SESSIONS_KEY, JSON.stringify(knownSessions().filter((known) => known.id !== id)));
}

export function currentSession() {
  const id = $("session-pick").value;
  return knownSessions().find((known) => known.id === id) || null;
}

function fillPicker(selected) {
  const picker = clear($("session-pick"));
  picker.append(el("option", { value: "" }, "— none —"));
  for (const session of knownSessions()) {
    picker.append(el("option", { value: session.id, selected: session.id === selected }, `${session.node} · ${session.id}`));
  }
}

// Parse what was pasted: a list of events, a list of observations, or one observation.
export function observationsFromJson(text) {
  const value = JSON.parse(text);
  const isEvent = (item) => Array.isArray(item) && item.every((symbol) => typeof symbol === "string");
  if (Array.isArray(value) && value.every(isEvent)) return value.map((strings) => ({ strings }));
  if (Array.isArray(value) && value.every((item) => item && typeof item === "object" && !Array.isArray(item))) return value;
  if (value && typeof value === "object" && !Array.isArray(value)) return [value];
  throw new Error("Expected events [[\"a\"],[\"b\"]], observations [{\"strings\":[\"a\"]}] or one observation");
}

async function refresh() {
  const session = currentSession();
  $("session-info").textContent = session ? `node ${session.node}` : "";
  if (!session) {
    clear($("stm")).append(el("span", { class: "empty" }, "No session: create or open one."));
    renderPredictions($("predictions"), [], []);
    clear($("prediction-chart"));
    return;
  }
  const base = `/v2/sessions/${enc(session.id)}`;
  try {
    const [{ stm }, { predictions }] = await Promise.all([get(`${base}/stm`), get(`${base}/predictions`)]);
    clear($("stm")).append(stm.length ? eventList(stm) : el("span", { class: "empty" }, "STM is empty"));
    $("learn-button").disabled = stm.length === 0;
    renderPredictions($("predictions"), predictions, stm);
    drawChart($("prediction-chart"), predictions);
  } catch (error) {
    if (error.status === 404) {
      forget(session.id);
      fillPicker("");
    }
    notify(error.message);
  }
}

async function withSession(action) {
  const session = currentSession();
  if (!session) {
    notify("Create or open a session first");
    return;
  }
  try {
    await action(`/v2/sessions/${enc(session.id)}`);
  } catch (error) {
    notify(error.message);
  }
  await refresh();
}

async function createSession() {
  const node = $("node-id").value.trim();
  if (!node) {
    notify("Type a node id");
    return;
  }
  try {
    const created = await post("/v2/sessions", { node_id: node });
    remember({ id: created.session_id, node: created.node_id });
    fillPicker(created.session_id);
    $("learn-result").textContent = "";
    notify(`Session ${created.session_id} created on node ${created.node_id}`, "info");
  } catch (error) {
    notify(error.message);
  }
  await refresh();
}

async function openSession() {
  const id = $("session-open").value.trim();
  if (!id) return;
  try {
    const session = await get(`/v2/sessions/${enc(id)}`);
    remember({ id: session.session_id, node: session.node_id });
    fillPicker(session.session_id);
    $("session-open").value = "";
  } catch (error) {
    notify(error.message);
  }
  await refresh();
}

function observeSymbols(event) {
  event.preventDefault();
  const strings = $("observe-symbols").value.split(/[\s,]+/).filter(Boolean);
  if (!strings.length) {
    notify("Type at least one symbol");
    return;
  }
  withSession(async (base) => {
    await post(`${base}/observe`, { strings });
    $("observe-symbols").value = "";
  });
}

function observeJson(event) {
  event.preventDefault();
  let observations;
  try {
    observations = observationsFromJson($("observe-json").value);
  } catch (error) {
    notify(`Not valid input: ${error.message}`);
    return;
  }
  withSession(async (base) => {
    if (observations.length === 1) await post(`${base}/observe`, observations[0]);
    else await post(`${base}/observe-sequence`, { observations });
    $("observe-json").value = "";
  });
}

function learn() {
  withSession(async (base) => {
    const learned = await post(`${base}/learn`);
    $("learn-result").textContent = learned.pattern_name
      ? `Learned ${learned.pattern_name}`
      : "Nothing learned: a pattern needs at least two symbols";
  });
}

function clearStm() {
  withSession((base) => post(`${base}/clear-stm`));
}

export function initPlayground() {
  fillPicker(knownSessions()[0]?.id || "");
  $("create-session").addEventListener("click", createSession);
  $("open-session").addEventListener("click", openSession);
  $("session-pick").addEventListener("change", refresh);
  $("observe-form").addEventListener("submit", observeSymbols);
  $("observe-json-form").addEventListener("submit", observeJson);
  $("learn-button").addEventListener("click", learn);
  $("clear-stm-button").addEventListener("click", clearStm);
  return { refresh };
}
