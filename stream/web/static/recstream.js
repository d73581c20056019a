/*
 * recstream.js: a page reports what a served list showed and what was clicked on it. No build step, no
 * dependencies; include it from any worker:
 *
 *   <script src="http://worker:6066/static/recstream.js"></script>
 *   const rs = recstream({url: "http://worker:6066", token: "<RECSTREAM_PRODUCER_TOKEN>", userId: "u1"});
 *   const list = await rs.recommend({k: 10});   // GET /recommendations/u1
 *   rs.shown(list);                              // an impression per listed item (rec_id, model_version echoed)
 *   rs.watch(element, list);                     // clicks on [data-item-id] inside `element` become feedback
 *   rs.track("purchase", "sku-1");               // any behaviour event
 *
 * Events are batched (a request every `flushMs` or `maxBatch` events) and sent to POST /events as text/plain
 * JSON, which needs no CORS preflight; when the page is hidden or closed the rest goes by navigator.sendBeacon.
 * The worker must list this page's origin in RECSTREAM_CORS_ORIGINS. The producer token can only send events.
 */
(function (global) {
  "use strict";

  function newId() {
    var c = global.crypto;
    if (c && c.randomUUID) return c.randomUUID();  // secure contexts only (https, localhost)
    var bytes = new Uint8Array(16);
    c.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function ignore() {}  // a failed background flush keeps its events queued; nothing to report to the page

  function Recstream(options) {
    if (!options || !options.url || !options.userId) throw new Error("recstream({url, userId, token}) needs url and userId");
    this.url = options.url.replace(/\/+$/, "");
    this.token = options.token || "";
    this.userId = String(options.userId);
    this.flushMs = options.flushMs == null ? 1000 : options.flushMs;
    this.maxBatch = options.maxBatch || 100;
    this.onRefused = options.onRefused || function (r) { console.warn("recstream refused an event:", r); };
    this.queue = {behaviour: [], feedback: []};
    this.timer = null;
    this.sent = 0;
    var self = this;
    global.addEventListener("pagehide", function () { self.flush(true).catch(ignore); });
    if (global.document) global.document.addEventListener("visibilitychange", function () {
      if (global.document.visibilityState === "hidden") self.flush(true).catch(ignore);
    });
  }

  Recstream.prototype._event = function (itemId, extra) {
    var e = {event_id: newId(), user_id: this.userId, item_id: String(itemId), ts: new Date().toISOString()};
    for (var k in extra) if (Object.prototype.hasOwnProperty.call(extra, k)) e[k] = extra[k];
    return e;
  };

  Recstream.prototype._add = function (topic, event) {
    this.queue[topic].push(event);
    var queued = this.queue.behaviour.length + this.queue.feedback.length;
    var self = this;
    if (queued >= this.maxBatch) this.flush(false).catch(ignore);
    else if (this.timer === null) this.timer = setTimeout(function () { self.flush(false).catch(ignore); }, this.flushMs);
  };

  /** The user's served list: {rec_id, model_version, items: [{item_id, score}], ...}. */
  Recstream.prototype.recommend = function (params) {
    var query = new URLSearchParams();
    params = params || {};
    for (var k in params) if (params[k] != null) query.append(k, String(params[k]));
    return fetch(this.url + "/recommendations/" + encodeURIComponent(this.userId) + "?" + query, {mode: "cors"})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error("recstream: " + r.status + " " + (body.error || ""));
          return body;
        });
      });
  };

  /** An impression for each item of `list` shown (all of them when `itemIds` is left out). */
  Recstream.prototype.shown = function (list, itemIds) {
    var self = this;
    var ids = itemIds || list.items.map(function (i) { return i.item_id; });
    ids.forEach(function (id) { self._feedback(list, id, "impression"); });
  };

  /** A click on `itemId` of `list`. */
  Recstream.prototype.clicked = function (list, itemId) { this._feedback(list, itemId, "click"); };

  Recstream.prototype._feedback = function (list, itemId, action) {
    this._add("feedback", this._event(itemId, {rec_id: list.rec_id, model_version: list.model_version, action: action}));
  };

  /** Clicks on elements with data-item-id inside `root` become click feedback on `list`. */
  Recstream.prototype.watch = function (root, list) {
    var self = this;
    root.addEventListener("click", function (ev) {
      var el = ev.target.closest ? ev.target.closest("[data-item-id]") : null;
      if (el && root.contains(el)) self.clicked(list, el.getAttribute("data-item-id"));
    });
  };

  /** A behaviour event: type is view, click, add_to_cart, purchase or rating (with value). */
  Recstream.prototype.track = function (type, itemId, value) {
    this._add("behaviour", this._event(itemId, value == null ? {type: type} : {type: type, value: value}));
  };

  /** Send what is queued now; `beacon` when the page is going away (the answer cannot be read then). */
  Recstream.prototype.flush = function (beacon) {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    var batch = this.queue;
    if (!batch.behaviour.length && !batch.feedback.length) return Promise.resolve(null);
    this.queue = {behaviour: [], feedback: []};
    var url = this.url + "/events?token=" + encodeURIComponent(this.token);
    var body = JSON.stringify(batch);
    if (beacon && global.navigator && global.navigator.sendBeacon &&
        global.navigator.sendBeacon(url, new Blob([body], {type: "text/plain"}))) {
      this.sent += batch.behaviour.length + batch.feedback.length;
      return Promise.resolve(null);
    }
    var self = this;
    return fetch(url, {method: "POST", body: body, mode: "cors", keepalive: true,
                       headers: {"Content-Type": "text/plain"}})
      .then(function (r) {
        return r.json().then(function (answer) {
          if (r.status >= 500) throw new Error(answer.error || ("HTTP " + r.status));
          if (!r.ok) { self.onRefused({error: answer.error, status: r.status}); return answer; }
          self.sent += answer.accepted + answer.duplicates;
          answer.refused.forEach(self.onRefused);
          return answer;
        });
      })
      .catch(function (err) {  // the worker or the network: keep the events for the next flush (ids dedupe)
        self.queue.behaviour = batch.behaviour.concat(self.queue.behaviour);
        self.queue.feedback = batch.feedback.concat(self.queue.feedback);
        if (self.timer === null) self.timer = setTimeout(function () { self.flush(false).catch(ignore); }, self.flushMs * 5);
        throw err;
      });
  };

  global.recstream = function (options) { return new Recstream(options); };
})(typeof window !== "undefined" ? window : this);
