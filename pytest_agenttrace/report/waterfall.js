// pytest-agenttrace HTML report: one waterfall per test, drawn from the JSON data
// in #agenttrace-data. Only textContent is used for data (span names and values
// are never parsed as HTML). Rows are rendered ROW_STEP at a time, so a test with
// 10,000 spans opens as fast as one with 500.
(function () {
  "use strict";

  var ROW_STEP = 500;
  var PALETTE = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2",
    "#edc948", "#9c755f", "#ff9da7", "#86bcb6", "#8cd17d",
  ];
  var OUTCOME_ORDER = { failed: 0, error: 1, xpassed: 2, passed: 3, xfailed: 4, skipped: 5 };

  var data = JSON.parse(document.getElementById("agenttrace-data").textContent);
  var serviceColour = {};
  var sections = []; // per test: its <details>, its Waterfall once drawn
  var query = "";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function colourOf(service) {
    var key = service === null || service === undefined ? "" : String(service);
    if (!(key in serviceColour)) {
      serviceColour[key] = PALETTE[Object.keys(serviceColour).length % PALETTE.length];
    }
    return serviceColour[key];
  }

  function duration(us) {
    if (us === null || us === undefined) return "still open";
    if (us < 1000) return us + " µs";
    if (us < 1000000) return (us / 1000).toFixed(us < 10000 ? 2 : 1) + " ms";
    return (us / 1000000).toFixed(2) + " s";
  }

  function value(v) {
    if (typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) return "[" + v.map(value).join(", ") + "]";
    return String(v);
  }

  function clipped(text) {
    return text.length > 40 ? text.slice(0, 39) + "…" : text;
  }

  function plain(v) {
    return Array.isArray(v) ? v.map(plain).join(" ") : String(v);
  }

  // An attribute key that may wrap after its dots, not inside a word.
  function dotted(key) {
    var cell = el("td");
    key.split(".").forEach(function (part, position) {
      if (position) {
        cell.appendChild(document.createTextNode("."));
        cell.appendChild(document.createElement("wbr"));
      }
      cell.appendChild(document.createTextNode(part));
    });
    return cell;
  }

  function table(parent, mapping) {
    var keys = Object.keys(mapping || {});
    if (!keys.length) {
      parent.appendChild(el("div", "hint", "(none)"));
      return;
    }
    var t = el("table");
    keys.forEach(function (key) {
      var tr = el("tr");
      tr.appendChild(dotted(key));
      var v = mapping[key];
      var cell = el("td");
      if (typeof v === "string" && v.indexOf("\n") !== -1) {
        cell.appendChild(el("pre", "multiline", v)); // a stack trace, a prompt: as written
      } else {
        cell.textContent = value(v);
      }
      tr.appendChild(cell);
      t.appendChild(tr);
    });
    parent.appendChild(t);
  }

  // ------------------------------------------------------------------ one test

  function Waterfall(test, section) {
    this.test = test;
    this.spans = test.spans;
    this.section = section;
    this.limit = ROW_STEP;
    this.collapsed = {};
    this.selected = -1;
    var n = this.spans.length;
    this.depth = new Int32Array(n);
    this.children = new Int32Array(n);
    this.traceSize = new Int32Array(test.traces.length);
    var last = 0;
    for (var i = 0; i < n; i++) {
      var span = this.spans[i];
      this.depth[i] = span.p < 0 ? 0 : this.depth[span.p] + 1;
      if (span.p >= 0) this.children[span.p]++;
      this.traceSize[span.t]++;
      last = Math.max(last, span.e === null ? span.b : span.e);
      (span.ev || []).forEach(function (event) { last = Math.max(last, event[1]); });
    }
    this.total = Math.max(last, 1);
    this.build();
  }

  Waterfall.prototype.service = function (span) {
    var resource = this.test.resources[span.r] || {};
    var name = resource["service.name"];
    return name === undefined ? null : name;
  };

  Waterfall.prototype.build = function () {
    var self = this;
    var body = this.section.querySelector(".test-body");
    var services = [];
    var seen = {};
    this.spans.forEach(function (span) {
      var name = self.service(span);
      if (!(name in seen)) {
        seen[name] = true;
        services.push(name);
      }
    });
    var legend = el("div", "legend");
    services.forEach(function (name) {
      var item = el("span", "legend-item");
      var swatch = el("span", "swatch");
      swatch.style.background = colourOf(name);
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(name === null ? "(no service.name)" : name));
      legend.appendChild(item);
    });
    this.status = el("span", "wf-status");
    legend.appendChild(this.status);
    body.appendChild(legend);

    var layout = el("div", "layout");
    this.rows = el("div", "waterfall");
    this.rows.setAttribute("role", "tree");
    this.details = el("aside", "details");
    this.details.appendChild(el("div", "hint", "Click a span to see its attributes, resource, events and links."));
    layout.appendChild(this.rows);
    layout.appendChild(this.details);
    body.appendChild(layout);

    // keyboard: Enter selects, ←/→ fold and unfold, ↑/↓ move between rows
    this.rows.addEventListener("keydown", function (event) {
      var row = event.target.closest(".span-row");
      if (!row) return;
      var index = Number(row.dataset.index);
      var key = event.key;
      if (key === "Enter" || key === " ") {
        self.select(index);
      } else if ((key === "ArrowLeft" || key === "ArrowRight") && self.children[index] && !query) {
        self.collapsed[index] = key === "ArrowLeft";
        self.render();
        self.focus(index);
      } else if (key === "ArrowDown" || key === "ArrowUp") {
        var sibling = key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
        while (sibling && !sibling.classList.contains("span-row")) {
          sibling = key === "ArrowDown" ? sibling.nextElementSibling : sibling.previousElementSibling;
        }
        if (sibling) sibling.focus();
      } else {
        return;
      }
      event.preventDefault();
    });
    this.rows.addEventListener("click", function (event) {
      var target = event.target;
      var more = target.closest("button[data-more]");
      if (more) {
        self.limit = more.dataset.more === "all" ? Infinity : self.limit + ROW_STEP;
        self.render();
        return;
      }
      var row = target.closest(".span-row");
      if (!row) return;
      var index = Number(row.dataset.index);
      if (target.closest(".toggle")) {
        self.collapsed[index] = !self.collapsed[index];
        self.render();
        return;
      }
      self.select(index);
    });
    this.render();
  };

  // Per test, once: each span's name, attribute values and service, lowercased.
  function searchTexts(test) {
    if (!test.searchTexts) {
      test.searchTexts = test.spans.map(function (span) {
        var values = Object.keys(span.a || {}).map(function (key) { return plain(span.a[key]); });
        var resource = test.resources[span.r] || {};
        var service = resource["service.name"];
        return (span.n + "\u0000" + values.join("\u0000") + "\u0000" + (service === undefined ? "" : service)).toLowerCase();
      });
    }
    return test.searchTexts;
  }

  function textMatches(text) {
    return String(text).toLowerCase().indexOf(query) !== -1;
  }

  // The test's spans and missing lines that match the filter (built or not).
  function countMatches(test) {
    var count = 0;
    searchTexts(test).forEach(function (text) { if (text.indexOf(query) !== -1) count++; });
    test.spans.forEach(function (span) { (span.mm || []).forEach(function (text) { if (textMatches(text)) count++; }); });
    (test.missing || []).forEach(function (text) { if (textMatches(text)) count++; });
    return count;
  }

  Waterfall.prototype.matches = function (index) {
    return !query || searchTexts(this.test)[index].indexOf(query) !== -1;
  };

  // The rows to show, in order: trace headers, spans, the lines a failed
  // assert_tree found missing (after their parent's subtree).
  Waterfall.prototype.entries = function () {
    var spans = this.spans;
    var n = spans.length;
    var show = new Uint8Array(n);
    var matched = 0;
    if (query) {
      for (var i = n - 1; i >= 0; i--) {
        var hit = this.matches(i);
        if (hit) matched++;
        if (hit || (spans[i].mm && spans[i].mm.some(textMatches))) {
          for (var j = i; j >= 0 && !show[j]; j = spans[j].p) show[j] = 1; // with its ancestors
        }
      }
    } else {
      var hiddenBelow = -1; // depth of a collapsed span whose subtree is skipped
      for (var k = 0; k < n; k++) {
        if (hiddenBelow >= 0 && this.depth[k] > hiddenBelow) continue;
        hiddenBelow = this.collapsed[k] ? this.depth[k] : -1;
        show[k] = 1;
      }
      matched = n;
    }
    var entries = [];
    var open = []; // spans whose missing lines follow their subtree
    var trace = -1;
    var self = this;
    function closeUntil(depth) {
      while (open.length && self.depth[open[open.length - 1]] >= depth) {
        var parent = open.pop();
        spans[parent].mm.forEach(function (text) {
          if (query && !textMatches(text)) return;
          if (query) matched++;
          entries.push({ missing: text, depth: self.depth[parent] + 1, parent: parent });
        });
      }
    }
    for (var s = 0; s < n; s++) {
      if (!show[s]) continue;
      closeUntil(this.depth[s]);
      if (spans[s].t !== trace) {
        trace = spans[s].t;
        entries.push({ trace: trace });
      }
      entries.push({ span: s });
      if (spans[s].mm && (query || !this.collapsed[s])) open.push(s);
    }
    closeUntil(0);
    (this.test.missing || []).forEach(function (text) {
      if (query && !textMatches(text)) return;
      if (query) matched++;
      entries.push({ missing: text, depth: 0 });
    });
    return { entries: entries, matched: matched };
  };

  // Draws the first `limit` span rows, and beyond them every marked span with
  // its ancestors: a failure is never hidden by the cap. Undrawn runs of spans
  // become "… N more spans" rows.
  Waterfall.prototype.render = function () {
    var result = this.entries();
    var entries = result.entries;
    var spans = this.spans;
    var rows = this.rows;
    rows.textContent = "";
    rows.appendChild(this.axis());
    var keep = new Uint8Array(spans.length);
    var totalSpanRows = 0;
    var e, s, j;
    for (e = 0; e < entries.length; e++) {
      if (entries[e].span === undefined) continue;
      if (totalSpanRows < this.limit) keep[entries[e].span] = 1;
      totalSpanRows++;
    }
    if (totalSpanRows > this.limit) {
      for (e = 0; e < entries.length; e++) {
        s = entries[e].span;
        if (s === undefined || !(spans[s].m || spans[s].mm)) continue;
        for (j = s; j >= 0 && !keep[j]; j = spans[j].p) keep[j] = 1;
      }
    }
    var fragment = document.createDocumentFragment();
    var self = this;
    var drawn = 0;
    var gap = 0;
    var trace = null; // a trace's row waits for its first drawn span
    function closeGap() {
      if (gap) fragment.appendChild(self.moreRow(gap, totalSpanRows - self.limit));
      gap = 0;
    }
    for (e = 0; e < entries.length; e++) {
      var entry = entries[e];
      if (entry.trace !== undefined) {
        trace = entry.trace;
      } else if (entry.span !== undefined) {
        if (!keep[entry.span]) {
          gap++;
          continue;
        }
        closeGap();
        if (trace !== null) fragment.appendChild(this.traceRow(trace));
        trace = null;
        drawn++;
        fragment.appendChild(this.spanRow(entry.span));
      } else if (entry.parent === undefined || keep[entry.parent]) {
        closeGap();
        fragment.appendChild(this.missingRow(entry.missing, entry.depth));
      }
    }
    closeGap();
    rows.appendChild(fragment);
    var hidden = totalSpanRows - drawn;
    if (!entries.length) rows.appendChild(el("div", "empty", "No span matches the filter."));
    var words = this.spans.length + " span" + (this.spans.length === 1 ? "" : "s") + " in " +
      this.test.traces.length + " trace" + (this.test.traces.length === 1 ? "" : "s");
    if (query) words = result.matched + " of " + words + " match";
    this.status.textContent = words + (hidden > 0 ? " · showing " + drawn + " rows" : "");
    this.matched = result.matched;
  };

  Waterfall.prototype.moreRow = function (count, beyond) {
    var more = el("div", "row more-row");
    more.appendChild(el("span", "more-count", "… " + count + " more span" + (count === 1 ? "" : "s")));
    var next = el("button", "", "show " + Math.min(ROW_STEP, beyond) + " more");
    next.dataset.more = "next";
    var all = el("button", "", "show all");
    all.dataset.more = "all";
    more.appendChild(next);
    more.appendChild(all);
    return more;
  };

  Waterfall.prototype.axis = function () {
    var row = el("div", "row axis");
    row.appendChild(el("div", "cell-name", "span"));
    var bar = el("div", "cell-bar");
    for (var i = 0; i <= 4; i++) {
      var tick = el("span", "tick", duration(Math.round((this.total * i) / 4)));
      tick.style.left = i * 25 + "%";
      bar.appendChild(tick);
    }
    row.appendChild(bar);
    return row;
  };

  Waterfall.prototype.traceRow = function (trace) {
    var row = el("div", "row trace-row");
    var count = this.traceSize[trace];
    row.appendChild(el("div", "cell-name", "trace " + this.test.traces[trace] + " · " + count + " span" + (count === 1 ? "" : "s")));
    return row;
  };

  Waterfall.prototype.missingRow = function (text, depth) {
    var row = el("div", "row missing-row");
    var name = el("div", "cell-name", "✗ " + text);
    name.style.paddingLeft = 6 + depth * 16 + 22 + "px";
    row.appendChild(name);
    row.appendChild(el("div", "cell-bar"));
    return row;
  };

  Waterfall.prototype.spanRow = function (index) {
    var span = this.spans[index];
    var row = el("div", "row span-row");
    row.dataset.index = index;
    row.dataset.depth = this.depth[index];
    row.setAttribute("role", "treeitem");
    row.tabIndex = 0;
    if (span.s === "error") row.classList.add("status-error");
    if (span.m) row.classList.add("marked");
    if (index === this.selected) row.classList.add("selected");
    var name = el("div", "cell-name");
    name.style.paddingLeft = 6 + this.depth[index] * 16 + "px";
    if (this.children[index] && !query) {
      var toggle = el("button", "toggle", this.collapsed[index] ? "▸" : "▾");
      toggle.setAttribute("aria-label", (this.collapsed[index] ? "expand " : "collapse ") + span.n);
      toggle.setAttribute("aria-expanded", this.collapsed[index] ? "false" : "true");
      toggle.tabIndex = -1; // one Tab stop per row: the row (← and → fold it)
      name.appendChild(toggle);
    } else {
      name.appendChild(el("span", "toggle-spacer"));
    }
    name.appendChild(el("span", "kind " + span.k, span.k));
    name.appendChild(el("span", "span-name", span.n));
    var keys = Object.keys(span.a || {});
    if (keys.length) { // tells same-name siblings apart
      var shown = keys.slice(0, 3).map(function (key) { return key + "=" + clipped(value(span.a[key])); });
      var attrs = el("span", "attrs", shown.join(" ") + (keys.length > 3 ? " …" : ""));
      attrs.title = keys.map(function (key) { return key + "=" + value(span.a[key]); }).join("\n");
      name.appendChild(attrs);
    }
    var service = this.service(span);
    var parent = span.p >= 0 ? this.spans[span.p] : null;
    if (!parent || this.service(parent) !== service) {
      var chip = el("span", "service");
      var swatch = el("span", "swatch");
      swatch.style.background = colourOf(service);
      chip.appendChild(swatch);
      chip.appendChild(document.createTextNode(service === null ? "?" : service));
      name.appendChild(chip);
    }
    if (span.s === "error") name.appendChild(el("span", "badge error", "error"));
    if (span.e === null) name.appendChild(el("span", "badge open", "open"));
    if (span.x) name.appendChild(el("span", "badge received", "received"));
    if (this.collapsed[index] && !query) {
      name.appendChild(el("span", "service", "(" + this.descendantCount(index) + " hidden)"));
    }
    if (span.m) {
      var mark = el("span", "mark", span.m.map(function (text) { return "✗ " + text; }).join("; "));
      mark.title = span.m.join("\n");
      mark.style.setProperty("--mark-indent", 22 + "px");
      name.appendChild(mark);
    }
    row.appendChild(name);

    var cell = el("div", "cell-bar");
    var end = span.e === null ? this.total : span.e;
    var left = (span.b / this.total) * 100;
    var width = Math.max(((end - span.b) / this.total) * 100, 0);
    var bar = el("div", "bar" + (span.e === null ? " open" : ""));
    bar.style.left = left + "%";
    bar.style.width = width + "%";
    bar.style.backgroundColor = colourOf(service); // not the shorthand: it would drop the open bar's stripes
    cell.appendChild(bar);
    var total = this.total;
    (span.ev || []).forEach(function (event) {
      var tick = el("div", "event-tick");
      tick.style.left = (event[1] / total) * 100 + "%";
      tick.title = event[0];
      cell.appendChild(tick);
    });
    var label = el("span", "bar-label", duration(span.e === null ? null : span.e - span.b));
    if (left + width < 85) {
      label.style.left = left + width + 0.5 + "%";
    } else if (width > 12 || left < 12) {
      label.classList.add("inside");
      label.style.left = left + 0.5 + "%";
    } else {
      label.style.right = 100 - left + 0.5 + "%";
    }
    cell.appendChild(label);
    row.appendChild(cell);
    return row;
  };

  Waterfall.prototype.focus = function (index) {
    var row = this.rows.querySelector('.span-row[data-index="' + index + '"]');
    if (row) row.focus();
  };

  Waterfall.prototype.descendantCount = function (index) {
    var count = 0;
    for (var i = index + 1; i < this.spans.length && this.depth[i] > this.depth[index]; i++) count++;
    return count;
  };

  // Show one span: open its collapsed ancestors, clear a filter that hides it,
  // render enough rows to reach it, then scroll to it.
  Waterfall.prototype.reveal = function (index) {
    for (var p = this.spans[index].p; p >= 0; p = this.spans[p].p) this.collapsed[p] = false;
    if (query && !this.matches(index)) {
      var search = document.getElementById("search");
      search.value = "";
      setQuery("");
    }
    var position = 0;
    var entries = this.entries().entries;
    for (var i = 0; i < entries.length; i++) {
      if (entries[i].span === undefined) continue;
      position++;
      if (entries[i].span === index) break;
    }
    if (position > this.limit) this.limit = Math.ceil(position / ROW_STEP) * ROW_STEP;
    this.render();
    this.select(index);
    var row = this.rows.querySelector('.span-row[data-index="' + index + '"]');
    if (row) {
      row.scrollIntoView({ block: "center" });
      row.classList.add("flash");
    }
  };

  // Selecting restyles two rows, not the whole list (10,000 rows may be drawn).
  Waterfall.prototype.select = function (index) {
    var previous = this.rows.querySelector(".span-row.selected");
    if (previous) previous.classList.remove("selected");
    this.selected = index;
    var row = this.rows.querySelector('.span-row[data-index="' + index + '"]');
    if (row) row.classList.add("selected");
    this.showDetails(index);
  };

  Waterfall.prototype.showDetails = function (index) {
    var self = this;
    var span = this.spans[index];
    var test = this.test;
    var panel = this.details;
    panel.textContent = "";
    panel.appendChild(el("h3", "", span.n));
    var facts = {
      kind: span.k,
      status: span.s + (span.sd ? ": " + span.sd : ""),
      duration: duration(span.e === null ? null : span.e - span.b),
      start: "+" + duration(span.b),
      service: this.service(span) === null ? "(none)" : this.service(span),
      origin: span.x ? "received from another process" : "this process",
      "trace id": test.traces[span.t],
      "span id": span.id,
    };
    if (span.p >= 0) facts.parent = this.spans[span.p].n + " (" + this.spans[span.p].id + ")";
    else if (span.ps) facts.parent = span.ps + " (not captured)";
    var scope = test.scopes[span.c] || [null, null];
    facts.scope = (scope[0] || "(unnamed)") + (scope[1] ? " " + scope[1] : "");
    var factTable = el("table", "facts");
    Object.keys(facts).forEach(function (key) {
      var tr = el("tr");
      tr.appendChild(el("td", "", key));
      tr.appendChild(el("td", "", facts[key]));
      factTable.appendChild(tr);
    });
    panel.appendChild(factTable);
    if (span.m || span.mm) {
      panel.appendChild(el("h4", "", "assert_tree"));
      var marks = el("ul", "marks");
      (span.m || []).forEach(function (text) { marks.appendChild(el("li", "", "✗ " + text)); });
      (span.mm || []).forEach(function (text) { marks.appendChild(el("li", "", "✗ " + text + " (under this span)")); });
      panel.appendChild(marks);
    }
    panel.appendChild(el("h4", "", "attributes"));
    table(panel, span.a);
    panel.appendChild(el("h4", "", "events"));
    var events = span.ev || [];
    if (!events.length) panel.appendChild(el("div", "hint", "(none)"));
    var list = el("ul", "events");
    events.forEach(function (event) {
      var item = el("li", "event");
      item.appendChild(el("div", "", event[0] + " at +" + duration(event[1])));
      if (Object.keys(event[2]).length) table(item, event[2]);
      list.appendChild(item);
    });
    if (events.length) panel.appendChild(list);
    panel.appendChild(el("h4", "", "links"));
    var links = span.ln || [];
    if (!links.length) panel.appendChild(el("div", "hint", "(none)"));
    var linkList = el("ul", "links");
    links.forEach(function (link) {
      var item = el("li", "link");
      if (link[2] >= 0) {
        var button = el("button", "link", self.spans[link[2]].n + " (" + link[1] + ")");
        button.dataset.target = link[2];
        button.addEventListener("click", function () { self.reveal(Number(button.dataset.target)); });
        item.appendChild(button);
      } else {
        item.appendChild(el("span", "", "trace " + link[0] + " span " + link[1] + " (not captured in this test)"));
      }
      if (Object.keys(link[3]).length) table(item, link[3]);
      linkList.appendChild(item);
    });
    if (links.length) panel.appendChild(linkList);
    panel.appendChild(el("h4", "", "resource"));
    table(panel, test.resources[span.r]);
  };

  // ------------------------------------------------------------------ the page

  // A filter searches every test, opens the sections with matches and hides the
  // others; clearing it restores the sections as they were.
  function setQuery(text) {
    var next = text.trim().toLowerCase();
    if (next && !query) sections.forEach(function (s) { s.openBefore = s.details.open; });
    query = next;
    var matched = 0;
    sections.forEach(function (s) {
      if (!query) {
        s.details.hidden = false;
        if (s.openBefore !== undefined) s.details.open = s.openBefore;
        s.openBefore = undefined;
      } else {
        var count = countMatches(s.test);
        matched += count;
        s.details.hidden = count === 0;
        if (count) s.details.open = true;
      }
      if (!s.build() && s.waterfall) s.waterfall.render();
    });
    document.getElementById("search-count").textContent = query
      ? matched + " match" + (matched === 1 ? "" : "es")
      : "";
    noMatch.hidden = !query || matched > 0 || !sections.length;
  }

  function rank(outcome) {
    return outcome in OUTCOME_ORDER ? OUTCOME_ORDER[outcome] : 9;
  }

  function summary(tests) {
    var generated = new Date(data.generatedAt);
    var when = el("span", "generated", "written " + generated.toLocaleString());
    when.title = generated.toISOString();
    var counts = {};
    tests.forEach(function (test) { counts[test.outcome] = (counts[test.outcome] || 0) + 1; });
    var box = document.getElementById("summary");
    box.appendChild(el("span", "count", tests.length + " test" + (tests.length === 1 ? "" : "s") + " with spans"));
    Object.keys(counts).sort(function (a, b) { return rank(a) - rank(b); }).forEach(function (outcome) {
      box.appendChild(el("span", "count " + outcome, counts[outcome] + " " + outcome));
    });
    box.appendChild(when);
  }

  function section(test) {
    var details = el("details", "test outcome-" + test.outcome);
    details.dataset.nodeid = test.id;
    var head = el("summary");
    head.appendChild(el("span", "outcome " + test.outcome, test.outcome));
    head.appendChild(el("span", "nodeid", test.id));
    head.appendChild(el("span", "facts", test.spans.length + " spans · " + test.duration.toFixed(3) + " s"));
    details.appendChild(head);
    var body = el("div", "test-body");
    if (test.message) body.appendChild(el("pre", "message", test.message));
    if (test.traceback) {
      var more = el("details", "traceback");
      more.appendChild(el("summary", "", "full report"));
      more.appendChild(el("pre", "message", test.traceback));
      body.appendChild(more);
    }
    details.appendChild(body);
    var entry = { test: test, details: details, waterfall: null, openBefore: undefined };
    // the waterfall is drawn when the section first opens; true when drawn now
    entry.build = function () {
      if (entry.waterfall || !details.open) return false;
      entry.waterfall = new Waterfall(test, details);
      return true;
    };
    details.addEventListener("toggle", entry.build);
    details.open = test.outcome === "failed" || test.outcome === "error" || data.tests.length === 1;
    entry.build();
    sections.push(entry);
    return details;
  }

  // Node ids compared with their numbers as numbers: test[2] before test[10].
  function byNodeId(a, b) {
    var x = a.split(/(\d+)/);
    var y = b.split(/(\d+)/);
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] === y[i]) continue;
      if (i % 2) return Number(x[i]) - Number(y[i]) || (x[i] < y[i] ? -1 : 1);
      return x[i] < y[i] ? -1 : 1;
    }
    return x.length - y.length;
  }

  // by outcome, then by node id: the same order whatever order xdist finished them in
  var tests = data.tests.slice().sort(function (a, b) {
    return rank(a.outcome) - rank(b.outcome) || byNodeId(a.id, b.id);
  });
  summary(tests);
  var main = document.getElementById("tests");
  if (!tests.length) main.appendChild(el("p", "empty", "No test captured any span."));
  tests.forEach(function (test) { main.appendChild(section(test)); });
  var noMatch = el("p", "empty", "No span in any test matches the filter.");
  noMatch.hidden = true;
  main.appendChild(noMatch);

  var timer = null;
  document.getElementById("search").addEventListener("input", function (event) {
    clearTimeout(timer);
    var text = event.target.value;
    timer = setTimeout(function () { setQuery(text); }, 120);
  });
})();
