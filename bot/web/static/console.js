// Progressive enhancement only: every form works without this file.
function bindConfirm(root) {
  root.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
}

// A box marked data-refresh="N" (with an id) is re-read from the server every N seconds
// while the tab is visible; the server drops the attribute once nothing changes any more.
function keepFresh(box) {
  var seconds = parseInt(box.getAttribute("data-refresh"), 10) || 5;
  function tick() {
    if (document.hidden) { window.setTimeout(tick, seconds * 1000); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(box.id);
        if (!fresh) { return; }
        box.innerHTML = fresh.innerHTML;
        bindConfirm(box);
        if (fresh.hasAttribute("data-refresh")) { window.setTimeout(tick, seconds * 1000); }
      })
      .catch(function () { window.setTimeout(tick, seconds * 4000); });
  }
  window.setTimeout(tick, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
    var button = select.form.querySelector("button");
    if (button) { button.hidden = true; }
  });
  bindConfirm(document);
  document.querySelectorAll("[data-refresh][id]").forEach(keepFresh);
});
