// The staff inbox: keep the queue and an open case current without a reload.
// Loaded with `defer`; no inline script, so the strict CSP holds.
(function () {
  "use strict";
  var QUEUE_EVERY = 4000;
  var CASE_EVERY = 2000;

  function get(url, accept) {
    return fetch(url, { headers: { Accept: accept }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); throw new Error("logged out"); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return accept === "application/json" ? r.json() : r.text();
      });
  }

  // the queue: swap in the server-rendered rows (escaped by the template)
  var rows = document.getElementById("queue-rows");
  if (rows) {
    var queueUrl = rows.getAttribute("data-poll");
    var pollQueue = function () {
      get(queueUrl, "text/html")
        .then(function (html) { if (html.trim() !== rows.innerHTML.trim()) { rows.innerHTML = html; } })
        .catch(function () { /* the next poll retries */ })
        .then(function () { setTimeout(pollQueue, QUEUE_EVERY); });
    };
    setTimeout(pollQueue, QUEUE_EVERY);
  }

  // the print view: a button instead of an inline onclick (the CSP forbids inline script)
  var printNow = document.getElementById("print-now");
  if (printNow) {
    printNow.addEventListener("click", function () { window.print(); });
  }

  // a case: append new messages as text nodes
  var transcript = document.getElementById("transcript");
  if (transcript) {
    var caseUrl = transcript.getAttribute("data-poll");
    var after = parseInt(transcript.getAttribute("data-after") || "0", 10);
    var add = function (m) {
      var li = document.createElement("li");
      li.className = "msg " + m.role;
      li.setAttribute("data-id", String(m.id));
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = m.who + " ";
      var time = document.createElement("time");
      time.textContent = m.at;
      who.appendChild(time);
      var p = document.createElement("p");
      p.textContent = m.text;
      li.appendChild(who);
      li.appendChild(p);
      transcript.appendChild(li);
    };
    var pollCase = function () {
      get(caseUrl + "?after=" + after, "application/json")
        .then(function (body) {
          body.messages.forEach(function (m) { add(m); after = m.id; });
          if (body.messages.length) { transcript.lastChild.scrollIntoView({ block: "nearest" }); }
        })
        .catch(function () { /* the next poll retries */ })
        .then(function () { setTimeout(pollCase, CASE_EVERY); });
    };
    setTimeout(pollCase, CASE_EVERY);
  }
})();
