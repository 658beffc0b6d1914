// A live count of characters and SMS parts under every textarea that has
// data-counter="ID-of-output". Progressive enhancement only: without
// JavaScript the preview button shows the same figures, computed by the
// server (src/channels/sms/gsm7.rs), which stays the authority; the sanitising
// of typographic quotes that the server does is not copied here, so such
// text may count as UCS-2 here and GSM-7 in the preview.
// A textarea with data-fill (a JSON object of placeholder name -> sample
// value: a unit's message template) is counted as it reads once its
// {placeholders} are filled with the sample, in any case and spacing, as
// src/domain/template.rs fills them.
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENDED = "^{}\\[~]|€\f";
  function measure(text) {
    var units = 0;
    var gsm = true;
    for (var ch of text) {
      if (BASIC.indexOf(ch) >= 0) { units += 1; }
      else if (EXTENDED.indexOf(ch) >= 0) { units += 2; }
      else { gsm = false; break; }
    }
    if (!gsm) { units = text.length; } // UTF-16 code units
    var single = gsm ? 160 : 70;
    var multi = gsm ? 153 : 67;
    var parts = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / multi));
    return { chars: Array.from(text).length, parts: parts };
  }
  function filler(area) {
    var raw = area.getAttribute("data-fill");
    if (!raw) { return function (t) { return t; }; }
    var values;
    try { values = JSON.parse(raw); } catch (e) { return function (t) { return t; }; }
    return function (t) {
      return t.replace(/\{([^{}]*)\}/g, function (all, name) {
        var key = name.trim().toLowerCase();
        return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : all;
      });
    };
  }
  function wire(area) {
    var out = document.getElementById(area.getAttribute("data-counter"));
    if (!out) { return; }
    var max = area.getAttribute("maxlength");
    var fill = filler(area);
    function update() {
      var m = measure(fill(area.value.trim()));
      out.textContent = out.getAttribute("data-template")
        .replace("%chars", m.chars).replace("%max", max).replace("%parts", m.parts);
    }
    area.addEventListener("input", update);
    update();
  }
  document.querySelectorAll("textarea[data-counter]").forEach(wire);
})();
