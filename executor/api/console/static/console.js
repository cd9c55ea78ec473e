// The console works without this script; with it, forms show only the fields that apply and
// lists refresh themselves.
"use strict";

function showChosen(group, attribute, value) {
  group.querySelectorAll("[" + attribute + "]").forEach(function (part) {
    part.hidden = part.getAttribute(attribute) !== value;
  });
}

function wireSignIn() {
  var form = document.querySelector("form[action$='/signin']");
  if (!form) return;
  var update = function () {
    var chosen = form.querySelector("input[name=method]:checked");
    showChosen(form, "data-method", chosen ? chosen.value : "token");
  };
  form.querySelectorAll("input[name=method]").forEach(function (radio) {
    radio.addEventListener("change", update);
  });
  update();
}

function wireDestinations() {
  document.querySelectorAll("fieldset.destination").forEach(function (side) {
    var select = side.querySelector("[data-kind-select]");
    var update = function () { showChosen(side, "data-kind", select.value); };
    select.addEventListener("change", update);
    update();
  });
}

var TERMINAL = ["SUCCESS", "FAIL", "DISCARD"];

// An invocation page refreshes its facts, timeline and deliveries every 2 s while anything
// there can change: once it ends, the whole page is loaded again (its event, chain and actions
// are new), and that page refreshes on while a delivery of the event is still under way.
function wireLive() {
  document.querySelectorAll("[data-live]").forEach(function (box) {
    var toggle = document.getElementById("live");
    var stage = box.getAttribute("data-stage");
    if (stage === "settled") return;
    var timer = setInterval(function () {
      if (toggle && toggle.type === "checkbox" && !toggle.checked) return;
      fetch(box.getAttribute("data-live"), { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (html) {
          if (html === null) return;
          box.innerHTML = html;
          var status = box.querySelector("#status");
          var settled = box.querySelector("[data-settled='yes']") !== null;
          if (stage === "running" && status && TERMINAL.indexOf(status.textContent) >= 0) {
            clearInterval(timer);
            window.location.reload();
          } else if (settled) {
            clearInterval(timer);
          }
        })
        .catch(function () {});
    }, 2000);
  });
}

function wireSelectAll() {
  var all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", function () {
    document.querySelectorAll("input[name=identity]").forEach(function (box) {
      box.checked = all.checked;
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  wireSignIn();
  wireDestinations();
  wireLive();
  wireSelectAll();
});
