// A bar chart of the top predictions' potential and similarity, drawn as inline SVG (no
// library). Potential ranges over [−2, 4] (§4.12), similarity over [0, 1]: each metric has
// its own scale, its bars side by side per prediction.

import { shortName } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const TOP = 8;
const ROW = 34;
const LABEL = 110;
const BAR_WIDTH = 220;
const GAP = 24;
const SERIES = [
  { key: "potential", min: -2, max: 4, className: "bar-potential" },
  { key: "similarity", min: 0, max: 1, className: "bar-similarity" },
];

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function drawChart(container, predictions) {
  container.replaceChildren();
  const top = predictions.slice(0, TOP);
  if (!top.length) return;
  const width = LABEL + SERIES.length * (BAR_WIDTH + GAP);
  const height = 24 + top.length * ROW;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-labelledby": "chart-title",
    class: "prediction-chart",
  });
  chart.append(svg("title", { id: "chart-title" }, `Potential and similarity of the top ${top.length} predictions`));
  SERIES.forEach((series, column) => {
    const left = LABEL + column * (BAR_WIDTH + GAP);
    chart.append(svg("text", { x: left, y: 14, class: "chart-heading" }, `${series.key} [${series.min}, ${series.max}]`));
    const zero = left + ((0 - series.min) / (series.max - series.min)) * BAR_WIDTH;
    chart.append(svg("line", { x1: zero, x2: zero, y1: 20, y2: height, class: "chart-axis" }));
    top.forEach((prediction, row) => {
      const value = prediction[series.key];
      const clamped = Math.max(series.min, Math.min(series.max, value));
      const end = left + ((clamped - series.min) / (series.max - series.min)) * BAR_WIDTH;
      const y = 24 + row * ROW;
      const bar = svg("rect", {
        x: Math.min(zero, end),
        y,
        width: Math.max(1, Math.abs(end - zero)),
        height: ROW - 12,
        class: series.className,
      });
      bar.append(svg("title", {}, `${shortName(prediction.name)} ${series.key} = ${value}`));
      chart.append(bar, svg("text", { x: Math.max(zero, end) + 4, y: y + ROW / 2 - 2, class: "chart-value" }, value.toFixed(3)));
    });
  });
  top.forEach((prediction, row) => {
    chart.append(svg("text", { x: 0, y: 24 + row * ROW + ROW / 2 - 2, class: "chart-label" }, `${row + 1}. ${shortName(prediction.name)}`));
  });
  container.append(chart);
}
