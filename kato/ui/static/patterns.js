// Nodes and the pattern browser on the node routes (/v2/nodes…): the nodes (admin, or a
// principal scoped to some nodes), a node's summary (patterns, totals, revision), its patterns
// searched by symbol and sorted by frequency or name, a pattern's events, frequency, emotives
// and metadata; edit (PATCH) and delete for admins.

import { del, enc, get, patch } from "./api.js";
import { $, clear, el, eventList, notify, shortName, summary } from "./dom.js";

const PAGE = 25;
let node = null; // the open node id
let cursor = null; // next page of the current search
let shown = null; // the pattern in the detail panel

const json = (value) => JSON.stringify(value ?? {}, null, 2);
const patternsPath = (nodeId) => `/v2/nodes/${enc(nodeId)}/patterns`;

function scalarEntries(record) {
  return Object.entries(record).filter(([, value]) => value === null || typeof value !== "object");
}

async function listNodes() {
  try {
    const answer = await get("/v2/nodes");
    const nodes = answer.nodes || [];
    const body = clear($("nodes-table").tBodies[0]);
    const options = clear($("node-list"));
    for (const item of nodes) {
      const id = item.node_id;
      const open = el("button", { type: "button", class: "link" }, id);
      open.addEventListener("click", () => openNode(id));
      body.append(el("tr", {}, el("td", {}, open), el("td", { class: "num" }, item.patterns ?? item.pattern_count ?? "—"), el("td", { class: "num" }, item.revision ?? "—")));
      options.append(el("option", { value: id }));
    }
    if (!nodes.length) body.append(el("tr", {}, el("td", { colspan: 3, class: "empty" }, "No nodes yet")));
  } catch (error) {
    notify(error.message);
  }
}

async function openNode(nodeId) {
  $("browse-node").value = nodeId;
  try {
    const answer = await get(`/v2/nodes/${enc(nodeId)}`);
    node = nodeId;
    const totals = answer.totals && typeof answer.totals === "object" ? Object.entries(answer.totals) : [];
    summary($("node-summary"), [...scalarEntries(answer), ...totals]);
    if (!$("refresh-nodes").hidden) await listNodes(); // the node may be new to the list
    await searchPatterns();
  } catch (error) {
    notify(error.message);
  }
}

function patternRow(record) {
  const open = el("button", { type: "button", class: "link mono", title: record.name, "aria-label": `Open pattern ${record.name}` }, shortName(record.name));
  open.addEventListener("click", () => showPattern(record));
  return el(
    "tr",
    { "data-name": record.name },
    el("td", {}, open),
    el("td", {}, eventList(record.pattern_data || [])),
    el("td", { class: "num" }, record.length),
    el("td", { class: "num" }, record.frequency),
  );
}

async function searchPatterns(more = false) {
  if (!node) return;
  const query = new URLSearchParams({ limit: String(PAGE), sort: $("pattern-sort").value });
  const symbol = $("pattern-symbol").value.trim();
  if (symbol) query.set("symbol", symbol);
  if (more && cursor) query.set("cursor", cursor);
  try {
    const answer = await get(`${patternsPath(node)}?${query}`);
    const body = $("patterns-table").tBodies[0];
    if (!more) clear(body);
    answer.patterns.forEach((record) => body.append(patternRow(record)));
    cursor = answer.next_cursor;
    $("patterns-more").hidden = !cursor;
    const count = body.rows.length;
    $("patterns-caption").textContent = `${count} pattern${count === 1 ? "" : "s"} of node ${node}${symbol ? ` containing “${symbol}”` : ""}, by ${$("pattern-sort").value}${cursor ? " (more to load)" : ""}`;
  } catch (error) {
    notify(error.message);
  }
}

function showPattern(record) {
  shown = record;
  $("pattern-detail").hidden = false;
  $("pattern-detail-name").textContent = record.name;
  clear($("pattern-detail-events")).append(eventList(record.pattern_data || []));
  $("pattern-detail-frequency").textContent = record.frequency;
  $("pattern-detail-length").textContent = record.length;
  $("pattern-detail-emotives").textContent = json(record.emotives);
  $("pattern-detail-metadata").textContent = json(record.metadata);
  $("edit-frequency").value = record.frequency;
  $("edit-emotives").value = json(record.emotives);
  $("edit-metadata").value = json(record.metadata);
  confirming(false);
}

function patternPath() {
  return `${patternsPath(node)}/${enc(shown.name)}`;
}

async function savePattern(event) {
  event.preventDefault();
  let edited;
  try {
    edited = {
      frequency: Number($("edit-frequency").value),
      emotives: JSON.parse($("edit-emotives").value || "[]"),
      metadata: JSON.parse($("edit-metadata").value || "{}"),
    };
  } catch (error) {
    notify(`Not valid JSON: ${error.message}`);
    return;
  }
  // Only what changed is sent: an untouched field stays exactly as stored.
  const changes = Object.fromEntries(
    Object.entries(edited).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(shown[key] ?? (key === "metadata" ? {} : []))),
  );
  if (!Object.keys(changes).length) {
    notify("Nothing changed", "info");
    return;
  }
  try {
    const updated = await patch(patternPath(), changes);
    showPattern(updated.pattern || updated);
    notify(`Pattern ${shown.name} saved`, "info");
    await searchPatterns();
  } catch (error) {
    notify(error.message);
  }
}

function confirming(on) {
  $("pattern-delete").hidden = on;
  $("pattern-delete-confirm").hidden = !on;
  $("pattern-delete-cancel").hidden = !on;
  if (on) $("pattern-delete-confirm").focus();
}

async function deletePattern() {
  try {
    await del(patternPath());
    notify(`Pattern ${shown.name} deleted`, "info");
    shown = null;
    $("pattern-detail").hidden = true;
    await openNode(node);
  } catch (error) {
    notify(error.message);
  }
}

export function initPatterns() {
  $("node-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("browse-node").value.trim();
    if (id) openNode(id);
  });
  $("refresh-nodes").addEventListener("click", listNodes);
  $("pattern-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    searchPatterns();
  });
  $("patterns-more").addEventListener("click", () => searchPatterns(true));
  $("pattern-edit").addEventListener("submit", savePattern);
  $("pattern-delete").addEventListener("click", () => confirming(true));
  $("pattern-delete-cancel").addEventListener("click", () => confirming(false));
  $("pattern-delete-confirm").addEventListener("click", deletePattern);
  return { listNodes, openNode };
}
