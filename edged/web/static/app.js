// edged web: draws each frame with its prediction; status panel; latency plot.
"use strict";
const BOX = "#ff00ff";  // detections (the tests look for this colour)
const ZONE = "#00e5ff";
const LINE = "#ffd600";
const SKELETON = [["left_shoulder", "right_shoulder"], ["left_shoulder", "left_elbow"],
  ["left_elbow", "left_wrist"], ["right_shoulder", "right_elbow"], ["right_elbow", "right_wrist"],
  ["left_shoulder", "left_hip"], ["right_shoulder", "right_hip"], ["left_hip", "right_hip"],
  ["left_hip", "left_knee"], ["left_knee", "left_ankle"], ["right_hip", "right_knee"],
  ["right_knee", "right_ankle"], ["nose", "left_eye"], ["nose", "right_eye"],
  ["left_eye", "left_ear"], ["right_eye", "right_ear"]];

const view = document.getElementById("view");
const ctx = view.getContext("2d");
const message = document.getElementById("message");
const latencies = [];
let shown = 0;
let pageConfig = { zones: [], lines: [] };

function text(id, value) { document.getElementById(id).textContent = value; }

function mapper(v, w, h) {
  // normalized original-frame coordinates -> canvas pixels; v = the image's extent in them
  return (x, y) => [(x - v[0]) / (v[2] - v[0]) * w, (y - v[1]) / (v[3] - v[1]) * h];
}

function drawBox(map, box, colour, label, dashed) {
  const [x0, y0] = map(box[0], box[1]);
  const [x1, y1] = map(box[2], box[3]);
  ctx.setLineDash(dashed ? [6, 4] : []);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 3;
  ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  ctx.setLineDash([]);
  if (label) {
    ctx.font = "13px sans-serif";
    const w = ctx.measureText(label).width + 6;
    ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
    ctx.fillRect(x0, Math.max(0, y0 - 18), w, 18);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x0 + 3, Math.max(13, y0 - 5));
  }
}

function drawPose(map, keypoints) {
  const at = {};
  for (const k of keypoints) at[k.name] = k;
  ctx.strokeStyle = "#00ff66";
  ctx.lineWidth = 2;
  for (const [a, b] of SKELETON) {
    if (!at[a] || !at[b] || at[a].score < 0.2 || at[b].score < 0.2) continue;
    const [ax, ay] = map(at[a].x, at[a].y);
    const [bx, by] = map(at[b].x, at[b].y);
    ctx.beginPath(); ctx.moveTo(ax, ay); ctx.lineTo(bx, by); ctx.stroke();
  }
  ctx.fillStyle = "#00ff66";
  for (const k of keypoints) {
    if (k.score < 0.2) continue;
    const [x, y] = map(k.x, k.y);
    ctx.beginPath(); ctx.arc(x, y, 3, 0, 2 * Math.PI); ctx.fill();
  }
}

function drawZones(map) {
  ctx.lineWidth = 2;
  for (const z of pageConfig.zones) {
    ctx.strokeStyle = ZONE;
    ctx.fillStyle = "rgba(0, 229, 255, 0.12)";
    ctx.beginPath();
    z.polygon.forEach((p, i) => { const [x, y] = map(p[0], p[1]); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.closePath(); ctx.fill(); ctx.stroke();
  }
  for (const l of pageConfig.lines) {
    const [x0, y0] = map(l.points[0][0], l.points[0][1]);
    const [x1, y1] = map(l.points[1][0], l.points[1][1]);
    ctx.strokeStyle = LINE;
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
    ctx.fillStyle = LINE;
    ctx.fillText(l.name, x1 + 4, y1);
  }
}

function overlay(p, v, w, h) {
  const map = mapper(v || [0, 0, 1, 1], w, h);
  drawZones(map);
  if (!p) return;
  for (const d of p.detections || []) {
    const id = d.track_id !== undefined && d.track_id !== null ? ` #${d.track_id}` : "";
    drawBox(map, d.box, BOX, `${d.label ?? d.index}${id} ${d.score.toFixed(2)}`, false);
  }
  if (p.keypoints) drawPose(map, p.keypoints);
  if (p.segmentation) {
    for (const c of p.segmentation.classes) {
      drawBox(map, c.box, BOX, `${c.label ?? c.index} ${(100 * c.fraction).toFixed(0)}%`, true);
    }
  }
  if (p.classes && p.classes.length) {
    const c = p.classes[0];
    ctx.font = "16px sans-serif";
    ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
    ctx.fillRect(0, 0, w, 24);
    ctx.fillStyle = "#fff";
    ctx.fillText(`${c.label ?? c.index} ${c.score.toFixed(2)}`, 6, 17);
  }
}

function onFrame(frame) {
  const img = new Image();
  img.onload = () => {
    const w = view.width;
    const h = Math.round(w * img.height / img.width);
    if (view.height !== h) view.height = h;
    ctx.drawImage(img, 0, 0, w, h);
    overlay(frame.prediction, frame.view, w, h);
    shown += 1;
    text("frame-count", shown);
    text("seq", frame.seq);
    message.textContent = "";
  };
  img.src = "data:image/jpeg;base64," + frame.jpeg;
  if (frame.prediction) plot(frame.prediction);
}

function plot(p) {
  if (!p.latency_ms) return;
  latencies.push(p.latency_ms.total);
  if (latencies.length > 120) latencies.shift();
  const c = document.getElementById("latency");
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const top = Math.max(...latencies) * 1.1 || 1;
  g.strokeStyle = "#4fc3f7";
  g.beginPath();
  latencies.forEach((v, i) => {
    const x = i * c.width / 119;
    const y = c.height - v / top * c.height;
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke();
  g.fillStyle = "#aaa";
  g.fillText(`${top.toFixed(1)} ms`, 2, 10);
}

function onStatus(msg) {
  const s = msg.status;
  const badge = document.getElementById("state");
  if (!msg.up || !s) {
    badge.textContent = "not running"; badge.className = "badge down";
    message.textContent = "The daemon is not running (no status received). " +
      "Check: systemctl status edged";
    return;
  }
  badge.textContent = s.state; badge.className = "badge " + s.state;
  text("reason", s.reason || "");
  text("fps", `${s.fps_in} / ${s.fps_out}`);
  const inf = s.inference_ms || {};
  text("inference", `${inf.p50 ?? "-"} / ${inf.p99 ?? "-"} ms`);
  text("dropped", Object.entries(s.dropped || {}).map(([k, v]) => `${k} ${v}`).join(", "));
  text("temperature", s.temperature_c == null ? "n/a" : `${s.temperature_c} °C`);
  text("model", s.model ? s.model.file : "-");
  text("delegate", s.model ? s.model.delegate : "-");
  text("source", s.source || "-");
  if (!msg.frames) {
    message.textContent = "publish.frames is off: set publish.frames: true in the daemon's " +
      "config to see the camera here (predictions still update the panel).";
  }
}

const stream = new EventSource("/api/stream");
stream.addEventListener("config", (e) => { pageConfig = JSON.parse(e.data); });
stream.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
stream.addEventListener("frame", (e) => onFrame(JSON.parse(e.data)));
stream.addEventListener("prediction", (e) => {
  const p = JSON.parse(e.data);
  if (p) { text("seq", p.seq); plot(p); }
});
stream.onerror = () => { message.textContent = "Lost the connection to edged web; retrying..."; };
