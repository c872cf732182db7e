"use strict";
// The report's table and trace views. Every string from the data goes into the page as a text node or an attribute
// value (never innerHTML), and only the rows in view exist in the DOM, so 10,000 questions scroll like 100.
(function () {
  const DATA = JSON.parse(document.getElementById("lodestar-data").textContent);
  const CMP = DATA.runs.length === 2;
  const ROW_H = 30;
  const SVG_NS = "http://www.w3.org/2000/svg";

  function el(tag, props, ...kids) {
    const node = document.createElement(tag);
    setProps(node, props);
    for (const kid of kids) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  }
  function svg(tag, props, text) {
    const node = document.createElementNS(SVG_NS, tag);
    setProps(node, props);
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function setProps(node, props) {
    if (!props) return;
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.setAttribute("class", value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
  }
  const fmt = (x, digits) => (x === undefined || x === null ? "—" : Number(x).toFixed(digits));
  const gold = (row) => (row.g ? row.g.join(" | ") : "");

  // -- columns ---------------------------------------------------------------------------------------------
  const metric = (key, label, pick) => ({ key, label, num: true, get: (r) => pick(r)?.[key], show: (v) => fmt(v, 2) });
  const COLUMNS = CMP
    ? [
        { key: "id", label: "id", get: (r) => r.id },
        { key: "q", label: "question", get: (r) => r.q },
        { key: "a", label: "answer A", get: (r) => (r.err ? "error: " + r.err : r.a) },
        { key: "b", label: "answer B", get: (r) => (r.b ? (r.b.err ? "error: " + r.b.err : r.b.a) : "") },
        { key: "g", label: "gold", get: gold },
        metric("f1", "F1 A", (r) => r),
        metric("f1", "F1 B", (r) => r.b),
        { key: "d", label: "ΔF1", num: true, get: (r) => (r.b && r.f1 !== undefined && r.b.f1 !== undefined ? r.b.f1 - r.f1 : undefined), show: (v) => (v === undefined ? "—" : (v > 0 ? "+" : "") + v.toFixed(2)) },
        { key: "o", label: "B vs A", get: (r) => r.o, cls: (r) => (r.o === "win" ? "win" : r.o === "loss" ? "loss" : "") },
      ]
    : [
        { key: "id", label: "id", get: (r) => r.id },
        { key: "q", label: "question", get: (r) => r.q },
        { key: "a", label: "answer", get: (r) => (r.err ? "error: " + r.err : r.a), cls: (r) => (r.err ? "err" : "") },
        { key: "g", label: "gold", get: gold },
        { key: "m", label: "mode", get: (r) => r.m },
        { ...metric("em", "EM", (r) => r), show: (v) => fmt(v, 0), cls: (r) => (r.em === 1 ? "ok" : r.em === 0 ? "bad" : "") },
        metric("f1", "F1", (r) => r),
        { key: "lat", label: "latency", num: true, get: (r) => r.lat, show: (v) => fmt(v, 2) + " s" },
        { key: "calls", label: "LLM", num: true, get: (r) => r.calls, show: (v) => fmt(v, 0) },
        { key: "tok", label: "tokens", num: true, get: (r) => r.tok, show: (v) => fmt(v, 0) },
      ];
  const OUTCOMES = CMP
    ? [["", "all"], ["win", "B wins"], ["loss", "B losses"], ["tie", "ties"], ["only A", "only in A"], ["only B", "only in B"]]
    : [["", "all"], ["right", "EM 1"], ["wrong", "EM 0"], ["error", "errors"], ["nogold", "no gold"]];
  function outcomeOf(row, wanted) {
    if (CMP) return row.o === wanted;
    if (wanted === "error") return Boolean(row.err);
    if (wanted === "nogold") return !row.err && row.em === undefined;
    return !row.err && row.em === (wanted === "right" ? 1 : 0);
  }

  // -- state -----------------------------------------------------------------------------------------------
  const rows = DATA.rows;
  let view = rows.slice();
  let sort = { index: -1, asc: true };
  let selected = null;
  const $ = (id) => document.getElementById(id);
  const viewport = $("viewport");
  const spacer = $("spacer");

  function haystack(row) {
    if (row._h === undefined) {
      row._h = [row.id, row.q, row.a, gold(row), row.err, row.b && row.b.a].filter(Boolean).join("\n").toLowerCase();
    }
    return row._h;
  }

  function applyFilters() {
    const text = $("search").value.trim().toLowerCase();
    const mode = $("mode").value;
    const outcome = $("outcome").value;
    view = rows.filter(
      (r) => (!mode || r.m === mode) && (!outcome || outcomeOf(r, outcome)) && (!text || haystack(r).includes(text))
    );
    if (sort.index >= 0) {
      const col = COLUMNS[sort.index];
      const dir = sort.asc ? 1 : -1;
      view.sort((x, y) => {
        const a = col.get(x);
        const b = col.get(y);
        if (a === undefined || a === null || a === "") return b === undefined || b === null || b === "" ? 0 : 1;
        if (b === undefined || b === null || b === "") return -1;
        return (col.num ? a - b : String(a).localeCompare(String(b), undefined, { numeric: true })) * dir;
      });
    }
    $("shown").textContent = `${view.length} of ${rows.length} shown`;
    spacer.style.height = view.length * ROW_H + "px";
    viewport.scrollTop = 0;
    draw();
  }

  function header() {
    const head = $("thead");
    head.className = "row head" + (CMP ? " cmp" : "");
    head.replaceChildren(
      ...COLUMNS.map((col, index) => {
        const button = el("button", {
          class: (sort.index === index ? "sorted" : "") + (sort.index === index && sort.asc ? " asc" : ""),
          title: "sort by " + col.label,
          onclick: () => {
            sort = { index, asc: sort.index === index ? !sort.asc : !col.num };
            header();
            applyFilters();
          },
        }, col.label);
        return el("div", { class: col.num ? "num" : "" }, button);
      })
    );
  }

  function draw() {
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - 5);
    const last = Math.min(view.length, first + Math.ceil(viewport.clientHeight / ROW_H) + 10);
    const items = [];
    for (let i = first; i < last; i++) {
      const row = view[i];
      const node = el("div", {
        class: "row item" + (CMP ? " cmp" : "") + (row === selected ? " selected" : ""),
        role: "row",
        onclick: () => select(row),
      });
      node.style.top = i * ROW_H + "px";
      for (const col of COLUMNS) {
        const value = col.get(row);
        const text = col.show ? col.show(value) : value === undefined || value === null ? "" : String(value);
        const cls = [col.num ? "num" : "", col.cls ? col.cls(row) : ""].join(" ").trim();
        node.append(el("div", { class: cls, title: text }, text));
      }
      items.push(node);
    }
    spacer.replaceChildren(...items);
  }

  // -- the detail of one question ------------------------------------------------------------------------
  function select(row) {
    selected = row;
    draw();
    const detail = $("detail");
    const fields = el("dl", null);
    const add = (label, value, cls) => {
      if (value === undefined || value === null || value === "") return;
      fields.append(el("dt", null, label), el("dd", cls ? { class: cls } : null, value));
    };
    add("question", row.q);
    add("gold", gold(row));
    add("mode", row.m);
    const runs = CMP ? [["A", row.o === "only B" ? null : row], ["B", row.b]] : [["", row]];
    for (const [name, r] of runs) {
      if (!r) continue;
      const tag = name ? " " + name : "";
      if (r.err) add("error" + tag, r.err, "err");
      else add("answer" + tag, r.a);
      const scores = ["em", "f1", "accuracy", "hits_at_1"].filter((k) => r[k] !== undefined).map((k) => `${k} ${fmt(r[k], 4)}`);
      add("scores" + tag, scores.join(" · "));
      add("usage" + tag, `${r.calls} LLM calls · ${r.tok} tokens · ${fmt(r.lat, 2)} s`);
    }
    const traces = el("div", { class: "traces" });
    for (const [name, r] of runs) {
      if (!r || r.t === undefined) continue;
      traces.append(el("div", null, el("h3", null, "trace" + (name ? " " + name : "")), traceView(DATA.traces[r.t])));
    }
    const close = el("button", { class: "close", onclick: () => { detail.hidden = true; selected = null; draw(); } }, "close ✕");
    detail.replaceChildren(el("h2", null, el("span", null, "Question " + row.id), close), fields, traces);
    detail.hidden = false;
    detail.scrollIntoView({ block: "start" });
  }

  function traceView(trace) {
    const box = el("div", null);
    if (!trace) return box;
    if (trace.note) box.append(el("p", { class: "note" }, trace.note));
    for (const error of trace.errors || []) box.append(el("p", { class: "err" }, error));
    const roles = Object.entries(trace.llm || {});
    if (roles.length) {
      const table = el("table", { class: "steps" }, el("tr", null, ...["role", "calls", "prompt tok", "completion tok", "seconds"].map((h) => el("th", null, h))));
      for (const [role, [calls, prompt, completion, seconds]] of roles) {
        table.append(el("tr", null, el("td", null, role), el("td", null, calls), el("td", null, prompt), el("td", null, completion), el("td", null, fmt(seconds, 2))));
      }
      box.append(el("h3", null, "LLM calls"), table);
    }
    const steps = trace.steps || [];
    const kg = steps.filter((s) => s.k === "kg");
    if (kg.length) box.append(el("h3", null, "Think-on-Graph beam"), kgGraph(kg), kgTable(kg));
    for (const step of steps) {
      if (step.k === "docs") box.append(docsTable(step));
      else if (step.k === "plan") box.append(el("div", { class: "step plan" }, el("span", { class: "k" }, "plan → " + step.next), el("pre", null, step.thought)));
      else if (step.k === "call") box.append(el("div", { class: "step call" }, el("span", { class: "k" }, "tool call"), step.name, el("pre", null, step.args)));
      else if (step.k === "result") box.append(el("div", { class: "step result" + (step.ok ? "" : " failed") }, el("span", { class: "k" }, step.ok ? "result" : "failed"), `${step.name} · ${fmt(step.s, 2)} s`, el("pre", null, step.out)));
      else if (step.k === "rewrite") box.append(el("div", { class: "step" }, el("span", { class: "k" }, "follow-up read as"), step.text));
    }
    return box;
  }

  function docsTable(step) {
    const docs = step.docs.slice().sort((a, b) => b[1] - a[1]);
    const goldDropped = docs.some((d) => d[5] && !d[4]);
    const caption = `MAIN-RAG scores · threshold ${fmt(step.threshold, 3)} (mean − ${step.n}·σ) · ${step.scoring} · kept ${docs.filter((d) => d[4]).length} of ${docs.length}`;
    const table = el("table", { class: "docs" }, el("tr", null, ...["document", "score", "", "title", "source"].map((h) => el("th", null, h))));
    let barDrawn = false;
    for (const [id, score, title, source, kept, isGold] of docs) {
      if (!barDrawn && score < step.threshold) {
        table.append(el("tr", { class: "bar" }, el("td", { colspan: "5" }, `──── threshold ${fmt(step.threshold, 3)} ────`)));
        barDrawn = true;
      }
      table.append(
        el("tr", { class: (kept ? "kept" : "dropped") + (isGold ? " gold" : "") },
          el("td", null, id), el("td", { class: "num" }, fmt(score, 3)), el("td", null, kept ? "kept" : "dropped"), el("td", null, title), el("td", null, source))
      );
    }
    const box = el("div", null, el("h3", null, caption), table);
    if (goldDropped) box.prepend(el("p", { class: "note" }, "a gold paragraph (★) was dropped by the judge"));
    return box;
  }

  function kgTable(steps) {
    const table = el("table", { class: "steps" }, el("tr", null, ...["depth", "frontier", "top relations", "candidates", "sufficient"].map((h) => el("th", null, h))));
    for (const s of steps) {
      const rels = s.relations.map(([e, r, score]) => `${e} —${r}→ (${fmt(score, 2)})`).join("\n");
      table.append(el("tr", null, el("td", null, s.depth), el("td", null, s.frontier.join(", ")), el("td", null, el("pre", null, rels)), el("td", null, s.candidates), el("td", null, s.sufficient ? "yes" : "no")));
    }
    return table;
  }

  function kgGraph(steps) {
    // columns: depth 0 holds the topic entities; depth d the entities that the kept paths reach at step d
    const columns = [steps[0].frontier.slice(0, 12)];
    const edges = [];
    for (const s of steps) {
      const d = s.depth;
      while (columns.length <= d) columns.push([]);
      for (const path of s.kept) {
        const triple = path[d - 1] || path[path.length - 1];
        if (!triple) continue;
        const [h, r, t] = triple;
        if (!columns[d - 1].includes(h)) columns[d - 1].push(h);
        if (!columns[d].includes(t)) columns[d].push(t);
        edges.push([d - 1, h, r, d, t]);
      }
    }
    const colW = 200, rowH = 34, boxW = 150, boxH = 22, top = 26;
    const height = top + Math.max(...columns.map((c) => c.length), 1) * rowH + 8;
    const width = columns.length * colW + 10;
    const root = svg("svg", { class: "kg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Think-on-Graph beam" });
    const pos = (col, name) => [10 + col * colW, top + columns[col].indexOf(name) * rowH];
    columns.forEach((_, d) => root.append(svg("text", { class: "depth", x: 10 + d * colW, y: 14 }, d === 0 ? "topic" : "depth " + d)));
    for (const [c1, h, r, c2, t] of edges) {
      const [x1, y1] = pos(c1, h);
      const [x2, y2] = pos(c2, t);
      root.append(svg("line", { x1: x1 + boxW, y1: y1 + boxH / 2, x2, y2: y2 + boxH / 2 }));
      const label = svg("text", { class: "rel", x: (x1 + boxW + x2) / 2, y: (y1 + y2) / 2 + boxH / 2 - 3, "text-anchor": "middle" }, r.length > 22 ? r.slice(0, 21) + "…" : r);
      root.append(label);
    }
    columns.forEach((names, d) =>
      names.forEach((name) => {
        const [x, y] = pos(d, name);
        const g = svg("g", null);
        g.append(svg("title", null, name), svg("rect", { class: d === 0 ? "topic" : "", x, y, width: boxW, height: boxH, rx: 4 }), svg("text", { x: x + 6, y: y + 15 }, name.length > 22 ? name.slice(0, 21) + "…" : name));
        root.append(g);
      })
    );
    return root;
  }

  // -- start -----------------------------------------------------------------------------------------------
  const modes = [...new Set(rows.map((r) => r.m).filter(Boolean))].sort();
  $("mode").append(...modes.map((m) => el("option", { value: m }, m)));
  $("outcome").append(...OUTCOMES.map(([value, label]) => el("option", { value }, label)));
  let pending = 0;
  $("search").addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(applyFilters, 120);
  });
  $("mode").addEventListener("change", applyFilters);
  $("outcome").addEventListener("change", applyFilters);
  viewport.addEventListener("scroll", () => requestAnimationFrame(draw), { passive: true });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("detail").hidden) {
      $("detail").hidden = true;
      selected = null;
      draw();
    }
  });
  header();
  applyFilters();
  document.body.dataset.ready = "1";
})();
