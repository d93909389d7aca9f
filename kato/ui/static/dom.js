// Small DOM helpers. Text is always set as text (never parsed as HTML): pattern symbols and
// metadata are user data.

export const $ = (id) => document.getElementById(id);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

// An event drawn as a box of symbols; classify(symbol, index) gives a symbol's extra class.
export function eventBox(event, classify = () => "") {
  return el(
    "span",
    { class: "event" },
    event.map((symbol, index) => el("span", { class: `sym ${classify(symbol, index)}`.trim() }, symbol)),
  );
}

export function eventList(events, classify) {
  if (!events.length) return el("span", { class: "empty" }, "—");
  return el("span", { class: "event-list" }, events.map((event) => eventBox(event, classify)));
}

let noticeTimer;
export function notify(message, kind = "error") {
  const notice = $("notice");
  notice.textContent = message;
  notice.className = `notice ${kind}`;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  if (kind !== "error") noticeTimer = setTimeout(() => (notice.hidden = true), 4000);
}

export function hideNotice() {
  $("notice").hidden = true;
}

export function summary(dl, entries) {
  clear(dl);
  for (const [term, value] of entries) {
    dl.append(el("dt", {}, term), el("dd", {}, value === null || value === undefined ? "—" : value));
  }
}

export const shortName = (name) => name.replace(/^PTRN\|/, "").slice(0, 12);
