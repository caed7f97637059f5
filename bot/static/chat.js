// The web chat page: send what the resident types or presses, show replies.
// Loaded with `defer`; no inline script, so a strict CSP holds.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var choices = document.getElementById("choices");
  var composer = document.getElementById("composer");
  var textarea = document.getElementById("text");
  var status = document.getElementById("status");
  var action = composer.getAttribute("action");
  var messagesUrl = log.getAttribute("data-messages");
  var after = parseInt(log.getAttribute("data-after") || "0", 10);
  var fastUntil = Date.now() + 15000;
  var timer = null;

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function say(text) { status.textContent = text; }

  function addMessage(m) {
    var li = document.createElement("li");
    li.className = "msg " + m.role;
    li.setAttribute("data-id", String(m.id));
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = m.role === "resident" ? "あなた" : "つなぐ";
    var p = document.createElement("p");
    p.textContent = m.text;
    li.appendChild(who);
    li.appendChild(p);
    log.appendChild(li);
  }

  function showChoices(list) {
    while (choices.firstChild) { choices.removeChild(choices.firstChild); }
    list.forEach(function (c) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = c.label;
      b.addEventListener("click", function () { send({ data: c.data }); });
      choices.appendChild(b);
    });
  }

  function poll() {
    clearTimeout(timer);
    fetch(messagesUrl + "?after=" + after, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { messages: [] }; })
      .then(function (body) {
        if (body.messages.length) {
          body.messages.forEach(addMessage);
          after = body.messages[body.messages.length - 1].id;
          var last = body.messages[body.messages.length - 1];
          showChoices(last.role === "bot" ? last.choices : []);
          last.role === "bot" && log.lastChild.scrollIntoView({ block: "end", behavior: "smooth" });
        }
      })
      .catch(function () { /* offline for a moment: the next poll retries */ })
      .then(function () { timer = setTimeout(poll, Date.now() < fastUntil ? 700 : 4000); });
  }

  function send(fields) {
    var form = new FormData();
    form.append("client_id", newId());
    Object.keys(fields).forEach(function (k) { form.append(k, fields[k]); });
    say("");
    return fetch(action, {
      method: "POST", body: form, credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (r) {
      if (r.status === 413) { say("メッセージが長すぎます。分けて送ってください。"); return false; }
      if (!r.ok) { say("送信できませんでした。もう一度お試しください。"); return false; }
      showChoices([]);
      fastUntil = Date.now() + 15000;
      poll();
      return true;
    }).catch(function () {
      say("送信できませんでした。通信を確かめて、もう一度お試しください。");
      return false;
    });
  }

  composer.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = textarea.value;
    send({ text: text }).then(function (ok) { if (ok) { textarea.value = ""; textarea.focus(); } });
  });

  textarea.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { composer.requestSubmit(); }
  });

  // buttons rendered by the server become script buttons too
  Array.prototype.forEach.call(choices.querySelectorAll("form.choice"), function (f) {
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var b = f.querySelector("button");
      send({ data: b.value });
    });
  });

  poll();
})();
