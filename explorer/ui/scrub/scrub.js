// A scrub control: a range input and the views it changes, redrawn on every `input` event from frames the
// server sent beforehand. It only turns the frames' numbers into pixels (through the server's colour tables)
// and hands the value to Python on release; every number comes from the layer's own trace.

const ACCENT = "#2563eb";
const MUTED = "#94a3b8";

function g3(x) {
  // Python's format(x, ".3g").
  if (!isFinite(x)) return String(x);
  if (x === 0) return "0";
  let exponent = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(3)))));
  if (exponent < -4 || exponent >= 3) {
    let [mantissa, power] = x.toExponential(2).split("e");
    mantissa = mantissa.replace(/\.?0+$/, "");
    const sign = power[0] === "-" ? "-" : "+";
    return mantissa + "e" + sign + power.replace(/^[+-]/, "").padStart(2, "0");
  }
  let text = x.toPrecision(3);
  if (text.includes(".")) text = text.replace(/\.?0+$/, "");
  return text;
}

function shapeText(shape) {
  return "(" + shape.map((d) => (d === null ? "None" : String(d))).join(", ") + ")";
}

function paramsText(count) {
  return count ? count.toLocaleString("en-US") + " weights" : "no weights";
}

// The same words as the server's pipeline strip (explorer/figures/pipeline.py).
function totalText(total) {
  return total ? total.toLocaleString("en-US") + " weights in this layer, each counted in the box of the stage that uses it."
    : "This layer has no weights: nothing in it is learned.";
}

