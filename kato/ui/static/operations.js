// Operations: health (/health), each dependency's probe and breaker (/health/ready, and the
// breaker gauge of /metrics), request rate and in-flight requests (/metrics), the service
// status (/status). /metrics and /status need the admin role; the probes are public.

import { get } from "./api.js";
import { $, clear, el, notify, summary } from "./dom.js";

const BREAKER_STATES = { 0: "closed", 1: "open", 2: "half-open" };
let previous = null; // {at, requests} of the last scrape, for the request rate

// Prometheus text format → [{name, labels, value}] (comments and blank lines skipped).
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const [, name, value] of (match[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

const total = (samples, name) => samples.filter((sample) => sample.name === name).reduce((sum, sample) => sum + sample.value, 0);

async function readiness() {
  // 503 means "not ready" and still carries the report: read it either way.
  const response = await fetch("/health/ready", { cache: "no-store" });
  return response.json();
}

function breakerStates(samples) {
  const states = {};
  for (const sample of samples) {
    if (sample.name !== "kato_circuit_breaker_state") continue;
    const service = sample.labels.service;
    // Per worker: the worst state any worker reports (open > half-open > closed).
    const rank = { 0: 0, 2: 1, 1: 2 };
    if (!(service in states) || rank[sample.value] > rank[states[service]]) states[service] = sample.value;
  }
  return states;
}

function renderDependencies(report, breakers) {
  const body = clear($("ops-dependencies").tBodies[0]);
  const names = new Set([...Object.keys(report.dependencies || {}), ...Object.keys(breakers)]);
  for (const name of [...names].sort()) {
    const probe = (report.dependencies || {})[name] || {};
    const reported = probe.breaker ? probe.breaker.replace("_", "-") : null;
    const breaker = reported ?? (name in breakers ? BREAKER_STATES[breakers[name]] : "—");
    body.append(
      el(
        "tr",
        { "data-dependency": name },
        el("th", { scope: "row" }, name),
        // A breaker without a probe: the dependency is not configured (nothing to reach).
        el("td", { class: `state-${probe.status || "unknown"}` }, probe.status || "not configured"),
        el("td", { class: "num" }, probe.latency_ms ?? "—"),
        el("td", { class: `breaker-${breaker}` }, breaker),
        el("td", {}, probe.error || ""),
      ),
    );
  }
  if (!names.size) {
    body.append(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "No external dependencies configured (embedded storage)")));
  }
}

function renderTraffic(samples) {
  const now = performance.now();
  const requests = total(samples, "kato_requests_total");
  const rate = previous && now > previous.at ? ((requests - previous.requests) * 1000) / (now - previous.at) : null;
  previous = { at: now, requests };
  const inFlight = samples.some((sample) => sample.name === "kato_requests_in_flight")
    ? String(total(samples, "kato_requests_in_flight"))
    : "not exposed by this server";
  summary($("ops-traffic"), [
    ["Requests served", String(requests)],
    ["Request rate", rate === null ? "measuring… (next refresh)" : `${rate.toFixed(2)} /s (includes this page)`],
    ["In flight", inFlight],
    ["Active sessions", String(total(samples, "kato_active_sessions"))],
    ["Cached nodes", String(total(samples, "kato_cached_nodes"))],
    ["Patterns (cached nodes)", String(total(samples, "kato_patterns"))],
  ]);
}

export function initOperations(principal) {
  let timer = null;

  async function refresh() {
    try {
      const [health, report] = await Promise.all([get("/health"), readiness()]);
      summary($("ops-health"), [
        ["Service", health.status],
        ["Readiness", report.status + (report.reason ? ` (${report.reason})` : "")],
        ["Active sessions", String(health.active_sessions)],
        ["Uptime", `${Math.round(health.uptime_seconds)} s`],
        ["Issues", health.issues.length ? health.issues.join("; ") : "none"],
      ]);
      let breakers = {};
      if (principal().admin) {
        // One after the other: the page's own /status request is never in flight in the scrape.
        const metrics = await get("/metrics", { text: true });
        const status = await get("/status");
        const samples = parseMetrics(metrics);
        breakers = breakerStates(samples);
        renderTraffic(samples);
        summary($("ops-status"), [
          ["Version", status.version],
          ["Session store", status.backends.sessions],
          ["Knowledge base", status.backends.knowledge_base],
          ["Vectors", status.backends.vectors],
          ["Sessions", String(status.sessions.active_sessions ?? status.sessions.total_sessions)],
          ["Nodes in memory", `${status.processors.total_processors} of ${status.processors.max_processors}`],
        ]);
      } else {
        summary($("ops-traffic"), [["Traffic", "needs the admin role (/metrics)"]]);
      }
      renderDependencies(report, breakers);
    } catch (error) {
      notify(error.message);
    }
  }

  function schedule(active) {
    clearInterval(timer);
    timer = active && $("ops-auto").checked ? setInterval(refresh, 5000) : null;
  }

  $("ops-refresh").addEventListener("click", refresh);
  $("ops-auto").addEventListener("change", () => schedule(!$("view-operations").hidden));
  return { refresh, schedule };
}
