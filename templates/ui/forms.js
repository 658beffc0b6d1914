// Forms: checks in the UI's language, and one submit per form.
//
// Form checks in the UI's language. A browser words its own checks
// ("Please fill out this field.") in the browser's language, not the page's,
// so a Swedish page on an English phone spoke English (issue 23). The texts
// come from the page (`data-check-*` on <body>, from the Fluent files); the
// server checks everything again and keeps what was typed.
(function () {
  "use strict";
  var texts = document.body.dataset;
  function wording(el) {
    var v = el.validity;
    if (v.valueMissing) {
      if (el.type === "checkbox") return texts.checkTick;
      if (el.tagName === "SELECT") return texts.checkChoose;
      return texts.checkMissing;
    }
    if (v.tooShort) return (texts.checkShort || "").replace("{n}", el.minLength);
    if (v.tooLong) return (texts.checkLong || "").replace("{n}", el.maxLength);
    if (v.rangeUnderflow || v.rangeOverflow) {
      return (texts.checkRange || "").replace("{min}", el.min).replace("{max}", el.max);
    }
    if (v.typeMismatch || v.badInput || v.patternMismatch || v.stepMismatch) {
      return texts.checkFormat;
    }
    return "";
  }
  document.addEventListener("invalid", function (e) {
    var el = e.target;
    if (!el.setCustomValidity) return;
    el.setCustomValidity("");
    if (!el.validity.valid) {
      var m = wording(el);
      if (m) el.setCustomValidity(m);
    }
  }, true);
  // A changed value is checked afresh: a message set above must not stick.
  function clear(e) {
    if (e.target.setCustomValidity) e.target.setCustomValidity("");
  }
  document.addEventListener("input", clear, true);
  document.addEventListener("change", clear, true);

  // One submit per form: a double click or a second tap while the page is
  // loading sends the form once (issue 20). The server guards what must
  // not happen twice anyway (bookings, broadcasts); this spares the rest a
  // second row and the person a confusing second answer. A form opens
  // again after ten seconds (a lost connection can be retried) and when
  // the page is shown again from the back button's cache.
  var HOLD_MS = 10000;
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || (form.method || "").toLowerCase() !== "post") return;
    var at = Number(form.dataset.sentAt || 0);
    if (at && Date.now() - at < HOLD_MS) {
      e.preventDefault();
      return;
    }
    form.dataset.sentAt = String(Date.now());
    form.setAttribute("aria-busy", "true");
  });
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    document.querySelectorAll("form[data-sent-at]").forEach(function (f) {
      delete f.dataset.sentAt;
      f.removeAttribute("aria-busy");
    });
  });
})();