function element(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

const tableCache = new Map();
function rgbTable(colours) {
  // 256 CSS hex colours -> Uint8Array of r, g, b.
  const key = colours.join("");
  if (!tableCache.has(key)) {
    const rgb = new Uint8Array(colours.length * 3);
    colours.forEach((hex, i) => {
      rgb[3 * i] = parseInt(hex.slice(1, 3), 16);
      rgb[3 * i + 1] = parseInt(hex.slice(3, 5), 16);
      rgb[3 * i + 2] = parseInt(hex.slice(5, 7), 16);
    });
    tableCache.set(key, rgb);
  }
  return tableCache.get(key);
}

async function unpack(picture) {
  // The levels arrive zlib-compressed and base64-encoded (see explorer/scrub.py).
  const text = atob(picture.levels);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  picture._levels = new Uint8Array(await new Response(stream).arrayBuffer());
}

function nearest(size, target) {
  // Source indices of a nearest-neighbour resize from `size` to `target` cells, as the server samples.
  const indices = [];
  for (let i = 0; i < target; i++) indices.push(Math.min(Math.floor(((i + 0.5) * size) / target), size - 1));
  return indices;
}

function sampled(picture, maxRows, maxColumns) {
  // A thumbnail of a picture: its levels sampled down to at most maxRows x maxColumns.
  const rows = nearest(picture.rows, Math.min(picture.rows, maxRows));
  const columns = nearest(picture.columns, Math.min(picture.columns, maxColumns));
  const levels = new Uint8Array(rows.length * columns.length);
  rows.forEach((row, r) => columns.forEach((column, c) => {
    levels[r * columns.length + c] = picture._levels[row * picture.columns + column];
  }));
  return { rows: rows.length, columns: columns.length, scale: picture.scale, _levels: levels };
}

async function prepare(frame, thumbnails) {
  (frame.boxes || []).forEach((box) => {
    if (typeof box.thumbnail === "number") box.thumbnail = thumbnails[box.thumbnail];
  });
  const pictures = (frame.boxes || []).map((box) => box.thumbnail).filter(Boolean);
  if (frame.picture) pictures.push(frame.picture);
  await Promise.all(pictures.filter((picture) => !picture._levels).map(unpack));
  (frame.boxes || []).forEach((box) => {
    if (!box.thumbnail && frame.picture) box.thumbnail = sampled(frame.picture, 36, 96);
  });
  return frame;
}

function paint(canvas, picture, colours) {
  // Each cell one canvas pixel; CSS stretches the canvas with pixelated rendering, as the server's PNG is.
  const rgb = rgbTable(colours[picture.scale]);
  const levels = picture._levels;
  canvas.width = picture.columns;
  canvas.height = picture.rows;
  const context = canvas.getContext("2d");
  const image = context.createImageData(picture.columns, picture.rows);
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    image.data[4 * i] = rgb[3 * level];
    image.data[4 * i + 1] = rgb[3 * level + 1];
    image.data[4 * i + 2] = rgb[3 * level + 2];
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

function paintBar(canvas, scale, colours) {
  const rgb = rgbTable(colours[scale]);
  const steps = rgb.length / 3;
  canvas.width = 1;
  canvas.height = steps;
  const context = canvas.getContext("2d");
  const image = context.createImageData(1, steps);
  for (let i = 0; i < steps; i++) {
    const level = steps - 1 - i; // highest value on top
    image.data.set([rgb[3 * level], rgb[3 * level + 1], rgb[3 * level + 2], 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
}

function build(parent) {
  const root = element("div", "kf-scrub", parent);
  root.dataset.testid = "kf-scrub";
  root.setAttribute("data-testid", "kf-scrub");
  const head = element("div", "kf-head", root);
  const label = element("label", "kf-label", head);
  const input = element("input", "kf-input", label);
  input.type = "range";
  element("span", "kf-scrub-value", head);
  const computing = element("span", "kf-computing", head);
  computing.setAttribute("role", "status");
  element("span", "kf-fill", head);
  const views = element("div", "kf-views", root);
  element("div", "kf-pipeline", views);
  element("div", "kf-picture-block", views);
  element("div", "kf-band-block", views);
  return root;
}

function buildBoxes(root, stages) {
  // stages: [{name, description}] in data-flow order, or none (the control has no pipeline).
  const strip = root.querySelector(".kf-pipeline");
  strip.replaceChildren();
  strip.hidden = !stages;
  (stages || []).forEach((stage, index) => {
    if (index) element("div", "kf-arrow", strip).textContent = "\u2192";
    const box = element("div", "kf-stage", strip);
    box.dataset.stage = stage.name;
    box.title = stage.name + ": " + stage.description;
    element("b", "kf-name", box).textContent = stage.name;
    element("br", "", box);
    element("span", "kf-shape", box);
    element("br", "", box);
    element("span", "kf-params", box);
    const thumbnail = element("canvas", "kf-thumbnail", box);
    thumbnail.setAttribute("aria-label", stage.name + " for the chosen window");
  });
  if (stages) element("div", "kf-total", strip);
}

function buildPicture(root, data) {
  const block = root.querySelector(".kf-picture-block");
  block.replaceChildren();
  block.hidden = !data.picture;
  if (!data.picture) return;
  element("div", "kf-picture-title", block);
  const grid = element("div", "kf-picture-grid", block);
  element("div", "kf-row-labels", grid);
  const picture = element("canvas", "kf-picture", grid);
  picture.setAttribute("aria-label", "the chosen stage for the chosen window");
  const bar = element("div", "kf-colour-bar", grid);
  element("canvas", "kf-bar", bar);
  const ends = element("div", "kf-bar-ends", bar);
  for (let i = 0; i < 3; i++) element("span", "", ends);
  element("div", "", grid);
  element("div", "kf-ticks", grid);
  element("div", "", grid);
  element("div", "", grid);
  element("div", "kf-axis", grid).textContent = (data.picture.column_title || "time step") + " (" +
    data.picture.row_title + " per row)";
  element("div", "", grid);
  const head = element("div", "kf-histogram-head", block);
  element("span", "kf-histogram-title", head);
  const legend = element("span", "", head);
  legend.innerHTML = '<span style="color:' + MUTED + '">&#9632;</span> whole batch &nbsp; ' +
    '<span style="color:' + ACCENT + '">&#9632;</span> chosen window';
  element("div", "kf-histogram", block);
  const axis = element("div", "kf-histogram-axis", block);
  element("span", "", axis);
  element("span", "kf-histogram-label", axis);
  element("span", "", axis);
}

function buildBand(root, data) {
  const block = root.querySelector(".kf-band-block");
  block.replaceChildren();
  block.hidden = !data.band;
  if (!data.band) return;
  element("div", "kf-band-title", block).textContent = data.band.title;
  const band = element("canvas", "kf-band", block);
  band.setAttribute("aria-label", data.band.title);
  const legend = element("div", "kf-band-legend", block);
  legend.innerHTML = '<span style="color:' + ACCENT + '">&#9632;</span> mean &plusmn; 1 std with dropout &nbsp; ' +
    '<span class="kf-dotted">&#8943;</span> inference output';
}

function drawBoxes(root, frame, data, value) {
  const drawn = Array.from(root.querySelectorAll(".kf-stage"), (node) => node.dataset.stage);
  if (drawn.join("\n") !== frame.boxes.map((box) => box.name).join("\n")) {
    // Another value may have other stages (a mixer flavour's): the boxes follow the frame.
    const known = new Map(data.stages.map((stage) => [stage.name, stage.description]));
    buildBoxes(root, frame.boxes.map((box) => ({ name: box.name, description: known.get(box.name) || "" })));
  }
  // Where the stages mean something else at each value (a flavour's), their tooltips follow the value.
  const descriptions = (data.descriptions || {})[value];
  frame.boxes.forEach((box) => {
    const node = root.querySelector('.kf-stage[data-stage="' + CSS.escape(box.name) + '"]');
    if (!node) return;
    if (descriptions) node.title = box.name + ": " + (descriptions[box.name] || "");
    node.classList.toggle("kf-learns", box.params > 0);
    node.querySelector(".kf-shape").textContent = shapeText(box.shape);
    node.querySelector(".kf-params").textContent = paramsText(box.params);
    paint(node.querySelector(".kf-thumbnail"), box.thumbnail, data.colours);
  });
  const total = root.querySelector(".kf-total");
  if (total) total.textContent = totalText(frame.total);
}

function drawPicture(root, frame, data) {
  const picture = frame.picture;
  const meta = data.picture;
  const rowPx = 14, maxPx = 360;
  const height = Math.min(maxPx, Math.max(rowPx * picture.rows, 3 * rowPx));
  root.querySelector(".kf-picture-title").textContent = "stage " + picture.stage;
  const canvas = root.querySelector(".kf-picture");
  paint(canvas, picture, data.colours);
  canvas.style.height = height + "px";
  const every = Math.max(1, Math.ceil((picture.rows * rowPx) / height));
  const labels = root.querySelector(".kf-row-labels");
  labels.style.height = height + "px";
  labels.replaceChildren();
  for (let row = 0; row < picture.rows; row++) {
    const text = meta.row_labels ? meta.row_labels[row] : String(row);
    element("div", "", labels).textContent = row % every === 0 ? text : "";
  }
  const bar = root.querySelector(".kf-colour-bar");
  bar.style.height = height + "px";
  paintBar(root.querySelector(".kf-bar"), picture.scale, data.colours);
  const [top, middle, bottom] = root.querySelectorAll(".kf-bar-ends span");
  top.textContent = g3(picture.high);
  middle.textContent = g3((picture.high + picture.low) / 2);
  bottom.textContent = g3(picture.low);
  const ticks = root.querySelector(".kf-ticks");
  ticks.replaceChildren();
  const stride = Math.max(1, Math.ceil(picture.columns / 8));
  for (let step = 0; step < picture.columns; step += stride) {
    const tick = element("span", "", ticks);
    tick.style.left = ((100 * (step + 0.5)) / picture.columns).toFixed(2) + "%";
    tick.textContent = String(step);
  }
  const batchShare = picture.batch_counts.map((count) => count / Math.max(1, picture.batch_size));
  const windowShare = picture.window_counts.map((count) => count / Math.max(1, picture.window_size));
  const highest = Math.max(...batchShare, ...windowShare) || 1;
  root.querySelector(".kf-histogram-title").textContent = "distribution at " + picture.stage +
    " (share of values per bin, highest " + highest.toFixed(3) + ")";
  const bars = root.querySelector(".kf-histogram");
  bars.replaceChildren();
  batchShare.forEach((batch, i) => {
    const window = windowShare[i];
    const bin = element("div", "kf-bin", bars);
    const batchBar = element("div", "kf-bin-batch", bin);
    batchBar.style.height = ((100 * batch) / highest).toFixed(1) + "%";
    const windowBar = element("div", "kf-bin-window", bin);
    windowBar.style.height = ((100 * window) / highest).toFixed(1) + "%";
  });
  const [low, label, high] = root.querySelectorAll(".kf-histogram-axis span");
  low.textContent = g3(picture.edges[0]);
  label.textContent = "value at " + picture.stage;
  high.textContent = g3(picture.edges[1]);
}

function drawBand(root, frame) {
  const canvas = root.querySelector(".kf-band");
  const { mean, std, inference } = frame.band;
  const width = canvas.clientWidth || 600, height = 220;
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  canvas.style.height = height + "px";
  const context = canvas.getContext("2d");
  context.setTransform(scale, 0, 0, scale, 0, 0);
  const text = getComputedStyle(root).color;
  const left = 48, right = 8, top = 8, bottom = 24;
  const upper = mean.map((m, i) => m + std[i]), lower = mean.map((m, i) => m - std[i]);
  // Each rate on its own scale, as the plotly chart was: one scale for all would flatten the low rates.
  let low = Math.min(...lower, ...inference), high = Math.max(...upper, ...inference);
  if (low === high) { low -= 0.5; high += 0.5; }
  const x = (i) => left + ((width - left - right) * i) / Math.max(1, mean.length - 1);
  const y = (v) => top + ((height - top - bottom) * (high - v)) / (high - low);
  context.clearRect(0, 0, width, height);
  context.fillStyle = "rgba(37, 99, 235, 0.2)";
  context.beginPath();
  upper.forEach((v, i) => (i ? context.lineTo(x(i), y(v)) : context.moveTo(x(i), y(v))));
  for (let i = lower.length - 1; i >= 0; i--) context.lineTo(x(i), y(lower[i]));
  context.closePath();
  context.fill();
  const line = (values, colour, dash) => {
    context.strokeStyle = colour;
    context.lineWidth = dash.length ? 1 : 1.5;
    context.setLineDash(dash);
    context.beginPath();
    values.forEach((v, i) => (i ? context.lineTo(x(i), y(v)) : context.moveTo(x(i), y(v))));
    context.stroke();
  };
  line(mean, ACCENT, []);
  line(inference, text, [2, 3]);
  context.setLineDash([]);
  context.fillStyle = text;
  context.font = "11px sans-serif";
  context.textAlign = "right";
  [high, (high + low) / 2, low].forEach((v) => context.fillText(g3(v), left - 4, y(v) + 4));
  context.textAlign = "center";
  const stride = Math.max(1, Math.ceil(mean.length / 8));
  for (let i = 0; i < mean.length; i += stride) context.fillText(String(i), x(i), height - 8);
}

function indexOf(input, data) {
  // A numeric range is its own values (so the input's value is the control's); any other is by position.
  const [low, , step] = data.numeric || [0, 0, 1];
  const index = Math.round((Number(input.value) - low) / step);
  return Math.min(Math.max(index, 0), data.labels.length - 1);
}

function setInput(input, data, label) {
  const index = data.labels.indexOf(label);
  const [low, , step] = data.numeric || [0, 0, 1];
  input.value = data.numeric ? label : String(index);
  if (data.numeric && indexOf(input, data) !== index) input.value = String(low + index * step);
}

function labelUnderHand(root, state) {
  return state.data.labels[indexOf(root.querySelector(".kf-input"), state.data)];
}

function counted(root, state) {
  const data = state.data;
  root.dataset.readyValues = data.labels.filter((v) => state.frames.has(v)).join(",");
  root.querySelector(".kf-fill").textContent = state.frames.size < data.labels.length && !data.error ?
    "precomputing the other values: " + state.frames.size + " of " + data.labels.length + " ready" : "";
}

function show(root, state) {
  const data = state.data;
  const value = labelUnderHand(root, state);
  root.querySelector(".kf-scrub-value").textContent = data.control + " = " + value;
  const frame = state.frames.get(value);
  const computing = root.querySelector(".kf-computing");
  if (!frame) {
    root.dataset.state = "computing";
    delete root.dataset.shownValue;
    computing.hidden = false;
    computing.textContent = data.error ? data.error :
      "Computing " + data.control + " = " + value + "\u2026 (" + state.frames.size + " of " + data.labels.length +
      " values ready)";
    return;
  }
  computing.hidden = true;
  if (data.stages) drawBoxes(root, frame, data, value);
  if (data.picture) drawPicture(root, frame, data);
  if (data.band) drawBand(root, frame);
  root.dataset.state = "ready";
  root.dataset.shownValue = value;
}

// The frames this page holds, per range, whatever remounts the component: the server sends each frame once
// (a payload names those it sent before, `held`), and a component mounting gets only the newest payload.
const STORE = globalThis.__kfScrubFrames || (globalThis.__kfScrubFrames = new Map());
const STORED_RANGES = 8;
const RESEND_AFTER_MS = 2000;

function stored(rangeId) {
  const entry = STORE.get(rangeId) || { frames: new Map(), unpacking: new Set(), askedAt: -Infinity };
  STORE.delete(rangeId);
  STORE.set(rangeId, entry); // most recently used last; the oldest range is dropped first
  while (STORE.size > STORED_RANGES) STORE.delete(STORE.keys().next().value);
  return entry;
}

function receive(root, state, entry, data) {
  for (const [value, frame] of Object.entries(data.frames)) {
    if (entry.frames.has(value) || entry.unpacking.has(value)) continue;
    entry.unpacking.add(value);
    prepare(frame, data.thumbnails).then((ready) => {
      entry.unpacking.delete(value);
      entry.frames.set(value, ready);
      if (state.rangeId !== data.range_id) return;
      counted(root, state);
      if (root.dataset.state !== "ready" || root.dataset.shownValue !== labelUnderHand(root, state)) show(root, state);
    }).catch((error) => failed(state, error));
  }
  askForMissing(entry, state);
}

function askForMissing(entry, state) {
  // Frames sent before but never seen (their payload was replaced before the component drew it): ask for those
  // again, and again every RESEND_AFTER_MS until they are in, since no other payload may come to prompt it
  // (a complete range is not sent again) and an answer can be lost the same way.
  clearTimeout(entry.retry);
  const data = state.data;
  if (state.rangeId !== data.range_id) return;
  const missing = data.held.filter((value) => !entry.frames.has(value) && !entry.unpacking.has(value));
  if (!missing.length) return;
  const wait = entry.askedAt + RESEND_AFTER_MS - performance.now();
  if (wait <= 0) {
    entry.askedAt = performance.now();
    state.setTriggerValue("resend", { range: data.range_id, missing: missing, at: entry.askedAt });
  }
  entry.retry = setTimeout(() => askForMissing(entry, state), Math.max(wait, RESEND_AFTER_MS));
}

function failed(state, error) {
  // Python then puts the plain control in this component's place, and says why in one sentence.
  if (state.failed) return;
  state.failed = true;
  const message = error && error.message ? error.name + ": " + error.message : String(error);
  state.setTriggerValue("failed", message.slice(0, 200));
}

export default function (component) {
  try {
    mount(component);
  } catch (error) {
    const root = component.parentElement.querySelector(".kf-scrub");
    const state = (root && root._kfState) || {};
    failed(Object.assign(state, { setTriggerValue: component.setTriggerValue }), error);
  }
}

function mount(component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let root = parentElement.querySelector(".kf-scrub");
  if (!root) root = build(parentElement);
  const state = root._kfState || (root._kfState = { frames: new Map(), rangeId: null, committed: null });
  state.setTriggerValue = setTriggerValue;
  const input = root.querySelector(".kf-input");
  const entry = stored(data.range_id);
  if (state.rangeId !== data.range_id) {
    state.frames = entry.frames;
    state.rangeId = data.range_id;
    buildBoxes(root, data.stages);
    buildPicture(root, data);
    buildBand(root, data);
  }
  state.data = data;
  state.setStateValue = setStateValue;
  root.dataset.control = data.control;
  root.dataset.total = String(data.labels.length);
  root.dataset.values = data.labels.join(",");
  receive(root, state, entry, data);
  counted(root, state);
  input.setAttribute("aria-label", data.control);
  const [low, high, step] = data.numeric || [0, data.labels.length - 1, 1];
  input.min = String(low);
  input.max = String(high);
  input.step = String(step);
  if (state.sent !== undefined && data.value === state.sent) state.sent = undefined;
  if (state.committed !== data.value && state.sent === undefined) {
    // The value Python holds changed (first render, a link): the input follows. While a value handed over
    // on release is on its way, a run started before it carries the older value and is not followed.
    setInput(input, data, data.value);
  }
  state.committed = data.value;
  if (!state.listening) {
    state.listening = true;
    input.addEventListener("input", () => {
      try {
        show(root, state);
      } catch (error) {
        failed(state, error);
      }
    });
    input.addEventListener("change", () => {
      const value = labelUnderHand(root, state);
      state.sent = value;
      state.setStateValue("value", value);
    });
  }
  show(root, state);
}
