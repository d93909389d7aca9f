// The Explorer's entry point: sign-in, who am I, tabs, and showing only the actions the
// principal's role allows (the server enforces the roles anyway).

import { credential, get, setCredential } from "./api.js";
import { $, hideNotice, notify } from "./dom.js";
import { initOperations } from "./operations.js";
import { initPatterns } from "./patterns.js";
import { initPlayground } from "./playground.js";

const RANK = { reader: 1, writer: 2, admin: 3 };
let me = { authenticated: false, role: null };

const principal = () => ({
  ...me,
  reader: me.authenticated && RANK[me.role] >= RANK.reader,
  writer: me.authenticated && RANK[me.role] >= RANK.writer,
  admin: me.authenticated && RANK[me.role] >= RANK.admin,
});

const playground = initPlayground();
const patterns = initPatterns();
const operations = initOperations(principal);

// Hide what the role cannot do. Listing nodes takes the admin role or a node scope.
function applyVisibility() {
  const who = principal();
  const rules = [
    [".needs-writer", who.writer],
    [".needs-admin", who.admin],
    [".needs-node-list", who.admin || (who.reader && Boolean(me.nodes))],
  ];
  const hide = new Set();
  for (const [selector, allowed] of rules) {
    if (!allowed) document.querySelectorAll(selector).forEach((node) => hide.add(node));
  }
  document.querySelectorAll(rules.map(([selector]) => selector).join(",")).forEach((node) => {
    node.hidden = hide.has(node);
  });
  document.body.dataset.role = who.role || "none";
}

function describe() {
  if (!me.authenticated) return `Not signed in (authentication: ${me.auth_mode})`;
  const scope = me.nodes ? `nodes ${me.nodes.join(", ")}` : "all nodes";
  return `Signed in as ${me.name} · role ${me.role} (${me.roles.join(", ")}) · ${scope}`;
}

async function whoAmI() {
  try {
    me = await get("/v2/whoami");
  } catch (error) {
    setCredential("");
    me = { authenticated: false, role: null, auth_mode: "?" };
    notify(`Sign-in failed: ${error.message}`);
  }
  $("principal").textContent = describe();
  $("signout-button").hidden = !credential();
  $("signin-button").textContent = credential() ? "Switch" : "Sign in";
  applyVisibility();
  if (me.authenticated) {
    await playground.refresh();
    if (!$("refresh-nodes").hidden) await patterns.listNodes();
  }
}

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  const operationsShown = tab.id === "tab-operations";
  operations.schedule(operationsShown);
  if (operationsShown) operations.refresh();
}

// Tabs: click, or the arrow keys / Home / End as in the WAI-ARIA tabs pattern.
function initTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
      next.focus();
      selectTab(next);
    });
  });
}

$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  hideNotice();
  setCredential($("credential").value.trim());
  $("credential").value = "";
  whoAmI();
});
$("signout-button").addEventListener("click", () => {
  setCredential("");
  sessionStorage.clear();
  window.location.reload();
});

initTabs();
whoAmI();
