// The agentcage console's only script: expiry countdowns, and sending a decision.
// A decision is POSTed as JSON with the X-Agentcage-Console header, which no form on another site can
// send (see agentcage/console/security.py). Nothing from the server is ever inserted as HTML: answers
// are shown with textContent.
"use strict";

(function () {
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.countdown[data-expires]").forEach(function (node) {
      var left = Math.floor((Date.parse(node.getAttribute("data-expires")) - now) / 1000);
      if (isNaN(left)) { return; }
      if (left <= 0) {
        node.textContent = "expired";
        node.classList.add("expired");
        return;
      }
      var minutes = Math.floor(left / 60);
      var seconds = String(left % 60).padStart(2, "0");
      node.textContent = minutes + " min " + seconds + " s left";
    });
  }

  function decide(event) {
    event.preventDefault();
    var form = event.currentTarget;
    var button = event.submitter;
    if (!button || !button.value) { return; }
    var output = form.querySelector("output.outcome");
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    output.className = "outcome pending";
    output.textContent = "Sending…";
    fetch(form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Agentcage-Console": "decide" },
      body: JSON.stringify({
        decision: button.value,
        comment: form.querySelector("textarea[name=comment]").value,
        args_digest: form.getAttribute("data-digest")
      })
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false, message: "HTTP " + response.status }; });
    }).then(function (answer) {
      output.textContent = answer.message || (answer.ok ? "done" : "refused");
      output.className = "outcome " + (answer.ok ? "ok" : "refused");
      form.setAttribute("data-outcome", answer.ok ? "ok" : "refused");
      if (!answer.ok) { buttons.forEach(function (b) { b.disabled = false; }); }
    }).catch(function (error) {
      output.textContent = "Not sent: " + error;
      output.className = "outcome refused";
      form.setAttribute("data-outcome", "refused");
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.decision").forEach(function (form) {
      form.addEventListener("submit", decide);
    });
    tick();
    window.setInterval(tick, 1000);
  });
})();
