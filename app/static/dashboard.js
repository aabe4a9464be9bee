// The sync-job dashboard: a client of this service's public REST API and nothing else.
//
// Reads  GET _connector_service/sync_job_summary?max_age   (per-connector figures, shared
//                                                          by tabs; as_of says when counted)
//        GET _connector/_sync_job?connector_id&size=50   (the sync-history chart, history.js)
//        GET _connector/_sync_job?from&size&connector_id&status&job_type   (the jobs table)
//        GET _connector/_sync_job/<id>               (the job detail)
//        GET _connector/_sync_job/_retention?keep_last&older_than&connector_id   (a dry run)
// Writes PUT _connector/_sync_job/<id>/_cancel       (after the person confirms)
//
// Every URL is relative to the page, so the page works behind a proxy that adds a prefix.
// The view's state (filters, page, open job, refresh interval) lives in the URL's fragment:
// a link or a reload shows the same view.
"use strict";

(() => {
  // The page is /_connector_service/dashboard: "../" is the service's root (or a proxy's prefix).
  const ROOT = "../";
  const JOBS_PATH = `${ROOT}_connector/_sync_job`;
  const SUMMARY_PATH = `${ROOT}_connector_service/sync_job_summary`;
  // The list API refuses from + size above this (ES's index.max_result_window).
  const MAX_RESULT_WINDOW = 10000;
  // _cancel moves these to canceled (pending, suspended) or canceling (in_progress).
  const CANCELABLE = new Set(["pending", "in_progress", "suspended"]);
  const RUNNING = new Set(["in_progress", "canceling"]);
  const DEFAULTS = { connector_id: "", status: "", job_type: "", from: 0, size: 25, job: "", refresh: 5 };
  // A link may carry any fragment: the page never refreshes more often, nor asks for more rows,
  // than its own controls offer.
  const MIN_REFRESH_SECONDS = 2;
  const MAX_PAGE_SIZE = 100;
  // When the service asks for an API key (AUTH_MODE=api_key, or the cluster's own with
  // AUTH_MODE=elasticsearch) the page asks for one and keeps it for this tab (sessionStorage).
  const API_KEY_ITEM = "connector-sync-jobs.api-key";
  const MAX_NOTICES = 3;
  // Jobs the sync-history chart shows for the connector the table is filtered to.
  const HISTORY_SIZE = 50;

  const state = { ...DEFAULTS };
  let refreshTimer = null;
  let jobsRequest = 0;
  let summaryRequest = 0;
  let historyRequest = 0;
  // Auto-refresh takes summary figures up to two intervals old (shared by every tab, counted
  // ahead of time); "Refresh now" and the first load ask for figures counted now.
  let summaryMaxAge = 0;
  let detailRequest = 0;

  const $ = (selector) => document.querySelector(selector);
  const numbers = new Intl.NumberFormat("en-US");

  // ---- Calling the API ----------------------------------------------------------------

  /** An error answer of the API, read from Elasticsearch's envelope. */
  class ApiError extends Error {
    constructor(status, type, reason, causedBy) {
      super(reason);
      this.status = status;
      this.type = type;
      this.reason = reason;
      this.causedBy = causedBy || null;
    }
  }

  const apiKey = () => sessionStorage.getItem(API_KEY_ITEM);

  async function api(method, path) {
    let response;
    const headers = { Accept: "application/json" };
    if (apiKey()) headers.Authorization = `ApiKey ${apiKey()}`;
    try {
      response = await fetch(path, { method, cache: "no-store", credentials: "same-origin", headers });
    } catch (err) {
      throw new ApiError(0, "connection_failed", `The service did not answer (${err.message}).`);
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    // One challenge (AUTH_MODE=api_key) or the cluster's three (Basic, Bearer, ApiKey), joined.
    if (response.status === 401 && /(^|,)\s*apikey\b/i.test(response.headers.get("WWW-Authenticate") || "")) {
      showKeyControls(true);
    }
    if (!response.ok) {
      const error = body && typeof body.error === "object" && body.error !== null ? body.error : {};
      const reason = error.reason || (typeof body?.error === "string" ? body.error : "")
        || text.trim().slice(0, 300) || response.statusText || "no reason given";
      throw new ApiError(response.status, error.type || "http_error", reason, error.caused_by);
    }
    if (body === null) {
      throw new ApiError(response.status, "parse_error", `${method} ${path} did not answer JSON.`);
    }
    return body;
  }

  const jobPath = (id) => `${JOBS_PATH}/${encodeURIComponent(id)}`;

  // ---- Building the DOM (textContent only: stored values never become markup) -----------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const label = (wireName) => String(wireName ?? "").replaceAll("_", " ");
  const badge = (status) => el("span", { class: `badge status-${status}` }, label(status) || "unknown");
  const dash = () => el("span", { class: "muted" }, "—");

  /** Local time: just the time today, the date and minute before; the exact instant on hover. */
  function formatTime(iso, { full = false } = {}) {
    if (!iso) return dash();
    const moment = new Date(iso);
    if (Number.isNaN(moment.getTime())) return el("span", {}, iso);
    const pad = (n) => String(n).padStart(2, "0");
    const date = `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`;
    const today = moment.toDateString() === new Date().toDateString();
    const text = today && !full
      ? `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}`
      : `${date} ${pad(moment.getHours())}:${pad(moment.getMinutes())}${full ? `:${pad(moment.getSeconds())}` : ""}`;
    return el("time", { datetime: iso, title: `${iso} (${ago(iso)})` }, text);
  }

  function ago(iso) {
    const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (Number.isNaN(seconds)) return "";
    if (seconds < 5) return "just now";
    if (seconds < 60) return `${seconds} s ago`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} d ago`;
  }

  function formatDuration(ms) {
    const seconds = Math.max(0, Math.round(ms / 1000));
    if (seconds < 60) return `${seconds} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, "0")} s`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  /** When the job stopped: completed_at, or canceled_at for a job canceled before it ran. */
  const finishedAt = (job) => job.completed_at || job.canceled_at || null;

  /** Started to finished; a running job counts up to now; a job that never ran has none. */
  function duration(job) {
    if (!job.started_at) return dash();
    const end = finishedAt(job) || (RUNNING.has(job.status) ? new Date().toISOString() : null);
    if (!end) return dash();
    const text = formatDuration(new Date(end) - new Date(job.started_at));
    return RUNNING.has(job.status) && !finishedAt(job) ? el("span", { class: "running", title: "still running" }, text) : text;
  }

  const count = (value) => (value === undefined || value === null ? dash() : numbers.format(value));
  const volume = (value) => (value === undefined || value === null ? dash() : `${numbers.format(value)} MiB`);

  // ---- Messages: errors stay until dismissed or resolved; notices tell what an action did ----

  function describe(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    if (err.status === 0) return err.reason;
    return `${err.status} ${err.type}: ${err.reason}`;
  }

  function message(kind, key, title, detail) {
    const region = kind === "alert" ? $("#alerts") : $("#notices");
    const existing = key ? region.querySelector(`[data-key="${CSS.escape(key)}"]`) : null;
    const item = el("div", { class: `message ${kind}`, dataset: key ? { key } : {} },
      el("div", { class: "text" }, el("strong", {}, title), detail ? ` ${detail}` : ""),
      el("button", { type: "button", class: "dismiss", "aria-label": "Dismiss", onclick: () => item.remove() }, "✕"));
    if (existing) existing.replaceWith(item);
    else region.append(item);
    if (kind === "notice") {
      while (region.children.length > MAX_NOTICES) region.firstElementChild.remove();
    }
    return item;
  }

  const showError = (key, title, err) => message("alert", key, title, describe(err));
  const showNotice = (title, detail) => message("notice", null, title, detail);

  function clearError(key) {
    const item = $("#alerts").querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (item) item.remove();
  }

  // ---- Retention: a dry run of a rule (the page never deletes) -------------------------

  async function previewRetention(event) {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, selector] of [["keep_last", "#retention-keep-last"],
      ["older_than", "#retention-older-than"], ["connector_id", "#retention-connector"]]) {
      const value = $(selector).value.trim();
      if (value) query.set(name, value);
    }
    const result = $("#retention-result");
    result.textContent = "Counting…";
    try {
      const body = await api("GET", `${JOBS_PATH}/_retention?${query}`);
      clearError("retention");
      const more = body.count >= MAX_RESULT_WINDOW ? " or more" : "";
      const shown = body.ids.slice(0, 5).join(", ") + (body.ids.length > 5 ? ", …" : "");
      result.textContent = body.count === 0 ? "No finished job would be deleted."
        : `${numbers.format(body.count)}${more} finished jobs would be deleted, oldest first: ${shown}`;
    } catch (err) {
      result.textContent = "";
      showError("retention", "Could not count what retention would delete.", err);
    }
  }

  // ---- The view's state in the URL fragment --------------------------------------------

  function readFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const text = (name) => params.get(name) ?? DEFAULTS[name];
    // Numbers go to the API as typed: one it refuses is shown as its error, not corrected.
    const number = (name) => (params.has(name) ? params.get(name).trim() : String(DEFAULTS[name]));
    Object.assign(state, {
      connector_id: text("connector_id"), status: text("status"), job_type: text("job_type"),
      from: number("from"), size: clampSize(number("size")), job: text("job"),
      refresh: clampRefresh(number("refresh")),
    });
  }

  /** Off (0), or at least MIN_REFRESH_SECONDS; anything unreadable is the default. */
  function clampRefresh(value) {
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds < 0) return String(DEFAULTS.refresh);
    if (seconds === 0) return "0";
    return String(Math.max(seconds, MIN_REFRESH_SECONDS));
  }

  /** A whole number of rows from 1 to MAX_PAGE_SIZE; anything unreadable is the default. */
  function clampSize(value) {
    const size = Math.floor(Number(value));
    if (!Number.isFinite(size) || size < 1) return String(DEFAULTS.size);
    return String(Math.min(size, MAX_PAGE_SIZE));
  }

  function writeFragment() {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(state)) {
      if (String(value) !== String(DEFAULTS[name])) params.set(name, value);
    }
    const fragment = params.toString();
    history.replaceState(null, "", fragment ? `#${fragment}` : location.pathname + location.search);
  }

  function ensureOption(select, value) {
    if (value && ![...select.options].some((option) => option.value === value)) {
      select.append(el("option", { value }, label(value)));
    }
    select.value = value;
  }

  function showStateInControls() {
    $("#filter-connector").value = state.connector_id;
    ensureOption($("#filter-status"), state.status);
    ensureOption($("#filter-job-type"), state.job_type);
    ensureOption($("#page-size"), String(state.size));
    ensureOption($("#refresh-interval"), String(state.refresh));
  }

  const filtered = () => Boolean(state.connector_id || state.status || state.job_type);

  // ---- Summary -------------------------------------------------------------------------

  async function loadSummary() {
    const request = ++summaryRequest;
    try {
      const query = summaryMaxAge > 0 ? `?max_age=${summaryMaxAge}s` : "";
      const summary = await api("GET", SUMMARY_PATH + query);
      if (request !== summaryRequest) return;
      clearError("summary");
      renderSummary(summary);
      $("#summary-table").classList.remove("stale");
    } catch (err) {
      if (request !== summaryRequest) return;
      $("#summary-table").classList.add("stale");
      showError("summary", "Could not load the connector summary.", err);
    }
  }

  function statusChips(connectorId, statuses) {
    const chips = Object.entries(statuses).filter(([, n]) => n > 0).map(([status, n]) =>
      el("button", {
        type: "button", class: `chip status-${status}`, title: `Show the ${label(status)} jobs of ${connectorId}`,
        onclick: () => applyFilters({ connector_id: connectorId, status, job_type: "" }),
      }, `${numbers.format(n)} ${label(status)}`));
    return el("div", { class: "chips" }, chips);
  }

  function renderSummary(summary) {
    const parts = Object.entries(summary.statuses).filter(([, n]) => n > 0)
      .map(([status, n]) => `${numbers.format(n)} ${label(status)}`);
    const connectors = summary.connector_count === 1 ? "1 connector" : `${numbers.format(summary.connector_count)} connectors`;
    const jobs = summary.count === 1 ? "1 job" : `${numbers.format(summary.count)} jobs`;
    $("#summary-totals").textContent = `${jobs} across ${connectors}${parts.length ? `: ${parts.join(" · ")}` : ""}.`;

    const rows = summary.connectors.map((connector) => {
      const last = connector.last_sync_job;
      const when = finishedAt(last) || last.started_at || last.created_at;
      return el("tr", { dataset: { connectorId: connector.id } },
        el("td", {}, el("button", {
          type: "button", class: "link mono", title: `Show the jobs of ${connector.id}`,
          onclick: () => applyFilters({ connector_id: connector.id, status: "", job_type: "" }),
        }, connector.id)),
        el("td", {}, badge(last.status)),
        el("td", {}, formatTime(when), " ", el("span", { class: "muted" }, `(${ago(when)})`),
          " ", el("button", { type: "button", class: "link", onclick: () => openJob(last.id) }, "details")),
        el("td", {}, label(last.job_type)),
        el("td", { class: "num" }, numbers.format(connector.count)),
        el("td", {}, statusChips(connector.id, connector.statuses)));
    });
    if (rows.length === 0) {
      rows.push(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No connector has sync jobs yet.")));
    }
    $("#summary-table tbody").replaceChildren(...rows);

    const more = $("#summary-more");
    more.hidden = summary.connector_count <= summary.connectors.length;
    more.textContent = `Showing the ${numbers.format(summary.connectors.length)} most recently active of `
      + `${numbers.format(summary.connector_count)} connectors; filter the jobs by connector to see any other.`;
    $("#connector-ids").replaceChildren(...summary.connectors.map((c) => el("option", { value: c.id })));
    const asOf = $("#summary-as-of");
    asOf.replaceChildren("Figures as of ", el("time", { datetime: summary.as_of, title: summary.as_of },
      formatTime(summary.as_of)), ` (${ago(summary.as_of)}).`);
  }

  // ---- Sync history ---------------------------------------------------------------------

  async function loadHistory() {
    const request = ++historyRequest;
    const section = $("#history");
    if (!state.connector_id || !window.syncHistory) {
      section.hidden = true;
      if (window.syncHistory) window.syncHistory.clear($("#history-chart"));
      return;
    }
    const query = new URLSearchParams({ connector_id: state.connector_id, size: HISTORY_SIZE });
    try {
      const page = await api("GET", `${JOBS_PATH}?${query}`);
      if (request !== historyRequest) return;
      clearError("history");
      section.hidden = false;
      window.syncHistory.render($("#history-chart"), $("#history-caption"), state.connector_id, page.results);
    } catch (err) {
      if (request !== historyRequest) return;
      showError("history", `Could not load the sync history of ${state.connector_id}.`, err);
    }
  }

  // ---- Jobs table ----------------------------------------------------------------------

  async function loadJobs() {
    const request = ++jobsRequest;
    const query = new URLSearchParams({ from: state.from, size: state.size });
    if (state.connector_id) query.set("connector_id", state.connector_id);
    if (state.status) query.set("status", state.status);
    if (state.job_type) query.set("job_type", state.job_type);
    const table = $("#jobs-table");
    table.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `${JOBS_PATH}?${query}`);
      if (request !== jobsRequest) return;
      clearError("jobs");
      const from = Number(state.from);
      if (page.results.length === 0 && page.count > 0 && from > 0) {
        // Jobs were deleted since: go to the last page that has some.
        state.from = Math.floor((page.count - 1) / Number(state.size)) * Number(state.size);
        writeFragment();
        await loadJobs();
        return;
      }
      renderJobs(page, from);
      table.classList.remove("stale");
    } catch (err) {
      if (request !== jobsRequest) return;
      table.classList.add("stale");
      showError("jobs", "Could not load the jobs.", err);
    } finally {
      if (request === jobsRequest) table.setAttribute("aria-busy", "false");
    }
  }

  function cancelButton(job, text = "Cancel") {
    if (!CANCELABLE.has(job.status)) return null;
    return el("button", {
      type: "button", class: "danger cancel", title: `Cancel sync job ${job.id}`,
      onclick: (event) => cancelJob(job, event.currentTarget),
    }, text);
  }

  function renderJobs(page, from) {
    const rows = page.results.map((job) => el("tr", { dataset: { jobId: job.id, status: job.status } },
      el("td", {}, el("button", {
        type: "button", class: "link mono open-job", title: `Details of sync job ${job.id}`,
        onclick: () => openJob(job.id),
      }, job.id.length > 10 ? `${job.id.slice(0, 8)}…` : job.id)),
      el("td", { class: "mono" }, job.connector?.id ?? ""),
      el("td", {}, label(job.job_type)),
      el("td", {}, label(job.trigger_method)),
      el("td", {}, badge(job.status)),
      el("td", {}, job.worker_hostname || dash()),
      el("td", {}, formatTime(job.started_at)),
      el("td", {}, formatTime(finishedAt(job))),
      el("td", { class: "num" }, duration(job)),
      el("td", { class: "num" }, count(job.indexed_document_count)),
      el("td", { class: "num" }, count(job.deleted_document_count)),
      el("td", { class: "num" }, volume(job.indexed_document_volume)),
      el("td", {}, cancelButton(job)),
      el("td", {}, job.error ? el("span", { class: "error-cut", title: job.error }, job.error) : "")));
    $("#jobs-table tbody").replaceChildren(...rows);
    renderEmptyState(page.count);
    renderPager(page.count, from, page.results.length);
  }

  function renderEmptyState(total) {
    const empty = $("#empty-state");
    empty.hidden = total > 0;
    if (total > 0) return;
    if (filtered()) {
      empty.replaceChildren(
        el("p", {}, el("strong", {}, "No sync job matches these filters.")),
        el("button", { type: "button", onclick: () => applyFilters({ connector_id: "", status: "", job_type: "" }) },
          "Clear filters"));
      return;
    }
    const base = new URL(ROOT, location.href).href.replace(/\/$/, "");
    empty.replaceChildren(
      el("p", {}, el("strong", {}, "No sync jobs yet.")),
      el("p", {}, "A sync job belongs to a connector that has an index and a service type. "
        + "Create the connector once, then ask for a sync; the job shows here as pending until a worker claims it. "
        + "Workers also create scheduled jobs on their own."),
      el("pre", { class: "mono" },
        `# 1. A connector (skip this if you have one)\n`
        + `curl -X PUT '${base}/_connector/my-connector' -H 'Content-Type: application/json' \\\n`
        + `     -d '{"index_name": "search-my-index", "service_type": "my-service"}'\n\n`
        + `# 2. A sync job for it (job_type: full, incremental or access_control)\n`
        + `curl -X POST '${base}/_connector/_sync_job' -H 'Content-Type: application/json' \\\n`
        + `     -d '{"id": "my-connector", "job_type": "full"}'`));
  }

  function renderPager(total, from, shown) {
    const size = Number(state.size);
    const pager = $("#pager");
    pager.hidden = total === 0;
    // The list counts as Elasticsearch does, up to the result window; the summary has exact totals.
    const capped = total >= MAX_RESULT_WINDOW;
    const of = capped ? `${numbers.format(MAX_RESULT_WINDOW)}+` : numbers.format(total);
    $("#page-position").textContent = shown > 0
      ? `${numbers.format(from + 1)}–${numbers.format(from + shown)} of ${of}`
      : `0 of ${of}`;
    $("#page-prev").disabled = from <= 0;
    const next = $("#page-next");
    const nextFrom = from + size;
    next.disabled = nextFrom >= total || nextFrom + size > MAX_RESULT_WINDOW;
    next.title = (nextFrom < total || capped) && nextFrom + size > MAX_RESULT_WINDOW
      ? `The list API pages only through the first ${numbers.format(MAX_RESULT_WINDOW)} jobs: narrow the filters.`
      : "";
  }

  function goToPage(from) {
    state.from = Math.max(0, from);
    writeFragment();
    loadJobs();
  }

  function applyFilters(changes) {
    Object.assign(state, changes, { from: 0 });
    writeFragment();
    showStateInControls();
    loadJobs();
    loadHistory();
  }

  // ---- Job detail ----------------------------------------------------------------------

  function openJob(id) {
    state.job = id;
    writeFragment();
    const dialog = $("#job-detail");
    $("#job-detail-title").textContent = `Sync job ${id}`;
    $("#job-detail-body").replaceChildren(el("p", { class: "muted" }, "Loading…"));
    if (!dialog.open) dialog.show();
    loadJobDetail();
  }

  function closeJob() {
    state.job = "";
    writeFragment();
    const dialog = $("#job-detail");
    if (dialog.open) dialog.close();
  }

  async function loadJobDetail() {
    if (!state.job) return;
    const id = state.job;
    const request = ++detailRequest;
    try {
      const job = await api("GET", jobPath(id));
      if (request !== detailRequest) return;
      clearError("detail");
      renderJobDetail(job);
    } catch (err) {
      if (request !== detailRequest) return;
      showError("detail", `Could not load sync job ${id}.`, err);
      $("#job-detail-body").replaceChildren(el("p", { class: "error-text" }, describe(err)));
    }
  }

  function renderJobDetail(job) {
    const connector = job.connector || {};
    const field = (name, value) => [el("dt", {}, name), el("dd", {}, value ?? dash())];
    const fields = [
      field("Status", badge(job.status)),
      field("Connector", connector.id ? el("button", {
        type: "button", class: "link mono",
        onclick: () => applyFilters({ connector_id: connector.id, status: "", job_type: "" }),
      }, connector.id) : null),
      field("Index", connector.index_name),
      field("Service type", connector.service_type),
      field("Type", label(job.job_type)),
      field("Trigger", label(job.trigger_method)),
      field("Worker", job.worker_hostname),
      field("Created", formatTime(job.created_at, { full: true })),
      field("Started", formatTime(job.started_at, { full: true })),
      field("Last seen", formatTime(job.last_seen, { full: true })),
      job.cancelation_requested_at && field("Cancel requested", formatTime(job.cancelation_requested_at, { full: true })),
      job.canceled_at && field("Canceled", formatTime(job.canceled_at, { full: true })),
      field("Completed", formatTime(job.completed_at, { full: true })),
      field("Duration", duration(job)),
      field("Indexed documents", count(job.indexed_document_count)),
      field("Deleted documents", count(job.deleted_document_count)),
      field("Volume", volume(job.indexed_document_volume)),
      field("Total documents", count(job.total_document_count)),
    ].filter(Boolean).flat();
    if (job.error) fields.push(el("dt", {}, "Error"), el("dd", { class: "error-text" }, job.error));

    $("#job-detail-title").textContent = `Sync job ${job.id}`;
    $("#job-detail-body").replaceChildren(
      el("div", { class: "detail-actions" }, cancelButton(job, "Cancel this job"),
        CANCELABLE.has(job.status) ? null : el("span", { class: "muted" }, `A job whose status is ${label(job.status)} cannot be canceled.`)),
      el("dl", { class: "fields", dataset: { jobId: job.id } }, fields),
      el("details", {}, el("summary", {}, "The job as the API returns it"),
        el("pre", { class: "mono" }, JSON.stringify(job, null, 2))));
  }

  // ---- Cancel --------------------------------------------------------------------------

  async function cancelJob(job, button) {
    const connector = job.connector?.id ?? "unknown";
    const consequence = job.status === "in_progress"
      ? "It is running: its status becomes canceling, and its worker stops it at its next check."
      : "It is not running: its status becomes canceled at once.";
    if (!window.confirm(`Cancel sync job ${job.id} of connector ${connector}?\n\n${consequence}`)) return;
    const key = `cancel:${job.id}`;
    if (button) button.disabled = true;
    try {
      await api("PUT", `${jobPath(job.id)}/_cancel`);
    } catch (err) {
      const cannot = err.type === "status_exception"
        && err.causedBy?.type === "connector_sync_job_invalid_status_transition_exception";
      showError(key, cannot ? `Sync job ${job.id} can no longer be canceled.` : `Could not cancel sync job ${job.id}.`, err);
      if (button) button.disabled = false;
      await refreshAll();
      return;
    }
    clearError(key);
    try {
      const after = await api("GET", jobPath(job.id));
      showNotice(after.status === "canceling" ? `Cancel requested for sync job ${job.id}:` : `Sync job ${job.id} canceled:`,
        after.status === "canceling"
          ? "its status is now canceling; its worker stops it at its next check."
          : `its status is now ${label(after.status)}.`);
    } catch (err) {
      showNotice(`Cancel of sync job ${job.id} accepted.`, "");
      showError(key, `Could not read sync job ${job.id} back.`, err);
    }
    await refreshAll();
  }

  // ---- Refreshing ----------------------------------------------------------------------

  async function refreshAll({ auto = false } = {}) {
    clearTimeout(refreshTimer);
    summaryMaxAge = auto ? 2 * Number(state.refresh) : 0;
    await Promise.all([loadSummary(), loadJobs(), loadJobDetail(), loadHistory()]);
    const now = new Date();
    $("#updated-at").textContent = `Updated ${now.toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
    scheduleRefresh();
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    const seconds = Number(state.refresh);
    if (seconds > 0) {
      refreshTimer = setTimeout(() => {
        if (document.visibilityState === "hidden") scheduleRefresh();
        else refreshAll({ auto: true });
      }, seconds * 1000);
    }
  }

  // ---- API key (AUTH_MODE=api_key) ------------------------------------------------------

  /** Shows the key form when the service refused the key (or got none), else "forget key". */
  function showKeyControls(wanted) {
    $("#api-key-form").hidden = !wanted;
    $("#api-key-set").hidden = wanted || !apiKey();
  }

  function useKey(event) {
    event.preventDefault();
    const key = $("#api-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(API_KEY_ITEM, key);
    $("#api-key").value = "";
    showKeyControls(false);
    refreshAll();
  }

  function forgetKey() {
    sessionStorage.removeItem(API_KEY_ITEM);
    showKeyControls(false);
    refreshAll();
  }

  // ---- Wiring --------------------------------------------------------------------------

  function readFilterControls() {
    return {
      connector_id: $("#filter-connector").value.trim(),
      status: $("#filter-status").value,
      job_type: $("#filter-job-type").value,
    };
  }

  function start() {
    readFragment();
    showStateInControls();

    $("#filters").addEventListener("submit", (event) => {
      event.preventDefault();
      applyFilters(readFilterControls());
    });
    $("#filter-connector").addEventListener("change", () => applyFilters(readFilterControls()));
    $("#filter-status").addEventListener("change", () => applyFilters(readFilterControls()));
    $("#filter-job-type").addEventListener("change", () => applyFilters(readFilterControls()));
    $("#page-size").addEventListener("change", (event) => applyFilters({ size: event.target.value }));
    $("#clear-filters").addEventListener("click", () => applyFilters({ connector_id: "", status: "", job_type: "" }));
    $("#page-prev").addEventListener("click", () => goToPage(Number(state.from) - Number(state.size)));
    $("#page-next").addEventListener("click", () => goToPage(Number(state.from) + Number(state.size)));
    $("#refresh-now").addEventListener("click", () => refreshAll());
    $("#refresh-interval").addEventListener("change", (event) => {
      state.refresh = event.target.value;
      writeFragment();
      scheduleRefresh();
    });
    $("#job-detail-close").addEventListener("click", closeJob);
    $("#retention-form").addEventListener("submit", previewRetention);
    $("#api-key-form").addEventListener("submit", useKey);
    $("#forget-api-key").addEventListener("click", forgetKey);
    showKeyControls(false);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && $("#job-detail").open) closeJob();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && Number(state.refresh) > 0) refreshAll();
    });
    window.addEventListener("hashchange", () => {
      readFragment();
      showStateInControls();
      if (state.job) openJob(state.job);
      else if ($("#job-detail").open) $("#job-detail").close();
      refreshAll();
    });

    if (state.job) openJob(state.job);
    refreshAll();
  }

  start();
})();
