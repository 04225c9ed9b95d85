// The report page's script (plain browser JavaScript, inlined into the HTML after uPlot). It reads the data
// block, draws three x-synced uPlot panels (queue index lines, status bits, markers), shows the event in words
// on hover (and keeps it on click), zooms (drag; double-click or "reset zoom" to undo), filters markers by
// event kind, and switches the x axis between revision and time. For tests and tools it exposes what it drew:
// `#devrec-report[data-series]`, `[data-markers]`, `[data-ready]` and `window.devrecReport`.
// Keep it free of backticks and dollar-brace: it lives in a String.raw template.
export const CLIENT_JS = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('devrec-data').textContent);
  var root = document.getElementById('devrec-report');
  var tip = document.getElementById('tooltip');
  var pinned = document.getElementById('pinned');
  var CATS = ['reset', 'status', 'features', 'vfio', 'finding', 'other'];
  var CAT_COLOR = { reset: '#d62728', status: '#1f77b4', features: '#2ca02c', vfio: '#9467bd', finding: '#ff7f0e', other: '#7f7f7f' };
  var SEV_COLOR = { error: '#d62728', warning: '#ff7f0e', info: '#17becf' };
  var PALETTE = ['#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#ff7f0e', '#7f7f7f'];
  // the same width of y axis on every panel and no y-axis label (a label adds its own strip), so their plotting
  // areas (and x axes) line up
  var Y_AXIS = 150;
  var STATUS_BITS = [[1, 'ACKNOWLEDGE'], [2, 'DRIVER'], [4, 'DRIVER_OK'], [8, 'FEATURES_OK'], [16, 'SUSPEND'], [64, 'DEVICE_NEEDS_RESET'], [128, 'FAILED']];
  var axisMode = 'revision';
  var plots = [];
  var syncing = false;
  var hiddenKinds = {};
  var rows = [];

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function width() { return Math.max(480, document.getElementById('plots').clientWidth - 8); }
  function xs(rev, t) { return axisMode === 'time' ? t : rev; }

  // ---- header, controls, tables --------------------------------------------------------------------------
  var counts = {};
  CATS.forEach(function (c) { counts[c] = 0; });
  var kindCounts = {};
  data.markers.forEach(function (m) { counts[m.c]++; kindCounts[m.k] = (kindCounts[m.k] || 0) + 1; });
  root.setAttribute('data-series', JSON.stringify(data.queues.series.map(function (s) { return s.name; })));
  root.setAttribute('data-markers', JSON.stringify(counts));
  root.setAttribute('data-queue-points', String(data.queues.x.length));

  var filters = document.getElementById('filters');
  Object.keys(kindCounts).sort().forEach(function (k) {
    var id = 'kind-' + k;
    var box = el('input', { type: 'checkbox', id: id, 'data-kind': k });
    box.checked = true;
    box.addEventListener('change', function () { hiddenKinds[k] = !box.checked; drawMarkers(); });
    var label = el('label', { for: id });
    label.appendChild(box);
    label.appendChild(document.createTextNode(' ' + k + ' (' + kindCounts[k] + ')'));
    filters.appendChild(label);
  });
  // the time choice exists only for recordings with wall-clock times (html.ts leaves it out otherwise)
  var timeBox = document.getElementById('axis-time');
  if (timeBox) {
    document.getElementById('axis-revision').addEventListener('change', function () { axisMode = 'revision'; drawAll(); });
    timeBox.addEventListener('change', function () { axisMode = 'time'; drawAll(); });
  }
  document.getElementById('reset-zoom').addEventListener('click', function () { zoom(null, null); });

  function table(id, head, list, cells) {
    var t = document.getElementById(id);
    if (!list.length) { t.appendChild(el('p', {}, 'none')); return; }
    var tb = el('table');
    var tr = el('tr');
    head.forEach(function (h) { tr.appendChild(el('th', {}, h)); });
    tb.appendChild(tr);
    list.slice(0, 2000).forEach(function (m) {
      var r = el('tr');
      cells(m).forEach(function (c) { r.appendChild(el('td', {}, c)); });
      r.addEventListener('click', function () { pin([m]); zoomAround(m); });
      tb.appendChild(r);
    });
    t.appendChild(tb);
    if (list.length > 2000) t.appendChild(el('p', {}, (list.length - 2000) + ' more are on the timeline'));
  }
  table('features', ['revision', 'step', 'mask', 'names'], data.markers.filter(function (m) { return m.c === 'features'; }),
    function (m) { return ['#' + m.r, m.step || '', m.mask || '', (m.names || []).join(' ')]; });
  table('findings', ['revision', 'severity', 'rule', 'finding'], data.markers.filter(function (m) { return m.c === 'finding'; }),
    function (m) { return ['#' + m.r, m.sev, m.rule, m.x.split('\n')[0]]; });

  // ---- tooltip ---------------------------------------------------------------------------------------------
  function markerText(list) { return list.map(function (m) { return '[' + m.c + '] ' + m.x; }).join('\n\n'); }
  function showTip(list, px, py) {
    tip.textContent = markerText(list);
    tip.style.display = 'block';
    var w = tip.offsetWidth;
    tip.style.left = Math.max(4, Math.min(px + 14, window.innerWidth - w - 8)) + 'px';
    tip.style.top = (py + 14) + 'px';
  }
  function hideTip() { tip.style.display = 'none'; }
  function pin(list) { pinned.textContent = markerText(list); }

  // ---- zoom ------------------------------------------------------------------------------------------------
  function zoom(min, max) {
    var r = fullRange();
    syncing = true;
    plots.forEach(function (u) { u.setScale('x', { min: min === null ? r[0] : min, max: max === null ? r[1] : max }); });
    syncing = false;
  }
  function zoomAround(m) {
    var c = xs(m.r, m.t);
    var span = axisMode === 'time' ? Math.max(1e-6, (data.queues.t[data.queues.t.length - 1] || 1) / 50) : Math.max(20, (data.to - data.from) / 50);
    zoom(c - span, c + span);
  }
  function syncHook(u, key) {
    if (key !== 'x' || syncing) return;
    syncing = true;
    var s = u.scales.x;
    plots.forEach(function (o) { if (o !== u && o.data[0].length) o.setScale('x', { min: s.min, max: s.max }); });
    syncing = false;
  }
  function base(title, height) {
    return {
      title: title, width: width(), height: height,
      cursor: { sync: { key: 'devrec', setSeries: false }, drag: { x: true, y: false } },
      scales: { x: { time: false } },
      hooks: { setScale: [syncHook] },
    };
  }
  function xLabel() { return axisMode === 'time' ? 'seconds since ' + (data.t0 || 'start') : 'revision'; }

  // ---- panels ----------------------------------------------------------------------------------------------
  function drawQueues() {
    var q = data.queues;
    var x = axisMode === 'time' ? q.t : q.x;
    var opts = base('queue indices (cumulative, unwrapped' + (data.bucketWidth > 1 ? '; min/max per ' + data.bucketWidth + ' revisions' : '') + ')', 260);
    opts.series = [{ label: xLabel() }].concat(q.series.map(function (s, i) {
      return { label: s.name, stroke: PALETTE[s.queue % PALETTE.length], width: s.index === 'used' ? 1 : 2, dash: s.index === 'used' ? [5, 3] : undefined, points: { show: false } };
    }));
    opts.axes = [{ label: xLabel() }, { size: Y_AXIS }];
    var u = new uPlot(opts, [x].concat(q.series.map(function (s) { return s.values; })), document.getElementById('plot-queues'));
    u.root.setAttribute('data-panel', 'queues');
    return u;
  }

  function drawStatus() {
    var st = data.status;
    var used = STATUS_BITS.filter(function (b) { return st.values.some(function (v) { return (v & b[0]) !== 0; }); });
    if (!used.length) used = STATUS_BITS.slice(0, 4);
    var x = (axisMode === 'time' ? st.t : st.x).slice();
    var vals = st.values.slice();
    var endX = axisMode === 'time' ? (data.queues.t[data.queues.t.length - 1] || 0) : data.to;
    if (!x.length || x[x.length - 1] < endX) { x.push(endX); vals.push(vals.length ? vals[vals.length - 1] : 0); }
    var opts = base('device status bits', 110 + 24 * used.length);
    opts.series = [{ label: xLabel() }].concat(used.map(function (b, i) {
      return { label: b[1], stroke: PALETTE[i % PALETTE.length], width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
        value: function (u, v) { return v == null ? '' : (v - i > 0.5 ? 'on' : 'off'); } };
    }));
    opts.scales.y = { range: [-0.2, used.length] };
    opts.axes = [{ label: xLabel() }, { size: Y_AXIS, splits: function () { return used.map(function (_, i) { return i + 0.45; }); },
      values: function () { return used.map(function (b) { return b[1]; }); } }];
    opts.legend = { show: true };
    var series = used.map(function (b, i) { return vals.map(function (v) { return v == null ? null : i + ((v & b[0]) ? 0.85 : 0.05); }); });
    var u = new uPlot(opts, [x].concat(series), document.getElementById('plot-status'));
    u.root.setAttribute('data-panel', 'status');
    return u;
  }

  function buildRows() {
    rows = [];
    var last = null;
    data.markers.forEach(function (m) {
      if (hiddenKinds[m.k]) return;
      if (last && last.r === m.r) { last.list.push(m); return; }
      last = { r: m.r, t: m.t, list: [m] };
      rows.push(last);
    });
  }

  function drawMarkersPlot() {
    buildRows();
    var x = rows.map(function (r) { return xs(r.r, r.t); });
    var series = CATS.map(function (c, lane) {
      return rows.map(function (r) { return r.list.some(function (m) { return m.c === c; }) ? lane : null; });
    });
    var opts = base('markers (hover: the event in words; click: keep it)', 110 + 24 * CATS.length);
    opts.series = [{ label: xLabel() }].concat(CATS.map(function (c) {
      return { label: c + ' (' + counts[c] + ')', stroke: CAT_COLOR[c], fill: CAT_COLOR[c], paths: function () { return null; },
        value: function (u, v) { return v == null ? '' : 'here'; },
        points: { show: true, size: 9, width: 1, fill: CAT_COLOR[c], stroke: c === 'finding' ? '#000' : CAT_COLOR[c] } };
    }));
    opts.scales.y = { range: [-0.6, CATS.length - 0.4] };
    opts.axes = [{ label: xLabel() }, { size: Y_AXIS, splits: function () { return CATS.map(function (_, i) { return i; }); },
      values: function () { return CATS.slice(); } }];
    opts.hooks.setCursor = [function (u) {
      var i = u.cursor.idx;
      if (i == null || !rows[i] || u.cursor.left < 0) { hideTip(); return; }
      var px = u.valToPos(u.data[0][i], 'x');
      if (Math.abs(px - u.cursor.left) > 12) { hideTip(); return; }
      var rect = u.over.getBoundingClientRect();
      showTip(rows[i].list, rect.left + px, rect.top + u.cursor.top);
    }];
    var u = new uPlot(opts, [x].concat(series), document.getElementById('plot-markers'));
    u.root.setAttribute('data-panel', 'markers');
    u.over.addEventListener('click', function () {
      var i = u.cursor.idx;
      if (i != null && rows[i] && Math.abs(u.valToPos(u.data[0][i], 'x') - u.cursor.left) <= 12) pin(rows[i].list);
    });
    u.over.addEventListener('mouseleave', hideTip);
    return u;
  }

  function drawMarkers() {
    var old = plots.pop();
    var s = old.scales.x;
    old.destroy();
    plots.push(drawMarkersPlot());
    if (s.min != null) plots[plots.length - 1].setScale('x', { min: s.min, max: s.max });
  }

  // one x range for every panel (each would otherwise fit its own data: the markers' first and last marker, the
  // status steps), so a revision is at the same place in all three
  function fullRange() {
    return axisMode === 'time' ? [0, data.queues.t[data.queues.t.length - 1] || 0] : [data.from, data.to];
  }
  function drawAll() {
    plots.forEach(function (u) { u.destroy(); });
    plots = [drawQueues(), drawStatus(), drawMarkersPlot()];
    var r = fullRange();
    syncing = true;
    plots.forEach(function (u) { u.setScale('x', { min: r[0], max: r[1] }); });
    syncing = false;
  }

  drawAll();
  window.addEventListener('resize', function () { plots.forEach(function (u) { u.setSize({ width: width(), height: u.height }); }); });

  window.devrecReport = {
    data: data,
    series: data.queues.series.map(function (s) { return s.name; }),
    markerCounts: counts,
    rows: function () { return rows.length; },
    /** page coordinates of marker row i on the markers panel (for hovering it) */
    markerPosition: function (i) {
      var u = plots[2];
      var r = rows[i];
      var lane = CATS.indexOf(r.list[0].c);
      var rect = u.over.getBoundingClientRect();
      return { x: rect.left + u.valToPos(u.data[0][i], 'x'), y: rect.top + u.valToPos(lane, 'y'), text: markerText(r.list) };
    },
    /** index of the first row holding a marker of category c */
    findRow: function (c) { for (var i = 0; i < rows.length; i++) if (rows[i].list.some(function (m) { return m.c === c; })) return i; return -1; },
    zoom: zoom,
    setAxis: function (mode) { axisMode = mode; drawAll(); },
    /** each panel's x range, [min, max] (the panels share one) */
    xRanges: function () { return plots.map(function (u) { return [u.scales.x.min, u.scales.x.max]; }); },
  };
  root.setAttribute('data-ready', '1');
})();
`;
