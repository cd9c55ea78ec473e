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

function wireLive() {
  document.querySelectorAll("[data-live]").forEach(function (box) {
    var toggle = document.getElementById("live");
    var untilTerminal = box.getAttribute("data-until-terminal");
    if (untilTerminal === "no") return;
    var timer = setInterval(function () {
      if (toggle && toggle.type === "checkbox" && !toggle.checked) return;
      fetch(box.getAttribute("data-live"), { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (html) {
          if (html === null) return;
          box.innerHTML = html;
          var status = box.querySelector("#status");
          if (untilTerminal === "yes" && status && TERMINAL.indexOf(status.textContent) >= 0) {
            // Once it ended, its event, chain and actions are all new: show the whole page.
            clearInterval(timer);
            window.location.reload();
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
