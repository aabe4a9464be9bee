// A connector's recent syncs as a chart: each job at the time it started, its duration as a
// point coloured by outcome, and the documents it indexed as bars on a second axis. Drawn with
// uPlot (vendor/, served by this service). dashboard.js fetches the jobs and calls render().
"use strict";

window.syncHistory = (() => {
  // Outcome → the colour of its points (the page's status colours).
  const OUTCOMES = [
    { key: "completed", label: "completed", color: "#1a7f37" },
    { key: "error", label: "error", color: "#cf222e" },
    { key: "other", label: "canceled, suspended or running", color: "#8c959f" },
  ];
  const FINISHED_FIELDS = ["completed_at", "canceled_at"];
  let chart = null;

  const outcomeOf = (job) => (job.status === "completed" || job.status === "error" ? job.status : "other");
  const time = (iso) => (iso ? Date.parse(iso) : NaN);

  const RUNNING = new Set(["in_progress", "canceling"]);

  /** Minutes from start to finish: a running job counts up to now, one that ended without a
   *  finishing time (an error) up to its worker's last report; null if it never started. */
  function minutes(job, now) {
    const started = time(job.started_at);
    if (Number.isNaN(started)) return null;
    const finished = FINISHED_FIELDS.map((field) => time(job[field])).find((t) => !Number.isNaN(t));
    const end = finished ?? (RUNNING.has(job.status) ? now : time(job.last_seen));
    return Number.isNaN(end) ? null : Math.max(0, (end - started) / 60000);
  }

  /** uPlot's columns: x (seconds), one duration series per outcome, then documents indexed. */
  function columns(jobs, now) {
    const points = jobs
      .map((job) => ({ job, at: time(job.started_at || job.created_at) }))
      .filter((point) => !Number.isNaN(point.at))
      .sort((a, b) => a.at - b.at);
    const data = [points.map((point) => point.at / 1000)];
    for (const outcome of OUTCOMES) {
      data.push(points.map(({ job }) => (outcomeOf(job) === outcome.key ? minutes(job, now) : null)));
    }
    data.push(points.map(({ job }) => job.indexed_document_count ?? null));
    return { data, points };
  }

  function caption(connectorId, jobs, now) {
    if (jobs.length === 0) return `${connectorId} has no sync jobs yet.`;
    const counts = {};
    for (const job of jobs) counts[job.status] = (counts[job.status] || 0) + 1;
    const parts = Object.entries(counts).map(([status, n]) => `${n} ${status.replace("_", " ")}`);
    const durations = jobs.map((job) => minutes(job, now)).filter((m) => m !== null).sort((a, b) => a - b);
    const median = durations.length ? durations[Math.floor((durations.length - 1) / 2)] : null;
    const noun = jobs.length === 1 ? "sync" : "syncs";
    return `Last ${jobs.length} ${noun} of ${connectorId}: ${parts.join(", ")}`
      + (median === null ? "." : `; median duration ${median < 1 ? "under a minute" : `${Math.round(median)} min`}.`);
  }

  function options(width) {
    const documents = new Intl.NumberFormat("en-US");
    return {
      width, height: 220,
      legend: { live: true },
      cursor: { points: { size: 8 } },
      scales: { x: { time: true }, minutes: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
        documents: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [
        {},
        { scale: "minutes", label: "duration (min)" },
        { scale: "documents", side: 1, label: "documents indexed", grid: { show: false },
          values: (u, ticks) => ticks.map((t) => documents.format(t)) },
      ],
      series: [
        { label: "started" },
        ...OUTCOMES.map((outcome) => ({
          label: `duration, ${outcome.label}`, scale: "minutes", stroke: outcome.color,
          paths: () => null, points: { show: true, size: 9, fill: outcome.color, stroke: outcome.color },
          value: (u, v) => (v === null ? "—" : `${v.toFixed(1)} min`),
        })),
        { label: "documents indexed", scale: "documents", stroke: "#0969da", fill: "rgba(9,105,218,0.15)",
          paths: window.uPlot.paths.bars({ size: [0.4, 24] }), points: { show: false },
          value: (u, v) => (v === null ? "—" : documents.format(v)) },
      ],
    };
  }

  /** Draws (or redraws) the chart of `jobs` into `element`; `captionElement` says it in words. */
  function render(element, captionElement, connectorId, jobs) {
    const now = Date.now();
    captionElement.textContent = caption(connectorId, jobs, now);
    const { data, points } = columns(jobs, now);
    element.dataset.points = String(points.length);
    if (points.length === 0) {
      clear(element);
      return;
    }
    const width = Math.max(320, element.clientWidth || 800);
    if (chart && chart.root.parentNode === element) {
      chart.setData(data);
      if (chart.width !== width) chart.setSize({ width, height: 220 });
    } else {
      clear(element);
      chart = new window.uPlot(options(width), data, element);
    }
  }

  function clear(element) {
    if (chart) chart.destroy();
    chart = null;
    element.replaceChildren();
  }

  return { render, clear };
})();
